-- In Supabase every table in public is reachable through the public API key unless row level
-- security is on; the owner role (which slotqueue runs as) bypasses it, so no policies exist.
-- The monitor's locations and slot_states are not ours to change and are left alone.

alter table public.customers enable row level security;
alter table public.queue_entries enable row level security;
alter table public.target_window_presets enable row level security;
alter table public.user_target_window_selections enable row level security;
alter table public.user_location_preferences enable row level security;
alter table public.queue_watermarks enable row level security;
alter table public.booking_attempts enable row level security;
alter table public.booking_locks enable row level security;
alter table public.message_log enable row level security;

-- The event store and projection tracking tables live here (created by eventsourcing).
create schema if not exists slotqueue;
revoke all on schema slotqueue from public;

revoke all on function public.acquire_booking_lock(text, uuid, int) from public;
revoke all on function public.fetch_opened_slots_since(timestamptz, int) from public;

-- Supabase's API roles; absent on plain PostgreSQL, where this block does nothing.
do $$
declare
  api_role text;
begin
  foreach api_role in array array['anon', 'authenticated'] loop
    if exists (select 1 from pg_catalog.pg_roles where rolname = api_role) then
      execute format(
        'revoke all on table public.customers, public.queue_entries,'
        ' public.target_window_presets, public.user_target_window_selections,'
        ' public.user_location_preferences, public.queue_watermarks, public.booking_attempts,'
        ' public.booking_locks, public.message_log from %I',
        api_role
      );
      execute format('revoke all on schema slotqueue from %I', api_role);
      execute format(
        'revoke all on function public.acquire_booking_lock(text, uuid, int),'
        ' public.fetch_opened_slots_since(timestamptz, int) from %I',
        api_role
      );
    end if;
  end loop;
end
$$;
