"""Operators' overrides from the command line (service §4.2, §4.4, §4.5): `slotqueue
priority`, `slotqueue book` (convert to booking) and `slotqueue booking-mode`, the commands
`POST /v1/entries/{id}/priority|book|booking-mode` call, recorded with `cli:<user>`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from slotqueue.adapters.locations import all_locations, one_location
from slotqueue.aggregates.booking_mode import CHOICES, effective_mode, valid_choice
from slotqueue.aggregates.operator_slot import operator_slot
from slotqueue.aggregates.queue_policy import MAX_PRIORITY
from slotqueue.bootstrap import Service
from slotqueue.projections.queries import rank_of, slot_openings
from slotqueue.projections.wording import local_time
from slotqueue.scripts.common import JsonOption, cli_actor, emit, parse_id, service
from slotqueue.scripts.entry_cmds import EntryId, entry_payload, show


def _state(svc: Service, entry_id: Any) -> dict[str, Any]:
    svc.catch_up()
    payload = entry_payload(svc, entry_id)
    with svc.connect() as conn:
        payload["rank"] = rank_of(conn, entry_id)
    return payload


def priority(
    entry_id: EntryId,
    score: Annotated[int, typer.Option(help=(
        f"0 (none: join order) to {MAX_PRIORITY}; higher ranks first, equal scores in join "
        "order."))],
    reason: Annotated[str, typer.Option(help="Why (the audits show it with who set it).")],
    as_json: JsonOption = False,
) -> None:
    """Set an entry's priority score: rank order is the score descending, then join time."""
    with service(as_json) as svc:
        eid = parse_id(entry_id, "queue entry id")
        svc.app.set_priority(eid, score, reason, svc.clock.now(), cli_actor())
        payload = _state(svc, eid)
    emit(as_json, payload, lambda: show(payload, svc.settings.timezone))


def book(
    entry_id: EntryId,
    location: Annotated[str, typer.Option(help="The location's name (the start of one will "
                                               "do) or id.")],
    date: Annotated[str, typer.Option(help="The slot's local date, YYYY-MM-DD.")],
    time: Annotated[str, typer.Option(help="The slot's local time, HH:MM (24-hour).")],
    as_json: JsonOption = False,
) -> None:
    """Book an entry into a slot directly (a customer who phoned in); the booking adapter is
    not called.

    Any open entry (queued, deposit_required, active, paused). The booked message goes out,
    and the slot's opening, if slotqueue tracks one, is decided so the dispatcher does not
    book it again.
    """
    with service(as_json) as svc:
        eid = parse_id(entry_id, "queue entry id")
        now, tz = svc.clock.now(), svc.settings.timezone
        with svc.connect() as conn:
            place = one_location(location, all_locations(conn))
            slot = operator_slot(place.id, date, time, tz, now)
            known = slot_openings(conn, slot.key)
        done = svc.app.book_by_operator(eid, slot, place.name, now, cli_actor(), known)
        payload = {**_state(svc, eid), "location": place.name, "slot": slot.slot_utc,
                   "opening_id": done.opening_id, "opening_was": done.previous_outcome}

    def text() -> str:
        was = done.previous_outcome or "undecided"
        opening = ("no open opening was tracked" if done.opening_id is None else
                   f"opening {done.opening_id} decided (was {was})")
        return (f"booked {place.name}, {local_time(slot.slot_utc, tz)}; {opening}\n"
                + show(payload, tz))

    emit(as_json, payload, text)


def booking_mode(
    entry_id: EntryId,
    mode: Annotated[str, typer.Argument(help=(
        "auto (book the winner of an opening), offer (offer it first), or default (the "
        "deployment's SLOTQUEUE_BOOKING_MODE)."), show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """Give an entry's customer a booking mode of their own, or take it back (default).

    It applies to the openings decided from now on; an offer already made stays open.
    """
    eid, choice = parse_id(entry_id, "queue entry id"), valid_choice(mode)
    with service(as_json) as svc:
        own = svc.app.set_booking_mode(eid, choice, svc.clock.now(), cli_actor())
        deployment = svc.settings.booking_mode
        customer_id = svc.app.entry(eid).customer_id
    payload = {"queue_entry_id": eid, "customer_id": customer_id, "booking_mode": own,
               "effective": effective_mode(own, deployment)}
    emit(as_json, payload, lambda: (
        f"booking mode of entry {eid}: {own or 'default'} (applies: "
        f"{payload['effective']}; the deployment's is {deployment}; one of "
        f"{', '.join(CHOICES)})"))


def register(app: typer.Typer) -> None:
    app.command()(priority)
    app.command()(book)
    app.command()(booking_mode)
