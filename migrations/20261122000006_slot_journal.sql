-- The dispatcher's own read model of opened slots (a projection of OpenedSlot events), in the
-- private schema: it finds slots still without an outcome after a crash, and lets
-- `slotqueue audit --slot` and `--customer` find the slots to explain.

create table if not exists slotqueue.opened_slots (
  id uuid primary key,
  slot_key text not null,
  location_id uuid not null,
  slot_date date not null,
  slot_time time not null,
  slot_datetime_utc timestamptz not null,
  first_seen timestamptz not null,
  opened_at timestamptz not null,
  opened_by_run_id uuid not null,
  claimed_by_run_id uuid null,
  claimed_until timestamptz null,
  outcome text null,
  decided_at timestamptz null,
  winner_entry_id uuid null,
  winner_rank int null
);
create index if not exists opened_slots_slot_key_idx on slotqueue.opened_slots (slot_key);
create index if not exists opened_slots_undecided_idx
  on slotqueue.opened_slots (first_seen) where outcome is null or outcome = 'attempting';
create index if not exists opened_slots_decided_at_idx on slotqueue.opened_slots (decided_at);
