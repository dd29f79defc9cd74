-- Service §3: what became of each message on each channel (a projection of Delivery events),
-- the phones that said STOP (a projection of PhoneOptOut events), and where the delivery
-- worker's intake stands in the event log (process state, not a projection).

create table if not exists public.message_deliveries (
  id uuid primary key,
  message_id uuid null references public.message_log (id) on delete cascade,
  dedupe_key text not null,
  customer_id uuid null references public.customers (id) on delete cascade,
  channel text not null constraint message_deliveries_channel_check
    check (channel in ('sms', 'email')),
  message_type text not null,
  recipient text not null,  -- masked: enough to tell people apart, never the number
  status text not null constraint message_deliveries_status_check check (
    status in ('queued', 'sending', 'sent', 'delivered', 'failed', 'suppressed', 'unknown')
  ),
  attempts integer not null default 0,
  next_attempt_at timestamptz null,
  lease_until timestamptz null,
  provider_id text null,
  last_error text null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  sent_at timestamptz null,
  delivered_at timestamptz null,
  constraint message_deliveries_dedupe_key_channel_key unique (dedupe_key, channel)
);
create index if not exists message_deliveries_status_idx
  on public.message_deliveries (status, next_attempt_at);
create index if not exists message_deliveries_customer_idx
  on public.message_deliveries (customer_id, created_at desc);
create index if not exists message_deliveries_message_idx
  on public.message_deliveries (message_id);
create index if not exists message_deliveries_provider_idx
  on public.message_deliveries (provider_id) where provider_id is not null;
alter table public.message_deliveries enable row level security;

create table if not exists slotqueue.phone_opt_outs (
  id uuid primary key,  -- the PhoneOptOut aggregate's id: the table never holds a number
  recipient text not null,  -- masked
  opted_out boolean not null,
  word text null,
  changed_at timestamptz not null
);

-- Where the intake stands: a new installation starts at the beginning; one that already has
-- events (slotqueue ran before deliveries existed) starts at their end, so messages recorded
-- before this migration are not sent days late.
create table if not exists slotqueue.delivery_intake (
  name text primary key,
  position bigint not null,
  updated_at timestamptz not null default now()
);
do $$
declare
  last_event bigint := 0;
begin
  if to_regclass('slotqueue.queue_events') is not null then
    execute 'select coalesce(max(notification_id), 0) from slotqueue.queue_events'
      into last_event;
  end if;
  insert into slotqueue.delivery_intake (name, position) values ('deliveries', last_event)
  on conflict (name) do nothing;
end $$;

do $$
declare
  api_role text;
begin
  foreach api_role in array array['anon', 'authenticated'] loop
    if exists (select 1 from pg_catalog.pg_roles where rolname = api_role) then
      execute format('revoke all on table public.message_deliveries from %I', api_role);
    end if;
  end loop;
end $$;
