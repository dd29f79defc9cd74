"""The queue as the dispatcher scans it: paid, active entries in rank order, by location.

Only entries that are active and paid can win a slot, and only they can be passed over for the
window alone, so the index holds just those, each with its rank in the whole queue. Entries of
one location are grouped by their exact target-window choice: a slot is matched against each
distinct choice once, so the cost of a slot follows the number of distinct choices, not the
length of the queue. Entries that leave (booked, found busy) are dropped lazily and the ranks
behind them computed, not rewritten.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.aggregates.eligibility import Candidate, first_failed_check
from slotqueue.aggregates.lifecycle import RANKED
from slotqueue.aggregates.matcher import Presets, Selection, window_mismatch

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


def _candidates(rows: list[tuple[Any, ...]]) -> list[tuple[Candidate, int]]:
    """Candidates from query rows; equal choices share one Selection and one location set
    (a large queue holds far fewer distinct choices than entries)."""
    selections: dict[tuple[Any, ...], Selection | None] = {}
    places: dict[tuple[Any, ...], frozenset[UUID]] = {}
    found = []
    for entry_id, customer_id, joined_at, status, deposit, rank, *choice, locs in rows:
        key = (choice[0], choice[1], choice[2], tuple(choice[3] or ()), tuple(choice[4] or ()))
        if key not in selections:
            selections[key] = None if choice[1] is None else Selection(
                timezone=key[0], date_horizon_key=key[1], weekday_rule_key=key[2],
                custom_weekdays=key[3], time_block_keys=key[4])
        where = tuple(locs)
        if where not in places:
            places[where] = frozenset(where)
        found.append((Candidate(entry_id, customer_id, joined_at, status, deposit,
                                places[where], selections[key]), rank))
    return found


class QueueIndex:
    def __init__(self, entries: list[tuple[Candidate, int]]) -> None:
        self._order = entries  # (candidate, original rank), by rank
        self._gone: set[UUID] = set()
        self._gone_ranks: list[int] = []
        self._rank_of = {c.entry_id: rank for c, rank in entries}
        self._candidate_of = {c.entry_id: c for c, _ in entries}
        self._groups: dict[UUID, dict[Selection, deque[Candidate]]] = defaultdict(
            lambda: defaultdict(deque))
        for candidate, _ in entries:
            if candidate.selection is None:
                continue  # no windows chosen: can never match
            for location_id in candidate.location_ids:
                self._groups[location_id][candidate.selection].append(candidate)
        # Per location, each window choice's first entry, by rank: a slot is tried against the
        # choices in this order and the first that matches wins.
        self._fronts: dict[UUID, list[tuple[int, Selection]]] = {
            location_id: sorted(((self._rank_of[group[0].entry_id], selection)
                                 for selection, group in groups.items()),
                                key=lambda front: front[0])
            for location_id, groups in self._groups.items()}

    @classmethod
    def load(cls, conn: psycopg.Connection[Any]) -> QueueIndex:
        return cls(_candidates(conn.execute(ELIGIBLE_SQL, (list(RANKED),)).fetchall()))

    def rank(self, entry_id: UUID) -> int:
        """The entry's rank now: its rank at load less the entries ahead of it that left."""
        original = self._rank_of[entry_id]
        return original - bisect_left(self._gone_ranks, original)

    def choose(
        self, location_id: UUID, slot_utc: datetime, presets: Presets, now: datetime,
        opportunity_rank: int,
    ) -> Choice:
        """The first eligible entry in rank order, and those of rank ≤ `opportunity_rank`
        ahead of it that failed on the target window alone."""
        best = next((self._groups[location_id][selection][0]
                     for _, selection in self._fronts.get(location_id, ())
                     if window_mismatch(slot_utc, selection, presets, now) is None), None)
        winner = None if best is None else Ranked(best, self.rank(best.entry_id))
        return Choice(winner, self._passed_over(location_id, slot_utc, presets, now,
                                                opportunity_rank, winner))

    def _passed_over(self, location_id: UUID, slot_utc: datetime, presets: Presets,
                     now: datetime, opportunity_rank: int, winner: Ranked | None) -> list[Ranked]:
        passed = []
        for candidate, _ in self._order:
            if candidate.entry_id in self._gone:
                continue
            rank = self.rank(candidate.entry_id)
            if rank > opportunity_rank or (winner is not None and rank >= winner.rank):
                break
            failed = first_failed_check(candidate, location_id, slot_utc, presets, now)
            if failed is not None and failed.startswith("window"):
                passed.append(Ranked(candidate, rank))
        return passed

    def remove(self, entry_id: UUID) -> None:
        """An entry left the ranked queue (booked, or found busy): everyone behind moves up."""
        if entry_id in self._gone or entry_id not in self._rank_of:
            return
        self._gone.add(entry_id)
        rank = self._rank_of[entry_id]
        insort(self._gone_ranks, rank)
        while self._order and self._order[0][0].entry_id in self._gone:
            self._order.pop(0)
        candidate = self._candidate_of[entry_id]
        if candidate.selection is None:
            return
        for location_id in candidate.location_ids:
            group = self._groups[location_id][candidate.selection]
            if group and group[0].entry_id == entry_id:
                self._advance(location_id, candidate.selection, group, rank)

    def _advance(self, location_id: UUID, selection: Selection, group: deque[Candidate],
                 rank: int) -> None:
        """The group's first entry left: its next one (if any) takes its place in line."""
        fronts = self._fronts[location_id]
        del fronts[bisect_left(fronts, rank, key=lambda front: front[0])]
        while group and group[0].entry_id in self._gone:
            group.popleft()
        if group:
            insort(fronts, (self._rank_of[group[0].entry_id], selection),
                   key=lambda front: front[0])
