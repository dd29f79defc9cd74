"""`slotqueue seed`: bulk-load customers through the command path (for benchmarks and demos)."""

from __future__ import annotations

import os
import time
from typing import Annotated

import typer
from rich.progress import Progress

from slotqueue.projections.maintenance import catch_up
from slotqueue.scripts.common import JsonOption, emit, service, stderr_is_terminal
from slotqueue.scripts.seeding import seed_customers


def seed(
    customers: Annotated[int, typer.Option(min=1, max=10_000_000, help="Customers.")],
    paid_fraction: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Share of customers with a paid deposit.")] = 0.5,
    locations: Annotated[int, typer.Option(min=1, max=100, help="Locations to use.")] = 3,
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Create customers with windows, locations and (some) paid deposits, as events."""
    show = stderr_is_terminal() and not os.environ.get("CI") and not as_json
    started = time.perf_counter()
    with service(as_json, catch_up=False) as svc, Progress(disable=not show) as bar:
        task = bar.add_task("seeding customers", total=customers)
        created = seed_customers(svc, customers, paid_fraction, locations, seed_value,
                                 progress=lambda n: bar.advance(task, n))
        loaded = time.perf_counter() - started
        head = svc.app.recorder.max_notification_id() or 0
        task = bar.add_task("projecting", total=head)
        catch_up(svc.app, svc.view)
        bar.update(task, completed=head)
    total = time.perf_counter() - started
    payload = {"customers_created": created, "load_seconds": round(loaded, 2),
               "total_seconds": round(total, 2)}
    emit(as_json, payload, f"created {created} customers in {loaded:.1f} s "
                           f"({total:.1f} s with projections)")
