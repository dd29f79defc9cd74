"""Prometheus metrics of one process, in a registry of its own that the composition root
builds (tests build several apps; nothing goes to the library's global registry).

Fed three ways: every HTTP request (`observe`, from the request middleware); every dispatcher
run's summary (`record_run`, the Ticker's `on_summary`); and, when scraped, what is read then:
the Ticker's run counts and heartbeat, the projection's lag and the queue's entries by status
(`render`). Only what is really measured is exported: deliveries and timers come later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from slotqueue.aggregates.delivery_policy import CHANNELS
from slotqueue.aggregates.delivery_states import STATUSES as DELIVERY_STATUSES
from slotqueue.aggregates.opened_slot import (
    ATTEMPT_FAILED,
    BOOKED,
    BOOKED_CONFLICT,
    NO_ELIGIBLE,
    SKIPPED,
    WEEKEND,
)
from slotqueue.aggregates.queue_entry import DEPOSIT_LAPSE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from slotqueue.processes.dispatcher import Summary
    from slotqueue.processes.service import Ticker

CONTENT_TYPE = CONTENT_TYPE_LATEST
OUTCOMES = (WEEKEND, NO_ELIGIBLE, BOOKED, ATTEMPT_FAILED, SKIPPED, BOOKED_CONFLICT)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RUN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
               30.0, 60.0)


@dataclass(frozen=True)
class Readings:
    """What a scrape reads from the database (None: it could not be read)."""

    lag_events: int | None = None
    lag_seconds: float | None = None
    entries: Mapping[tuple[str, str], int] = field(default_factory=dict)
    database_up: bool = False
    deliveries: Mapping[tuple[str, str], int] = field(default_factory=dict)
    timers: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # kind → (set, overdue)


class _TickerCollector:
    """The dispatcher's own counts, read from its Ticker when scraped."""

    def __init__(self, ticker: Ticker) -> None:
        self.ticker = ticker

    def collect(self) -> Iterator[Metric]:
        runs = CounterMetricFamily("slotqueue_dispatcher_runs", "Dispatcher runs of this "
                                   "process by result (abandoned: hung past the run timeout)",
                                   labels=["result"])
        for result, count in (("ok", self.ticker.runs), ("failed", self.ticker.failures),
                              ("abandoned", self.ticker.abandoned)):
            runs.add_metric([result], count)
        yield runs
        last = self.ticker.last_ok
        if last is not None:
            yield GaugeMetricFamily("slotqueue_dispatcher_last_ok_timestamp_seconds",
                                    "When the dispatcher's last run finished (Unix time)",
                                    value=last.timestamp())


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("slotqueue_http_requests", "HTTP requests answered, by route "
                                "template and status", ["method", "route", "status"],
                                registry=r)
        self.request_seconds = Histogram("slotqueue_http_request_duration_seconds",
                                         "Time to answer an HTTP request", ["method", "route"],
                                         buckets=HTTP_BUCKETS, registry=r)
        self.run_seconds = Histogram("slotqueue_dispatcher_run_duration_seconds",
                                     "Duration of a dispatcher run", buckets=RUN_BUCKETS,
                                     registry=r)
        self.openings = Counter("slotqueue_openings", "Openings the dispatcher recorded "
                                "(opened) and ended (closed)", ["change"], registry=r)
        self.decisions = Counter("slotqueue_decisions", "Openings decided, by the outcome "
                                 "recorded (a winner's: the attempt's end)", ["outcome"],
                                 registry=r)
        self.attempts = Counter("slotqueue_booking_attempts", "Booking attempts made",
                                registry=r)
        self.bookings = Counter("slotqueue_bookings", "Bookings the adapter confirmed "
                                "(late answers included)", registry=r)
        self.deposits = Counter("slotqueue_deposits", "Deposits the dispatcher asked for "
                                "(required) or the timer keeper let lapse (lapsed)",
                                ["change"], registry=r)
        self.lag_events = Gauge("slotqueue_projection_lag_events", "Events the queue tables "
                                "projection has not applied yet", registry=r)
        self.lag_seconds = Gauge("slotqueue_projection_lag_seconds", "Age of the oldest event "
                                 "the projection has not applied (0 when current)", registry=r)
        self.entries = Gauge("slotqueue_queue_entries", "Queue entries by status and deposit "
                             "status", ["status", "deposit_status"], registry=r)
        self.deliveries = Gauge("slotqueue_deliveries", "Message deliveries by channel and "
                                "status (unknown ones wait for an operator)",
                                ["channel", "status"], registry=r)
        self.timers_set = Gauge("slotqueue_timers_set", "Timers set and not yet fired or "
                                "cancelled, by kind", ["kind"], registry=r)
        self.timers_overdue = Gauge("slotqueue_timers_overdue", "Timers set whose due time has "
                                    "passed (late: not fired yet), by kind", ["kind"], registry=r)
        self.timer_lateness = Histogram(
            "slotqueue_timer_lateness_seconds", "How late each timer this process fired was "
            "(due → fired)", registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0, 300.0))
        self.database_up = Gauge("slotqueue_database_up", "1 when the last scrape could read "
                                 "the database", registry=r)
        for change in ("opened", "closed"):
            self.openings.labels(change)
        for outcome in OUTCOMES:
            self.decisions.labels(outcome)
        for change in ("required", "lapsed"):
            self.deposits.labels(change)
        self._ticker: Ticker | None = None

    def watch(self, ticker: Ticker) -> None:
        """Exports the run counts and heartbeat of the dispatcher that runs beside the API."""
        if self._ticker is None:
            self._ticker = ticker
            self.registry.register(_TickerCollector(ticker))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.request_seconds.labels(method, route).observe(seconds)

    def timer_fired(self, kind: str, late: float) -> None:
        """A timer this process's keeper fired, `late` seconds after it fell due."""
        self.timer_lateness.observe(late)
        if kind == DEPOSIT_LAPSE:
            self.deposits.labels("lapsed").inc()

    def record_run(self, summary: Summary) -> None:
        """A dispatcher run's summary (every run, idle ones included)."""
        self.run_seconds.observe(summary.seconds)
        self.openings.labels("opened").inc(summary.opened_slots_count)
        self.openings.labels("closed").inc(summary.closed_slots_count)
        for outcome, count in summary.decisions.items():
            self.decisions.labels(outcome).inc(count)
        self.attempts.inc(summary.booking_attempt_count)
        self.bookings.inc(summary.booking_success_count)
        self.deposits.labels("required").inc(summary.deposit_required_set_count)
        self.deposits.labels("lapsed").inc(summary.deposits_lapsed_count)

    def render(self, readings: Readings) -> bytes:
        """The Prometheus text exposition, with what the scrape read."""
        self.database_up.set(1 if readings.database_up else 0)
        if readings.lag_events is not None:
            self.lag_events.set(readings.lag_events)
        if readings.lag_seconds is not None:
            self.lag_seconds.set(readings.lag_seconds)
        if readings.database_up:
            self.entries.clear()
            for (status, deposit_status), count in readings.entries.items():
                self.entries.labels(status, deposit_status).set(count)
            self.timers_set.clear()
            self.timers_overdue.clear()
            for kind, (waiting, overdue) in readings.timers.items():
                self.timers_set.labels(kind).set(waiting)
                self.timers_overdue.labels(kind).set(overdue)
            self.deliveries.clear()
            for channel in CHANNELS:
                for status in DELIVERY_STATUSES:
                    self.deliveries.labels(channel, status).set(
                        readings.deliveries.get((channel, status), 0))
        return generate_latest(self.registry)
