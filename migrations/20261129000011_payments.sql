-- Service §2.3: every payment the payment system reports, one row per payment reference (a
-- projection of Payment events). Money that needs an operator shows here: a payment for no
-- known entry (outcome unmatched_payment) or for an entry not waiting for one (refund_needed)
-- with refunded_at still null.

create table if not exists slotqueue.payments (
  id uuid primary key,
  payment_ref text not null unique,
  provider text not null,
  queue_entry_id uuid null,
  client_reference text null,
  amount bigint null,
  currency text null,
  outcome text null,
  paid_at timestamptz null,
  amount_refunded bigint not null default 0,
  refunded_at timestamptz null,
  reported_at timestamptz not null
);
create index if not exists payments_outcome_idx on slotqueue.payments (outcome, paid_at);
create index if not exists payments_queue_entry_idx on slotqueue.payments (queue_entry_id);
