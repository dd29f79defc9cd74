"""The dashboard's pages (spec service §5), each a read of the same projections the operator
API reads: the queue, openings as they are decided (with the first check each customer ahead
of the winner failed), offers, timers, message deliveries, one customer's story and the
charts. An auditor's session sees every page; only an operator's shows the action buttons."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from slotqueue.adapters.locations import all_locations
from slotqueue.adapters.presets import load_labels
from slotqueue.api import dashboard_charts as charts
from slotqueue.api import paging
from slotqueue.api.dashboard_session import Session, page_session, take_notice
from slotqueue.api.dashboard_view import render
from slotqueue.api.deps import Deps, deps
from slotqueue.projections import audit, dashboard_charts, dashboard_reads, slot_audit
from slotqueue.projections.delivery_queries import deliveries_by_status
from slotqueue.projections.operator_lists import MESSAGE_TYPES, decided_openings, messages
from slotqueue.projections.queue_listing import queue
from slotqueue.projections.wording import windows_in_words

router = APIRouter()
Page, D = Depends(page_session), Depends(deps)
PAGE = 50
AHEAD_SHOWN = 5  # customers ahead of a winner listed per opening (the slot audit has all)
CURSOR = Query(None, max_length=200)


def _page(request: Request, d: Deps, session: Session, template: str, **context: Any
          ) -> HTMLResponse:
    fragment = request.query_params.get("fragment") == "1"
    notice = None if fragment else take_notice(d.reads, session)
    return render(request, template, session, notice=notice, **context)


@router.get("/queue")
def queue_page(request: Request, status: str | None = Query(None, max_length=40),
               cursor: str | None = CURSOR, session: Session = Page, d: Deps = D
               ) -> HTMLResponse:
    """The queue in rank order, a page at a time, filtered by status."""
    status = (status or "").strip() or None
    with d.reads.connection() as conn:
        rows, total = queue(conn, status, PAGE + 1, paging.decode_ranked(cursor))
        labels = load_labels(conn)
    entries = [{"row": r, "windows": windows_in_words(r.selection, labels, d.timezone)}
               for r in rows[:PAGE]]
    return _page(request, d, session, "queue.html", entries=entries, total=total,
                 status=status, next_cursor=paging.next_cursor(rows, PAGE, lambda r: r.position),
                 cursor=cursor, live="entry customer decision timer")


def _ahead(request: Request, d: Deps, opening: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The first customers ahead of the winner with the first check each failed: replayed
    from the events once per app (a decision never changes), the last 512 kept."""
    kept: OrderedDict[tuple[UUID, Any], tuple[dict[str, Any], ...]] = getattr(
        request.app.state, "dashboard_ahead", OrderedDict())
    request.app.state.dashboard_ahead = kept
    key = (opening["slot_id"], opening["decided_at"])  # decided again after a failed attempt
    if key not in kept:
        with d.reads.connection() as conn:
            journal = slot_audit.slot_journal(d.svc.app, conn, opening["slot_key"],
                                              limit=AHEAD_SHOWN)
        found = next((s for s in journal if s["slot_id"] == key[0]), None)
        kept[key] = tuple(found["ahead"]) if found else ()
        while len(kept) > 512:
            kept.popitem(last=False)
    return kept[key]


@router.get("/openings")
def openings_page(request: Request, cursor: str | None = CURSOR, session: Session = Page,
                  d: Deps = D) -> HTMLResponse:
    """Openings being decided, then decided ones newest first: outcome, winner, and for each
    customer ahead of the winner the first check they failed."""
    with d.reads.connection() as conn:
        deciding = dashboard_reads.undecided_openings(conn)
        rows = decided_openings(conn, None, PAGE + 1, paging.decode(cursor))
    decided = [{**r, "ahead": _ahead(request, d, r)} for r in rows[:PAGE]]
    named = [r["winner_entry_id"] for r in decided if r["winner_entry_id"]]
    with d.reads.connection() as conn:
        people = dashboard_reads.entry_people(conn, named + [
            a["queue_entry_id"] for r in decided for a in r["ahead"]])
    return _page(request, d, session, "openings.html", deciding=deciding, decided=decided,
                 people=people,
                 next_cursor=paging.next_cursor(rows, PAGE, lambda r: (r["decided_at"],
                                                                        r["slot_id"])),
                 cursor=cursor, live="opening decision")


@router.get("/timers")
def timers_page(request: Request, session: Session = Page, d: Deps = D) -> HTMLResponse:
    """Timers still set (soonest due first), then those fired or cancelled."""
    with d.reads.connection() as conn:
        rows, counts = dashboard_reads.timers(conn), dashboard_reads.timer_counts(conn)
    return _page(request, d, session, "timers.html", timers=rows, counts=counts, live="timer")


@router.get("/offers")
def offers_page(request: Request, session: Session = Page, d: Deps = D) -> HTMLResponse:
    """Offers: pending ones first (soonest expiry), then the rest newest first."""
    with d.reads.connection() as conn:
        found, counts = dashboard_reads.offers(conn), dashboard_reads.offer_counts(conn)
    return _page(request, d, session, "offers.html", offers=found, counts=counts,
                 live="offer timer")


@router.get("/messages")
def messages_page(request: Request, status: str | None = Query(None, max_length=40),
                  message_type: str | None = Query(None, alias="type", max_length=40),
                  cursor: str | None = CURSOR, session: Session = Page, d: Deps = D
                  ) -> HTMLResponse:
    """Messages newest first with each delivery's status, tries and error; unknown and
    failed deliveries can be sent again; the phones that opted out."""
    status, message_type = (status or None), (message_type or None)
    with d.reads.connection() as conn:
        rows = messages(conn, status, message_type, None, None, PAGE + 1, paging.decode(cursor))
        counts = _by_status(deliveries_by_status(conn))
        opt_outs = dashboard_reads.opt_outs(conn)
    return _page(request, d, session, "messages.html", messages=rows[:PAGE], counts=counts,
                 opt_outs=opt_outs, status=status, message_type=message_type,
                 types=MESSAGE_TYPES, cursor=cursor, live="delivery entry",
                 next_cursor=paging.next_cursor(rows, PAGE, lambda r: (r["sent_at"],
                                                                        r["message_id"])))


def _by_status(counts: dict[tuple[str, str], int]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for (_, status), n in counts.items():
        totals[status] = totals.get(status, 0) + n
    return totals


@router.get("/customers/{id}")
def customer_page(request: Request, id: UUID, session: Session = Page, d: Deps = D
                  ) -> HTMLResponse:
    """One customer's story: their events, the openings that passed them by and why, their
    messages, as one timeline; an operator acts on their open entry here."""
    with d.reads.connection() as conn:
        found = audit.customer_audit(d.svc.app, conn, id, None, 20)
        places = all_locations(conn)
    return _page(request, d, session, "customer.html", story=_timeline(found, d.timezone),
                 state=found["state"], summary=found["summary"], locations=places,
                 customer_id=id, live="entry customer delivery decision")


def _timeline(found: dict[str, Any], tz: str) -> list[dict[str, Any]]:
    """Events, openings and messages in the order they happened, newest first."""
    lines = [{"at": e["at"], "kind": "event", "item": e}
             for e in audit.with_words(found["events"], tz)]
    lines += [{"at": o["decided_at"], "kind": "opening", "item": o} for o in found["openings"]]
    lines += [{"at": m["queued_at"], "kind": "message", "item": m} for m in found["messages"]]
    return sorted(lines, key=lambda line: line["at"], reverse=True)


@router.get("/charts")
def charts_page(request: Request, session: Session = Page, d: Deps = D) -> HTMLResponse:
    """Openings per location per hour, time from opening to booking, deposit conversion,
    deliveries by status: drawn by the server as SVG."""
    now = d.now()
    with d.reads.connection() as conn:
        per_hour = dashboard_charts.openings_per_hour(conn, now)
        to_booking = charts.buckets(dashboard_charts.seconds_to_booking(conn, now))
        funnel = dashboard_charts.deposit_funnel(conn)
        statuses = _by_status(deliveries_by_status(conn))
    return _page(request, d, session, "charts.html", live="opening decision delivery entry",
                 heat=charts.openings_heat(per_hour, now, d.timezone),
                 to_booking=charts.histogram(to_booking, "Time from opening to booking"),
                 to_booking_rows=to_booking, funnel=charts.funnel(*funnel), funnel_rows=funnel,
                 deliveries=charts.by_status(statuses), delivery_rows=statuses,
                 per_location={k: sum(v.values()) for k, v in per_hour.items()})
