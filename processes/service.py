"""`slotqueue run`: the APScheduler process manager.

One dispatcher tick every SLOTQUEUE_DISPATCH_INTERVAL_SECONDS, never two at once in this
process, the projections kept current from LISTEN/NOTIFY, a heartbeat, a clean exit on SIGTERM
or SIGINT. A failed tick (a PostgreSQL restart, say) is logged and the next one starts afresh;
a tick that hangs past SLOTQUEUE_RUN_TIMEOUT_SECONDS is abandoned so later ticks still run.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler

from slotqueue.adapters.booking import make_booker
from slotqueue.bootstrap import Service, build, store_env
from slotqueue.processes.dispatcher import Summary, dispatch_once
from slotqueue.processes.projection_runner import SupervisedProjection
from slotqueue.settings import Settings

log = logging.getLogger("slotqueue.run")
HEARTBEAT_SECONDS = 30


class Ticker:
    """Runs each dispatch in a worker thread so a hung one cannot block the schedule."""

    def __init__(self, settings: Settings, url: str,
                 on_summary: Callable[[Summary], None] | None = None) -> None:
        self.settings, self.url, self.on_summary = settings, url, on_summary
        self.booker = make_booker(settings.booker, url, settings.timezone,
                                  settings.dispatch_lookback_minutes)
        self._svc: Service | None = None
        self._worker: threading.Thread | None = None
        self._started = 0.0
        self._server_started: Any = None
        self.runs = self.failures = self.abandoned = 0
        self.last_ok: datetime | None = None

    def tick(self) -> None:
        """Starts a dispatch run unless one is under way; returns at once."""
        if self._worker is not None and self._worker.is_alive():
            age = time.monotonic() - self._started
            if age < self.settings.run_timeout_seconds and not self._server_restarted(age):
                return  # still working; coalesce instead of overlapping
            self.abandoned += 1
            log.error("dispatch run stuck (hung, or the server restarted under it); "
                      "starting a new one beside it",
                      extra={"fields": {"running_seconds": round(age, 1)}})
            self._svc = None  # its connections may be stuck: the next run builds afresh
        self._started = time.monotonic()
        self._worker = threading.Thread(target=self._run, name="dispatch", daemon=True)
        self._worker.start()

    def _server_restarted(self, age: float) -> bool:
        """A run that outlives two intervals checks whether PostgreSQL restarted under it: its
        pooled connections would wait out their reconnect back-off (tens of seconds)."""
        if age < 2 * self.settings.dispatch_interval_seconds or self._server_started is None:
            return False
        try:
            with psycopg.connect(self.url, connect_timeout=2) as conn:
                started = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
        except psycopg.Error:
            return False  # still down: nothing to gain from a new run yet
        return started != self._server_started

    def finish(self, timeout: float) -> None:
        """Waits (bounded) for the run under way, e.g. before the process exits."""
        if self._worker is not None:
            self._worker.join(timeout)

    def _service(self, conn: psycopg.Connection[Any]) -> Service:
        """The service, rebuilt when the server restarted: pooled connections to the old
        server would otherwise wait out their reconnect back-off before failing."""
        started = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
        if self._svc is None or started != self._server_started:
            if self._svc is not None:
                self._svc.close()
            self._svc = build(self.settings, self.url, pool_size=4)
            self._server_started = started
        return self._svc

    def _run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                summary = dispatch_once(self._service(conn), self.booker, conn=conn)
            self.runs += 1
            self.last_ok = datetime.now(UTC)
            if self.on_summary:
                self.on_summary(summary)
        except Exception:  # the next tick retries with fresh connections
            self.failures += 1
            log.exception("dispatch run failed")
            svc, self._svc = self._svc, None
            if svc is not None:
                svc.close()


def _scheduler_trouble(event: Any) -> None:
    kind = {EVENT_JOB_MISSED: "missed", EVENT_JOB_MAX_INSTANCES: "still running",
            EVENT_JOB_ERROR: "failed"}.get(event.code, str(event.code))
    log.warning("scheduled job %s", kind, extra={"fields": {"job": event.job_id}})


def run_service(settings: Settings, url: str, stop: threading.Event | None = None,
                on_summary: Callable[[Summary], None] | None = None) -> None:
    """Runs until `stop` is set or SIGTERM/SIGINT arrives."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    projection = SupervisedProjection(store_env(url)).start()
    ticker = Ticker(settings, url, on_summary)
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 60})
    scheduler.add_listener(_scheduler_trouble,
                           EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
    scheduler.add_job(ticker.tick, "interval", seconds=settings.dispatch_interval_seconds,
                      id="dispatch", replace_existing=True, next_run_time=datetime.now(UTC))
    scheduler.add_job(lambda: _heartbeat(ticker, projection), "interval",
                      seconds=HEARTBEAT_SECONDS, id="heartbeat", replace_existing=True)
    log.info("slotqueue running", extra={"fields": {
        "interval_seconds": settings.dispatch_interval_seconds, "booker": settings.booker}})
    scheduler.start()
    try:
        stop.wait()
    finally:
        log.info("stopping")
        scheduler.shutdown(wait=False)
        ticker.finish(timeout=15)
        projection.stop()
        log.info("stopped", extra={"fields": {"runs": ticker.runs}})


def _heartbeat(ticker: Ticker, projection: SupervisedProjection) -> None:
    log.info("heartbeat", extra={"fields": {
        "runs": ticker.runs, "failures": ticker.failures, "abandoned": ticker.abandoned,
        "last_ok": ticker.last_ok, "projection_restarts": projection.restarts}})
