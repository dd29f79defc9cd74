"""The openings that mattered to one customer, and why each went where it went.

Read from the slot index (`slotqueue.opened_slots`) for the customer's time in the queue: the
openings at the locations they had chosen at that moment, and the openings elsewhere that a
customer behind them won. Each is judged with the dispatcher's checks against the customer's
own history, replayed once; an opening's recorded preset rules are read only where the window
check was reached (one query for all of them), so a long history stays quick. Ahead and behind
are rank order at the decision: the customer's priority score then against the winner's.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.matcher import Presets, Selection
from slotqueue.aggregates.opened_slot import BOOKED_BY_OPERATOR, WEEKEND
from slotqueue.aggregates.queue_policy import BEHIND_WINNER, NO_WINDOWS, WINDOW, Candidate
from slotqueue.aggregates.queue_policy import first_failed_check as check
from slotqueue.application.queue import SlotQueue

NO_PRESETS = Presets(horizons={}, time_blocks={}, weekday_rules={})
YOU, AHEAD, BEHIND = "you", "ahead", "behind"
PASSED = "passed_every_check"  # not chosen all the same (held for another attempt, say)
# What matters most comes first: passed over here, won, nobody here, passed over elsewhere,
# someone ahead here, weekends.
_ORDER = {(True, BEHIND): 0, (True, YOU): 1, (True, None): 2, (False, BEHIND): 3,
          (True, AHEAD): 4}


@dataclass(frozen=True)
class Timeline:
    """Values that held from each moment on (event times, oldest first)."""

    times: list[datetime]
    values: list[Any]

    def at(self, moment: datetime) -> Any:
        i = bisect_right(self.times, moment)
        return self.values[i - 1] if i else None

    def spans(self, end: datetime | None) -> list[tuple[datetime, datetime | None, Any]]:
        bounds = [*self.times[1:], end]
        return [(t, bounds[i], v) for i, (t, v) in enumerate(zip(self.times, self.values,
                                                                 strict=True))]


def _timeline(app: SlotQueue, aggregate_id: UUID, facts: Any, until: datetime | None
              ) -> Timeline:
    state, times, values = None, [], []
    for event in app.events.get(aggregate_id):
        at = getattr(event, "at", event.timestamp)
        if until is not None and at > until:
            break
        state = event.mutate(state)
        times.append(at)
        values.append(facts(state))
    return Timeline(times, values)


def _choices(customer: Any) -> tuple[Selection | None, frozenset[UUID]]:
    selection = customer.selection
    return (Selection.from_json(selection) if selection else None,
            frozenset(customer.location_ids))


@dataclass(frozen=True)
class Stay:
    """One entry's time in the queue (joined until it ended, or `None`: still open)."""

    entry_id: UUID
    joined_at: datetime
    start: datetime
    end: datetime | None
    states: Timeline  # (status, deposit_status, priority score)

    def priorities(self) -> list[tuple[datetime, datetime | None, int]]:
        """(from, to, score): the stay cut where an operator changed its priority."""
        spans: list[tuple[datetime, datetime | None, int]] = []
        for start, end, (_, _, score) in self.states.spans(self.end):
            if spans and spans[-1][2] == score:
                spans[-1] = (spans[-1][0], end, score)
            else:
                spans.append((max(start, self.start), end, score))
        return spans


def _stays(app: SlotQueue, customer: Customer, until: datetime | None) -> list[Stay]:
    stays = []
    for entry_id in customer.entry_ids():
        states = _timeline(app, entry_id, lambda e: (e.status, e.deposit_status, e.priority),
                           until)
        if not states.times:
            continue
        ended = [t for t, (status, _, _) in zip(states.times, states.values, strict=True)
                 if status in lc.FINAL]
        stays.append(Stay(entry_id, states.times[0], states.times[0],
                          ended[0] if ended else until, states))
    return stays


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two ends; None is an end not reached yet."""
    return b if a is None else a if b is None else min(a, b)


def _here(stays: list[Stay], choices: Timeline) -> list[tuple[Any, ...]]:
    """(entry, joined_at, priority, location, from, to): where and when an opening was the
    customer's, and their priority score then."""
    rows = []
    for stay in stays:
        for p_start, p_end, score in stay.priorities():
            for start, end, (_, locations) in choices.spans(stay.end):
                lo, hi = max(start, p_start), _earlier(end, p_end)
                if hi is None or lo < hi:
                    rows += [(stay.entry_id, stay.joined_at, score, loc, lo, hi)
                             for loc in locations]
    return rows


_COLUMNS = """s.id, s.slot_key, s.location_id, coalesce(l.name, s.location_id::text),
  s.slot_datetime_utc, s.decided_at, s.outcome, s.winner_rank, x.entry_id"""
# (entry, its join time, its priority, location, from, to): where and when an opening was the
# customer's.
_HERE = """unnest(%(e)s::uuid[], %(j)s::timestamptz[], %(p)s::int[], %(l)s::uuid[],
  %(f)s::timestamptz[], %(t)s::timestamptz[])
  AS {}(entry_id, joined_at, priority, location_id, start_at, end_at)"""
# Rank order at the decision: the winner's priority then (none before scores existed) and
# the customer's.
_WINNER_AHEAD = """(-coalesce(s.winner_priority, 0), w.created_at, w.id)
  < (-x.priority, x.joined_at, x.entry_id)"""
_DURING = "s.decided_at >= {0}.start_at AND s.decided_at < coalesce({0}.end_at, 'infinity')"
_AT_HERE = f"""
SELECT {_COLUMNS},
  CASE WHEN s.winner_entry_id IS NULL THEN NULL
       WHEN s.winner_entry_id = x.entry_id THEN 'you'
       WHEN {_WINNER_AHEAD} THEN 'ahead' ELSE 'behind' END
FROM {_HERE.format("x")}
JOIN slotqueue.opened_slots s ON s.location_id = x.location_id AND {_DURING.format("x")}
LEFT JOIN queue_entries w ON w.id = s.winner_entry_id
LEFT JOIN locations l ON l.id = s.location_id
"""
# The entries' stays, cut where their priority changed: (entry, join time, priority, from, to).
_STAYS = """unnest(%(se)s::uuid[], %(sj)s::timestamptz[], %(sp)s::int[], %(sf)s::timestamptz[],
  %(st)s::timestamptz[]) AS x(entry_id, joined_at, priority, start_at, end_at)"""
_BEHIND_ELSEWHERE = f"""
SELECT {_COLUMNS}, 'behind', count(*) OVER ()
FROM {_STAYS}
JOIN slotqueue.opened_slots s ON {_DURING.format("x")}
JOIN queue_entries w ON w.id = s.winner_entry_id
  AND NOT {_WINNER_AHEAD} AND w.id <> x.entry_id AND s.outcome <> 'booked_by_operator'
LEFT JOIN locations l ON l.id = s.location_id
WHERE NOT EXISTS (SELECT 1 FROM {_HERE.format("h")}
                  WHERE h.location_id = s.location_id AND {_DURING.format("h")})
ORDER BY s.decided_at DESC LIMIT %(limit)s
"""


def _params(stays: list[Stay], here: list[tuple[Any, ...]], limit: int) -> dict[str, Any]:
    columns = list(zip(*here, strict=True)) or [(), (), (), (), (), ()]
    spans = [(s.entry_id, s.joined_at, score, lo, hi) for s in stays
             for lo, hi, score in s.priorities()]
    stay_columns = list(zip(*spans, strict=True)) or [(), (), (), (), ()]
    return {**{k: list(v) for k, v in zip(("e", "j", "p", "l", "f", "t"), columns,
                                           strict=True)},
            **{k: list(v) for k, v in zip(("se", "sj", "sp", "sf", "st"), stay_columns,
                                           strict=True)},
            "limit": limit}


def _decisions(app: SlotQueue, conn: psycopg.Connection[Any], slot_ids: list[UUID]
               ) -> dict[UUID, Any]:
    """Each opening's Decided event, read for many openings in one query."""
    if not slot_ids:
        return {}
    recorder: Any = app.recorder
    rows = conn.execute(sql.SQL(
        "SELECT originator_id, originator_version, topic, state FROM {}.{} "
        "WHERE originator_id = ANY(%s) AND topic LIKE %s").format(
            sql.Identifier(recorder.datastore.schema), sql.Identifier(recorder.events_table_name)),
        (slot_ids, "%:OpenedSlot.Decided")).fetchall()
    return {row[0]: app.mapper.to_domain_event(StoredEvent(*row)) for row in rows}


@dataclass
class Judge:
    """The first check the customer failed for an opening, as their facts stood then."""

    choices: Timeline
    stays: dict[UUID, Stay]

    def candidate(self, entry_id: UUID, moment: datetime) -> Candidate:
        stay = self.stays[entry_id]
        status, deposit, _ = stay.states.at(moment) or (lc.QUEUED, lc.NONE, 0)
        selection, locations = self.choices.at(moment) or (None, frozenset())
        return Candidate(entry_id, UUID(int=0), stay.joined_at, status, deposit, locations,
                         selection)

    def first_failed(self, row: dict[str, Any], presets: Presets) -> str | None:
        if row["outcome"] == WEEKEND:
            return WEEKEND
        if row["outcome"] == BOOKED_BY_OPERATOR:
            return BOOKED_BY_OPERATOR  # an operator booked it for someone who called
        if row["winner"] == AHEAD:
            return BEHIND_WINNER
        candidate = self.candidate(row["queue_entry_id"], row["decided_at"])
        return check(candidate, row["location_id"], row["slot_datetime"], presets,
                     row["decided_at"])


def _row(values: tuple[Any, ...], here: bool) -> dict[str, Any]:
    keys = ("slot_id", "slot_key", "location_id", "location", "slot_datetime", "decided_at",
            "outcome", "winner_rank", "queue_entry_id", "winner")
    row = dict(zip(keys, values, strict=False))
    row["at_your_locations"] = here
    # somebody behind them got it (an operator's direct booking passes nobody over)
    row["passed_over"] = row["winner"] == BEHIND and row["outcome"] != BOOKED_BY_OPERATOR
    return row


def _judge_all(app: SlotQueue, conn: psycopg.Connection[Any], judge: Judge,
               rows: list[dict[str, Any]]) -> None:
    for row in rows:
        row["failed"] = None if row["winner"] == YOU else judge.first_failed(row, NO_PRESETS)
    # The window check is the last: a code under "window:" other than "none chosen" means it
    # was reached, and only then do the rules in force at the decision matter.
    reached = [r for r in rows if (r["failed"] or "").startswith(WINDOW)
               and r["failed"] != NO_WINDOWS and r["failed"] != f"{WINDOW}:{WEEKEND}"]
    decided = _decisions(app, conn, [r["slot_id"] for r in reached])
    for row in reached:
        event = decided.get(row["slot_id"])
        if event is not None:
            row["failed"] = judge.first_failed(row, Presets.from_json(event.presets))
    for row in rows:
        if row["failed"] is None and row["winner"] != YOU:
            row["failed"] = PASSED  # held for another attempt, say


def customer_openings(app: SlotQueue, conn: psycopg.Connection[Any], customer: Customer,
                      limit: int = 50, until: datetime | None = None) -> dict[str, Any]:
    """A summary of the openings decided while the customer queued, and the `limit` that
    matter most (passed over first)."""
    choices = _timeline(app, customer.id, _choices, until)
    stays = _stays(app, customer, until)
    here = _here(stays, choices)
    params = _params(stays, here, limit)
    at_here = [_row(r, True) for r in conn.execute(_AT_HERE, params).fetchall()] if here else []
    elsewhere = conn.execute(_BEHIND_ELSEWHERE, params).fetchall() if stays else []
    behind_elsewhere = [_row(r[:-1], False) for r in elsewhere]
    judge = Judge(choices, {s.entry_id: s for s in stays})
    _judge_all(app, conn, judge, at_here + behind_elsewhere)
    chosen = sorted(at_here + behind_elsewhere, key=_importance)[:limit]
    return {"summary": _summary(stays, at_here, int(elsewhere[0][-1]) if elsewhere else 0),
            "openings": chosen}


def _importance(row: dict[str, Any]) -> tuple[int, float]:
    group = 5 if row["outcome"] == WEEKEND else _ORDER[(row["at_your_locations"], row["winner"])]
    return group, -row["decided_at"].timestamp()


def _summary(stays: list[Stay], here: list[dict[str, Any]], behind_elsewhere: int
             ) -> dict[str, Any]:
    winners = Counter(r["winner"] for r in here)
    return {
        "queued_since": stays[0].joined_at if stays else None,
        "openings_at_your_locations": len(here),
        "won": winners[YOU],
        "went_to_someone_ahead": winners[AHEAD],
        "went_to_someone_behind": winners[BEHIND],
        "went_to_nobody": winners[None],
        "won_elsewhere_by_someone_behind": behind_elsewhere,
        "first_failed_checks": dict(Counter(r["failed"] for r in here
                                            if r["winner"] != YOU).most_common()),
    }
