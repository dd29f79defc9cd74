"""Customer and queue-entry commands: join, select, locations, deposits, pause … status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from slotqueue.adapters.locations import all_locations, resolve
from slotqueue.adapters.presets import load_presets
from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.matcher import Selection
from slotqueue.bootstrap import Service
from slotqueue.projections.queries import rank_of
from slotqueue.projections.wording import deposit_deadline, local_time
from slotqueue.scripts.common import (
    JsonOption,
    cli_actor,
    emit,
    fail,
    parse_customer,
    parse_entry,
    parse_id,
    service,
)

EntryId = Annotated[str, typer.Argument(help="The queue entry's id.")]
CustomerId = Annotated[str, typer.Argument(
    help="The customer's id, or the phone number they joined with.")]


def join(
    phone: Annotated[str, typer.Option(help="Phone number, e.g. 808-555-0101.")],
    email: Annotated[str | None, typer.Option(help="Email address (optional).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Put a customer in the queue (an open entry is returned, never doubled)."""
    with service(as_json) as svc:
        joined = svc.app.join(phone, email)
    payload = {"customer_id": joined.customer_id, "queue_entry_id": joined.queue_entry_id}
    verb = "joined" if joined.new_entry else "already queued"
    emit(as_json, payload, f"{verb}: customer {joined.customer_id} entry {joined.queue_entry_id}")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _weekdays(text: str) -> tuple[str, tuple[int, ...]]:
    if text.strip().lower() == "any":
        return "any_weekday", ()
    days = []
    for part in text.split(","):
        try:
            days.append(int(part.strip()))
        except ValueError:
            raise InvalidInput(f"invalid weekday {part.strip()!r}: use 'any' or numbers "
                               "1-5 (1 = Monday)") from None
    return "custom_weekdays", tuple(days)


def select(
    customer_id: CustomerId,
    horizon: Annotated[str, typer.Option(help="Date horizon preset key, e.g. w4.")],
    blocks: Annotated[str, typer.Option(help="Time block keys, comma separated.")],
    weekdays: Annotated[str, typer.Option(help="'any' or weekday numbers 1-5.")] = "any",
    timezone: Annotated[str | None, typer.Option(help="IANA timezone.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Record a customer's target windows, checked against the active presets."""
    with service(as_json) as svc:
        rule, days = _weekdays(weekdays)
        selection = Selection(
            timezone=timezone or svc.settings.timezone, date_horizon_key=horizon.strip(),
            weekday_rule_key=rule, custom_weekdays=days, time_block_keys=tuple(_split(blocks)),
        )
        cid = parse_customer(svc, customer_id)
        with svc.connect() as conn:
            presets = load_presets(conn)
        svc.app.select_windows(cid, selection, presets, svc.clock.now())
        chosen = svc.app.customer(cid).selection
    emit(as_json, {"customer_id": cid, "selection": chosen}, f"windows recorded: {chosen}")


def locations(
    customer_id: CustomerId,
    set_: Annotated[str, typer.Option("--set", help=(
        "Location names (any case; the start of a name will do) or ids, comma separated, "
        "e.g. 'Kapolei,Kaneohe'."))],
    as_json: JsonOption = False,
) -> None:
    """Replace the customer's preferred locations (each must exist)."""
    with service(as_json) as svc:
        cid = parse_customer(svc, customer_id)
        with svc.connect() as conn:
            known = all_locations(conn)
        wanted = list(dict.fromkeys(resolve(_split(set_), known)))
        svc.app.prefer_locations(cid, wanted, [loc.id for loc in known], svc.clock.now())
    names = {loc.id: loc.name for loc in known}
    emit(as_json, {"customer_id": cid, "location_ids": wanted,
                   "locations": [names[i] for i in wanted]},
         f"locations recorded: {', '.join(names[i] for i in wanted)}")


def entry_payload(svc: Service, entry_id: Any) -> dict[str, Any]:
    """The entry's state; the deposit deadline only while the deposit is required."""
    entry = svc.app.entry(entry_id)
    return {"queue_entry_id": entry.id, "customer_id": entry.customer_id,
            "status": entry.status, "deposit_status": entry.deposit_status,
            "priority": entry.priority,
            "deposit_expires_at": deposit_deadline(entry.status, entry.deposit_status,
                                                   entry.deposit_expires_at),
            "booking_conflicts": list(getattr(entry, "conflicts", []))}


def show(payload: dict[str, Any], timezone: str) -> str:
    """`key=value` pairs; times in local time with the zone, a deadline that no longer
    applies left out."""
    def value(v: Any) -> Any:
        return local_time(v, timezone) if isinstance(v, datetime) else v

    return " ".join(f"{k}={value(v)}" for k, v in payload.items()
                    if not (k == "deposit_expires_at" and v is None))


def require_deposit(entry_id: EntryId, as_json: JsonOption = False) -> None:
    """Ask an entry for its deposit now (operator override; normally the dispatcher does)."""
    with service(as_json) as svc:
        eid = parse_id(entry_id, "queue entry id")
        svc.app.require_deposit(eid, svc.clock.now(), svc.deposit_grace, by=cli_actor())
        payload = entry_payload(svc, eid)
    emit(as_json, payload, lambda: show(payload, svc.settings.timezone))


def deposit_paid(
    entry_id: EntryId,
    payment_ref: Annotated[str, typer.Option(help="The payment system's reference.")],
    as_json: JsonOption = False,
) -> None:
    """Record a deposit payment (idempotent per reference); exit 1 if it needs a refund."""
    with service(as_json) as svc:
        eid = parse_id(entry_id, "queue entry id")
        paid = svc.app.record_payment(eid, payment_ref, svc.clock.now())
        payload = {**entry_payload(svc, eid), "payment_ref": payment_ref.strip(),
                   "refund_needed": not paid}
    if not paid:
        fail(f"payment {payment_ref.strip()!r} recorded for entry {eid}, which was not waiting "
             f"for one (entry is {payload['status']}): refund needed", as_json, **payload)
    emit(as_json, payload, lambda: show(payload, svc.settings.timezone))


def _lifecycle_command(name: str, doc: str) -> Any:
    def command(entry_id: EntryId, as_json: JsonOption = False) -> None:
        with service(as_json) as svc:
            eid = parse_id(entry_id, "queue entry id")
            result = getattr(svc.app, name)(eid, svc.clock.now(), by=cli_actor())
            payload = entry_payload(svc, eid)
            if name == "refund":
                payload["refunded_payment_refs"] = result
        emit(as_json, payload, lambda: show(payload, svc.settings.timezone))

    command.__doc__ = doc
    return command


def status(
    entry_id: Annotated[str, typer.Argument(
        help="The queue entry's id, or a phone number for that customer's latest entry.")],
    as_json: JsonOption = False,
) -> None:
    """Show an entry's status, rank (null when not ranked) and deposit deadline (while due)."""
    with service(as_json) as svc:
        eid = parse_entry(svc, entry_id)
        svc.catch_up()
        payload = entry_payload(svc, eid)
        with svc.connect() as conn:
            payload["rank"] = rank_of(conn, eid)
    emit(as_json, payload, lambda: show(payload, svc.settings.timezone))


def register(app: typer.Typer) -> None:
    app.command()(join)
    app.command()(select)
    app.command()(locations)
    app.command("require-deposit")(require_deposit)
    app.command("deposit-paid")(deposit_paid)
    for name, doc in (("pause", "Pause an entry (queued or active); resume restores it."),
                      ("resume", "Resume a paused entry to where it was."),
                      ("cancel", "Cancel an entry that is not final (a paid deposit stays paid)."),
                      ("refund", "Refund what is owed: extra payments, or a paid deposit once "
                                 "the entry has left the queue.")):
        app.command(name)(_lifecycle_command(name, doc))
    app.command()(status)
