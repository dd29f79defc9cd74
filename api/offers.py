"""An offer's claim link (spec service §4.2), public but for its signed token: `GET
/v1/offers/{id}?token=` shows the offer (a plain HTML page; JSON with `Accept:
application/json`), `POST /v1/offers/{id}/accept?token=` and `/decline?token=` answer it (the
page's buttons post there; JSON unless the request prefers HTML). Rate limited per address.

An unknown offer and a wrong token are the same 404 (a wrong token learns nothing); a token a
reminder replaced is 403; an offer no longer open is 409 saying what became of it. Accepting
calls the booking adapter before it answers: the answer says booked or not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from slotqueue.aggregates.errors import DomainError, NotFound
from slotqueue.aggregates.offer import LINK, Offer
from slotqueue.api.deps import Deps, client, deps
from slotqueue.api.errors import PROBLEM, Problem, documented, problem
from slotqueue.api.offer_pages import offer_page, refusal_page
from slotqueue.api.output import ok
from slotqueue.application.offers import LinkReplaced, closed_in_words
from slotqueue.projections.customer_view import times

router = APIRouter(prefix="/v1/offers", tags=["offers"])
HTML = "text/html"
TOKEN = Query(min_length=1, max_length=100, description="The token of the offer's link.")


class OfferOut(BaseModel):
    """An offer as its link's holder sees it."""

    offer_id: UUID
    status: str = Field(examples=["pending"], description=(
        "pending, accepted, booked, failed, declined, expired or withdrawn"))
    policy: str = Field(examples=["offer"], description="offer, priority or broadcast")
    location: str | None = None
    slot: str = Field(description="The slot, UTC.")
    slot_local: str
    expires_at: str = Field(description="Until when it can be accepted, UTC.")
    expires_at_local: str
    what_happened: str | None = Field(None, description="Once it is no longer open.")
    result: str | None = Field(None, description="After an answer: the booking's result "
                               "(success, fail, skipped) or `declined`.")


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Problem+json, or the same refusal as a page for a person (HTML)."""
    found = documented(*statuses)
    for spec in found.values():
        spec["content"] = {PROBLEM: spec["content"][PROBLEM], HTML: {"schema": {
            "type": "string"}}}
    return found


RESPONSES = {200: {"content": {HTML: {"schema": {"type": "string"}}}},
             **_documented(403, 404, 409, 429)}


def _view(offer: Offer, timezone: str, result: str | None = None) -> dict[str, Any]:
    return {"offer_id": offer.id, "status": offer.status, "policy": offer.policy,
            "location": offer.location_name or None,
            **times("slot", offer.slot_datetime, timezone),
            **times("expires_at", offer.expires_at, timezone),
            "what_happened": None if offer.pending else closed_in_words(offer),
            "result": result}


def _wants_html(request: Request, default: bool) -> bool:
    accept = request.headers.get("accept", "")
    if "application/json" in accept and HTML not in accept:
        return False
    return HTML in accept or default


def _status(exc: DomainError) -> int:
    if isinstance(exc, LinkReplaced):
        return 403
    return 404 if isinstance(exc, NotFound) else 409


async def _answer(request: Request, d: Deps, html: bool,
                  work: Callable[[], dict[str, Any]], token: str) -> Response:
    """Runs `work` (rate limited); its refusals as problem+json, or as a page for a person."""
    try:
        d.limits.address(client(request))
        found = await run_in_threadpool(work)
    except Problem as exc:
        if not html:
            raise
        return HTMLResponse(refusal_page(exc.status, exc.detail, d.brand), exc.status,
                            headers=exc.headers)
    except DomainError as exc:
        status = _status(exc)
        if html:
            return HTMLResponse(refusal_page(status, str(exc), d.brand), status)
        return problem(status, str(exc))
    if html:
        return HTMLResponse(offer_page(found, token, d.brand))
    return ok(found)


@router.get("/{id}", response_model=OfferOut, responses=RESPONSES)
async def show_offer(request: Request, id: UUID, token: str = TOKEN,
                     d: Deps = Depends(deps)) -> Response:  # noqa: B008
    """The offer this link names: a page with Accept and Decline for a person, JSON with
    `Accept: application/json`."""
    def work() -> dict[str, Any]:
        return _view(d.svc.app.offer_by_token(id, token), d.timezone)

    return await _answer(request, d, _wants_html(request, default=True), work, token)


@router.post("/{id}/accept", response_model=OfferOut, responses=RESPONSES)
async def accept_offer(request: Request, id: UUID, token: str = TOKEN,
                       d: Deps = Depends(deps)) -> Response:  # noqa: B008
    """Accepts the offer: it wins the opening (any other offer of it is withdrawn) and the
    booking is attempted at once; the answer says whether it is booked."""
    def work() -> dict[str, Any]:
        answer = d.svc.app.accept_offer(id, LINK, d.now(), d.booker(), token=token)
        d.settle()
        return _view(d.svc.app.offer(id), d.timezone, answer.result.result
                     if answer.result else None)

    return await _answer(request, d, _wants_html(request, default=False), work, token)


@router.post("/{id}/decline", response_model=OfferOut, responses=RESPONSES)
async def decline_offer(request: Request, id: UUID, token: str = TOKEN,
                        d: Deps = Depends(deps)) -> Response:  # noqa: B008
    """Declines the offer: it passes to the next customer while the slot is open, and no
    offer comes for SLOTQUEUE_OFFER_COOLDOWN_MINUTES."""
    def work() -> dict[str, Any]:
        d.svc.app.decline_offer(id, LINK, d.now(), token=token)
        d.settle()
        return _view(d.svc.app.offer(id), d.timezone, "declined")

    return await _answer(request, d, _wants_html(request, default=False), work, token)

