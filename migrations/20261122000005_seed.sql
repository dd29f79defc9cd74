-- Reference data. ON CONFLICT DO NOTHING: operators edit these rows with SQL to change the
-- options without a deploy, and a re-run must not undo their edits. The matcher reads
-- rules_json in exactly these shapes. Ids are uuid5(NAMESPACE_URL,
-- 'slotqueue:target_window_presets:<preset_type>:<key>').

insert into public.target_window_presets (id, preset_type, key, label, rules_json, sort_order)
values
  ('03e5d98a-f4f5-58c9-a2a7-752ed298ca5b', 'date_horizon', 'soonest', 'Soonest Available',
   '{"days_ahead": 365}', 1),
  ('90c55113-98bb-5570-a485-15ba4f3082a8', 'date_horizon', 'w4', 'Within 4 Weeks',
   '{"days_ahead": 28}', 2),
  ('ae84ee2a-9a5b-558b-9cef-317e0915dc05', 'date_horizon', 'w8', 'Within 8 Weeks',
   '{"days_ahead": 56}', 3),
  ('7fe5015d-aee2-5e76-bef7-832296a71a59', 'date_horizon', 'w12', 'Within 12 Weeks',
   '{"days_ahead": 84}', 4),
  ('9361b66d-55dd-5ad8-9641-4d356cf37558', 'time_block', 'early', 'Early Morning',
   '{"start": "08:00", "end": "09:45"}', 1),
  ('ef2a73fa-8493-5edd-9164-a7bb996e1eee', 'time_block', 'late', 'Late Morning',
   '{"start": "10:00", "end": "11:45"}', 2),
  ('6f3af83a-6bdb-5c45-aca8-b5b1d106874a', 'time_block', 'midday', 'Midday',
   '{"start": "12:00", "end": "13:45"}', 3),
  ('88ed31ba-10b2-5d43-9f18-491991da5622', 'time_block', 'afternoon', 'Afternoon',
   '{"start": "14:00", "end": "15:45"}', 4),
  ('bbf0d85f-3691-5a4b-98ac-54deeddcd123', 'weekday_rule', 'any_weekday', 'Any Weekday',
   '{"mode": "any"}', 1),
  ('7df5447c-af9a-533a-9249-69dc85e6dc63', 'weekday_rule', 'custom_weekdays', 'Pick Weekdays',
   '{"mode": "custom"}', 2)
on conflict (preset_type, key) do nothing;

insert into public.queue_watermarks (key, last_processed_at)
values ('slot_opened', now() - interval '10 minutes')
on conflict (key) do nothing;
