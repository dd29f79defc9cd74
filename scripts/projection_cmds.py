"""`slotqueue projections status|rebuild|verify`."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.progress import Progress

from slotqueue.aggregates.errors import InvalidInput
from slotqueue.projections import maintenance
from slotqueue.projections.queue_projection import QueueTablesProjection
from slotqueue.scripts.common import JsonOption, emit, fail, service, stderr_is_terminal

app = typer.Typer(help="Inspect, rebuild and verify the projections.", no_args_is_help=True)
NAMES = (QueueTablesProjection.name,)


@app.command("status")
def status_command(as_json: JsonOption = False) -> None:
    """Position, head of the event store and lag for each projection."""
    with service(as_json, catch_up=False) as svc:
        states = [maintenance.status(svc.app, svc.view, name) for name in NAMES]
    rows = [{"name": s.name, "position": s.position, "head": s.head, "lag": s.lag}
            for s in states]
    emit(as_json, {"projections": rows}, "\n".join(
        f"{r['name']}: position {r['position']} head {r['head']} lag {r['lag']}" for r in rows))


def _chosen(name: str | None) -> tuple[str, ...]:
    if name is not None and name not in NAMES:
        raise InvalidInput(f"unknown projection {name!r}: known are {', '.join(NAMES)}")
    return NAMES if name is None else (name,)


@app.command("rebuild")
def rebuild_command(
    name: Annotated[str | None, typer.Argument(help="Projection name (default: all).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Clear a projection's rows and position and replay every event (one transaction).

    Message texts are rendered with the current SLOTQUEUE_BRAND_NAME, payment link and timezone.
    """
    show = stderr_is_terminal() and not os.environ.get("CI") and not as_json
    with service(as_json, catch_up=False) as svc:
        done = {}
        for chosen in _chosen(name):
            head = svc.app.recorder.max_notification_id() or 0
            with Progress(disable=not show, transient=True) as bar:
                task = bar.add_task(f"rebuilding {chosen}", total=head)
                done[chosen] = maintenance.rebuild(
                    svc.app, svc.view, progress=lambda n, t=task: bar.advance(t, n),
                    texts=svc.texts)
    emit(as_json, {"rebuilt": done},
         "\n".join(f"{n}: replayed {c} events" for n, c in done.items()))


@app.command("verify")
def verify_command(as_json: JsonOption = False) -> None:
    """Replay into scratch tables and compare row by row with the live tables."""
    with service(as_json, catch_up=False) as svc:
        diffs = maintenance.verify(svc.app, svc.view, texts=svc.texts)
    rows = [{"table": d.table, "side": d.side, "row": d.row} for d in diffs]
    if diffs:
        lines = [f"{d.table}: {d.side}: {d.row}" for d in diffs]
        fail(f"projections differ from a replay ({len(diffs)} rows)\n" + "\n".join(lines),
             as_json, differences=rows)
    emit(as_json, {"ok": True, "differences": []}, "projections match a replay of the events")
