"""Operators' overrides (service §4.4, §4.5): an entry's priority score, and booking an entry
into a slot directly (convert to booking). Each calls the command `slotqueue priority` and
`slotqueue book` call, with the key's name as `by`; repeat-safe with `Idempotency-Key`.
Included by api/operator.py under /v1."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header

from slotqueue.adapters.locations import all_locations, one_location
from slotqueue.adapters.presets import load_labels
from slotqueue.aggregates.operator_slot import operator_slot
from slotqueue.api.auth import Principal, operator
from slotqueue.api.deps import Deps, deps
from slotqueue.api.errors import named
from slotqueue.api.models import BookIn, OperatorBookingOut, OperatorEntryOut, PriorityIn
from slotqueue.api.output import Json
from slotqueue.projections.entry_view import entry_view
from slotqueue.projections.queries import slot_openings

router = APIRouter()  # tagged "operator" by the router that includes it
Operator, D = Depends(operator), Depends(deps)
KEY = Header(default=None, alias="Idempotency-Key", description="Repeat-safe retries: the "
             "same key and body answer the first response again.")


def _entry(d: Deps, entry_id: UUID) -> dict[str, Any]:
    with d.reads.connection() as conn:
        return entry_view(d.svc.app, conn, entry_id, d.timezone, load_labels(conn))


@router.post("/entries/{id}/priority", response_model=OperatorEntryOut)
def set_priority(id: UUID, body: PriorityIn, who: Principal = Operator, d: Deps = D,
                 key: str | None = KEY) -> Json:
    """Sets the entry's priority score: rank order is the score descending, then join time
    (0 puts it back in join order). Any open entry; recorded with the key's name and the
    reason."""
    def run() -> tuple[int, dict[str, Any]]:
        d.svc.app.set_priority(id, body.score, body.reason, d.now(), who.actor)
        d.settle()
        return 200, _entry(d, id)

    return d.idempotency.run(key, who.actor, f"POST /v1/entries/{id}/priority",
                             body.model_dump_json().encode(), run)


@router.post("/entries/{id}/book", response_model=OperatorBookingOut)
def book_entry(id: UUID, body: BookIn, who: Principal = Operator, d: Deps = D,
               key: str | None = KEY) -> Json:
    """Books the entry (queued, deposit_required, active or paused) into this slot directly,
    for a customer who phoned in: the `booked` message goes out, and the slot's opening, if
    slotqueue tracks one, is decided so the dispatcher does not book it again (409 while a
    dispatcher's attempt on it is under way). The booking adapter is not called."""
    def run() -> tuple[int, dict[str, Any]]:
        now = d.now()
        with d.reads.connection() as conn:
            with named("location_id"):
                place = one_location(body.location_id, all_locations(conn))
            slot = operator_slot(place.id, body.date, body.time, d.timezone, now)
            known = slot_openings(conn, slot.key)
        done = d.svc.app.book_by_operator(id, slot, place.name, now, who.actor, known)
        d.settle()
        opening = None if done.opening_id is None else {
            "slot_id": done.opening_id, "previous_outcome": done.previous_outcome}
        return 200, {**_entry(d, id), "opening": opening}

    return d.idempotency.run(key, who.actor, f"POST /v1/entries/{id}/book",
                             body.model_dump_json().encode(), run)
