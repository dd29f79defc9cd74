"""Benchmark 5: `slotqueue projections rebuild` over at least 200,000 events.

Loads customers through the command path (`scripts/seeding.py`, as `slotqueue seed` does) until
the event store holds --events events, then times `slotqueue projections rebuild` as a
subprocess (start to exit, everything included) and the in-process rebuild.

Reference, same database, same run: raw psycopg batched inserts (executemany, 500 rows per
transaction) of the very rows the rebuild wrote, copied into scratch tables shaped like the
live ones (same columns, constraints and indexes). Goal: the rebuild takes at most 1/0.3 of
the reference's time (events/s ≥ 0.3 x the reference's rows/s, counted the same way).
"""

from __future__ import annotations

import time
from typing import Any

import common
import psycopg
from psycopg import sql

from slotqueue.projections import maintenance
from slotqueue.projections.queue_projection import TABLES
from slotqueue.projections.writes import live_schema
from slotqueue.scripts import harness
from slotqueue.scripts.seeding import seed_customers

GOAL_RATIO = 0.3
EVENTS_PER_CUSTOMER = 6  # registered, entry opened, windows, locations, joined, (+2 if paid)/2


def raw_inserts(conn: psycopg.Connection[Any]) -> tuple[float, int]:
    """Copies every projected row into scratch tables with batched INSERTs; (seconds, rows)."""
    conn.execute("DROP SCHEMA IF EXISTS bench_scratch CASCADE")
    conn.execute("CREATE SCHEMA bench_scratch")
    batches = []
    for table in TABLES:
        live = sql.SQL("{}.{}").format(sql.Identifier(live_schema(table)), sql.Identifier(table))
        conn.execute(sql.SQL("CREATE TABLE bench_scratch.{} (LIKE {} INCLUDING ALL)").format(
            sql.Identifier(table), live))
        cur = conn.execute(sql.SQL("SELECT * FROM {}").format(live))
        columns = [c.name for c in cur.description or []]
        rows = cur.fetchall()
        insert = sql.SQL("INSERT INTO bench_scratch.{} ({}) VALUES ({})").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)))
        batches += [(insert, rows[i:i + 500]) for i in range(0, len(rows), 500)]
    started = time.perf_counter()
    for insert, rows in batches:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(insert, [_jsonable(r) for r in rows])
    elapsed = time.perf_counter() - started
    conn.execute("DROP SCHEMA bench_scratch CASCADE")
    return elapsed, sum(len(rows) for _, rows in batches)


def _jsonable(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(psycopg.types.json.Jsonb(v) if isinstance(v, dict) else v for v in row)


def main() -> None:
    parser = common.parser(__doc__, runs=3, quick_runs=1)
    common.sized(parser, "--events", int, 200_000, 20_000, "events to rebuild from")
    args = common.parse(parser)
    events = args.events
    figures = common.Figures("projection rebuild",
                             command="python scripts/bench/rebuild.py")
    with harness.fresh_database("bench_rebuild", args.server_url, keep=args.keep) as url:
        figures.info["machine"] = common.machine(url)
        with harness.service(url) as svc:
            harness.progress(f"loading about {events} events")
            seed_customers(svc, events // EVENTS_PER_CUSTOMER + 1, 0.5, 3)
            svc.catch_up()
            head = svc.app.recorder.max_notification_id() or 0
            cli, inproc, raw, rows = [], [], [], 0
            for run in range(common.runs(args)):
                cli.append(common.timed(lambda: harness.slotqueue(
                    url, "projections", "rebuild", "--json", check=True)))
                inproc.append(common.timed(lambda: maintenance.rebuild(svc.app, svc.view)))
                with psycopg.connect(url, autocommit=True) as conn:
                    seconds, rows = raw_inserts(conn)
                raw.append(seconds)
                harness.progress(f"run {run + 1}: cli {cli[-1]:.1f} s, in-process "
                                f"{inproc[-1]:.1f} s, raw inserts {raw[-1]:.1f} s")
            assert not maintenance.verify(svc.app, svc.view), "rebuild differs from a replay"
    ratio = common.median(raw) / common.median(cli)
    figures.info["events"] = head
    figures.info["rows written"] = rows
    figures.add("rebuild (slotqueue projections rebuild)", cli, "s",
                reference=f"raw batched inserts of the same {rows} rows: "
                          f"{common.median(raw):.1f} s",
                note=f"{head / common.median(cli):.0f} events/s; ratio {ratio:.2f}, "
                     f"goal ≥ {GOAL_RATIO}: {'met' if ratio >= GOAL_RATIO else 'MISSED'}")
    figures.add("rebuild in-process", inproc, "s",
                note=f"{head / common.median(inproc):.0f} events/s")
    figures.add("raw inserts", [rows / r for r in raw], "rows/s")
    figures.print(args.json)


if __name__ == "__main__":
    main()
