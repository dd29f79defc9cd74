"""`slotqueue audit`: an entry's or a customer's history, replayed from the event store."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from slotqueue import audit
from slotqueue.aggregates.errors import InvalidInput
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


def audit_command(
    entry: Annotated[str | None, typer.Option(help="A queue entry id.")] = None,
    customer: Annotated[str | None, typer.Option(help="A customer id.")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Show history and state up to this moment (ISO 8601).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Replay the history of an entry or a customer from the event store."""
    if (entry is None) == (customer is None):
        raise typer.BadParameter("give exactly one of --entry or --customer")
    with service(as_json, catch_up=False) as svc:
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
    rows = [_line(line, tz) for line in lines]
    emit(as_json, {"events": rows, "state": state}, lambda: _text(rows, state, tz))


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_command)
