-- Service §4.2, §4.3: offers. Their projection (one row per offer: what was offered to whom,
-- by which policy, and what became of it), the booking mode an operator gave a customer, the
-- secret that signs claim links, and `offer` among message_log's message types.

create table if not exists slotqueue.offers (
  id uuid primary key,
  slot_id uuid not null,
  slot_key text not null,
  location_id uuid not null,
  slot_datetime_utc timestamptz not null,
  queue_entry_id uuid not null,
  customer_id uuid not null,
  policy text not null constraint offers_policy_check
    check (policy in ('offer', 'priority', 'broadcast')),
  status text not null constraint offers_status_check check (
    status in ('pending', 'accepted', 'booked', 'failed', 'declined', 'expired', 'withdrawn')
  ),
  round int not null,
  made_at timestamptz not null,
  expires_at timestamptz not null,
  reminded_at timestamptz null,
  answered_at timestamptz null,
  answered_via text null,
  ended_at timestamptz null,
  reason text null
);
create index if not exists offers_customer_idx on slotqueue.offers (customer_id, made_at desc);
create index if not exists offers_slot_idx on slotqueue.offers (slot_id);
create index if not exists offers_pending_entry_idx
  on slotqueue.offers (queue_entry_id) where status = 'pending';

-- An operator's booking mode for one customer (Customer.BookingModeChanged); no row: the
-- deployment's (SLOTQUEUE_BOOKING_MODE).
create table if not exists slotqueue.customer_booking_modes (
  customer_id uuid primary key,
  mode text not null constraint customer_booking_modes_mode_check check (mode in ('auto', 'offer')),
  set_by text null,
  changed_at timestamptz not null
);

-- The key that signs offers' claim links (aggregates/offer_tokens.py), made once here and never
-- shown: the links are derived again from it when a text is sent, so no record holds a token.
-- Two random UUIDs: 244 random bits, from the server's own generator (no extension needed).
create table if not exists slotqueue.secrets (
  name text primary key,
  value text not null,
  created_at timestamptz not null default now()
);
insert into slotqueue.secrets (name, value)
values ('offer_links', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''))
on conflict (name) do nothing;

-- The spec's message types grow by `offer` (an offer and its reminder; decisions.md "Offers").
alter table public.message_log drop constraint if exists message_log_message_type_check;
alter table public.message_log add constraint message_log_message_type_check check (
  message_type in ('deposit_needed', 'deposit_received', 'booked', 'opportunity_passed', 'status',
                   'offer')
);
