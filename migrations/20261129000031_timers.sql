-- Service §4.1: every deadline is a timer recorded as events on the aggregate it concerns; this
-- is their projection, one row per timer (an aggregate's timer by name): when it falls due,
-- whether it is still set, fired or cancelled (and why), and when. The scheduler loads the set
-- ones when it starts; auditors read when each was set, fired or cancelled.

create table if not exists slotqueue.timers (
  id uuid primary key,
  aggregate_id uuid not null,
  name text not null,
  kind text not null,
  due_at timestamptz not null,
  status text not null constraint timers_status_check
    check (status in ('set', 'fired', 'canceled')),
  set_at timestamptz not null,
  fired_at timestamptz null,
  canceled_at timestamptz null,
  reason text null,
  constraint timers_aggregate_name_key unique (aggregate_id, name)
);
create index if not exists timers_due_idx on slotqueue.timers (due_at) where status = 'set';
