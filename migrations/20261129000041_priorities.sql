-- Service §4.4 and §4.5: an operator's priority score for a queue entry (a projection of
-- QueueEntry.PriorityChanged), and what an opening's winner had when it was decided.
--
-- The spec fixes queue_entries' columns, so the score lives beside it, in the private schema:
-- one row per entry an operator ever gave a priority (its score back at 0 when taken off);
-- an entry without a row has score 0. Rank order is the score descending, then join time,
-- then id (projections/queries.py: RANK_ORDER).

create table if not exists slotqueue.entry_priorities (
  queue_entry_id uuid primary key,
  score int not null constraint entry_priorities_score_check check (score between 0 and 100),
  reason text not null,
  set_by text null,
  set_at timestamptz not null
);
create index if not exists entry_priorities_raised_idx
  on slotqueue.entry_priorities (score desc) where score > 0;

-- The winner's priority score when the opening was decided, so the audits can tell who was
-- ahead of the winner then (null: decided before priorities existed, which is 0).
alter table slotqueue.opened_slots add column if not exists winner_priority int null;
