"""Benchmark 2: one dispatcher run over 1,000 opened slots, against queues of 1k, 10k, 100k.

Each queue is loaded with `scripts/seeding.py` (the command path, as `slotqueue seed` does: half
the customers paid, windows and locations varied); each run opens --slots new weekday slots in
`slot_states` and times `dispatch_once` (booking adapter `off`, shadow mode: every decision,
intent and result is recorded, nobody leaves the queue, so runs stay comparable).

Reference, measured on the same database in the same run: the event store's own rate of
single-aggregate saves (one small aggregate, one event, one transaction each).
Goal: at 100k entries, slots/s ≥ 0.5 x that reference, and a per-slot cost that does not grow
with the queue.
"""

from __future__ import annotations

import random
import time
from typing import Any

import common
import psycopg

from slotqueue.adapters.booking import OffBooker
from slotqueue.aggregates.watermark import Watermark
from slotqueue.scripts.seeding import seed_customers

GOAL_RATIO = 0.5


def reference_saves_per_second(svc: Any, count: int = 400) -> float:
    with svc.connect() as conn:
        now = common.db_now(conn)
    started = time.perf_counter()
    for n in range(count):
        svc.app.save(Watermark(key=f"bench-{time.time_ns()}-{n}", position=now, at=now))
    return count / (time.perf_counter() - started)


def open_slots(conn: psycopg.Connection[Any], slots: int, rng: random.Random) -> None:
    places = [row[0] for row in conn.execute("SELECT id FROM locations")]
    today = common.db_now(conn).astimezone(common.HONOLULU).date()
    weekdays = common.Weekdays(places, today)
    for _ in range(rng.randint(0, 50)):
        weekdays.next()  # a different spread of times each run
    opened = 0
    while opened < slots:
        place, day, moment = weekdays.next()
        exists = conn.execute("SELECT 1 FROM slot_states WHERE location_id = %s AND date = %s "
                              "AND time = %s", (place, day, moment)).fetchone()
        if not exists:
            common.insert_opened(conn, place, day, moment)
            opened += 1


def measure(url: str, size: int, slots: int, runs: int) -> dict[str, Any]:
    rng = random.Random(size)  # noqa: S311 - repeatable benchmark data
    with common.service(url) as svc:
        common.progress(f"queue of {size}: seeding")
        seed_customers(svc, size, 0.5, 3)
        svc.catch_up()
        rates, costs, refs = [], [], []
        with psycopg.connect(url, autocommit=True) as conn:
            for run in range(runs):
                refs.append(reference_saves_per_second(svc))
                open_slots(conn, slots, rng)
                svc.catch_up()
                started = time.perf_counter()
                summary = dispatch_once(svc, OffBooker())
                elapsed = time.perf_counter() - started
                rates.append(summary.slots_decided_count / elapsed)
                costs.append(1000 * elapsed / max(summary.slots_decided_count, 1))
                common.progress(f"queue of {size}: run {run + 1}: {rates[-1]:.0f} slots/s, "
                                f"{summary.booking_attempt_count} attempts, "
                                f"reference {refs[-1]:.0f} saves/s")
    return {"size": size, "rates": rates, "costs": costs, "refs": refs}


def main() -> None:
    parser = common.parser(__doc__, runs=3, quick_runs=1)
    parser.add_argument("--sizes", default=None,
                        help="queue sizes, comma separated (default 1000,10000,100000; "
                             "--quick: 500,2000)")
    parser.add_argument("--slots", type=int, default=None,
                        help="opened slots per run (default 1000; --quick: 200)")
    args = parser.parse_args()
    sizes = [int(s) for s in (args.sizes or ("500,2000" if args.quick else
                                             "1000,10000,100000")).split(",")]
    slots = args.slots or (200 if args.quick else 1000)
    figures = common.Figures("dispatch throughput",
                             command="python scripts/bench/dispatch_throughput.py")
    for size in sizes:
        with common.fresh_database("dispatch", args.server_url, keep=args.keep) as url:
            figures.info.setdefault("machine", common.machine(url))
            found = measure(url, size, slots, common.runs(args))
        ratio = common.median(found["rates"]) / common.median(found["refs"])
        figures.add(f"{size} entries: slots/s", found["rates"], "/s",
                    reference=f"{common.median(found['refs']):.0f} single-aggregate saves/s",
                    note=f"ratio {ratio:.2f}" + (
                        f", goal ≥ {GOAL_RATIO}: {'met' if ratio >= GOAL_RATIO else 'MISSED'}"
                        if size == max(sizes) else ""))
        figures.add(f"{size} entries: cost per slot", found["costs"], "ms")
    figures.info["slots per run"] = slots
    figures.print(args.json)


if __name__ == "__main__":
    main()
