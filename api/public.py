"""Public endpoints (no token, rate limited per address and per phone): the active presets,
the locations, asking for a code, and joining with it (spec service §2.1, §2.2)."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import APIRouter, Depends, Header, Request

from slotqueue.adapters.locations import all_locations
from slotqueue.adapters.presets import active_presets
from slotqueue.aggregates.contact import normalise_phone
from slotqueue.api.deps import Deps, client, deps
from slotqueue.api.errors import Problem, documented, named
from slotqueue.api.models import (
    CustomerIn,
    CustomerOut,
    Location,
    Preset,
    VerificationIn,
    VerificationOut,
)
from slotqueue.api.output import Json, ok
from slotqueue.application.identity import CodeNotSent
from slotqueue.projections.wording import mask_phone

log = logging.getLogger("slotqueue.api")
router = APIRouter(prefix="/v1", tags=["public"])
KEY = Header(default=None, alias="Idempotency-Key", description="Repeat-safe retries.")


@router.get("/presets", response_model=list[Preset])
def presets(request: Request, d: Deps = Depends(deps)) -> Json:  # noqa: B008
    """The active target-window presets, in sort order: what `PUT /v1/me/windows` takes."""
    d.limits.address(client(request))
    with d.reads.connection() as conn:
        return ok(active_presets(conn))


@router.get("/locations", response_model=list[Location])
def locations(request: Request, d: Deps = Depends(deps)) -> Json:  # noqa: B008
    """The DMV locations, by name."""
    d.limits.address(client(request))
    with d.reads.connection() as conn:
        return ok([{"id": loc.id, "name": loc.name} for loc in all_locations(conn)])


def _phone(d: Deps, request: Request, raw: str) -> str:
    d.limits.address(client(request))
    with named("phone"):
        phone = normalise_phone(raw)
    d.limits.phone(phone)
    return phone


def _send_code(d: Deps, phone: str) -> Any:
    try:
        return d.svc.app.send_code(phone, d.now(), d.sms.send, d.brand)
    except CodeNotSent as exc:
        wait = max(1, math.ceil(exc.retry_after or 30))
        log.warning("verification code not sent", extra={"fields": {
            "to": mask_phone(phone), "provider": d.sms.name, "error": str(exc)}})
        raise Problem(503, f"the code could not be sent just now: try again in {wait} s",
                      headers={"Retry-After": str(wait)}) from None


@router.post("/verifications", status_code=202, response_model=VerificationOut,
             responses={429: {"description": "Too many codes or requests (Retry-After)."},
                        **documented(503)})
def ask_for_code(body: VerificationIn, request: Request, d: Deps = Depends(deps),  # noqa: B008
                 key: str | None = KEY) -> Any:
    """Sends a 6-digit code by SMS to the phone (valid 10 minutes, 5 tries; 3 per 10 min).
    409 when the phone opted out (text START first); 503 with Retry-After when the SMS
    provider did not take it this time."""
    phone = _phone(d, request, body.phone)

    def run() -> tuple[int, dict[str, Any]]:
        expires = _send_code(d, phone)
        return 202, {"sent_to": mask_phone(phone), "expires_at": expires}

    return d.idempotency.run(key, "anonymous", "POST /v1/verifications",
                             body.model_dump_json().encode(), run)


@router.post("/customers", status_code=201, response_model=CustomerOut,
             responses={409: {"description": "No live code for this phone."},
                        422: {"description": "Bad input, or the code is not right."}})
def join(body: CustomerIn, request: Request, d: Deps = Depends(deps),  # noqa: B008
         key: str | None = KEY) -> Any:
    """Checks the code and joins the queue (or returns the customer's open entry); the
    customer token in the answer is shown once."""
    phone = _phone(d, request, body.phone)

    def run() -> tuple[int, dict[str, Any]]:
        with named("email"):
            done = d.svc.app.verify_and_join(phone, body.code, body.email, d.now())
        d.settle()
        return 201, {"customer_id": done.customer_id, "queue_entry_id": done.queue_entry_id,
                     "customer_token": done.customer_token}

    return d.idempotency.run(key, "anonymous", "POST /v1/customers",
                             body.model_dump_json().encode(), run)
