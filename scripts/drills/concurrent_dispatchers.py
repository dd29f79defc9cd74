"""Drill: concurrent `slotqueue dispatch --once` processes on one database.

Opens --slots rows in slot_states for --customers paid customers, then starts --processes
dispatchers at once, round after round, until every SlotOpened has an outcome. PASS when no
slot was attempted twice, no message was duplicated, no customer was booked twice, every
opening has exactly one SlotOpened and an outcome, and `slotqueue projections verify` passes.
"""
# ruff: noqa: S311 - seeded randomness makes a drill repeatable

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from typing import Any

import common
import psycopg

from slotqueue.scripts import harness


def _round(url: str, processes: int, booker: str, deadline: common.Deadline
           ) -> list[dict[str, Any]]:
    env = harness.cli_env(url, SLOTQUEUE_BOOKER=booker)
    procs = [harness.ProcessSet.slotqueue(["dispatch", "--once", "--json"], env)
             for _ in range(processes)]
    summaries = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=deadline.left() + 1)
        except subprocess.TimeoutExpired:
            raise common.DrillFailed("a dispatcher was still running at --timeout") from None
        if proc.returncode != 0:
            raise common.DrillFailed(f"a dispatcher exited {proc.returncode}: {err[-1500:]}")
        summaries.append(json.loads(out))
    return summaries


def run(args: Any, deadline: common.Deadline) -> dict[str, Any]:
    rng = random.Random(args.seed)
    with common.drill_database(args, "concurrent") as url:
        started = time.monotonic()
        with psycopg.connect(url, autocommit=True) as conn:
            locations = harness.add_locations(conn, 3)
        common.add_paid_customers(url, args.customers, locations, rng)
        with psycopg.connect(url, autocommit=True) as conn:
            openings = common.Openings(locations, harness.honolulu_today(conn), rng)
            openings.insert(conn, args.slots)
        setup = time.monotonic() - started
        per_process: list[list[int]] = []
        started, rounds, totals = time.monotonic(), 0, dict.fromkeys(
            ("opened_slots_count", "slots_decided_count", "booking_attempt_count",
             "booking_success_count", "opportunity_passed_sent_count"), 0)
        while True:
            deadline.check(f"after {rounds} rounds")
            rounds += 1
            summaries = _round(url, args.processes, args.booker, deadline)
            per_process.append([s["slots_decided_count"] for s in summaries])
            for summary in summaries:
                for key in totals:
                    totals[key] += summary[key]
            with psycopg.connect(url) as conn:
                if len(common.opened_ids(conn)) >= args.slots and not common.unsettled_ids(conn):
                    break
            if rounds >= args.max_rounds:
                raise common.DrillFailed(f"slots still without an outcome after {rounds} rounds")
        dispatch = time.monotonic() - started
        figures, problems = common.check_world(url, expect_opened=args.slots)
    figures = {"customers": args.customers, "processes": args.processes, "rounds": rounds,
               "decided_per_process_per_round": per_process,
               **{f"sum_{k}": v for k, v in totals.items()}, **figures,
               "setup_seconds": round(setup, 1), "dispatch_seconds": round(dispatch, 1)}
    if totals["opened_slots_count"] != args.slots:
        problems.append(f"dispatchers reported {totals['opened_slots_count']} openings "
                        f"for {args.slots} rows")
    if problems:
        raise common.DrillFailed("; ".join(problems), figures)
    return figures


def main() -> int:
    p = common.parser(__doc__, timeout=900)
    p.add_argument("--slots", type=int, default=500, help="opened slots (default 500)")
    p.add_argument("--customers", type=int, default=1000, help="paid customers (default 1000)")
    p.add_argument("--processes", type=int, default=4, help="dispatchers at once (default 4)")
    p.add_argument("--max-rounds", type=int, default=10, help="give up after this many rounds")
    p.add_argument("--booker", default="sim", choices=("sim", "stub", "off"),
                   help="SLOTQUEUE_BOOKER of the dispatchers (default sim)")
    args = p.parse_args()
    return common.main(run, args)


if __name__ == "__main__":
    sys.exit(main())
