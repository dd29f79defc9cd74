"""Timer events (`aggregates.timers`, on any aggregate) → slotqueue.timers, one row per timer:
kind, due time, status (set, fired, canceled), when each happened and why it was cancelled.
Setting a timer again (a new deadline) starts its row afresh. Every value comes from the
event, so a rebuild is exact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from slotqueue.aggregates.ids import stable_id
from slotqueue.aggregates.timers import CANCELED, FIRED, SET, Timed
from slotqueue.projections.writes import Update, Upsert, Write

TABLE = "timers"


def timer_id(aggregate_id: UUID, name: str) -> UUID:
    return stable_id("timer", aggregate_id, name)


def _set(e: Any) -> list[Write]:
    row = {"id": timer_id(e.originator_id, e.name), "aggregate_id": e.originator_id,
           "name": e.name, "kind": e.kind, "due_at": e.due_at, "status": SET, "set_at": e.at,
           "fired_at": None, "canceled_at": None, "reason": None}
    return [Upsert(TABLE, ("id",), row)]


def _fired(e: Any) -> list[Write]:
    return [Update(TABLE, {"id": timer_id(e.originator_id, e.name)},
                   {"status": FIRED, "fired_at": e.at})]


def _canceled(e: Any) -> list[Write]:
    return [Update(TABLE, {"id": timer_id(e.originator_id, e.name)},
                   {"status": CANCELED, "canceled_at": e.at, "reason": e.reason})]


HANDLERS: tuple[tuple[type, Callable[[Any], list[Write]]], ...] = (
    (Timed.TimerSet, _set), (Timed.TimerFired, _fired), (Timed.TimerCanceled, _canceled),
)


def timer_writes(event: Any) -> list[Write]:
    """By isinstance: each aggregate class also carries its own subclass of the events."""
    for kind, handler in HANDLERS:
        if isinstance(event, kind):
            return handler(event)
    return []
