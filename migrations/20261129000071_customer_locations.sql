-- Issue 8: every customer's chosen locations, including ones the monitor has since deleted, so
-- a dispatcher that starts from the tables (`dispatch --once` from cron, a restarted `run` or
-- `serve`) can still retire a deleted location from the choices of the customers who made it
-- and tell them. public.user_location_preferences cannot: its foreign key cascades, so a
-- deleted location's choices leave it. This table has no foreign key to public.locations; it
-- is written by the same projection, in the same transaction (Customer.LocationsPreferred and
-- Customer.Imported replace a customer's set, Customer.LocationRetired removes one).

create table if not exists slotqueue.customer_locations (
  customer_id uuid not null,
  location_id uuid not null,
  primary key (customer_id, location_id)
);

-- What the preferences still hold. Choices whose location was deleted before this migration
-- are not there; `slotqueue migrate` then rewrites this table from the events (its step
-- 20261129000072_customer_locations_replayed), which makes it exact.
insert into slotqueue.customer_locations (customer_id, location_id)
select customer_id, location_id from public.user_location_preferences
on conflict do nothing;
