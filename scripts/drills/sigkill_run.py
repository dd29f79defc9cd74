"""Drill: `slotqueue run` SIGKILLed at random moments, again and again, while openings arrive.

A feeder thread keeps inserting openings into slot_states (and refreshing last_seen, as the
monitor does) all along. Each round starts `slotqueue run` (sim booker, short interval, short
lock TTL), waits until every SlotOpened recorded before that start has an outcome (bounded by
--settle-timeout), then SIGKILLs it after a random delay. A last run, stopped with SIGTERM,
finishes what is left. PASS when every restart settled in time, every opened row has exactly
one SlotOpened and an outcome, nothing was attempted, booked or messaged twice, and
`slotqueue projections verify` passes.
"""
# ruff: noqa: S311 - seeded randomness makes a drill repeatable

from __future__ import annotations

import random
import signal
import statistics
import sys
import time
from typing import Any

import common
import psycopg

from slotqueue.scripts import harness


def _settle(url: str, proc: Any, pending: set[Any], seconds: float, what: str) -> float:
    """Seconds until none of `pending` lacks an outcome; fails past `seconds`."""
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        def settled() -> bool:
            if proc.poll() is not None:
                raise common.DrillFailed(f"slotqueue run exited by itself ({proc.returncode}) "
                                         f"{what}; logs in {harness.workdir()}")
            return not pending & common.unsettled_ids(conn)
        if not harness.wait_until(settled, seconds):
            left = len(pending & common.unsettled_ids(conn))
            raise common.DrillFailed(f"{left} of {len(pending)} slots opened before the restart "
                                     f"still have no outcome {seconds:g} s {what}")
    return time.monotonic() - started


def _unsettled(url: str) -> set[Any]:
    with psycopg.connect(url) as conn:
        return common.unsettled_ids(conn)


def run(args: Any, deadline: common.Deadline) -> dict[str, Any]:
    rng = random.Random(args.seed)
    log = harness.workdir() / "run-last.log"
    with common.drill_database(args, "sigkill") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            locations = harness.add_locations(conn, 4)
            today = harness.honolulu_today(conn)
        common.add_paid_customers(url, args.customers, locations, rng)
        env = common.run_env(url, args)
        settle: list[float] = []
        pending_sizes: list[int] = []
        runs_before_kill: list[int] = []
        openings = common.Openings(locations, today, random.Random(args.seed + 1))
        with common.Feeder(url, openings, args.feed_every, args.seed + 2) as feeder:
            for kill in range(1, args.times + 1):
                deadline.check(f"after {kill - 1} kills")
                pending = _unsettled(url)
                pending_sizes.append(len(pending))
                kill_log = harness.workdir() / f"run-{kill}.log"
                proc = harness.ProcessSet.slotqueue(["run"], env, kill_log)
                settle.append(_settle(url, proc, pending, args.settle_timeout,
                                      f"after restart {kill}"))
                time.sleep(rng.uniform(0, args.max_kill_delay))
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
                runs_before_kill.append(common.logged(kill_log, "dispatch run"))
        deadline.check("before the last run")
        proc = harness.ProcessSet.slotqueue(["run"], env, log)
        if not harness.wait_until(lambda: common.logged(log, "dispatcher ready") > 0
                                  and common.all_settled(url), args.settle_timeout):
            raise common.DrillFailed(
                f"the last run left openings without a SlotOpened or an outcome after "
                f"{args.settle_timeout:g} s; log: {log}")
        if harness.stop(proc, 60) != 0:
            raise common.DrillFailed(f"the last run exited {proc.returncode} on SIGTERM")
        figures, problems = common.check_world(url)
    if figures["slots_opened"] != figures["slot_states_rows"]:
        problems.append(f"{figures['slots_opened']} SlotOpened for "
                        f"{figures['slot_states_rows']} opened rows")
    logs = sorted(harness.workdir().glob("run-*.log"))
    failed_runs = sum(common.logged(path, "dispatch run failed") for path in logs)
    if failed_runs:
        problems.append(f"{failed_runs} dispatch runs failed (see the logs)")
    figures = {"kills": args.times, "customers": args.customers,
               "feeder_rows": feeder.inserted, **figures,
               "kills_before_first_run": sum(1 for n in runs_before_kill if n == 0),
               "dispatch_runs_before_kill_median": statistics.median(runs_before_kill or [0]),
               "failed_dispatch_runs_logged": failed_runs,
               "unsettled_at_restart_max": max(pending_sizes, default=0),
               "settle_seconds_max": round(max(settle, default=0), 2),
               "settle_seconds_mean": round(statistics.fmean(settle), 2) if settle else 0}
    if problems:
        raise common.DrillFailed("; ".join(problems), figures)
    return figures


def main() -> int:
    p = common.parser(__doc__, timeout=900)
    p.add_argument("--times", type=int, default=50, help="SIGKILLs (default 50)")
    p.add_argument("--customers", type=int, default=150, help="paid customers (default 150)")
    p.add_argument("--max-kill-delay", type=float, default=3.0,
                   help="kill at a random moment up to this many seconds after settling")
    common.run_options(p, interval=0.2, lock_ttl=2, settle="after each restart")
    return common.main(run, p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
