-- locations and slot_states belong to the monitoring system (spec §3.1). They are created here
-- only for standalone use and tests; when they already exist they are left exactly as they are
-- (no columns, indexes or settings added), because slotqueue never alters the monitor's tables.

do $$
begin
  if to_regclass('public.locations') is null then
    create table public.locations (
      id uuid primary key default gen_random_uuid(),
      name text not null unique
    );
  end if;

  if to_regclass('public.slot_states') is null then
    create table public.slot_states (
      location_id uuid not null references public.locations (id),
      date date not null,
      time text not null,
      first_seen timestamptz not null,
      last_seen timestamptz not null,
      primary key (location_id, date, time)
    );
    create index slot_states_first_seen_idx on public.slot_states (first_seen);
    create index slot_states_last_seen_idx on public.slot_states (last_seen);
  end if;
end
$$;
