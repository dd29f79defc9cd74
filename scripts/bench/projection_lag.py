"""Benchmark 4: event saved → its row visible in a compatibility table (projection lag).

Runs the supervised `queue_tables` projection (processes/projection_runner.py,
SupervisedProjection, as `slotqueue run` does) in a separate process, then records events one
at a time through the application's commands and polls (every ~1 ms, on its own connection)
for the row each one projects:

  join             Registered + EntryOpened + Joined (one save) → its queue_entries row
  require_deposit  DepositRequired → the deposit_needed row of message_log
  deposit_paid     DepositPaid → the deposit_received row of message_log

The clock starts when the command returns (its transaction has committed). Reference: one raw
psycopg single-row INSERT + COMMIT round trip on the same database. Goal: p95 ≤ 100 ms.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any

import common
import psycopg

from slotqueue.bootstrap import store_env
from slotqueue.processes.projection_runner import SupervisedProjection
from slotqueue.scripts import harness

GOAL_MS = 100.0
POLL_SECONDS = 0.001
WARM_UP = 3  # customers saved and projected, not measured, before the first run
STEPS = {  # command → the row it projects (query, key)
    "join": ("SELECT 1 FROM queue_entries WHERE id = %s", "{}"),
    "require_deposit": ("SELECT 1 FROM message_log WHERE dedupe_key = %s", "deposit_needed:{}"),
    "deposit_paid": ("SELECT 1 FROM message_log WHERE dedupe_key = %s", "deposit_received:{}"),
}


def serve_projection(url: str) -> int:
    """The child process: the supervised projection until SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    projection = SupervisedProjection(store_env(url)).start()
    stop.wait()
    projection.stop()
    return 0


def _visible(conn: psycopg.Connection[Any], query: str, key: Any, timeout: float = 10.0
             ) -> float:
    """perf_counter() when `query` first returns a row."""
    end = time.perf_counter() + timeout
    while True:
        if conn.execute(query, (key,)).fetchone() is not None:
            return time.perf_counter()
        if time.perf_counter() > end:
            raise RuntimeError(f"row for {key} not projected within {timeout:g} s")
        time.sleep(POLL_SECONDS)


def _caught_up(svc: Any) -> bool:
    head = svc.app.recorder.max_notification_id() or 0
    return (svc.view.max_tracking_id(svc.app.name) or 0) >= head


def _one_run(svc: Any, conn: psycopg.Connection[Any], samples: int, first: int
             ) -> dict[str, list[float]]:
    """Milliseconds from each command's return to its row, by command; and the commands'."""
    out: dict[str, list[float]] = {k: [] for k in (*STEPS, "all", "command")}
    for n in range(first, first + samples):
        now = harness.db_now(conn)
        entry: Any = None
        for name, (query, key) in STEPS.items():
            started = time.perf_counter()
            if name == "join":
                entry = svc.app.join(f"+1808{4000000 + n:07d}", None, now).queue_entry_id
            elif name == "require_deposit":
                svc.app.require_deposit(entry, now, svc.deposit_grace)
            else:
                svc.app.record_payment(entry, f"lag-pay-{n}", now)
            saved = time.perf_counter()
            lag = _visible(conn, query, key.format(entry)) - saved
            out[name].append(lag * 1000)
            out["all"].append(lag * 1000)
            out["command"].append((saved - started) * 1000)
    return out


def _reference(conn: psycopg.Connection[Any], count: int) -> list[float]:
    """Milliseconds of one single-row INSERT + COMMIT, `count` times."""
    conn.execute("CREATE TABLE IF NOT EXISTS bench_reference (id bigserial PRIMARY KEY, "
                 "at timestamptz NOT NULL DEFAULT now(), payload text)")
    conn.commit()
    took = []
    for n in range(count):
        started = time.perf_counter()
        conn.execute("INSERT INTO bench_reference (payload) VALUES (%s)", (f"row {n}",))
        conn.commit()
        took.append((time.perf_counter() - started) * 1000)
    return took


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-projection":
        return serve_projection(sys.argv[2])
    p = common.parser(__doc__, runs=5, quick_runs=2)
    common.sized(p, "--samples", int, 100, 15, "customers per run, three events each")
    args = common.parse(p)
    samples = args.samples
    repeats = common.runs(args)
    figures = common.Figures("projection lag: event saved → its row visible "
                             "(SupervisedProjection in its own process)",
                             command="python " + " ".join(sys.argv))
    results, references = [], []
    with harness.fresh_database("bench_projlag", args.server_url, keep=args.keep) as url, \
            harness.service(url) as svc:
        figures.info.update(common.machine(url))
        log = harness.workdir() / "projection.log"
        runner = harness.ProcessSet.start(
            [sys.executable, __file__, "--serve-projection", url], harness.cli_env(url), log)
        harness.progress(f"projection runner pid {runner.pid}; log {log}")
        try:
            if not harness.wait_until(lambda: _caught_up(svc), 30, 0.1):
                raise RuntimeError(f"the projection did not catch up in 30 s; see {log}")
            with psycopg.connect(url, autocommit=True) as poll, psycopg.connect(url) as ref:
                # The runner's process may still be starting: the first events would measure
                # its start-up (~0.4 s), not its lag. Warm up until it answers, then measure.
                _one_run(svc, poll, WARM_UP, repeats * samples)
                for run in range(repeats):
                    harness.progress(f"run {run + 1}/{repeats}: {samples} customers, "
                                    f"{3 * samples} saves")
                    results.append(_one_run(svc, poll, samples, run * samples))
                    references.append(_reference(ref, 3 * samples))
        finally:
            harness.stop(runner)
    ref_p50 = common.median([common.percentile(r, 50) for r in references])
    ref_p95 = common.median([common.percentile(r, 95) for r in references])
    reference = f"INSERT+COMMIT p50 {ref_p50:.2f} ms, p95 {ref_p95:.2f} ms"
    figures.info["events"] = f"{3 * samples} saves per run x {repeats} run(s), one at a time"
    for name in ("all", "join", "require_deposit", "deposit_paid"):
        for p_ in (50, 95):
            figures.add(f"lag {name} p{p_}", [common.percentile(r[name], p_) for r in results],
                        "ms", reference=reference if name == "all" else None,
                        goal=GOAL_MS if (name, p_) == ("all", 95) else None)
    figures.add("lag all max", [max(r["all"]) for r in results], "ms")
    figures.add("command (load + save) p50", [common.percentile(r["command"], 50) for r in results],
                "ms", reference=reference)
    figures.add("INSERT+COMMIT round trip p50", [common.percentile(r, 50) for r in references],
                "ms")
    figures.add("INSERT+COMMIT round trip p95", [common.percentile(r, 95) for r in references],
                "ms")
    figures.print(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
