"""An operator's booking mode for one customer (spec service §4.2): `POST
/v1/entries/{id}/booking-mode {mode}` gives the entry's customer `auto` or `offer` of their
own, or `default` (the deployment's SLOTQUEUE_BOOKING_MODE) back; the command `slotqueue
booking-mode` calls, recorded with the key's name. Repeat-safe with `Idempotency-Key`."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field

from slotqueue.aggregates.booking_mode import effective_mode
from slotqueue.api.auth import Principal, operator
from slotqueue.api.deps import Deps, deps
from slotqueue.api.errors import named
from slotqueue.api.output import Json

router = APIRouter(prefix="/v1", tags=["operator"])
Operator, D = Depends(operator), Depends(deps)
KEY = Header(default=None, alias="Idempotency-Key", description="Repeat-safe retries: the "
             "same key and body answer the first response again.")


class BookingModeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["auto", "offer", "default"] = Field(examples=["offer"], description=(
        "auto (book the winner of an opening), offer (offer it first), or default (the "
        "deployment's, SLOTQUEUE_BOOKING_MODE)."))


class BookingModeOut(BaseModel):
    queue_entry_id: UUID
    customer_id: UUID
    booking_mode: str | None = Field(description="The customer's own mode; null: the "
                                     "deployment's.")
    effective: str = Field(examples=["offer"], description="The mode that applies now.")


def mode_of(d: Deps, entry_id: UUID, own: str | None) -> dict[str, Any]:
    entry = d.svc.app.entry(entry_id)
    return {"queue_entry_id": entry.id, "customer_id": entry.customer_id, "booking_mode": own,
            "effective": effective_mode(own, d.svc.settings.booking_mode)}


@router.post("/entries/{id}/booking-mode", response_model=BookingModeOut)
def set_booking_mode(id: UUID, body: BookingModeIn, who: Principal = Operator, d: Deps = D,
                     key: str | None = KEY) -> Json:
    """Gives the entry's customer a booking mode of their own (auto or offer), or takes it
    back (default: the deployment's). It applies to the openings decided from now on."""
    def run() -> tuple[int, dict[str, Any]]:
        with named("mode"):
            own = d.svc.app.set_booking_mode(id, body.mode, d.now(), who.actor)
        d.settle()
        return 200, mode_of(d, id, own)

    return d.idempotency.run(key, who.actor, f"POST /v1/entries/{id}/booking-mode",
                             body.model_dump_json().encode(), run)
