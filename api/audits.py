"""What operators and auditors read of the past (spec service §2.4): an entry's, a customer's
and a slot's audit, replayed from the event store by the same code as `slotqueue audit`; the
decided openings and the message log, newest first. Included by api/operator.py under /v1."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query

from slotqueue.adapters.locations import all_locations
from slotqueue.api import paging
from slotqueue.api.auth import Principal, reader
from slotqueue.api.deps import Deps, deps
from slotqueue.api.errors import named
from slotqueue.api.models import (
    CustomerAuditOut,
    EntryAuditOut,
    MessagesPage,
    OpeningsPage,
    SlotAuditOut,
)
from slotqueue.api.output import Json, ok
from slotqueue.projections import audit, operator_lists, slot_audit
from slotqueue.projections.customer_view import times
from slotqueue.projections.wording import check_in_words, local_time

router = APIRouter()  # tagged "operator" by the router that includes it
Reader, D = Depends(reader), Depends(deps)
AS_OF = Query(None, description="ISO 8601 (`2026-11-23T18:30Z`, or local time in "
              "SLOTQUEUE_TIMEZONE without an offset; send `+` as `%2B`).")
SINCE = Query(None, description="ISO 8601, inclusive (local time without an offset).")
LIMIT = Query(50, ge=1, le=500)
CURSOR = Query(None, description="`next_cursor` of the page before.")


def _events(rows: list[dict[str, Any]], tz: str) -> list[dict[str, Any]]:
    return [{**row, "at_local": local_time(row["at"], tz)} for row in audit.with_words(rows, tz)]


DELIVERY_TIMES = ("next_attempt_at", "created_at", "updated_at", "sent_at", "delivered_at")


def _with_local(row: dict[str, Any], names: tuple[str, ...], tz: str) -> dict[str, Any]:
    shown = dict(row)
    for name in names:
        shown.update(times(name, row[name], tz))
    return shown


def _messages(rows: list[dict[str, Any]], tz: str) -> list[dict[str, Any]]:
    """Each message's and delivery's times with their `_local` twins."""
    return [{**_with_local(m, ("queued_at",), tz),
             "deliveries": [_with_local(d, DELIVERY_TIMES, tz) for d in m["deliveries"]]}
            for m in rows]


@router.get("/audit/entries/{id}", response_model=EntryAuditOut, tags=["audit"])
def audit_entry(id: UUID, as_of: str | None = AS_OF,
                _: Principal = Reader, d: Deps = D) -> Json:
    """The entry's events (with who acted: `data.by`) up to `as_of`, and its state then."""
    found = audit.entry_audit(d.svc.app, id, audit.as_of_moment(as_of, d.timezone))
    return ok({**found, "events": _events(found["events"], d.timezone)})


@router.get("/audit/customers/{id}", response_model=CustomerAuditOut, tags=["audit"])
def audit_customer(id: UUID, as_of: str | None = AS_OF, limit: int = LIMIT,
                   _: Principal = Reader, d: Deps = D) -> Json:
    """The openings decided while the customer queued (a summary, then the `limit` that
    matter most: passed over first), their events across their entries, their state."""
    moment = audit.as_of_moment(as_of, d.timezone)
    with d.reads.connection() as conn:
        found = audit.customer_audit(d.svc.app, conn, id, moment, limit)
    return ok({**found, "events": _events(found["events"], d.timezone),
               "messages": _messages(found["messages"], d.timezone)})


def _slot(slot: dict[str, Any], names: dict[UUID, str], tz: str) -> dict[str, Any]:
    opened = slot["events"][0]["data"] if slot["events"] else {}
    ahead = [{**a, "failed_in_words": check_in_words(a["failed"])} for a in slot["ahead"]]
    return {**slot, "location": names.get(opened.get("location_id")),  # type: ignore[arg-type]
            **times("slot_datetime", opened.get("slot_datetime"), tz),
            "events": _events(slot["events"], tz), "ahead": ahead}


@router.get("/audit/slots/{location_id}/{date}/{time}", response_model=SlotAuditOut, tags=["audit"])
def audit_slot(location_id: UUID, date: dt.date,
               time: str = Path(pattern=r"^\d{1,2}:\d{2}(:\d{2})?$", examples=["10:45"]),
               _: Principal = Reader, d: Deps = D) -> Json:
    """The slot's decision journal, every opening of it: outcome, winner and rank, the
    preset rules in force, attempts, and the first check each customer ahead of the winner
    failed. `time` is HH:MM or HH:MM:SS (local, as the DMV lists it)."""
    with named("time"):
        key = slot_audit.normalised_key(f"{location_id}|{date.isoformat()}|{time}")
    with d.reads.connection() as conn:
        slots = slot_audit.slot_journal(d.svc.app, conn, key)
        names = {loc.id: loc.name for loc in all_locations(conn)}
    return ok({"slots": [_slot(s, names, d.timezone) for s in slots]})


@router.get("/openings", response_model=OpeningsPage)
def openings(since: str | None = SINCE, limit: int = LIMIT, cursor: str | None = CURSOR,
             _: Principal = Reader, d: Deps = D) -> Json:
    """Decided openings, newest decision first: outcome, winner's entry and rank, location
    by name (why each went where it went: `GET /v1/audit/slots/…`)."""
    moment = audit.as_of_moment(since, d.timezone, "since")
    with d.reads.connection() as conn:
        rows = operator_lists.decided_openings(conn, moment, limit + 1, paging.decode(cursor))
    tz = d.timezone
    return ok({"openings": [{**r, **times("slot_datetime", r["slot_datetime"], tz),
                             **times("decided_at", r["decided_at"], tz)} for r in rows[:limit]],
               "next_cursor": paging.next_cursor(
                   rows, limit, lambda r: (r["decided_at"], r["slot_id"]))})


@router.get("/messages", response_model=MessagesPage)
def messages(
    status: str | None = Query(None, description=(
        "Only messages with a delivery in this status: queued, sending, sent, delivered, "
        "failed, suppressed or unknown.")),
    message_type: str | None = Query(None, alias="type", description=(
        "deposit_needed, deposit_received, booked, opportunity_passed or status.")),
    customer_id: UUID | None = None, since: str | None = SINCE, limit: int = LIMIT,
    cursor: str | None = CURSOR, _: Principal = Reader, d: Deps = D,
) -> Json:
    """message_log, newest first: type, masked phone, the text as recorded, and what became
    of it on each channel."""
    moment = audit.as_of_moment(since, d.timezone, "since")
    with d.reads.connection() as conn:
        rows = operator_lists.messages(conn, status, message_type, customer_id, moment,
                                       limit + 1, paging.decode(cursor))
    return ok({"messages": [{**r, **times("sent_at", r["sent_at"], d.timezone),
                             "deliveries": [_with_local(x, DELIVERY_TIMES, d.timezone)
                                            for x in r["deliveries"]]}
                            for r in rows[:limit]],
               "next_cursor": paging.next_cursor(
                   rows, limit, lambda r: (r["sent_at"], r["message_id"]))})
