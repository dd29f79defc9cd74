"""OpenedSlot (an operator's booking among them), Watermark and conflict events →
booking_locks, booking_attempts, queue_watermarks, slotqueue.opened_slots and
slotqueue.booking_conflicts (the nudges' `opportunity_passed` rows of message_log are written
with the other texts, in messages.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time
from typing import Any

from slotqueue.aggregates.opened_slot import (
    ATTEMPTING,
    BASELINE,
    BOOKED_BY_OPERATOR,
    GONE,
    OpenedSlot,
)
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.aggregates.watermark import Watermark
from slotqueue.projections.imported_tables import location
from slotqueue.projections.writes import Update, Upsert, Write


def _slot_update(e: Any, **values: Any) -> Write:
    return Update("opened_slots", {"id": e.originator_id}, values)


def _release(e: Any) -> Write:
    return Update("booking_locks", {"lock_key": e.slot_key}, {"locked_until": e.at})


def _opened(e: Any) -> list[Write]:
    row = {
        "id": e.originator_id, "slot_key": e.slot_key, "location_id": e.location_id,
        "slot_date": date.fromisoformat(e.slot_date), "slot_time": time.fromisoformat(e.slot_time),
        "slot_datetime_utc": e.slot_datetime, "first_seen": e.first_seen, "opened_at": e.at,
        "opened_by_run_id": e.run_id, "claimed_by_run_id": None, "claimed_until": None,
        "outcome": BASELINE if getattr(e, "baseline", False) else None, "decided_at": None,
        "winner_entry_id": None, "winner_rank": None, "winner_priority": None,
        "opening": getattr(e, "opening", 0),
        "last_seen": getattr(e, "last_seen", None), "closed_at": None,
    }
    return [Upsert("opened_slots", ("id",), row)]


def _closed(e: Any) -> list[Write]:
    changes: dict[str, Any] = {"closed_at": e.at, "last_seen": e.last_seen}
    if e.undecided:
        changes["outcome"] = GONE
    return [_slot_update(e, **changes)]


def _claimed(e: Any) -> list[Write]:
    lock = {"lock_key": e.slot_key, "locked_until": e.until, "owner_run_id": e.run_id}
    return [_slot_update(e, claimed_by_run_id=e.run_id, claimed_until=e.until),
            Upsert("booking_locks", ("lock_key",), lock)]


def _decided(e: Any) -> list[Write]:
    """A decision; with a winner, the slot's lock is held until the attempt's answer."""
    winner = e.winner or {}
    out = [_slot_update(e, outcome=e.outcome, decided_at=e.at,
                        winner_entry_id=winner.get("entry_id"), winner_rank=winner.get("rank"),
                        winner_priority=winner.get("priority"))]
    until = getattr(e, "until", None)
    if until is not None:
        lock = {"lock_key": e.slot_key, "locked_until": until, "owner_run_id": e.run_id}
        out += [_slot_update(e, claimed_by_run_id=e.run_id, claimed_until=until),
                Upsert("booking_locks", ("lock_key",), lock)]
    return out if e.outcome == ATTEMPTING else [*out, _release(e)]


def _finished(e: Any) -> list[Write]:
    """An attempt's end, or the adapter's answer after the attempt was ended as interrupted
    (then the attempt's row takes the answer: the booking is not lost)."""
    row = {
        "id": e.attempt_id, "customer_id": e.customer_id, "location_id": location(e.location_id),
        "slot_date": date.fromisoformat(e.slot_date), "slot_time": time.fromisoformat(e.slot_time),
        "slot_datetime_utc": e.slot_datetime, "attempt_at": e.started_at, "result": e.result,
        "error_code": e.error_code, "error_message": e.error_message,
        "dispatcher_run_id": e.attempt_run_id,
    }
    return [Upsert("booking_attempts", ("id",), row), _slot_update(e, outcome=e.outcome),
            _release(e)]


def _conflicted(e: Any) -> list[Write]:
    row = {"slot_id": e.slot_id, "queue_entry_id": e.originator_id,
           "customer_id": e.customer_id, "location_id": e.location_id,
           "slot_datetime_utc": e.slot_datetime, "reason": e.reason, "recorded_at": e.at}
    return [Upsert("booking_conflicts", ("slot_id", "queue_entry_id"), row)]


def _booked_by_operator(e: Any) -> list[Write]:
    """An operator booked the slot directly: decided (its first decision's time kept), won by
    the entry they booked, with no rank and no attempt (the adapter was not called)."""
    changes: dict[str, Any] = {"outcome": BOOKED_BY_OPERATOR, "winner_entry_id": e.entry_id,
                               "winner_rank": None, "winner_priority": None}
    if e.previous_outcome in (None, BASELINE):
        changes["decided_at"] = e.at
    return [_slot_update(e, **changes)]


def _watermark(e: Any) -> list[Write]:
    row = {"key": e.key, "last_processed_at": e.position}
    return [Upsert("queue_watermarks", ("key",), row)]


HANDLERS: dict[type, Callable[[Any], list[Write]]] = {
    OpenedSlot.SlotOpened: _opened,
    OpenedSlot.Claimed: _claimed,
    OpenedSlot.Decided: _decided,
    OpenedSlot.AttemptFinished: _finished,
    OpenedSlot.AttemptAnsweredLate: _finished,
    OpenedSlot.Closed: _closed,
    OpenedSlot.BookedByOperator: _booked_by_operator,
    QueueEntry.BookingConflicted: _conflicted,
    Watermark.Started: _watermark,
    Watermark.Advanced: _watermark,
}


def dispatch_writes(event: Any) -> list[Write]:
    handler = HANDLERS.get(type(event))
    return handler(event) if handler else []
