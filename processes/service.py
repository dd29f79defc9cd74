"""`slotqueue run`: the APScheduler process manager.

A dispatcher tick every SLOTQUEUE_DISPATCH_INTERVAL_SECONDS, never two at once in this process,
the projections kept current from LISTEN/NOTIFY, a heartbeat once a minute, a clean exit on
SIGTERM or SIGINT. A failed tick (a PostgreSQL restart, say) is logged and the next one starts
with a new session; a tick that hangs past SLOTQUEUE_RUN_TIMEOUT_SECONDS, or outlives a server
restart, is abandoned so later ticks still run. Everything it runs is given to it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler

from slotqueue.processes.dispatcher import Summary

log = logging.getLogger("slotqueue.run")
HEARTBEAT_SECONDS = 60
PROBE_AFTER_SECONDS = 2.0


class Session(Protocol):
    """A dispatcher with its connections; thrown away after a failure."""

    server_started: Any

    def tick(self) -> Summary: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Timing:
    interval_seconds: float
    run_timeout_seconds: float


class Ticker:
    """Runs each dispatch in a worker thread so a hung one cannot block the schedule;
    `on_summary` gets the summary of every run that finished (metrics count idle runs too)."""

    def __init__(self, make_session: Callable[[], Session], server_started: Callable[[], Any],
                 timing: Timing, on_summary: Callable[[Summary], None] | None = None) -> None:
        self.make_session, self.server_started = make_session, server_started
        self.timing, self.on_summary = timing, on_summary
        self._session: Session | None = None
        self._worker: threading.Thread | None = None
        self._started = 0.0
        self.runs = self.failures = self.abandoned = 0
        self.last_ok: datetime | None = None

    def tick(self) -> None:
        """Starts a dispatch run unless one is under way; returns at once."""
        if self._worker is not None and self._worker.is_alive():
            age = time.monotonic() - self._started
            if age < self.timing.run_timeout_seconds and not self._server_restarted(age):
                return  # still working; coalesce instead of overlapping
            self.abandoned += 1
            log.error("dispatch run stuck (hung, or the server restarted under it); "
                      "starting a new one beside it",
                      extra={"fields": {"running_seconds": round(age, 1)}})
            self._session = None  # its connections may be stuck: the next run builds afresh
        self._started = time.monotonic()
        self._worker = threading.Thread(target=self._run, name="dispatch", daemon=True)
        self._worker.start()

    def _server_restarted(self, age: float) -> bool:
        """A long run checks whether PostgreSQL restarted under it: its pooled connections
        would wait out their reconnect back-off (tens of seconds)."""
        session = self._session
        if age < max(PROBE_AFTER_SECONDS, 2 * self.timing.interval_seconds) or session is None:
            return False
        try:
            started = self.server_started()
        except Exception:
            return False
        return started != session.server_started

    def finish(self, timeout: float) -> None:
        """Waits (bounded) for the run under way, e.g. before the process exits."""
        worker = self._worker
        if worker is not None and worker.ident is not None:  # not before it has started
            worker.join(timeout)
        if self._session is not None:
            self._session.close()

    def _run(self) -> None:
        session = self._session
        try:
            if session is None:
                session = self._session = self.make_session()
            summary = session.tick()
            self.runs += 1
            self.last_ok = datetime.now(UTC)
            if self.on_summary:
                self.on_summary(summary)
        except Exception:  # the next tick retries with a new session
            self.failures += 1
            log.exception("dispatch run failed")
            if session is not None:
                if self._session is session:
                    self._session = None
                session.close()


def _scheduler_trouble(event: Any) -> None:
    kind = {EVENT_JOB_MISSED: "missed", EVENT_JOB_MAX_INSTANCES: "still running",
            EVENT_JOB_ERROR: "failed"}.get(event.code, str(event.code))
    log.warning("scheduled job %s", kind, extra={"fields": {"job": event.job_id}})


class Projection(Protocol):
    """A part of the process that runs in its own thread (the projection runner)."""

    restarts: int

    def start(self) -> Any: ...

    def stop(self) -> None: ...


class Worker(Protocol):
    """A part that runs its own threads from `start()` to `stop()` (the delivery worker)."""

    def start(self) -> Any: ...

    def stop(self) -> None: ...


class Background:
    """The dispatcher's schedule and the projections, in threads, until `stop()`: what
    `slotqueue run` runs alone and `slotqueue serve` runs beside the HTTP API."""

    def __init__(self, ticker: Ticker, projection: Projection,
                 describe: dict[str, Any] | None = None,
                 workers: list[Worker] | None = None) -> None:
        self.ticker, self.projection, self.describe = ticker, projection, describe or {}
        self.workers = workers or []  # the delivery worker, unless it runs on its own
        self.scheduler = BackgroundScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 60})

    def start(self) -> Background:
        self.projection.start()
        for worker in self.workers:
            worker.start()
        self.scheduler.add_listener(_scheduler_trouble, EVENT_JOB_MISSED
                                    | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
        self.scheduler.add_job(self.ticker.tick, "interval",
                               seconds=self.ticker.timing.interval_seconds, id="dispatch",
                               replace_existing=True, next_run_time=datetime.now(UTC))
        self.scheduler.add_job(lambda: _heartbeat(self.ticker, self.projection), "interval",
                               seconds=HEARTBEAT_SECONDS, id="heartbeat", replace_existing=True)
        log.info("slotqueue running", extra={"fields": {
            "interval_seconds": self.ticker.timing.interval_seconds, **self.describe}})
        self.scheduler.start()
        return self

    def stop(self) -> None:
        """Lets the tick under way finish (bounded), then stops the projections."""
        log.info("stopping")
        self.scheduler.shutdown(wait=False)
        self.ticker.finish(timeout=15)
        for worker in self.workers:
            worker.stop()
        self.projection.stop()
        log.info("stopped", extra={"fields": {"runs": self.ticker.runs}})


def run_service(ticker: Ticker, projection: Projection, stop: threading.Event | None = None,
                describe: dict[str, Any] | None = None,
                workers: list[Worker] | None = None) -> None:
    """Runs until `stop` is set or SIGTERM/SIGINT arrives."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    background = Background(ticker, projection, describe, workers).start()
    try:
        stop.wait()
    finally:
        background.stop()


def _heartbeat(ticker: Ticker, projection: Projection) -> None:
    log.info("heartbeat", extra={"fields": {
        "runs": ticker.runs, "failures": ticker.failures, "abandoned": ticker.abandoned,
        "last_ok": ticker.last_ok, "projection_restarts": projection.restarts}})


def run_alone(worker: Worker, stop: threading.Event | None = None) -> None:
    """Runs one part (`slotqueue deliver`) until `stop` is set or SIGTERM/SIGINT arrives."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    worker.start()
    try:
        stop.wait()
    finally:
        worker.stop()
