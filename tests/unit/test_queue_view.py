"""The dispatcher's view follows the events of real aggregates: ranks, candidates, holds, and
the same fact applied twice (shown before it is saved, then read back) changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.matcher import Presets, Selection
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.processes.queue_view import QueueView

NOW = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
KAPOLEI = UUID(int=1)
PRESETS = Presets.from_rows([
    ("date_horizon", "w4", {"days_ahead": 28}),
    ("time_block", "early", {"start": "08:00", "end": "09:45"}),
    ("weekday_rule", "any_weekday", {"mode": "any"})])
EARLY = Selection("Pacific/Honolulu", "w4", "any_weekday", (), ("early",))


def _join(n: int, paid: bool = True) -> tuple[Customer, QueueEntry, list[Any]]:
    at = NOW + timedelta(seconds=n)
    customer = Customer(phone=f"+1808555{n:04d}", email=None, at=at)
    entry = QueueEntry(customer_id=customer.id, sequence=1, at=at)
    customer.open_entry(entry.id, at)
    customer.select_windows(EARLY, PRESETS, at)
    customer.prefer_locations([KAPOLEI], [KAPOLEI], at)
    if paid:
        entry.require_deposit(at, timedelta(hours=2))
        entry.record_payment(f"pay-{n}", at)
    return customer, entry, [*customer.collect_events(), *entry.collect_events()]


def _view(*events: Any) -> QueueView:
    view = QueueView()
    for event in events:
        view.apply(event)
    return view


def test_ranks_follow_join_order_and_only_paid_active_entries_are_candidates() -> None:
    joined = [_join(n, paid=n != 2) for n in range(1, 5)]
    view = _view(*(e for _, _, events in joined for e in events))
    assert [view.rank(entry.id) for _, entry, _ in joined] == [1, 2, 3, 4]
    assert [c.entry_id for c in view.index.heads(KAPOLEI)] == [joined[0][1].id]
    assert len(view.index) == 3


def test_a_pause_takes_the_rank_away_and_a_resume_gives_it_back() -> None:
    first, second = _join(1), _join(2)
    view = _view(*first[2], *second[2])
    first[1].pause(NOW)
    view.apply(*first[1].collect_events())
    assert (view.rank(first[1].id), view.rank(second[1].id)) == (None, 1)
    assert [c.entry_id for c in view.index.heads(KAPOLEI)] == [second[1].id]
    first[1].resume(NOW)
    view.apply(*first[1].collect_events())
    assert (view.rank(first[1].id), view.rank(second[1].id)) == (1, 2)


def test_a_held_entry_is_no_candidate_until_released_and_a_booked_one_leaves() -> None:
    _customer, entry, events = _join(1)
    view = _view(*events)
    entry.reserve_attempt(UUID(int=9), NOW)
    view.apply(*entry.collect_events())
    assert (len(view.index), view.rank(entry.id)) == (0, 1)
    entry.release_attempt(UUID(int=9), NOW, "fail")
    view.apply(*entry.collect_events())
    assert len(view.index) == 1
    entry.reserve_attempt(UUID(int=9), NOW)
    entry.book(KAPOLEI, NOW + timedelta(days=2), NOW)
    for event in entry.collect_events():
        view.apply(event)
    assert (len(view.index), view.rank(entry.id)) == (0, None)
    view.prune()
    assert entry.id not in view.entries


def test_the_same_facts_applied_twice_leave_the_same_view() -> None:
    _customer, entry, events = _join(1)
    entry.reserve_attempt(UUID(int=9), NOW)
    entry.release_attempt(UUID(int=9), NOW, "skipped")
    more = entry.collect_events()
    once, twice = _view(*events, *more), _view(*events, *more, *more)
    assert (once.entries, len(once.index), list(once.ranked)) == (
        twice.entries, len(twice.index), list(twice.ranked))


def test_a_change_of_windows_moves_the_entry_between_window_groups() -> None:
    customer, entry, events = _join(1)
    view = _view(*events)
    customer.prefer_locations([UUID(int=2)], [KAPOLEI, UUID(int=2)], NOW)
    view.apply(*customer.collect_events())
    assert list(view.index.heads(KAPOLEI)) == []
    assert [c.entry_id for c in view.index.heads(UUID(int=2))] == [entry.id]


def test_a_priority_moves_the_entry_in_the_ranks_and_the_candidate_order() -> None:
    joined = [_join(n) for n in range(1, 4)]
    view = _view(*(e for _, _, events in joined for e in events))
    last = joined[2][1]
    last.set_priority(7, "phoned in", NOW, "key:ops")
    [raised] = last.collect_events()
    view.apply(raised)
    view.apply(raised)  # shown before it is saved, then read back: as once
    assert [view.rank(entry.id) for _, entry, _ in joined] == [2, 3, 1]
    assert [c.entry_id for c in view.index.heads(KAPOLEI)] == [last.id]
    assert [r.candidate.entry_id for r in view.ranked_front(3)] == [
        last.id, joined[0][1].id, joined[1][1].id]
    last.set_priority(0, "back in join order", NOW, "key:ops")
    view.apply(*last.collect_events())
    assert [view.rank(entry.id) for _, entry, _ in joined] == [1, 2, 3]
    assert len(view.ranked) == 3
