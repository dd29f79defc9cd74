"""The candidate index finds the winner `queue_policy.first_eligible` finds over the whole
queue in rank order (priority scores, then join time), however entries come and go or change
their priority (random queues, fixed seeds)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from slotqueue.aggregates.matcher import Presets, Selection
from slotqueue.aggregates.queue_policy import (
    Candidate,
    Ranked,
    first_eligible,
    first_failed_check,
    rank_key,
)
from slotqueue.processes.candidate_index import CandidateIndex

NOW = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)  # Monday 10:00 in Honolulu
PRESETS = Presets.from_rows([
    ("date_horizon", "w4", {"days_ahead": 28}), ("date_horizon", "w8", {"days_ahead": 56}),
    ("time_block", "early", {"start": "08:00", "end": "09:45"}),
    ("time_block", "late", {"start": "10:00", "end": "11:45"}),
    ("time_block", "afternoon", {"start": "14:00", "end": "15:45"}),
    ("weekday_rule", "any_weekday", {"mode": "any"}),
    ("weekday_rule", "custom_weekdays", {"mode": "custom"}),
])
LOCATIONS = [UUID(int=n) for n in range(1, 5)]
BLOCKS = ("early", "late", "afternoon")


def _candidate(rng: random.Random, n: int) -> Candidate:
    custom = rng.random() < 0.5
    selection = Selection(
        "Pacific/Honolulu", rng.choice(("w4", "w8")),
        "custom_weekdays" if custom else "any_weekday",
        tuple(sorted(rng.sample(range(1, 6), rng.randint(1, 3)))) if custom else (),
        tuple(sorted(rng.sample(BLOCKS, rng.randint(1, 2)))))
    return Candidate(
        UUID(int=10_000 + n), UUID(int=20_000 + n),
        NOW - timedelta(days=3) + timedelta(seconds=rng.choice((n, n, 7))),  # some ties
        "active", "paid", frozenset(rng.sample(LOCATIONS, rng.randint(1, 2))),
        None if rng.random() < 0.05 else selection, rng.choice((0, 0, 0, 0, 0, 3, 3, 50)))


def _slot(rng: random.Random) -> tuple[UUID, datetime]:
    local = datetime(2026, 1, 6, 8, 0) + timedelta(days=rng.randint(0, 60),
                                                   minutes=15 * rng.randint(0, 31))
    return rng.choice(LOCATIONS), (local + timedelta(hours=10)).replace(tzinfo=UTC)


def _plain_winner(members: dict[UUID, Candidate], location: UUID, slot: datetime) -> UUID | None:
    ordered = sorted(members.values(),
                     key=lambda c: rank_key(c.priority, c.joined_at, c.entry_id))
    won = first_eligible((Ranked(c, 0) for c in ordered),
                         lambda c: first_failed_check(c, location, slot, PRESETS, NOW))
    return None if won is None else won.candidate.entry_id


def _index_winner(index: CandidateIndex, location: UUID, slot: datetime) -> UUID | None:
    won = first_eligible((Ranked(c, 0) for c in index.heads(location)),
                         lambda c: first_failed_check(c, location, slot, PRESETS, NOW))
    return None if won is None else won.candidate.entry_id


@pytest.mark.parametrize("seed", range(8))
def test_the_index_picks_the_same_winner_as_a_scan_of_the_whole_queue(seed: int) -> None:
    rng = random.Random(seed)
    index, members = CandidateIndex(), {}
    for n in range(300):
        candidate = _candidate(rng, n)
        index.add(candidate)
        if candidate.selection is not None:
            members[candidate.entry_id] = candidate
    for _ in range(200):
        location, slot = _slot(rng)
        assert _index_winner(index, location, slot) == _plain_winner(members, location, slot)
        if rng.random() < 0.5 and members:  # the winner or someone else leaves
            leaver = rng.choice(sorted(members))
            index.remove(leaver)
            del members[leaver]
        if rng.random() < 0.3:  # someone joins, or changes their windows
            candidate = _candidate(rng, rng.randint(0, 400))
            index.add(candidate)
            members.pop(candidate.entry_id, None)
            if candidate.selection is not None:
                members[candidate.entry_id] = candidate
        if rng.random() < 0.3 and members:  # an operator changes someone's priority
            moved = replace(members[rng.choice(sorted(members))], priority=rng.choice((0, 5)))
            index.add(moved)
            members[moved.entry_id] = moved
    assert len(index) == len(members)


def test_an_entry_without_windows_or_locations_is_never_a_candidate() -> None:
    rng = random.Random(1)
    index = CandidateIndex()
    base = _candidate(rng, 1)
    index.add(Candidate(base.entry_id, base.customer_id, base.joined_at, "active", "paid",
                        frozenset(), base.selection))
    index.add(Candidate(UUID(int=2), UUID(int=3), NOW, "active", "paid",
                        frozenset(LOCATIONS), None))
    assert len(index) == 0
    assert list(index.heads(LOCATIONS[0])) == []
