"""`slotqueue audit`: an entry's or a customer's history, replayed from the event store."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from slotqueue.aggregates.errors import InvalidInput
from slotqueue.projections import audit, slot_audit
from slotqueue.scripts.common import JsonOption, emit, parse_id, service


def parse_as_of(text: str | None, timezone: str) -> datetime | None:
    """ISO 8601; a time without an offset is local time in SLOTQUEUE_TIMEZONE."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"invalid --as-of {text!r}: expected ISO 8601, "
                           "e.g. 2026-11-23T08:30 or 2026-11-23T18:30Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))


def _line(line: audit.Line, tz: ZoneInfo) -> dict[str, Any]:
    return {"at": line.at, "name": line.name, "aggregate": line.aggregate,
            "aggregate_id": line.aggregate_id, "status": line.status,
            "deposit_status": line.deposit_status, "data": line.data}


def _text(lines: list[dict[str, Any]], state: Any, tz: ZoneInfo) -> str:
    out = []
    for line in lines:
        when = line["at"].astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")
        after = f"{line['status']}/{line['deposit_status']}" if line["status"] else "-"
        data = json.dumps(line["data"], default=str, sort_keys=True)
        out.append(f"{when}  {line['name']:<22} {after:<26} {data}")
    out.append("state: " + json.dumps(state, default=str, sort_keys=True))
    return "\n".join(out)


def _slot_text(slots: list[dict[str, Any]], tz: ZoneInfo) -> str:
    out = []
    for slot in slots:
        out.append(f"slot {slot['slot_key']} ({slot['slot_id']}): {slot['outcome']}")
        for e in slot["events"]:
            when = e["at"].astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")
            out.append(f"  {when}  {e['name']:<15} {json.dumps(e['data'], default=str)}")
        for a in slot["ahead"]:
            out.append(f"  rank {a['rank']:>4}  entry {a['queue_entry_id']}  "
                       f"customer {a['customer_id']}  failed: {a['failed']}")
    return "\n".join(out)


def _passed_text(rows: list[dict[str, Any]]) -> str:
    lines = [f"passed over: {r['slot_key']} ({r['outcome']}): {r['failed']}" for r in rows]
    return "\n".join(lines)


def audit_command(
    entry: Annotated[str | None, typer.Option(help="A queue entry id.")] = None,
    customer: Annotated[str | None, typer.Option(help="A customer id.")] = None,
    slot: Annotated[str | None, typer.Option(
        help="A slot's lock key: location_id|YYYY-MM-DD|HH:MM:SS.")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Show history and state up to this moment (ISO 8601).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Replay an entry's, a customer's or a slot's history from the event store."""
    if sum(x is not None for x in (entry, customer, slot)) != 1:
        raise typer.BadParameter("give exactly one of --entry, --customer or --slot")
    with service(as_json, catch_up=False) as svc:
        if slot is not None:
            with svc.connect() as conn:
                slots = slot_audit.slot_journal(svc.app, conn, slot.strip())
            tz = ZoneInfo(svc.settings.timezone)
            emit(as_json, {"slots": slots}, lambda: _slot_text(slots, tz))
            return
        tz = ZoneInfo(svc.settings.timezone)
        moment = parse_as_of(as_of, svc.settings.timezone)
        if entry is not None:
            eid = parse_id(entry, "queue entry id")
            lines = audit.entry_history(svc.app, eid, moment)
            state = audit.entry_state(audit.state_as_of(svc.app, eid, moment))  # type: ignore[arg-type]
        else:
            cid = parse_id(customer or "", "customer id")
            lines = audit.customer_history(svc.app, cid, moment)
            state = audit.customer_state(svc.app, cid, moment)
            with svc.connect() as conn:
                state["passed_over"] = slot_audit.passed_over(svc.app, conn, svc.app.customer(cid))
    rows = [_line(line, tz) for line in lines]
    passed = state.pop("passed_over", None) if isinstance(state, dict) else None
    payload = {"events": rows, "state": state}
    if passed is not None:
        payload["passed_over"] = passed
    emit(as_json, payload, lambda: "\n".join(
        filter(None, [_text(rows, state, tz), _passed_text(passed or [])])))


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_command)
