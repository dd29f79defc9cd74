"""Operator and auditor endpoints (an API key): the queue, entries and their actions (the
overrides, priority and convert to booking, in api/overrides.py), the audits, openings and
messages (spec service §2.4). Auditors read; operators read and act; a customer token gets 403
(its own place is `/v1/me`). Every action calls the command the CLI calls and records the
key's name on its event (`by`: `key:<name>`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query

from slotqueue.adapters.presets import load_labels
from slotqueue.aggregates.errors import NotFound
from slotqueue.api import audits, overrides, paging
from slotqueue.api.auth import Principal, operator, reader
from slotqueue.api.deps import Deps, deps
from slotqueue.api.models import OperatorEntryOut, QueuePage, RetriedOut
from slotqueue.api.output import Json, ok
from slotqueue.projections.customer_view import times
from slotqueue.projections.delivery_queries import deliveries_of_message
from slotqueue.projections.entry_view import entry_view
from slotqueue.projections.queue_listing import QueueRow, queue
from slotqueue.projections.wording import Labels, windows_in_words

router = APIRouter(prefix="/v1", tags=["operator"])
Reader, Operator, D = Depends(reader), Depends(operator), Depends(deps)
KEY = Header(default=None, alias="Idempotency-Key", description="Repeat-safe retries: the "
             "same key answers the first response again.")


def _row(row: QueueRow, labels: Labels, tz: str) -> dict[str, Any]:
    return {"rank": row.rank, "priority": row.priority, "queue_entry_id": row.queue_entry_id,
            "customer_id": row.customer_id, "phone": row.phone, "status": row.status,
            "deposit_status": row.deposit_status, **times("deposit_due", row.deposit_due, tz),
            **times("joined_at", row.joined_at, tz),
            "windows": windows_in_words(row.selection, labels, tz), "selection": row.selection,
            "locations": row.locations}


@router.get("/queue", response_model=QueuePage)
def list_queue(
    status: str | None = Query(None, description="One status (queued, deposit_required, "
                               "active, paused, booked, expired, canceled); default: the "
                               "ranked ones."),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, description="`next_cursor` of the page before."),
    _: Principal = Reader, d: Deps = D,
) -> Json:
    """The queue in rank order: rank, masked phone, status, deposit deadline while it is
    awaited, windows in words, locations by name."""
    after = paging.decode_ranked(cursor)
    with d.reads.connection() as conn:
        rows, total = queue(conn, status.strip() if status else None, limit + 1, after)
        labels = load_labels(conn)
    return ok({"entries": [_row(r, labels, d.timezone) for r in rows[:limit]], "total": total,
               "next_cursor": paging.next_cursor(rows, limit, lambda r: r.position)})


def _entry(d: Deps, entry_id: UUID) -> dict[str, Any]:
    with d.reads.connection() as conn:
        return entry_view(d.svc.app, conn, entry_id, d.timezone, load_labels(conn))


@router.get("/entries/{id}", response_model=OperatorEntryOut)
def read_entry(id: UUID, _: Principal = Reader, d: Deps = D) -> Json:
    """An entry: status, rank, deposit, payments, booking and conflicts, the customer's
    windows and locations (phone masked; the full number is in the customer's audit)."""
    return ok(_entry(d, id))


def _command(d: Deps, action: str, entry_id: UUID, by: str) -> dict[str, Any]:
    app, now = d.svc.app, d.now()
    if action == "require-deposit":
        app.require_deposit(entry_id, now, d.svc.deposit_grace, by=by)
    elif action == "refund":
        return {"refunded_payment_refs": app.refund(entry_id, now, by=by)}
    else:
        getattr(app, action)(entry_id, now, by=by)
    return {}


def _action(action: str, doc: str) -> Any:
    def act(id: UUID, who: Principal = Operator, d: Deps = D,
            key: str | None = KEY) -> Json:
        def run() -> tuple[int, dict[str, Any]]:
            done = _command(d, action, id, who.actor)
            d.settle()
            return 200, {**_entry(d, id), **done}

        return d.idempotency.run(key, who.actor, f"POST /v1/entries/{id}/{action}", b"", run)

    act.__doc__ = doc
    act.__name__ = f"{action.replace('-', '_')}_entry"
    return act


ACTIONS = {
    "pause": "Pauses the entry (queued or active).",
    "resume": "Resumes a paused entry to where it was.",
    "cancel": "Cancels an entry that is not final (a paid deposit stays paid until refunded).",
    "refund": "Refunds what is owed: payments nobody asked for, or the paid deposit once the "
              "entry has left the queue (cancel it first).",
    "require-deposit": "Asks for the deposit now (operator override; the dispatcher asks "
                       "ranks 1..N itself), due after SLOTQUEUE_DEPOSIT_GRACE_MINUTES.",
}
for _name, _doc in ACTIONS.items():
    router.post(f"/entries/{{id}}/{_name}", response_model=OperatorEntryOut)(
        _action(_name, _doc))



@router.post("/messages/{id}/retry", response_model=RetriedOut, tags=["messages"])
def retry_message(id: UUID, who: Principal = Operator, d: Deps = D,
                  key: str | None = KEY) -> Json:
    """Sends again a delivery that ended `unknown` (the provider may have it: only an
    operator decides) or `failed`, with a fresh set of tries. `id` is a delivery's, or a
    message's (each of its deliveries, which must all be unknown or failed)."""
    def run() -> tuple[int, dict[str, Any]]:
        with d.reads.connection() as conn:
            ids = deliveries_of_message(conn, id) or [id]
        try:
            done = [d.svc.app.retry_delivery(one, who.actor, d.now()) for one in ids]
        except NotFound:
            raise NotFound(f"unknown delivery or message {id}") from None
        return 200, {"retried": [{"delivery_id": x.id, "channel": x.channel,
                                  "status": x.status} for x in done]}

    return d.idempotency.run(key, who.actor, f"POST /v1/messages/{id}/retry", b"", run)


router.include_router(audits.router)
router.include_router(overrides.router)
