"""The queue as the dispatcher scans it: paid, active entries in rank order, by location.

Only entries that are active and paid can win a slot, and only they can be passed over for the
window alone, so the index holds just those, each with its rank in the whole queue.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.aggregates.eligibility import Candidate, first_failed_check
from slotqueue.aggregates.lifecycle import RANKED
from slotqueue.aggregates.matcher import Presets, Selection

ELIGIBLE_SQL = """
SELECT r.id, r.customer_id, r.created_at, r.status, r.deposit_status, r.rank,
       s.timezone, s.date_horizon_key, s.weekday_rule_key, s.custom_weekdays, s.time_block_keys,
       coalesce(array_agg(p.location_id) FILTER (WHERE p.location_id IS NOT NULL), '{}')
FROM (SELECT q.*, row_number() OVER (ORDER BY q.created_at, q.id) AS rank
      FROM queue_entries q WHERE q.status = ANY(%s)) r
LEFT JOIN user_target_window_selections s ON s.customer_id = r.customer_id
LEFT JOIN user_location_preferences p ON p.customer_id = r.customer_id
WHERE r.status = 'active' AND r.deposit_status = 'paid'
GROUP BY r.id, r.customer_id, r.created_at, r.status, r.deposit_status, r.rank,
         s.timezone, s.date_horizon_key, s.weekday_rule_key, s.custom_weekdays, s.time_block_keys
ORDER BY r.rank
"""


@dataclass
class Ranked:
    candidate: Candidate
    rank: int


@dataclass(frozen=True)
class Choice:
    winner: Ranked | None
    passed_over: list[Ranked] = field(default_factory=list)


def _candidate(row: tuple[Any, ...]) -> Ranked:
    entry_id, customer_id, joined_at, status, deposit, rank = row[:6]
    tz, horizon, rule, days, blocks, locs = row[6:]
    selection = None if horizon is None else Selection(
        timezone=tz, date_horizon_key=horizon, weekday_rule_key=rule,
        custom_weekdays=tuple(days), time_block_keys=tuple(blocks))
    return Ranked(Candidate(entry_id, customer_id, joined_at, status, deposit,
                            frozenset(locs), selection), rank)


class QueueIndex:
    def __init__(self, ranked: list[Ranked]) -> None:
        self.ranked = ranked
        self.by_location: dict[UUID, list[Ranked]] = defaultdict(list)
        for item in ranked:
            for location_id in item.candidate.location_ids:
                self.by_location[location_id].append(item)

    @classmethod
    def load(cls, conn: psycopg.Connection[Any]) -> QueueIndex:
        return cls([_candidate(row) for row in conn.execute(ELIGIBLE_SQL, (list(RANKED),))])

    def choose(
        self, location_id: UUID, slot_utc: datetime, presets: Presets, now: datetime,
        opportunity_rank: int,
    ) -> Choice:
        """The first eligible entry in rank order, and those of rank ≤ `opportunity_rank`
        ahead of it that failed on the target window alone."""
        passed: list[Ranked] = []
        for item in self.by_location.get(location_id, []):
            failed = first_failed_check(item.candidate, location_id, slot_utc, presets, now)
            if failed is None:
                return Choice(item, passed)
            if failed.startswith("window") and item.rank <= opportunity_rank:
                passed.append(item)
        return Choice(None, passed)

    def remove(self, entry_id: UUID) -> None:
        """An entry left the ranked queue (booked, or found stale): everyone behind moves up."""
        gone = next((item for item in self.ranked if item.candidate.entry_id == entry_id), None)
        if gone is None:
            return
        self.ranked = [item for item in self.ranked if item is not gone]
        for location_id in gone.candidate.location_ids:
            items = self.by_location[location_id]
            items[:] = [item for item in items if item is not gone]
        for item in self.ranked:
            if item.rank > gone.rank:
                item.rank -= 1
