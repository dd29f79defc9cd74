"""Benchmark 2: a warm dispatcher decides 1,000 new openings, against queues of 1k, 10k, 100k.

Per queue size, on a fresh database: the queue is loaded with `scripts/seeding.py` (the command
path, as `slotqueue seed` does: half the customers paid, windows and locations varied) and
projected; then VACUUM ANALYZE and CHECKPOINT, so that neither autovacuum nor a checkpoint of
the load's hundreds of thousands of rows lands in the measurement. ONE dispatcher is built
(`svc.dispatcher(conn, OffBooker())`: its view loaded from the projected tables) and ticked
once (its start-up, reported apart), as `slotqueue run` holds one. Then, per run:

  reference  the event store's rate of single-aggregate saves (a throwaway aggregate of this
             script, one small event, one transaction each, through `svc.app.save`); beside
             it, for the profile's sake, the rate of saves as large as a decision's (6 of
             those aggregates in one transaction: a slot with a winner records about 6 events)
  measured   --slots new weekday openings inserted into `slot_states`, then one timed
             `dispatcher.tick()` (booking adapter `off`, shadow mode: every decision and its
             result are recorded, nobody leaves the queue, so the runs stay comparable)

Goals (issue 7 §2): at the largest queue, slots/s ≥ 0.5 x the reference; the cost per slot
flat from the smallest queue to the largest (here: at most 1.25 x, the machine's noise).
`--profile FILE` writes a cProfile of one more tick (not counted) at the largest queue.
"""

from __future__ import annotations

import cProfile
import sys
import time
from typing import Any

import common
import psutil
import psycopg
from eventsourcing.domain import Aggregate, event

from slotqueue.adapters.booking import OffBooker
from slotqueue.processes.dispatcher import Dispatcher
from slotqueue.scripts import harness
from slotqueue.scripts.seeding import seed_customers

GOAL_RATIO = 0.5
GOAL_FLAT = 1.25
REFERENCE_SAVES = 400
DECISION_EVENTS = 6  # Decided + the winner's hold and choice + the last answer and release


class Probe(Aggregate):
    """A throwaway aggregate for the reference: one small event per save."""

    @event("Created")
    def __init__(self, n: int) -> None:
        self.n = n


def reference_saves_per_second(svc: Any, size: int = 1, count: int = REFERENCE_SAVES
                               ) -> float:
    """Transactions per second, each saving `size` new probes."""
    started = time.perf_counter()
    for n in range(count):
        svc.app.save(*(Probe(n) for _ in range(size)))
    return count / (time.perf_counter() - started)


def open_slots(conn: psycopg.Connection[Any], weekdays: common.Weekdays, count: int) -> None:
    """`count` new weekday openings, one transaction, as one scrape of the monitor writes."""
    rows = [weekdays.next() for _ in range(count)]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("INSERT INTO slot_states (location_id, date, time, first_seen, "
                        "last_seen) VALUES (%s, %s, %s, now(), now())", rows)


def _rss() -> float:
    """This process's resident memory in MB."""
    return psutil.Process().memory_info().rss / 2**20


def settle(url: str) -> None:
    """The load's dead rows vacuumed, statistics current, dirty pages written."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def profiled_tick(dispatcher: Dispatcher, monitor: psycopg.Connection[Any],
                  weekdays: common.Weekdays, slots: int, path: str) -> None:
    """One more run, not counted (cProfile slows Python code down), profiled to `path`."""
    open_slots(monitor, weekdays, slots)
    profile = cProfile.Profile()
    profile.runcall(dispatcher.tick)
    profile.dump_stats(path)
    harness.progress(f"profile of one more tick: {path}")


def measure(url: str, size: int, slots: int, runs: int, profile: str | None
            ) -> dict[str, Any]:
    found: dict[str, Any] = {"size": size, "rates": [], "costs": [], "refs": [], "ratios": [],
                             "shaped": [], "decided": [], "attempts": [], "closed": 0}
    with harness.service(url) as svc:
        harness.progress(f"queue of {size}: seeding")
        seed_customers(svc, size, 0.5, 3)
        found["load_seconds"] = common.timed(svc.catch_up)
        settle(url)
        with svc.connect(autocommit=True) as conn, svc.connect(autocommit=True) as monitor:
            weekdays = common.Weekdays(
                [row[0] for row in monitor.execute("SELECT id FROM locations ORDER BY name")],
                harness.honolulu_today(monitor))
            rss, started = _rss(), time.perf_counter()
            dispatcher = svc.dispatcher(conn, OffBooker())
            dispatcher.tick()
            found["start_seconds"] = time.perf_counter() - started
            found["view_mb"] = _rss() - rss
            try:
                for run in range(runs):
                    found["refs"].append(reference_saves_per_second(svc))
                    found["shaped"].append(reference_saves_per_second(
                        svc, DECISION_EVENTS, REFERENCE_SAVES // 2))
                    dispatcher.writer.refresh()  # the reference's events, outside the timing
                    open_slots(monitor, weekdays, slots)
                    started = time.perf_counter()
                    summary = dispatcher.tick()
                    elapsed = time.perf_counter() - started
                    decided = summary.slots_decided_count
                    found["rates"].append(decided / elapsed)
                    found["costs"].append(1000 * elapsed / max(decided, 1))
                    found["ratios"].append(found["rates"][-1] / found["refs"][-1])
                    found["decided"].append(decided)
                    found["attempts"].append(summary.booking_attempt_count)
                    found["closed"] += summary.closed_slots_count
                    harness.progress(
                        f"queue of {size}: run {run + 1}: {found['rates'][-1]:.0f} slots/s "
                        f"({decided} decided, {summary.booking_attempt_count} attempts), "
                        f"reference {found['refs'][-1]:.0f} saves/s")
                if profile:
                    profiled_tick(dispatcher, monitor, weekdays, slots, profile)
            finally:
                dispatcher.close()
        # The probes' topic (`__main__:Probe`) resolves only in this script: a kept database
        # must stay readable by slotqueue's own processes.
        with svc.connect(autocommit=True) as conn:
            conn.execute("DELETE FROM slotqueue.queue_events WHERE topic = %s",
                         (f"{Probe.__module__}:{Probe.__qualname__}.Created",))
    return found


def report(figures: common.Figures, results: list[dict[str, Any]]) -> None:
    largest, smallest = results[-1], results[0]
    for found in results:
        size = f"{found['size']:,} entries"
        ref = f"{common.median(found['refs']):.0f} single-aggregate saves/s"
        figures.add(f"{size}: slots/s", found["rates"], "/s", reference=ref)
        figures.add(f"{size}: ratio to the reference", found["ratios"], "",
                    goal=GOAL_RATIO if found is largest else None, at_least=True)
        figures.add(f"{size}: {DECISION_EVENTS}-event saves/s (decision-sized)", found["shaped"],
                    "/s", note=f"slots/s ÷ this: "
                    f"{common.median(found['rates']) / common.median(found['shaped']):.2f}")
        figures.add(f"{size}: cost per slot", found["costs"], "ms",
                    note=f"{common.median(found['decided']):.0f} decided, "
                         f"{common.median(found['attempts']):.0f} attempts a run")
        figures.add(f"{size}: dispatcher start (view load + first tick)",
                    found["start_seconds"], "s",
                    note=f"projection catch-up after the load {found['load_seconds']:.1f} s; "
                         f"RSS +{found['view_mb']:.0f} MB")
    figures.add(f"cost per slot, {largest['size']:,} / {smallest['size']:,} entries",
                common.median(largest["costs"]) / common.median(smallest["costs"]), "x",
                goal=GOAL_FLAT, note="flat: the queue's size does not raise the cost")
    closed = sum(found["closed"] for found in results)
    if closed:
        figures.info["closings in timed ticks"] = closed


def main() -> int:
    parser = common.parser(__doc__, runs=5, quick_runs=2)
    parser.add_argument("--sizes", default=None,
                        help="queue sizes, comma separated (default 1000,10000,100000; "
                             "--quick: 500,2000)")
    common.sized(parser, "--slots", int, 1000, 200, "openings per run")
    parser.add_argument("--profile", help="write a cProfile of one more tick (not counted) at "
                        "the largest queue to this file")
    args = common.parse(parser)
    sizes = sorted(int(s) for s in (args.sizes or ("500,2000" if args.quick else
                                                   "1000,10000,100000")).split(","))
    slots = args.slots
    figures = common.Figures("dispatch throughput: a warm dispatcher decides new openings",
                             command="python " + " ".join(sys.argv))
    results = []
    for size in sizes:
        profile = args.profile if size == sizes[-1] else None
        with harness.fresh_database("bench_dispatch", args.server_url, keep=args.keep) as url:
            figures.info.setdefault("machine", common.machine(url))
            results.append(measure(url, size, slots, common.runs(args), profile))
    figures.info["openings per run"] = f"{slots}, {common.runs(args)} runs per queue size"
    report(figures, results)
    figures.print(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
