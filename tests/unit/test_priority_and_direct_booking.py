"""Operators' overrides on the aggregates (service §4.4, §4.5): a priority score with who and
why; a direct booking books any open entry and decides the slot's opening, refused while the
dispatcher attempts it; nothing is recorded when refused. (The view: test_queue_view.py.)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from slotqueue.aggregates.errors import InvalidInput, TransitionRefused
from slotqueue.aggregates.matcher import Presets, slot_key
from slotqueue.aggregates.opened_slot import BOOKED_BY_OPERATOR, NO_ELIGIBLE, OpenedSlot
from slotqueue.aggregates.operator_slot import operator_slot
from slotqueue.aggregates.queue_entry import QueueEntry

NOW = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)  # Monday 10:00 in Honolulu
KAPOLEI = UUID(int=1)
SLOT_UTC = datetime(2026, 1, 7, 19, 15, tzinfo=UTC)  # Wednesday 09:15 in Honolulu
KEY = slot_key(KAPOLEI, date(2026, 1, 7), "9:15")
GRACE = timedelta(hours=2)
PRESETS = Presets.from_rows([("time_block", "early", {"start": "08:00", "end": "09:45"})])
OPS = "key:ops-alice"


def _entry(status: str) -> QueueEntry:
    entry = QueueEntry(customer_id=UUID(int=99), sequence=1, at=NOW - timedelta(days=1))
    if status in ("deposit_required", "active"):
        entry.require_deposit(NOW, GRACE)
    if status == "active":
        entry.record_payment("pay-1", NOW)
    if status == "paused":
        entry.pause(NOW)
    if status == "canceled":
        entry.cancel(NOW)
    if status == "booked":
        entry.require_deposit(NOW, GRACE)
        entry.record_payment("pay-1", NOW)
        entry.book(KAPOLEI, SLOT_UTC, NOW)
    entry.collect_events()
    assert entry.status == status
    return entry


# --- priority ------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["queued", "deposit_required", "active", "paused"])
def test_an_open_entry_takes_a_priority_with_who_and_why(status: str) -> None:
    entry = _entry(status)
    entry.set_priority(5, "  phoned in, elderly ", NOW, OPS)
    entry.set_priority(0, "back to join order", NOW, OPS)
    first, second = entry.collect_events()
    assert (type(first).__name__, first.score, first.previous_score, first.reason,
            first.by) == ("PriorityChanged", 5, 0, "phoned in, elderly", OPS)
    assert (second.score, second.previous_score) == (0, 5)
    assert (entry.status, entry.priority, entry.priority_reason) == (
        status, 0, "back to join order")


@pytest.mark.parametrize("status", ["booked", "canceled"])
def test_a_final_entry_refuses_a_priority_and_records_nothing(status: str) -> None:
    entry = _entry(status)
    with pytest.raises(TransitionRefused, match=f"cannot set priority: entry is {status}"):
        entry.set_priority(5, "too late", NOW, OPS)
    assert entry.collect_events() == []


@pytest.mark.parametrize(("score", "reason", "field"), [
    (101, "why", "score"), (-1, "why", "score"), (5, " ", "reason")])
def test_a_bad_score_or_no_reason_is_refused_naming_it(score: int, reason: str,
                                                       field: str) -> None:
    entry = _entry("queued")
    with pytest.raises(InvalidInput) as refused:
        entry.set_priority(score, reason, NOW, OPS)
    assert refused.value.field == field
    assert entry.collect_events() == []


def test_an_entry_recorded_before_priorities_replays_with_none() -> None:
    entry = _entry("queued")  # nothing about priorities in its state, as in older snapshots
    assert "_priority" not in vars(entry)
    assert (entry.priority, entry.priority_reason) == (0, None)


# --- convert to booking --------------------------------------------------------------------

@pytest.mark.parametrize(("status", "deposit"), [
    ("queued", "none"), ("deposit_required", "required"), ("active", "paid"),
    ("paused", "none")])
def test_an_operator_books_any_open_entry_and_its_deposit_stays_as_it_was(
        status: str, deposit: str) -> None:
    entry = _entry(status)
    entry.book_by_operator(KAPOLEI, SLOT_UTC, NOW, OPS, "Kapolei")
    events = entry.collect_events()
    booked = next(e for e in events if type(e).__name__ == "Booked")
    assert (booked.by, booked.location_name, booked.slot_datetime) == (OPS, "Kapolei",
                                                                       SLOT_UTC)
    assert (entry.status, entry.deposit_status, entry.booked_location_id) == (
        "booked", deposit, KAPOLEI)


@pytest.mark.parametrize("status", ["booked", "canceled"])
def test_a_final_entry_is_not_booked_by_an_operator(status: str) -> None:
    entry = _entry(status)
    with pytest.raises(TransitionRefused, match=f"cannot book by operator: entry is {status}"):
        entry.book_by_operator(KAPOLEI, SLOT_UTC, NOW, OPS)
    assert entry.collect_events() == []


def test_an_entry_the_dispatcher_is_attempting_to_book_is_not_booked_by_an_operator() -> None:
    entry = _entry("active")
    entry.reserve_attempt(UUID(int=5), NOW)
    entry.collect_events()
    with pytest.raises(TransitionRefused, match=r"attempt .* is under way"):
        entry.book_by_operator(KAPOLEI, SLOT_UTC, NOW, OPS)
    assert entry.collect_events() == []


def _opening() -> OpenedSlot:
    slot = OpenedSlot(slot_key=KEY, first_seen=NOW - timedelta(minutes=1), location_id=KAPOLEI,
                      slot_date="2026-01-07", slot_time="09:15:00", slot_datetime=SLOT_UTC,
                      at=NOW, run_id=UUID(int=7), opening=1)
    slot.collect_events()
    return slot


def test_an_operators_booking_decides_an_undecided_opening_so_no_run_decides_it() -> None:
    slot = _opening()
    slot.book_by_operator(UUID(int=2), UUID(int=3), NOW, OPS)
    [event] = slot.collect_events()
    assert (type(event).__name__, event.by, event.previous_outcome) == (
        "BookedByOperator", OPS, None)
    assert (slot.outcome, slot.decided_at, slot.winner["entry_id"]) == (
        BOOKED_BY_OPERATOR, NOW, UUID(int=2))
    with pytest.raises(TransitionRefused, match="already booked_by_operator"):
        slot.decide(UUID(int=8), NOW, NO_ELIGIBLE, PRESETS.to_json())


def test_an_opening_settled_without_a_booking_is_marked_booked_by_the_operator() -> None:
    slot = _opening()
    slot.decide(UUID(int=7), NOW, NO_ELIGIBLE, PRESETS.to_json())
    slot.collect_events()
    slot.book_by_operator(UUID(int=2), UUID(int=3), NOW + timedelta(minutes=5), OPS)
    [event] = slot.collect_events()
    assert (event.previous_outcome, slot.outcome, slot.decided_at) == (
        NO_ELIGIBLE, BOOKED_BY_OPERATOR, NOW)


def _attempting() -> OpenedSlot:
    slot = _opening()
    slot.decide_winner(UUID(int=7), NOW, PRESETS.to_json(),
                       {"entry_id": UUID(int=4), "customer_id": UUID(int=5), "rank": 1,
                        "joined_at": NOW, "priority": 0}, [], "stub", timedelta(seconds=120))
    slot.collect_events()
    return slot


@pytest.mark.parametrize(("after", "says"), [
    (timedelta(seconds=10), "attempting to book it under its lock"),
    (timedelta(seconds=121), "stopped answering")])
def test_an_opening_under_a_dispatchers_attempt_refuses_the_operator(after: timedelta,
                                                                      says: str) -> None:
    slot = _attempting()
    with pytest.raises(TransitionRefused, match=says):
        slot.book_by_operator(UUID(int=2), UUID(int=3), NOW + after, OPS)
    assert slot.collect_events() == []


def test_a_booked_or_closed_opening_refuses_the_operator() -> None:
    booked = _attempting()
    booked.record_answer(UUID(int=7), NOW, "success")
    closed = _opening()
    closed.close(NOW, NOW)
    for slot, says in ((booked, "already booked in this opening"), (closed, "is closed")):
        slot.collect_events()
        with pytest.raises(TransitionRefused, match=says):
            slot.book_by_operator(UUID(int=2), UUID(int=3), NOW, OPS)
        assert slot.collect_events() == []


@pytest.mark.parametrize(("day", "time_text", "field"), [
    ("2026-01-05", "09:00", "time"),  # earlier today
    ("2026-01-04", "12:00", "date"),  # yesterday
    ("2026-02-30", "08:00", "date"), ("tomorrow", "08:00", "date"),
    ("2026-01-07", "8am", "time"), ("2026-01-07", "24:00", "time"), ("2026-01-07", "", "time"),
    ("2028-06-01", "08:00", "date")])  # further ahead than a DMV slot
def test_a_slot_in_the_past_or_not_a_date_and_time_is_refused_naming_the_field(
        day: str, time_text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        operator_slot(KAPOLEI, day, time_text, "Pacific/Honolulu", NOW)
    assert refused.value.field == field


def test_the_operators_slot_is_keyed_as_the_monitors_openings_are() -> None:
    slot = operator_slot(KAPOLEI, "2026-01-07", "9:15", "Pacific/Honolulu", NOW)
    assert (slot.key, slot.slot_utc) == (KEY, SLOT_UTC)
