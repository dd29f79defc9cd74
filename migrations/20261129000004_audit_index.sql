-- `audit --customer` looks for the openings decided at a customer's locations while they queued.
create index if not exists opened_slots_location_id_decided_at_idx
  on slotqueue.opened_slots (location_id, decided_at);
