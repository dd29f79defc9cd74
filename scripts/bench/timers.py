"""Benchmark: timer lateness under `slotqueue serve`, due → fired (issue 11, Measure).

Per run, on a fresh database: --timers customers are asked for their deposits, the deadlines
(timers `deposit_lapse`) drawn at random, uniformly, over a --window that opens --lead seconds
later. They are recorded in bulk with the product's aggregates (the events `join` and
`require-deposit` record, 100 aggregates a save) and projected, in this process, before
`slotqueue serve` starts (a real process with its default settings: dispatcher, projections,
delivery worker with the console provider, timer keeper). So its keeper loads them all when it
starts, as after a restart, and creating them competes neither with firing them nor with
serve's projection; serve still sends the 10,000 `deposit_needed` texts during the lead (what
it has not sent when the window opens is printed). In production these requests are spread
over the hours before, so the window meets a serve that has digested them. The run ends when
every timer has fired (TimerFired in the event store); serve is stopped with SIGTERM.

  lateness   TimerFired's `at` - its `due_at` (as slotqueue.timers shows them: fired_at -
             due_at), both the database's clock: due_at = the time of the request + the grace,
             `at` = the clock the firing read before it loaded the entry and saved TimerFired
             with DepositLapsed
  keeper     the keeper's own view from its log: its host's clock after the firing was saved -
             due_at (same machine, same clock)

Reference, same run, in the benchmark's own process: a bare APScheduler BackgroundScheduler with
a 4-thread pool, as the keeper's, given a date job for each of the same due times that only
notes how late it started: the floor of a scheduler on this machine under the same load.
Checks: every timer fired once (TimerFired events per entry, from the event store), serve
exits 0. Goal (issue 11): p99 ≤ 1 s.
"""
# ruff: noqa: S311 - seeded randomness makes the due times repeatable

from __future__ import annotations

import functools
import random
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import common
import psycopg
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from slotqueue.scripts import harness

GOAL_SECONDS = 1.0
FIRED = "slotqueue.aggregates.timers:Timed.TimerFired"
LATENESS_SQL = """
SELECT originator_id, extract(epoch FROM (e->'at'->>'_data_')::timestamptz
                                         - (e->'due_at'->>'_data_')::timestamptz)::float8
FROM (SELECT originator_id, convert_from(state, 'UTF8')::jsonb AS e
      FROM slotqueue.queue_events WHERE topic = %s) fired
"""


class BareScheduler:
    """The reference: APScheduler date jobs that only note how late each started."""

    def __init__(self, dues: list[datetime], threads: int = 4) -> None:
        self.late: list[float] = []
        self._lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(threads)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        self.scheduler.start()
        for n, due in enumerate(dues):
            self.scheduler.add_job(self._note, "date", run_date=due, args=[due], id=f"ref{n}")

    def _note(self, due: datetime) -> None:
        late = (datetime.now(UTC) - due).total_seconds()
        with self._lock:
            self.late.append(late)

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)


def _started(log: Path, proc: Any) -> None:
    def keeper() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"slotqueue serve exited ({proc.returncode}); see {log}")
        return bool(harness.log_events(log, "timer keeper started"))
    if not harness.wait_until(keeper, 90, 0.2):
        raise RuntimeError(f"slotqueue serve's timer keeper did not start in 90 s: {log}")


def _fired(conn: psycopg.Connection[Any]) -> int:
    """TimerFired events recorded (the event store: serve's projection may lag)."""
    row = conn.execute("SELECT count(*) FROM slotqueue.queue_events WHERE topic = %s",
                       (FIRED,)).fetchone()
    return int(row[0]) if row else 0


def _backlog(svc: Any, conn: psycopg.Connection[Any]) -> dict[str, int]:
    """What serve had not digested yet: events not projected, texts not sent."""
    head = svc.app.recorder.max_notification_id() or 0
    tracked = svc.view.max_tracking_id(svc.app.name) or 0
    row = conn.execute("SELECT count(*) FROM message_deliveries "
                       "WHERE status IN ('queued', 'sending')").fetchone()
    return {"events": head - tracked, "texts": int(row[0]) if row else 0}


def _wait_for_all(conn: psycopg.Connection[Any], proc: Any, count: int, until: float) -> None:
    last = 0.0
    while (fired := _fired(conn)) < count:
        if proc.poll() is not None:
            raise RuntimeError(f"slotqueue serve exited ({proc.returncode}) with "
                               f"{fired}/{count} timers fired")
        if time.monotonic() > until:
            harness.progress(f"  gave up waiting: {fired}/{count} timers fired")
            return
        if time.monotonic() - last > 60:
            harness.progress(f"  {fired}/{count} timers fired")
            last = time.monotonic()
        time.sleep(1)


def _create(args: Any, svc: Any, conn: psycopg.Connection[Any], rng: random.Random
            ) -> tuple[list[datetime], float]:
    """The deadlines, recorded and projected before serve starts; the seconds it took."""
    opens = harness.db_now(conn) + timedelta(seconds=args.lead)
    window = timedelta(seconds=args.window)
    dues = sorted(opens + window * rng.random() for _ in range(args.timers))
    harness.progress(f"  {args.timers} deposits due over {args.window:g} s from "
                     f"{args.lead:g} s on")
    return dues, common.timed(lambda: (harness.add_deposit_deadlines(svc, dues),
                                       svc.catch_up()))


def _one_run(args: Any, run: int, rng: random.Random) -> dict[str, Any]:
    with harness.fresh_database("bench_timers", args.server_url, keep=args.keep) as url, \
            harness.service(url) as svc, svc.connect(autocommit=True) as conn:
        machine = common.machine(url)
        dues, made = _create(args, svc, conn, rng)
        reference = BareScheduler(dues)
        log = harness.workdir() / f"serve-{run}.log"
        env = harness.cli_env(url, SLOTQUEUE_HTTP_PORT=str(harness.free_port()))
        proc = harness.ProcessSet.slotqueue(["serve"], env, log)
        harness.progress(f"run {run + 1}: slotqueue serve (pid {proc.pid}), log {log}")
        _started(log, proc)
        spare = (dues[0] - harness.db_now(conn)).total_seconds()
        time.sleep(max(spare, 0))
        backlog = _backlog(svc, conn)
        _wait_for_all(conn, proc, args.timers, time.monotonic() + args.window + 120)
        reference.stop()
        code = harness.stop(proc, 60)
        rows = conn.execute(LATENESS_SQL, (FIRED,)).fetchall()
    keeper = harness.log_events(log, "timer")
    loaded = harness.log_events(log, "timer keeper started")
    return {"late": [r[1] for r in rows], "reference": reference.late,
            "twice": len(rows) - len({r[0] for r in rows}),
            "keeper": [e["late_seconds"] for e in keeper if e.get("outcome") == "fired"],
            "moot": sum(1 for e in keeper if e.get("outcome") != "fired"),
            "failed": len(harness.log_events(log, "timer failed to fire; trying again in 1 s")),
            "loaded": loaded[0].get("timers") if loaded else None, "exit": code,
            "made": made, "spare": spare, "backlog": backlog, "machine": machine}


def main() -> int:
    p = common.parser(__doc__, runs=3, quick_runs=1)
    common.sized(p, "--timers", int, 10_000, 500, "timers per run")
    common.sized(p, "--window", float, 600, 30, "seconds over which they fall due")
    common.sized(p, "--lead", float, 180, 20, "seconds from the start of their creation to the "
                 "window's opening")
    p.add_argument("--seed", type=int, default=11, help="random seed (default 11)")
    args = common.parse(p)
    rng = random.Random(args.seed)
    figures = common.Figures("timers: due → fired under `slotqueue serve`",
                             command="python " + " ".join(sys.argv))
    runs = []
    for run in range(common.runs(args)):
        runs.append(_one_run(args, run, rng))
    figures.info.update(runs[0]["machine"])
    figures.info["timers"] = (f"{args.timers} deposit deadlines per run, uniform over "
                              f"{args.window:g} s, recorded {args.lead:g} s before the first "
                              f"may fall due, before serve starts; {len(runs)} run(s)")
    _report(figures, runs, args.timers)
    figures.print(args.json)
    problems = [f"run {n + 1}: {what}" for n, r in enumerate(runs) for what in _problems(r,
                args.timers)]
    for problem in problems:
        print(f"   PROBLEM: {problem}")
    return 1 if problems else 0


def _problems(run: dict[str, Any], count: int) -> list[str]:
    found = []
    if len(run["late"]) != count:
        found.append(f"{len(run['late'])} of {count} timers fired")
    if run["twice"]:
        found.append(f"{run['twice']} entries with TimerFired twice")
    if run["exit"] != 0:
        found.append(f"serve exited {run['exit']} on SIGTERM")
    return found


def _pct(values: list[float], p: float) -> float:
    return common.percentile(values, p)


def _ref(runs: list[dict[str, Any]], statistic: Any) -> str:
    """The reference's figure: the median over the runs of `statistic(lateness)`."""
    return f"{common.median([statistic(r['reference']) for r in runs if r['reference']]):.4f} s"


def _report(figures: common.Figures, runs: list[dict[str, Any]], count: int) -> None:
    ref = "bare APScheduler date jobs, same times"
    for p in (50, 99):
        figures.add(f"lateness p{p} (fired_at - due_at)",
                    [common.percentile(r["late"], p) for r in runs], "s",
                    reference=f"{ref}: {_ref(runs, functools.partial(_pct, p=p))}",
                    goal=GOAL_SECONDS if p == 99 else None)
    figures.add("lateness max", [max(r["late"], default=float("nan")) for r in runs], "s",
                reference=f"{ref}: {_ref(runs, max)}")
    for p in (50, 99):
        figures.add(f"keeper's view p{p} (saved, host clock)",
                    [common.percentile(r["keeper"], p) for r in runs], "s")
    figures.add("keeper's view max", [max(r["keeper"], default=float("nan")) for r in runs],
                "s")
    figures.add("timers fired", [len(r["late"]) for r in runs], "",
                note=f"of {count}; fired twice: {sum(r['twice'] for r in runs)}; moot: "
                     f"{sum(r['moot'] for r in runs)}; failed firings logged: "
                     f"{sum(r['failed'] for r in runs)}")
    figures.add("creating and projecting them, before serve", [r["made"] for r in runs], "s",
                note="per run: timers its keeper scheduled at start, then from its start to "
                     "the first due, and serve's backlog then (events not projected, texts "
                     "unsent): " + "; ".join(
                         f"{r['loaded']}, {r['spare']:.0f} s, {r['backlog']['events']} events, "
                         f"{r['backlog']['texts']} texts" for r in runs))
    figures.info["serve exit codes"] = ", ".join(str(r["exit"]) for r in runs)

if __name__ == "__main__":
    sys.exit(main())
