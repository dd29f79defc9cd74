-- Issue 7: an opening is one period during which a slot is continuously listed, numbered per
-- slot key; it ends (closed_at) when the slot stops being listed. Openings recorded before
-- keep opening = 0. A booking the booking adapter confirmed but the entry could not take is
-- a conflict an operator must resolve.

alter table slotqueue.opened_slots
  add column if not exists opening int not null default 0,
  add column if not exists last_seen timestamptz null,
  add column if not exists closed_at timestamptz null;
create index if not exists opened_slots_listed_idx
  on slotqueue.opened_slots (slot_key) where closed_at is null;

create table if not exists slotqueue.booking_conflicts (
  slot_id uuid not null,
  queue_entry_id uuid not null,
  customer_id uuid not null,
  location_id uuid not null,
  slot_datetime_utc timestamptz not null,
  reason text not null,
  recorded_at timestamptz not null,
  primary key (slot_id, queue_entry_id)
);
