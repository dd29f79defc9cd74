"""`slotqueue audit`: an entry's, a customer's or a slot's history, replayed from the event
store; for a customer first the openings that mattered to them and why they went elsewhere."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

import typer

from slotqueue.adapters.locations import Location, all_locations, resolve
from slotqueue.aggregates.errors import InvalidInput
from slotqueue.projections import audit, slot_audit
from slotqueue.projections.slot_audit import normalised_key
from slotqueue.projections.wording import check_in_words, local_time, mask_phone
from slotqueue.scripts.common import JsonOption, emit, parse_customer, parse_id, service


def parse_as_of(text: str | None, timezone: str) -> datetime | None:
    """ISO 8601; a time without an offset is local time in SLOTQUEUE_TIMEZONE."""
    return audit.as_of_moment(text, timezone, "--as-of")


def _stamp(moment: datetime, tz: ZoneInfo) -> str:
    """Local time with the zone, to the second: an auditor compares these."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def _shown(data: Any, tz: ZoneInfo) -> str:
    return json.dumps(data, default=lambda v: _stamp(v, tz) if isinstance(v, datetime)
                      else str(v), sort_keys=True)


def _text(lines: list[dict[str, Any]], state: Any, tz: ZoneInfo) -> str:
    out = []
    for line in lines:
        when = _stamp(line["at"], tz)
        after = f"{line['status']}/{line['deposit_status']}" if line["status"] else "-"
        data = line.get("what") or _shown(line["data"], tz)
        out.append(f"{when}  {line['name']:<22} {after:<26} {data}")
    out.append("state: " + _shown(state, tz))
    return "\n".join(out)


def _slot_heading(slot: dict[str, Any], tz: ZoneInfo, names: dict[UUID, str]) -> str:
    """`Kapolei, Tue Dec 16, 10:45 AM HST` from the opening's first event."""
    opened = slot["events"][0]["data"] if slot["events"] else {}
    location = opened.get("location_id")
    where = names.get(location, str(location)) if isinstance(location, UUID) else "?"
    when = opened.get("slot_datetime")
    return f"{where}, {local_time(when, str(tz))}" if when else where


def _slot_text(slots: list[dict[str, Any]], tz: ZoneInfo, names: dict[UUID, str]) -> str:
    out = []
    for slot in slots:
        out.append(f"slot {_slot_heading(slot, tz, names)}: {slot['outcome']} "
                   f"(key {slot['slot_key']}, opening {slot['slot_id']})")
        for e in audit.with_words(slot["events"], str(tz)):
            out.append(f"  {_stamp(e['at'], tz)}  {e['name']:<15} "
                       f"{e['what'] or _shown(e['data'], tz)}")
        for a in slot["ahead"]:
            out.append(f"  rank {a['rank']:>4}  entry {a['queue_entry_id']}  "
                       f"customer {a['customer_id']}  failed: {a['failed']}")
        out += _offers_text(slot, tz)
    return "\n".join(out)


def _offers_text(slot: dict[str, Any], tz: ZoneInfo) -> list[str]:
    """The policy of each offer decision, whom it offered or passed by and why, and each
    offer with its timers (service §4.1 to §4.3)."""
    out = []
    for p in slot.get("policies", []):
        what = (f"policy {p['policy']}" if p["event"] == "decided"
                else f"priority window of offer {p['offer_id']} ended: the fallback follows")
        out.append(f"  {_stamp(p['at'], tz)}  {what}")
        for c in p.get("customers", []):
            out.append(f"      rank {c['rank'] or '-':>4}  entry {c['queue_entry_id']}  "
                       f"{c['reason']}")
    for o in slot.get("offers", []):
        out.append(f"  offer {o['offer_id']} ({o['policy']}) to entry {o['queue_entry_id']}: "
                   f"{o['status']}" + (f" ({o['reason']})" if o["reason"] else "")
                   + f", round {o['round']}, until {_stamp(o['expires_at'], tz)}")
        for t in o["timers"]:
            ended = t["fired_at"] or t["canceled_at"]
            out.append(f"      timer {t['name']:<15} due {_stamp(t['due_at'], tz)}  "
                       f"set {_stamp(t['set_at'], tz)}  {t['status']}"
                       + (f" {_stamp(ended, tz)}" if ended else "")
                       + (f" ({t['reason']})" if t["reason"] else ""))
    return out


_SLOT = re.compile(r"(?P<where>.+?)\s+(?P<day>\d{4}-\d{1,2}-\d{1,2})\s+"
                   r"(?P<hour>\d{1,2})(?P<rest>:\d{2}(?::\d{2})?)\s*(?P<half>[ap]m)?",
                   re.IGNORECASE)


def slot_key_of(text: str, known: list[Location]) -> str:
    """`Kapolei 2026-12-16 10:45` (a location name, or the start of one; `10:45 AM` too) or
    `location_id|YYYY-MM-DD|HH:MM:SS` → the slot's normalised key."""
    text = text.strip()
    unreadable = InvalidInput(f"invalid slot {text!r}: expected LOCATION YYYY-MM-DD HH:MM, "
                              "e.g. 'Kapolei 2026-12-16 10:45', or location_id|YYYY-MM-DD|HH:MM:SS")
    if "|" in text:
        where, _, rest = text.partition("|")
    else:
        found = _SLOT.fullmatch(text)
        if found is None:
            raise unreadable
        hour, half = int(found["hour"]), (found["half"] or "").lower()
        if half:
            hour = hour % 12 + (12 if half == "pm" else 0)
        where, rest = found["where"], f"{found['day']}|{hour}{found['rest']}"
    try:
        normalised_key(f"{UUID(int=0)}|{rest}")  # the date and time first, then the place
    except InvalidInput:
        raise unreadable from None
    try:
        location_id = UUID(where.strip())  # an id is taken as given (a removed location too)
    except ValueError:
        try:
            location_id = resolve([where], known)[0]
        except InvalidInput as exc:
            raise InvalidInput(f"invalid slot {text!r}: {exc}") from None
    return normalised_key(f"{location_id}|{rest}")


def _summary_text(customer: dict[str, Any], summary: dict[str, Any], tz: str) -> list[str]:
    since = summary["queued_since"]
    head = f"customer {customer['customer_id']} ({mask_phone(customer.get('phone'))})"
    if since is None:
        return [head + ": never queued"]
    checks = ", ".join(f"{check_in_words(k)} {n}"
                       for k, n in summary["first_failed_checks"].items()) or "-"
    return [
        f"{head}, queued since {local_time(since, tz)}",
        f"openings at your locations while you queued: {summary['openings_at_your_locations']}"
        f" (won {summary['won']}, went to someone ahead {summary['went_to_someone_ahead']}, "
        f"to someone behind {summary['went_to_someone_behind']}, "
        f"to nobody {summary['went_to_nobody']})",
        f"openings elsewhere won by someone behind you: "
        f"{summary['won_elsewhere_by_someone_behind']}",
        f"first failed check at your locations: {checks}",
    ]


_WHO = {"you": "won by you", "ahead": "won by someone ahead of you",
        "behind": "won by someone behind you", None: "went to nobody"}


def _opening_text(o: dict[str, Any], tz: str) -> str:
    tag = "PASSED OVER" if o["passed_over"] else ("WON" if o["winner"] == "you" else "")
    rank = f" (rank {o['winner_rank']})" if o["winner"] in ("ahead", "behind") else ""
    why = "" if o["winner"] == "you" else f"; you: {check_in_words(o['failed'])}"
    return (f"  {tag:<11} {o['location']}, {local_time(o['slot_datetime'], tz)}: "
            f"{_WHO[o['winner']]}{rank} [{o['outcome']}]{why}")


def _delivery_text(d: dict[str, Any], tz: ZoneInfo) -> str:
    """`sms to +1 808 •••-0101: delivered after 1 attempt (queued …, sent …, delivered …)`."""
    n = d["attempts"]
    tries = f" after {n} attempt{'' if n == 1 else 's'}" if n else ""
    steps = [f"{word} {_stamp(d[key], tz)}" for word, key in (
        ("queued", "created_at"), ("sent", "sent_at"), ("delivered", "delivered_at"),
        ("next attempt", "next_attempt_at")) if d[key] is not None]
    label = "why" if d["status"] == "suppressed" else "last error"
    error = f"; {label}: {d['last_error']}" if d["last_error"] else ""
    return (f"    {d['channel']} to {d['recipient']}: {d['status']}{tries} "
            f"({', '.join(steps)}){error}")


def _messages_text(messages: list[dict[str, Any]], tz: ZoneInfo) -> list[str]:
    lines = [f"messages ({len(messages)}):"]
    for m in messages:
        lines.append(f"  {_stamp(m['queued_at'], tz)}  {m['message_type']}: {m['text']}")
        lines += [_delivery_text(d, tz) for d in m["deliveries"]] or [
            "    no delivery recorded"]
    return lines if messages else [*lines, "  none"]


def _customer_text(customer: dict[str, Any], found: dict[str, Any], total: int, tz: str
                   ) -> str:
    openings = found["openings"]
    lines = _summary_text(customer, found["summary"], tz)
    lines.append(f"openings that matter most ({len(openings)} of {total}):")
    lines += [_opening_text(o, tz) for o in openings] or ["  none"]
    lines += _messages_text(found["messages"], ZoneInfo(tz))
    return "\n".join(lines)


def audit_command(
    entry: Annotated[str | None, typer.Option(help="A queue entry id.")] = None,
    customer: Annotated[str | None, typer.Option(
        help="A customer id, or the phone number they joined with (808-555-0101).")] = None,
    slot: Annotated[str | None, typer.Option(help=(
        "A slot: 'LOCATION YYYY-MM-DD HH:MM' (a location name, e.g. 'Kapolei 2026-12-16 "
        "10:45') or location_id|YYYY-MM-DD|HH:MM:SS."))] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Show history, state (and a customer's openings) up to this moment "
                         "(ISO 8601).")] = None,
    limit: Annotated[int, typer.Option(
        min=1, help="With --customer: list at most this many openings.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Replay an entry's, a customer's or a slot's history from the event store.

    For a customer: first a summary of the openings decided while they queued, then the
    openings that matter most (passed over, won, at their locations), their messages and
    what became of each on each channel, then the history.
    """
    if sum(x is not None for x in (entry, customer, slot)) != 1:
        raise typer.BadParameter("give exactly one of --entry, --customer or --slot")
    with service(as_json, catch_up=False) as svc:
        tz = svc.settings.timezone
        if slot is not None:
            with svc.connect() as conn:
                known = all_locations(conn)
                slots = slot_audit.slot_journal(svc.app, conn, slot_key_of(slot, known))
            names = {loc.id: loc.name for loc in known}
            emit(as_json, {"slots": slots}, lambda: _slot_text(slots, ZoneInfo(tz), names))
            return
        moment = parse_as_of(as_of, tz)
        if entry is not None:
            eid = parse_id(entry, "queue entry id")
            found = audit.entry_audit(svc.app, eid, moment)
        else:
            cid = parse_customer(svc, customer or "")
            with svc.connect() as conn:
                found = audit.customer_audit(svc.app, conn, cid, moment, limit)
    found["events"] = audit.with_words(found["events"], tz)
    rows, state = found["events"], found["state"]
    if entry is not None:
        emit(as_json, found, lambda: _text(rows, state, ZoneInfo(tz)))
        return
    summary = found["summary"]
    total = (summary["openings_at_your_locations"]
             + summary["won_elsewhere_by_someone_behind"])
    emit(as_json, found,
         lambda: "\n".join([_customer_text(state, found, total, tz), "history:",
                            _text(rows, state, ZoneInfo(tz))]))


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_command)
