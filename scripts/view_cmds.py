"""What an operator reads: `slotqueue queue` (the queue in rank order) and
`slotqueue locations-list`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from slotqueue.adapters.locations import all_locations
from slotqueue.adapters.presets import load_labels
from slotqueue.projections.queue_listing import QueueRow, queue
from slotqueue.projections.wording import local_time, windows_in_words
from slotqueue.scripts.common import JsonOption, emit, service

HEADER = ("rank", "priority", "phone", "status", "deposit due", "windows", "locations")


def _fields(row: QueueRow, labels: Any, timezone: str) -> dict[str, Any]:
    return {"rank": row.rank, "priority": row.priority, "queue_entry_id": row.queue_entry_id,
            "customer_id": row.customer_id, "phone": row.phone, "status": row.status,
            "deposit_status": row.deposit_status, "deposit_due": row.deposit_due,
            "windows": windows_in_words(row.selection, labels, timezone),
            "selection": row.selection, "locations": row.locations}


def _table(entries: list[dict[str, Any]], total: int, timezone: str) -> str:
    cells = [HEADER] + [(
        str(e["rank"] or "-"), str(e["priority"] or "-"), e["phone"], e["status"],
        local_time(e["deposit_due"], timezone) if e["deposit_due"] else "-",
        e["windows"], ", ".join(e["locations"]) or "none") for e in entries]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
             for row in cells]
    return "\n".join([*lines, f"{len(entries)} of {total} entries"])


def queue_command(
    status: Annotated[str | None, typer.Option(
        help="Only entries in this status (queued, deposit_required, active, paused, booked, "
             "expired, canceled); default: the ranked ones.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Show at most this many.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The queue in rank order: rank, priority, masked phone, status, deposit deadline, windows,
    locations."""
    with service(as_json, catch_up=False) as svc:
        svc.catch_up()  # read what every command recorded so far
        with svc.connect() as conn:
            rows, total = queue(conn, status.strip() if status else None, limit)
            labels = load_labels(conn)
        tz = svc.settings.timezone
    entries = [_fields(row, labels, tz) for row in rows]
    emit(as_json, {"entries": entries, "total": total}, lambda: _table(entries, total, tz))


def locations_list(as_json: JsonOption = False) -> None:
    """Every location the monitor knows, by name, with its id."""
    with service(as_json, catch_up=False) as svc, svc.connect() as conn:
        found = all_locations(conn)
    rows = [{"id": loc.id, "name": loc.name} for loc in found]
    emit(as_json, {"locations": rows},
         "\n".join(f"{loc.name}  {loc.id}" for loc in found) or "no locations")


def register(app: typer.Typer) -> None:
    app.command("queue")(queue_command)
    app.command("locations-list")(locations_list)
