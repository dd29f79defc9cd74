"""What the HTTP handlers share, built once by the composition root."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request
from psycopg_pool import ConnectionPool

from slotqueue.adapters.messaging import Sender
from slotqueue.api.idempotency import Idempotency
from slotqueue.api.limits import RateLimits
from slotqueue.api.metrics import Metrics

if TYPE_CHECKING:
    from slotqueue.processes.live import LiveEvents
    from slotqueue.processes.service import Ticker


def host_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deps:
    svc: Any  # slotqueue.bootstrap.Service: the application, its clock, settings, catch-up
    reads: ConnectionPool
    sms: Sender  # the SMS provider of the settings: verification codes go through it
    limits: RateLimits
    idempotency: Idempotency
    metrics: Metrics | None = None
    ticker: Ticker | None = None  # the dispatcher beside the API (`serve`): its heartbeat
    live: LiveEvents | None = None  # the dashboard's live updates (`serve`); off without
    # The host's clock, which stamps events and the dispatcher's heartbeat (readiness and
    # lag compare against it; tests move it instead of sleeping).
    wall_clock: Callable[[], datetime] = field(default=host_now)
    bookings: Any = field(default=None, repr=False)  # the booking adapter, made on first use
    _settling: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def booker(self) -> Any:
        """The booking adapter of the settings: an accepted offer is booked through it."""
        if self.bookings is None:
            self.bookings = self.svc.booker()
        return self.bookings

    @property
    def timezone(self) -> str:
        return str(self.svc.settings.timezone)

    @property
    def brand(self) -> str:
        return str(self.svc.settings.brand_name)

    def now(self) -> datetime:
        return self.svc.clock.now()  # type: ignore[no-any-return]

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request, for the metrics (called by the request middleware)."""
        if self.metrics is not None:
            self.metrics.observe(method, route, status, seconds)

    def settle(self) -> None:
        """The projected tables show what the request recorded (read-your-writes).

        One request catches up at a time. Each first notes the head of the event log, which
        holds its own write; once it has the turn, a catch-up that ran meanwhile (another
        request's, or serve's projection runner) may already have projected that far, and
        then it is done. A burst of joins used to run a catch-up each, all at once, queueing
        for the event store's pool behind one another (the join storm benchmark: 32 request
        threads waiting there)."""
        head = self.svc.app.recorder.max_notification_id() or 0
        with self._settling:
            if (self.svc.view.max_tracking_id(self.svc.app.name) or 0) >= head:
                return
            self.svc.catch_up()


async def deps(request: Request) -> Deps:
    # async: it never blocks, so FastAPI calls it on the event loop instead of handing it to a
    # worker thread and back (a sync dependency costs a thread hop a request).
    return request.app.state.deps  # type: ignore[no-any-return]


def client(request: Request) -> str:
    return request.client.host if request.client else "unknown"
