"""Provider webhooks, authenticated by the provider's signature only (spec service §2.3).

`POST /v1/webhooks/stripe`: the signature is checked (`adapters.stripe_webhook`) before the
body is read as JSON; a refused delivery (400, or 503 without a secret) records nothing. A
verified one is applied once per Stripe event id and answered 200, unknown types included.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from slotqueue.adapters import stripe_webhook as stripe_in
from slotqueue.aggregates.payment_notice import PaidNotice
from slotqueue.api.deps import Deps, deps
from slotqueue.api.errors import Problem
from slotqueue.api.output import Json, ok

log = logging.getLogger("slotqueue.payments")
router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
EVENT_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "A Stripe event, exactly as Stripe signed it."}}}}}
PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad or stale signature, or a body that is not a Stripe event; "
                         "nothing recorded."},
    503: {"description": "SLOTQUEUE_STRIPE_WEBHOOK_SECRET is not set; nothing recorded."},
}


class WebhookAnswer(BaseModel):
    received: bool = True
    event_id: str | None = Field(default=None, examples=["evt_1QabcXYZ"])
    outcome: str = Field(examples=["deposit_paid"], description=(
        "deposit_paid, refund_needed, unmatched_payment, paid_after_refund, already_recorded, "
        "refunded, canceled_and_refunded, refund_before_payment, partial_refund, "
        "already_refunded, or ignored (a type or a state that records nothing)"))
    queue_entry_id: str | None = None
    replayed: bool = Field(default=False, description="This event id was applied before.")


def _verified(d: Deps, body: bytes, signature: str | None) -> dict[str, Any]:
    secret = d.svc.settings.stripe_webhook_secret
    if not secret:
        raise Problem(503, "Stripe webhooks are not configured: set "
                           "SLOTQUEUE_STRIPE_WEBHOOK_SECRET to the endpoint's signing secret")
    try:
        return stripe_in.verified_event(body, signature, secret)
    except stripe_in.Unsigned as exc:
        raise Problem(400, str(exc), [{"field": "Stripe-Signature", "message": str(exc)}]
                      ) from None
    except stripe_in.Malformed as exc:
        raise Problem(400, str(exc), [{"field": "body", "message": str(exc)}]) from None


def _apply(d: Deps, event: dict[str, Any]) -> dict[str, Any]:
    try:
        found = stripe_in.notice(event)
    except stripe_in.Malformed as exc:
        raise Problem(400, str(exc), [{"field": "body", "message": str(exc)}]) from None
    if found is None:
        return {"event_id": event.get("id"), "outcome": "ignored"}
    app = d.svc.app
    if isinstance(found, PaidNotice):
        answer = app.record_provider_payment(stripe_in.PROVIDER, found, d.now())
    else:
        answer = app.record_provider_refund(stripe_in.PROVIDER, found, d.now())
    if not answer.replayed:
        d.settle()
    level = logging.WARNING if answer.outcome in ("unmatched_payment", "refund_needed",
                                                  "refund_before_payment") else logging.INFO
    log.log(level, "stripe event", extra={"fields": {
        "event_id": found.event_id, "type": found.kind, "payment_ref": found.payment_ref,
        "outcome": answer.outcome, "entry_id": str(answer.entry_id or ""),
        "replayed": answer.replayed}})
    return {"event_id": found.event_id, "outcome": answer.outcome,
            "queue_entry_id": answer.entry_id, "replayed": answer.replayed}


@router.post("/stripe", response_model=WebhookAnswer, responses=PROBLEMS,
             openapi_extra=EVENT_BODY)
async def stripe_event(request: Request, d: Deps = Depends(deps),  # noqa: B008
                       signature: str | None = Header(default=None, alias="Stripe-Signature")
                       ) -> Json:
    """Stripe's events: `checkout.session.completed` pays the deposit of the entry named by
    `client_reference_id`; `charge.refunded` records the refund. Each event id is applied
    once; other types are answered and ignored."""
    body = await request.body()
    event = _verified(d, body, signature)
    return ok({"received": True, **await run_in_threadpool(_apply, d, event)})
