"""Benchmark 1: bulk load with `slotqueue seed` (customers, windows, locations, paid deposits
through the command path: aggregates and events, saved in batches), then projected.

Reference, same database, same run: raw psycopg batched inserts (executemany, 100 rows per
transaction) of stored events copied from the event store into a scratch table shaped like it.
Goal: 100,000 customers in minutes, not hours.
"""

from __future__ import annotations

import json
import time
from typing import Any

import common
import psycopg

from slotqueue.scripts import harness

REFERENCE_ROWS = 100_000


def reference_rows_per_second(conn: psycopg.Connection[Any]) -> float:
    conn.execute("DROP TABLE IF EXISTS bench_events_copy")
    conn.execute("CREATE TABLE bench_events_copy (LIKE slotqueue.queue_events INCLUDING ALL)")
    rows = conn.execute("SELECT originator_id, originator_version, topic, state "
                        "FROM slotqueue.queue_events ORDER BY notification_id LIMIT %s",
                        (REFERENCE_ROWS,)).fetchall()
    insert = ("INSERT INTO bench_events_copy (originator_id, originator_version, topic, state) "
              "VALUES (%s, %s, %s, %s)")
    started = time.perf_counter()
    for first in range(0, len(rows), 100):
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(insert, rows[first:first + 100])
    elapsed = time.perf_counter() - started
    conn.execute("DROP TABLE bench_events_copy")
    return len(rows) / elapsed


def main() -> None:
    parser = common.parser(__doc__, runs=1, quick_runs=1)
    common.sized(parser, "--customers", int, 100_000, 5_000, "customers to load")
    args = common.parse(parser)
    customers = args.customers
    figures = common.Figures("bulk load (slotqueue seed)", command=(
        f"slotqueue seed --customers {customers} --paid-fraction 0.5 --locations 3"))
    loads, totals, rates, refs = [], [], [], []
    for _ in range(common.runs(args)):
        with harness.fresh_database("bench_seed", args.server_url, keep=args.keep) as url:
            figures.info.setdefault("machine", common.machine(url))
            harness.progress(f"seeding {customers} customers")
            done = harness.slotqueue(url, "seed", "--customers", str(customers),
                                     "--paid-fraction", "0.5", "--locations", "3", "--json",
                                     timeout=7200, check=True)
            result = json.loads(done.stdout)
            with psycopg.connect(url, autocommit=True) as conn:
                events = conn.execute("SELECT count(*) FROM slotqueue.queue_events"
                                      ).fetchone()[0]  # type: ignore[index]
                refs.append(reference_rows_per_second(conn))
            loads.append(result["load_seconds"])
            totals.append(result["total_seconds"])
            rates.append(events / result["load_seconds"])
    figures.info["events"] = events
    figures.add("load (events saved)", loads, "s")
    figures.add("load rate", rates, "events/s",
                reference=f"raw batched inserts of stored events: {common.median(refs):.0f} "
                          "rows/s", note=f"ratio {common.median(rates) / common.median(refs):.2f}")
    figures.add("load + projection", totals, "s", goal=3600.0,
                note="goal: minutes, not hours")
    figures.print(args.json)


if __name__ == "__main__":
    main()
