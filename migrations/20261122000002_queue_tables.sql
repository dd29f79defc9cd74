-- The compatibility tables of spec §3.2, written only by slotqueue's projections.

create table if not exists public.customers (
  id uuid primary key default gen_random_uuid(),
  phone text not null unique,
  email text null,
  created_at timestamptz not null default now()
);

create table if not exists public.queue_entries (
  id uuid primary key,
  customer_id uuid not null references public.customers (id),
  created_at timestamptz not null default now(),
  status text not null constraint queue_entries_status_check check (
    status in ('queued', 'deposit_required', 'active', 'booked', 'paused', 'expired', 'canceled')
  ),
  deposit_status text not null default 'none' constraint queue_entries_deposit_status_check check (
    deposit_status in ('none', 'required', 'paid', 'expired', 'refunded')
  ),
  deposit_required_at timestamptz null,
  deposit_paid_at timestamptz null,
  deposit_expires_at timestamptz null,
  booked_at timestamptz null,
  booked_location_id uuid null references public.locations (id),
  booked_slot_datetime timestamptz null
);
create index if not exists queue_entries_created_at_idx
  on public.queue_entries (created_at);
create index if not exists queue_entries_status_created_at_idx
  on public.queue_entries (status, created_at);
create index if not exists queue_entries_deposit_status_created_at_idx
  on public.queue_entries (deposit_status, created_at);

create table if not exists public.target_window_presets (
  id uuid primary key,
  preset_type text not null constraint target_window_presets_preset_type_check check (
    preset_type in ('date_horizon', 'time_block', 'weekday_rule')
  ),
  key text not null,
  label text not null,
  rules_json jsonb not null,
  active boolean not null default true,
  sort_order int not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint target_window_presets_preset_type_key_key unique (preset_type, key)
);
create index if not exists target_window_presets_preset_type_active_sort_order_idx
  on public.target_window_presets (preset_type, active, sort_order);

create table if not exists public.user_target_window_selections (
  customer_id uuid primary key references public.customers (id),
  timezone text not null default 'Pacific/Honolulu',
  date_horizon_key text not null,
  weekday_rule_key text not null,
  custom_weekdays int[] not null default '{}',
  time_block_keys text[] not null default '{}',
  updated_at timestamptz not null default now()
);
create index if not exists user_target_window_selections_time_block_keys_idx
  on public.user_target_window_selections using gin (time_block_keys);

create table if not exists public.user_location_preferences (
  customer_id uuid not null references public.customers (id),
  location_id uuid not null references public.locations (id),
  created_at timestamptz not null default now(),
  primary key (customer_id, location_id)
);
create index if not exists user_location_preferences_location_id_idx
  on public.user_location_preferences (location_id);

create table if not exists public.queue_watermarks (
  key text primary key,
  last_processed_at timestamptz not null
);

create table if not exists public.booking_attempts (
  id uuid primary key,
  customer_id uuid references public.customers (id),
  location_id uuid references public.locations (id),
  slot_date date,
  slot_time time,
  slot_datetime_utc timestamptz,
  attempt_at timestamptz default now(),
  result text constraint booking_attempts_result_check check (
    result in ('success', 'fail', 'skipped')
  ),
  error_code text null,
  error_message text null,
  dispatcher_run_id uuid not null
);
create index if not exists booking_attempts_dispatcher_run_id_idx
  on public.booking_attempts (dispatcher_run_id);
create index if not exists booking_attempts_customer_id_attempt_at_idx
  on public.booking_attempts (customer_id, attempt_at desc);
create index if not exists booking_attempts_location_id_attempt_at_idx
  on public.booking_attempts (location_id, attempt_at desc);

create table if not exists public.booking_locks (
  lock_key text primary key,
  locked_until timestamptz not null,
  owner_run_id uuid not null
);
create index if not exists booking_locks_locked_until_idx
  on public.booking_locks (locked_until);

create table if not exists public.message_log (
  id uuid primary key,
  customer_id uuid references public.customers (id),
  message_type text constraint message_log_message_type_check check (
    message_type in ('deposit_needed', 'deposit_received', 'booked', 'opportunity_passed', 'status')
  ),
  sent_at timestamptz default now(),
  dedupe_key text not null unique,
  meta_json jsonb null
);
create index if not exists message_log_customer_id_sent_at_idx
  on public.message_log (customer_id, sent_at desc);
