"""Twilio's webhooks (spec service §3), authenticated by `X-Twilio-Signature` only: the
signature is checked with the `twilio` package's validator, over `SLOTQUEUE_PUBLIC_URL` plus the
path and query Twilio called and the form it posted, before anything is recorded. A missing or
forged one is answered 403; without `SLOTQUEUE_TWILIO_AUTH_TOKEN`, 503. Both record nothing.

- `POST /v1/webhooks/twilio/status?delivery=<id>`: a text's fate. `delivered` and
  `undelivered`/`failed` settle the delivery; other statuses (queued, sent, …) change nothing.
  A delivery we do not know is answered 200 and ignored (logged), so Twilio stops telling us.
- `POST /v1/webhooks/twilio/inbound`: a text from a phone. STOP and its synonyms opt it out,
  START/UNSTOP back in, HELP gets the help text, 1 and 9 accept and decline the phone's
  pending offer; the answer is TwiML.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID
from xml.sax.saxutils import escape

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

from slotqueue.aggregates.contact import normalise_phone
from slotqueue.aggregates.errors import DomainError, InvalidInput, NotFound
from slotqueue.aggregates.offer import SMS
from slotqueue.aggregates.phone_opt_out import HELP_WORDS, START_WORDS, STOP_WORDS, keyword
from slotqueue.api.deps import Deps, deps
from slotqueue.api.errors import Problem, documented
from slotqueue.api.output import Json, ok
from slotqueue.projections.messages import help_text
from slotqueue.projections.wording import mask_phone

log = logging.getLogger("slotqueue.deliveries")
ACCEPT, DECLINE = "1", "9"  # replies to an offer (spec service §3, §4.2)
router = APIRouter(prefix="/v1/webhooks/twilio", tags=["webhooks"])
TWIML = "application/xml"
REFUSED: dict[int | str, dict[str, Any]] = {status: {**spec, "description": why} for (
    status, spec), why in zip(documented(403, 503).items(), (
        "Missing or forged X-Twilio-Signature; nothing recorded.",
        "SLOTQUEUE_TWILIO_AUTH_TOKEN is not set; nothing recorded."), strict=True)}


def _form(*fields: str) -> dict[str, Any]:
    properties = {name: {"type": "string"} for name in fields}
    return {"requestBody": {"required": True, "content": {
        "application/x-www-form-urlencoded": {"schema": {
            "type": "object", "properties": properties,
            "additionalProperties": {"type": "string"}}}}}}


class StatusAnswer(BaseModel):
    received: bool = True
    outcome: str = Field(examples=["delivered"], description=(
        "delivered, undelivered, already_recorded (a repeat, or a delivery settled otherwise), "
        "unknown_delivery, or ignored (a status that settles nothing)"))
    delivery_id: str | None = None


async def _signed_form(request: Request, d: Deps) -> dict[str, str]:
    """The posted form, once its signature is Twilio's (Problem 403 or 503 otherwise)."""
    token = d.svc.settings.twilio_auth_token
    if not token:
        raise Problem(503, "Twilio webhooks are not configured: set "
                           "SLOTQUEUE_TWILIO_AUTH_TOKEN to the account's auth token")
    pairs = parse_qsl((await request.body()).decode("utf-8", "replace"),
                      keep_blank_values=True)
    query = request.url.query
    url = d.svc.settings.public_url.rstrip("/") + request.url.path + (f"?{query}" if query
                                                                      else "")
    signature = request.headers.get("X-Twilio-Signature") or ""
    if not signature or not RequestValidator(token).validate(
            url, ImmutableMultiDict(pairs), signature):
        raise Problem(403, "X-Twilio-Signature is missing or is not Twilio's signature of "
                           f"this request to {url.split('?')[0]}: nothing recorded")
    return dict(pairs)


def _status(d: Deps, delivery: str | None, form: dict[str, str]) -> dict[str, Any]:
    status, sid = form.get("MessageStatus", ""), form.get("MessageSid") or None
    if status not in ("delivered", "undelivered", "failed"):
        return {"outcome": "ignored", "delivery_id": delivery}
    try:
        delivery_id = UUID(delivery or "")
        error = None if status == "delivered" else f"twilio {form.get('ErrorCode') or status}"
        changed = d.svc.app.provider_report(delivery_id, status == "delivered", sid, error,
                                            d.now())
    except (ValueError, NotFound):
        log.warning("twilio status for an unknown delivery", extra={"fields": {
            "delivery_id": (delivery or "")[:64], "sid": sid, "status": status}})
        return {"outcome": "unknown_delivery", "delivery_id": None}
    outcome = ("delivered" if status == "delivered" else "undelivered") if changed \
        else "already_recorded"
    log.info("twilio status", extra={"fields": {
        "delivery_id": str(delivery_id), "sid": sid, "status": status, "outcome": outcome}})
    return {"outcome": outcome, "delivery_id": str(delivery_id)}


@router.post("/status", response_model=StatusAnswer, responses=REFUSED,
             openapi_extra=_form("MessageSid", "MessageStatus", "ErrorCode", "To", "From"))
async def twilio_status(request: Request, d: Deps = Depends(deps)) -> Json:  # noqa: B008
    """Twilio's status callback for a text we sent (the `delivery` query parameter names
    it): `delivered`, or `undelivered`/`failed` with Twilio's ErrorCode, settles it."""
    form = await _signed_form(request, d)
    found = await run_in_threadpool(_status, d, request.query_params.get("delivery"), form)
    return ok({"received": True, **found})


def twiml(message: str | None = None) -> Response:
    body = f"<Message>{escape(message)}</Message>" if message else ""
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
                    media_type=TWIML)


def other_reply(d: Deps, phone: str, word: str, form: dict[str, str]) -> str | None:
    """`1` accepts and `9` declines the phone's pending offer (spec §4.2); the reply says what
    happened, or that there is no open offer. Any other text: no reply."""
    if word not in (ACCEPT, DECLINE):
        return None
    brand, app = d.brand, d.svc.app
    offer = app.pending_offer_of_phone(phone)
    if offer is None:
        return f"{brand}: you have no open offer right now. Reply HELP for help."
    try:
        if word == ACCEPT:
            answer = app.accept_offer(offer.id, SMS, d.now(), d.booker())
        else:
            answer = app.decline_offer(offer.id, SMS, d.now())
    except DomainError as exc:
        return f"{brand}: {str(exc)[:1].upper()}{str(exc)[1:]}."
    finally:
        d.settle()
    log.info("twilio offer reply", extra={"fields": {
        "from": mask_phone(phone), "offer_id": str(offer.id), "status": answer.status}})
    if word == DECLINE:
        return (f"{brand}: declined. Your place in line is kept; new offers resume after a "
                "short pause.")
    return f"{brand}: accepted. We tried to book it: a text with the result follows."


def _inbound(d: Deps, form: dict[str, str]) -> str | None:
    try:
        phone = normalise_phone(form.get("From", ""))
    except InvalidInput:
        return None  # a short code or a sender id: nobody we text
    word = keyword(form.get("Body"))
    if word in STOP_WORDS:
        changed = d.svc.app.opt_out(phone, word, d.now())
    elif word in START_WORDS:
        changed = d.svc.app.opt_in(phone, word, d.now())
    else:
        return help_text(d.svc.texts) if word in HELP_WORDS else other_reply(d, phone, word,
                                                                              form)
    log.info("twilio inbound", extra={"fields": {
        "from": mask_phone(phone), "keyword": word, "changed": changed}})
    return None  # Twilio's own opt-out handling confirms STOP and START to the phone


@router.post("/inbound", response_class=Response, responses={
    **REFUSED, 200: {"description": "TwiML: the reply to send, if any.",
                     "content": {TWIML: {"schema": {"type": "string"}}}}},
    openapi_extra=_form("From", "To", "Body", "MessageSid"))
async def twilio_inbound(request: Request, d: Deps = Depends(deps)) -> Response:  # noqa: B008
    """A text to our number: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT opt the phone out
    of texts; START, UNSTOP opt it back in; HELP, INFO get the help text. TwiML answers."""
    form = await _signed_form(request, d)
    return twiml(await run_in_threadpool(_inbound, d, form))
