-- SQL functions the dispatcher calls (spec §3.2). Both read the clock of the database, so
-- several dispatcher processes agree on time whatever their hosts' clocks say.

-- Takes the lock when no row exists or the holder's lease has run out; one statement, so two
-- callers racing for an expired lock serialise on the row and only the first one wins.
create or replace function public.acquire_booking_lock(
  p_lock_key text, p_owner_run_id uuid, p_ttl_seconds int
) returns boolean
language sql
volatile
set search_path = ''
as $$
  with taken as (
    insert into public.booking_locks as held (lock_key, locked_until, owner_run_id)
    values (p_lock_key, now() + make_interval(secs => p_ttl_seconds), p_owner_run_id)
    on conflict (lock_key) do update
      set locked_until = excluded.locked_until, owner_run_id = excluded.owner_run_id
      where held.locked_until < now()
    returning 1
  )
  select exists (select 1 from taken);
$$;

create or replace function public.fetch_opened_slots_since(
  p_watermark timestamptz, p_lookback_minutes int
) returns setof public.slot_states
language sql
stable
set search_path = ''
as $$
  select s.*
  from public.slot_states as s
  where s.first_seen > p_watermark
    and s.last_seen > now() - make_interval(mins => p_lookback_minutes)
  order by s.first_seen, s.location_id, s.date, s.time;
$$;
