"""Benchmark 6: printing the full history of a customer with 1,000 events.

Builds one customer through the application's commands (join, then pause/resume cycles, each
command loading the entry and saving one event) until the customer and the entry hold
--events events together, then times:

  cli         `slotqueue audit --customer ID --json` as a subprocess (start to exit)
  in-process  slotqueue.audit.customer_history(app, ID, None) (warm: same process, after one
              call), and the whole command's work in-process (history, state, passed-over
              slots, JSON)

References: the raw SQL read of the same stored events (one SELECT, fetched), and a bare
`python -c "import slotqueue.scripts.cli"` (the interpreter and imports every command pays),
beside `python -c "import eventsourcing.postgres"` and `python -c pass` (floors).
Goal: ≤ 200 ms.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any
from uuid import UUID

import common
import psycopg

from slotqueue.projections import audit, slot_audit
from slotqueue.scripts import harness

GOAL_MS = 200.0


def _whole_command(svc: Any, customer_id: UUID) -> str:
    """What `audit --customer --json` computes once its service is built."""
    lines = audit.customer_history(svc.app, customer_id, None)
    state = audit.customer_state(svc.app, customer_id, None)
    with svc.connect() as conn:
        passed = slot_audit.passed_over(svc.app, conn, svc.app.customer(customer_id))
    payload = {"events": [vars(line) for line in lines], "state": state, "passed_over": passed}
    return json.dumps(payload, default=str)


def _cli(url: str, customer_id: UUID) -> tuple[float, float, int]:
    """Seconds from start to exit of the audit command, its CPU seconds, and how many events
    it printed."""
    cpu, started = common.child_cpu(), time.perf_counter()
    done = harness.slotqueue(url, "audit", "--customer", str(customer_id), "--json",
                             check=True)
    took = time.perf_counter() - started
    return took, common.child_cpu() - cpu, len(json.loads(done.stdout)["events"])


FLOORS = {  # what any Python command pays before it does anything
    "cli": "import slotqueue.scripts.cli",
    "store": "import eventsourcing.postgres",  # the least a reader of the event store imports
    "python": "pass",
}


def _start_to_exit(code: str) -> tuple[float, float]:
    """Seconds from start to exit of `python -c code`, and its CPU seconds."""
    cpu, started = common.child_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=harness.workdir())  # noqa: S603
    return time.perf_counter() - started, common.child_cpu() - cpu


def _raw_read(url: str, ids: list[UUID]) -> tuple[float, int]:
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        rows = conn.execute(common.EVENTS_SQL, (ids,)).fetchall()
        return time.perf_counter() - started, len(rows)


def main() -> int:
    p = common.parser(__doc__, runs=7, quick_runs=3)
    common.sized(p, "--events", int, 1000, 200, "events in the customer's history")
    args = common.parse(p)
    target = args.events
    repeats = common.runs(args)
    figures = common.Figures(f"audit: the full history of a customer with {target} events",
                             command="python " + " ".join(sys.argv))
    with harness.fresh_database("bench_audit", args.server_url, keep=args.keep) as url, \
            harness.service(url) as svc:
        figures.info.update(common.machine(url))
        harness.progress(f"building a customer with {target} events through commands")
        started = time.perf_counter()
        customer_id, ids = common.customer_with_events(svc, target)
        svc.catch_up()
        built = time.perf_counter() - started
        stored = common.events_of(svc, ids)
        figures.info["history"] = (f"{stored} events (customer + 1 entry; join then "
                                   f"pause/resume), built by commands in {built:.1f} s")
        harness.progress("timing")
        cold = common.timed(lambda: audit.customer_history(svc.app, customer_id, None))
        cli, cli_cpu, printed, history, whole, raw = [], [], [], [], [], []
        floors: dict[str, list[float]] = {k: [] for k in FLOORS}
        floors_cpu: dict[str, list[float]] = {k: [] for k in FLOORS}
        for _ in range(repeats):
            took, cpu, count = _cli(url, customer_id)
            cli.append(took * 1000)
            cli_cpu.append(cpu * 1000)
            printed.append(count)
            history.append(common.timed(
                lambda: audit.customer_history(svc.app, customer_id, None)) * 1000)
            whole.append(common.timed(lambda: _whole_command(svc, customer_id)) * 1000)
            took, rows = _raw_read(url, ids)
            raw.append(took * 1000)
            for key, code in FLOORS.items():
                took, cpu = _start_to_exit(code)
                floors[key].append(took * 1000)
                floors_cpu[key].append(cpu * 1000)
    if set(printed) != {stored} or rows != stored:
        raise RuntimeError(f"printed {printed} events, read {rows}, stored {stored}")
    reference = f"raw SQL read of the {stored} events {common.median(raw):.1f} ms"
    figures.add("slotqueue audit --customer --json (subprocess)", cli, "ms", goal=GOAL_MS,
                reference=f"{reference}; bare `import slotqueue.scripts.cli` "
                          f"{common.median(floors['cli']):.0f} ms")
    figures.add("  its CPU time (user + system)", cli_cpu, "ms",
                reference=f"bare import {common.median(floors_cpu['cli']):.0f} ms CPU")
    figures.add("customer_history (in-process, warm)", history, "ms", goal=GOAL_MS,
                reference=reference)
    figures.add("customer_history (in-process, first call)", cold * 1000, "ms")
    figures.add("the command's work in-process (history, state, passed over, JSON)", whole, "ms")
    figures.add("raw SQL read of the events", raw, "ms")
    for key, code in FLOORS.items():
        figures.add(f"python -c '{code}'", floors[key], "ms",
                    note=f"CPU {common.median(floors_cpu[key]):.0f} ms")
    figures.print(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
