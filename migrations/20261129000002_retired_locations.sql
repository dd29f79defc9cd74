-- Issue 8: the monitor may delete a location. A customer's choice of it goes with it (the
-- events keep it); bookings and attempts at it keep their rows with the location cleared.
-- The projections write only locations that exist, so a rebuild writes what these leave.

alter table public.user_location_preferences
  drop constraint if exists user_location_preferences_location_id_fkey,
  add constraint user_location_preferences_location_id_fkey
    foreign key (location_id) references public.locations (id) on delete cascade;

alter table public.queue_entries
  drop constraint if exists queue_entries_booked_location_id_fkey,
  add constraint queue_entries_booked_location_id_fkey
    foreign key (booked_location_id) references public.locations (id) on delete set null;

alter table public.booking_attempts
  drop constraint if exists booking_attempts_location_id_fkey,
  add constraint booking_attempts_location_id_fkey
    foreign key (location_id) references public.locations (id) on delete set null;

-- The monitor's tables, when slotqueue created them for standalone use (the migration runner
-- marks those with a comment), are as closed to Supabase's API roles as slotqueue's own.
do $$
declare
  monitor_table text;
  api_role text;
begin
  foreach monitor_table in array array['locations', 'slot_states'] loop
    if coalesce(obj_description(format('public.%I', monitor_table)::regclass, 'pg_class'), '')
        like 'slotqueue:%' then
      execute format('alter table public.%I enable row level security', monitor_table);
      foreach api_role in array array['anon', 'authenticated'] loop
        if exists (select 1 from pg_catalog.pg_roles where rolname = api_role) then
          execute format('revoke all on table public.%I from %I', monitor_table, api_role);
        end if;
      end loop;
    end if;
  end loop;
end
$$;
