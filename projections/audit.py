"""Replays a customer's or an entry's history from the event store (never the projections):
what `slotqueue audit` prints and `GET /v1/audit/…` answers, built here once for both."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from eventsourcing.domain import Aggregate

from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.errors import InvalidInput, NotFound
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.application.queue import SlotQueue
from slotqueue.projections.customer_audit import customer_openings
from slotqueue.projections.message_audit import customer_messages
from slotqueue.projections.wording import action_in_words

HIDDEN = {"originator_id", "originator_version", "timestamp", "originator_topic"}


@dataclass(frozen=True)
class Line:
    """One event as an auditor reads it, with the entry's state right after it."""

    at: datetime
    name: str
    aggregate: str
    aggregate_id: UUID
    status: str | None
    deposit_status: str | None
    data: dict[str, Any]  # the event's facts, `by` (who acted) among them
    recorded_at: datetime

    def fields(self) -> dict[str, Any]:
        return {"at": self.at, "name": self.name, "aggregate": self.aggregate,
                "aggregate_id": self.aggregate_id, "status": self.status,
                "deposit_status": self.deposit_status, "data": self.data}


def as_of_moment(text: str | None, timezone: str, label: str = "as_of") -> datetime | None:
    """ISO 8601; a time without an offset is local time in `timezone` (the settings')."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"invalid {label} {text!r}: expected ISO 8601, "
                           "e.g. 2026-11-23T08:30 or 2026-11-23T18:30Z", field=label) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))


def with_words(events: list[dict[str, Any]], timezone: str) -> list[dict[str, Any]]:
    """Each event with `what`: an operator's override in words (None for other events)."""
    return [{**e, "what": action_in_words(e["name"], e["data"], timezone)} for e in events]


def _data(event: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(event).items() if k not in HIDDEN and k != "at"}


def _replay(app: SlotQueue, aggregate_id: UUID) -> list[Line]:
    lines, state = [], None
    for event in app.events.get(aggregate_id):
        state = event.mutate(state)
        lines.append(Line(
            at=getattr(event, "at", event.timestamp),
            name=type(event).__name__,
            aggregate=type(state).__name__,
            aggregate_id=aggregate_id,
            status=getattr(state, "status", None),
            deposit_status=getattr(state, "deposit_status", None),
            data=_data(event),
            recorded_at=event.timestamp,
        ))
    return lines


def state_as_of(app: SlotQueue, aggregate_id: UUID, as_of: datetime | None) -> Aggregate | None:
    state = None
    for event in app.events.get(aggregate_id):
        if as_of is not None and getattr(event, "at", event.timestamp) > as_of:
            break
        state = event.mutate(state)
    return state


def entry_history(app: SlotQueue, entry_id: UUID, as_of: datetime | None) -> list[Line]:
    lines = _replay(app, entry_id)
    if not lines or lines[0].aggregate != QueueEntry.__name__:
        raise NotFound(f"unknown queue entry {entry_id}")
    return [line for line in lines if as_of is None or line.at <= as_of]


def customer_history(app: SlotQueue, customer_id: UUID, as_of: datetime | None) -> list[Line]:
    own = _replay(app, customer_id)
    if not own or own[0].aggregate != Customer.__name__:
        raise NotFound(f"unknown customer {customer_id}")
    customer = app.customer(customer_id)
    lines = own + [line for eid in customer.entry_ids() for line in _replay(app, eid)]
    lines.sort(key=lambda line: line.recorded_at)
    return [line for line in lines if as_of is None or line.at <= as_of]


def entry_state(entry: QueueEntry | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {
        "queue_entry_id": entry.id, "customer_id": entry.customer_id,
        "status": entry.status, "deposit_status": entry.deposit_status,
        "joined_at": entry.joined_at, "deposit_expires_at": entry.deposit_expires_at,
        "deposit_paid_at": entry.deposit_paid_at, "payment_refs": entry.payment_refs,
        "refunds_due": entry.refunds_due, "booked_location_id": entry.booked_location_id,
        "booked_slot_datetime": entry.booked_slot_datetime,
    }


def customer_state(app: SlotQueue, customer_id: UUID, as_of: datetime | None) -> dict[str, Any]:
    customer = state_as_of(app, customer_id, as_of)
    if not isinstance(customer, Customer):
        return {"customer_id": customer_id, "exists": False}
    entries = [state_as_of(app, eid, as_of) for eid in customer.entry_ids()]
    return {
        "customer_id": customer.id, "phone": customer.phone, "email": customer.email,
        "selection": customer.selection, "location_ids": customer.location_ids,
        "entries": [entry_state(e) for e in entries if isinstance(e, QueueEntry)],
    }


def entry_audit(app: SlotQueue, entry_id: UUID, as_of: datetime | None) -> dict[str, Any]:
    """An entry's events up to `as_of`, and its state then."""
    lines = entry_history(app, entry_id, as_of)
    state = state_as_of(app, entry_id, as_of)
    return {"events": [line.fields() for line in lines],
            "state": entry_state(state if isinstance(state, QueueEntry) else None)}


def customer_audit(app: SlotQueue, conn: psycopg.Connection[Any], customer_id: UUID,
                   as_of: datetime | None, limit: int = 50) -> dict[str, Any]:
    """A customer's openings (a summary and the `limit` that matter most), their events up to
    `as_of` across their aggregates, their messages with each one's deliveries, and their
    state then."""
    lines = customer_history(app, customer_id, as_of)
    found = customer_openings(app, conn, app.customer(customer_id), limit, as_of)
    passed = [o for o in found["openings"] if o["passed_over"]]  # kept for earlier readers
    return {**found, "passed_over": passed, "events": [line.fields() for line in lines],
            "messages": customer_messages(conn, customer_id, as_of),
            "state": customer_state(app, customer_id, as_of)}
