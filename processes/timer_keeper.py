"""The timer keeper (spec service §4.1): an APScheduler date job for every timer that is set,
made from the timers' own events, so none lives only in memory.

When it starts, it reads the timers still set (the projection, at a position it noted first),
brings that list up to the head of the event log and then follows the log: a `TimerSet`
schedules (or moves) a job, a `TimerFired` or `TimerCanceled` removes it. A job fires its
timer through the application, which records the firing only if the timer is still set: two
keepers, or a job that runs twice, fire it once. A restart loses nothing: the events are the
schedule.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from slotqueue.aggregates.timers import Timed
from slotqueue.processes.feed import EventFeed
from slotqueue.projections.timer_queries import Due

log = logging.getLogger("slotqueue.timers")
EARLY_RETRY = timedelta(milliseconds=50)  # the database's clock is behind this host's
Fire = Callable[[UUID, str], str]  # (aggregate id, timer name) → fired | moot | early


def job_id(aggregate_id: UUID, name: str) -> str:
    return f"timer:{aggregate_id}:{name}"


class TimerKeeper:
    def __init__(self, fire: Fire, feed: EventFeed, pending: Callable[[], list[Due]],
                 position: Callable[[], int], threads: int = 4,
                 on_fired: Callable[[str, float], None] | None = None) -> None:
        self.fire, self.feed, self.pending, self.position = fire, feed, pending, position
        self.on_fired = on_fired  # hears each firing's kind and lateness in s (the metrics)
        self.scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(threads)},
            # A job that schedules itself again (early, failed) is still running when the next
            # run falls due if its thread is held up: with max_instances 1 APScheduler skips
            # that run and drops the date job, and the timer with it. Overlapping runs are
            # harmless: the application fires a timer once.
            job_defaults={"coalesce": True, "max_instances": threads,
                          "misfire_grace_time": None})
        self.fired: list[float] = []  # lateness (s) of each firing, due → fired (this host)
        self.counts: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> TimerKeeper:
        after = self.position()  # before reading the table: events after it are read again
        self.scheduler.start()
        self.feed.start()
        # The projection may be far behind the log (after a restart): what the log shows
        # fired or cancelled since is not scheduled, so no job loads its aggregate for nothing.
        wanted = {(d.aggregate_id, d.name): d for d in self.pending()}
        while batch := self.feed.read(after):
            for key, event in _latest(batch).items():
                if isinstance(event, Timed.TimerSet):
                    wanted[key] = Due(key[0], event.name, event.kind, event.due_at)
                else:
                    wanted.pop(key, None)
            after = batch[-1][0]
        for due in wanted.values():
            self.schedule(due.aggregate_id, due.name, due.due_at, due.kind)
        self._after = after
        self._thread = threading.Thread(target=self._follow, name="timers", daemon=True)
        self._thread.start()
        log.info("timer keeper started", extra={"fields": {"timers": len(
            self.scheduler.get_jobs())}})
        return self

    def stop(self) -> None:
        self._stop.set()
        self.feed.wake.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)  # a firing under way finishes
        self.feed.stop()

    def schedule(self, aggregate_id: UUID, name: str, due_at: datetime, kind: str) -> None:
        self.scheduler.add_job(self._fire, "date", run_date=due_at, id=job_id(aggregate_id, name),
                               args=[aggregate_id, name, due_at, kind], replace_existing=True)

    def unschedule(self, aggregate_id: UUID, name: str) -> None:
        with contextlib.suppress(JobLookupError):  # fired (or never scheduled here)
            self.scheduler.remove_job(job_id(aggregate_id, name))

    def _fire(self, aggregate_id: UUID, name: str, due_at: datetime, kind: str) -> None:
        try:
            outcome = self.fire(aggregate_id, name)
        except Exception:  # the database went away: try again shortly
            log.exception("timer failed to fire; trying again in 1 s",
                          extra={"fields": {"aggregate_id": str(aggregate_id), "timer": name}})
            self.schedule(aggregate_id, name, datetime.now(UTC) + timedelta(seconds=1), kind)
            return
        if outcome == "early":
            self.schedule(aggregate_id, name, datetime.now(UTC) + EARLY_RETRY, kind)
            return
        late = (datetime.now(UTC) - due_at).total_seconds()
        with self._lock:
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            if outcome == "fired":
                self.fired.append(late)
        if outcome == "fired" and self.on_fired is not None:
            self.on_fired(kind, late)
        log.info("timer", extra={"fields": {"aggregate_id": str(aggregate_id), "timer": name,
                                            "outcome": outcome, "late_seconds": round(late, 3)}})

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                if self.feed.changed():
                    while batch := self.feed.read(self._after):
                        for event in _latest(batch).values():
                            self._apply(event)
                        self._after = batch[-1][0]
            except Exception:
                log.exception("timer keeper lost the event log; reading again")
                self._stop.wait(1.0)
            self.feed.wake.wait(0.5)
            self.feed.wake.clear()

    def _apply(self, event: Any) -> None:
        if isinstance(event, Timed.TimerSet):
            self.schedule(event.originator_id, event.name, event.due_at, event.kind)
        elif isinstance(event, Timed.TimerFired | Timed.TimerCanceled):
            self.unschedule(event.originator_id, event.name)


def _latest(batch: list[tuple[int, Any]]) -> dict[tuple[UUID, str], Any]:
    """Each timer's last event in a batch: a timer set and fired within it needs no job."""
    found: dict[tuple[UUID, str], Any] = {}
    for _, event in batch:
        if isinstance(event, Timed.TimerSet | Timed.TimerFired | Timed.TimerCanceled):
            found[(event.originator_id, event.name)] = event
    return found
