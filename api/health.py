"""What `/readyz` checks and `/metrics` reads (spec service §2.5): the database answers,
migrations are current, the queue tables projection is under 5 s behind, and the dispatcher
beside the API finished a run recently. Times are compared on the host's clock (`now`), the
clock that stamps events and the dispatcher's heartbeat; tests move it instead of sleeping."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from slotqueue.api.deps import Deps
from slotqueue.api.metrics import Readings
from slotqueue.migrate import pending_migrations
from slotqueue.projections import maintenance
from slotqueue.projections.delivery_queries import deliveries_by_status
from slotqueue.projections.queries import entries_by_status
from slotqueue.projections.queue_projection import QueueTablesProjection
from slotqueue.projections.timer_queries import timers_waiting
from slotqueue.redact import redact

LAG_LIMIT_SECONDS = 5.0
HEARTBEAT_INTERVALS = 3  # a heartbeat is stale after this many intervals …
HEARTBEAT_FLOOR_SECONDS = 5.0  # … and never sooner than this (a long run with many openings)
PROBE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Lag:
    events: int
    seconds: float


def _failure(exc: Exception) -> str:
    return redact(f"{type(exc).__name__}: {exc}".strip())[:300]


def database(d: Deps) -> Check:
    started = time.perf_counter()
    try:
        with d.reads.connection(timeout=PROBE_TIMEOUT_SECONDS) as conn:
            conn.execute("SELECT 1").fetchone()
    except Exception as exc:
        return Check("database", False, f"does not answer ({_failure(exc)})")
    return Check("database", True, f"answered in {(time.perf_counter() - started) * 1000:.0f} ms")


def migrations(d: Deps) -> Check:
    try:
        pending = pending_migrations(d.svc.url)
    except Exception as exc:
        return Check("migrations", False, f"could not be read ({_failure(exc)})")
    if pending:
        return Check("migrations", False, f"{len(pending)} pending (first {pending[0]}): "
                                          "run `slotqueue migrate`")
    return Check("migrations", True, "current")


def projection_lag(d: Deps, now: datetime) -> Lag:
    status = maintenance.status(d.svc.app, d.svc.view, QueueTablesProjection.name)
    if status.lag == 0:
        return Lag(0, 0.0)
    since = maintenance.waiting_since(d.svc.app, status.position)
    return Lag(status.lag, 0.0 if since is None else max((now - since).total_seconds(), 0.0))


def projections(d: Deps, now: datetime) -> Check:
    try:
        lag = projection_lag(d, now)
    except Exception as exc:
        return Check("projections", False, f"lag could not be read ({_failure(exc)})")
    detail = f"{lag.events} events behind, the oldest waiting {lag.seconds:.1f} s"
    if lag.seconds >= LAG_LIMIT_SECONDS:
        return Check("projections", False, f"{detail} (limit {LAG_LIMIT_SECONDS:g} s)")
    return Check("projections", True, detail)


def heartbeat_limit(interval_seconds: float) -> float:
    return max(HEARTBEAT_INTERVALS * interval_seconds, HEARTBEAT_FLOOR_SECONDS)


def dispatcher(d: Deps, now: datetime) -> Check:
    ticker = d.ticker
    if ticker is None:
        return Check("dispatcher", False, "no dispatcher runs in this process")
    if ticker.last_ok is None:
        return Check("dispatcher", False, f"no run has finished yet ({ticker.failures} failed)")
    age = (now - ticker.last_ok).total_seconds()
    limit = heartbeat_limit(ticker.timing.interval_seconds)
    detail = (f"last run finished {age:.1f} s ago (runs every "
              f"{ticker.timing.interval_seconds:g} s; stale after {limit:g} s)")
    return Check("dispatcher", age <= limit, detail)


def readiness(d: Deps, now: datetime) -> list[Check]:
    """Every check; those that need the database are skipped (failed) when it does not
    answer, so a probe is not held up by three timeouts."""
    db = database(d)
    if not db.ok:
        later = [Check(name, False, "not checked: the database does not answer")
                 for name in ("migrations", "projections")]
        return [db, *later, dispatcher(d, now)]
    return [db, migrations(d), projections(d, now), dispatcher(d, now)]


def readings(d: Deps, now: datetime) -> Readings:
    """What a scrape of /metrics reads from the database; nothing when it does not answer."""
    try:
        lag = projection_lag(d, now)
        with d.reads.connection(timeout=PROBE_TIMEOUT_SECONDS) as conn:
            entries = entries_by_status(conn)
            deliveries = deliveries_by_status(conn)
            timers = timers_waiting(conn)
    except Exception:
        return Readings()
    return Readings(lag.events, lag.seconds, entries, database_up=True, deliveries=deliveries,
                    timers=timers)
