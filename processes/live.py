"""Live changes for the dashboard (spec service §5): one LISTEN on the event store per process
(processes/feed.py's EventFeed), each new event told to every subscriber as a `Change` once the
projected tables show it, so a page that fetches on a change finds the row. Subscribers are
callables (the SSE streams of api/dashboard_stream.py); the last few hundred changes are kept
so a stream that reconnects is told what it missed (the page drops what it had already seen).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slotqueue.processes.feed import EventFeed

log = logging.getLogger("slotqueue.live")
KEEP = 500  # changes kept for a stream that reconnects
PROJECTED_WAIT_SECONDS = 2.0  # then told anyway: the page's next fetch or poll catches up

# What a page refreshes on: an event's kind, by its name first, else by its aggregate's.
EVENT_KINDS = {"SlotOpened": "opening", "Closed": "opening", "Decided": "decision",
               "AttemptFinished": "decision", "AttemptAnsweredLate": "decision",
               "BookedByOperator": "decision", "TimerSet": "timer", "TimerFired": "timer",
               "TimerCanceled": "timer"}
AGGREGATE_KINDS = {"OpenedSlot": "opening", "Delivery": "delivery", "PhoneOptOut": "delivery",
                   "QueueEntry": "entry", "Customer": "customer", "Offer": "offer"}


@dataclass(frozen=True)
class Change:
    """One recorded event as the dashboard hears of it: never a customer's data."""

    id: int  # the event's notification id: the stream's event id, increasing
    kind: str  # opening, decision, delivery, entry, customer, timer, offer or other
    name: str  # the event's own name: SlotOpened, Decided, Sent, …
    aggregate_id: str


def change_of(notification_id: int, event: Any) -> Change:
    aggregate, _, name = type(event).__qualname__.rpartition(".")
    kind = EVENT_KINDS.get(name) or AGGREGATE_KINDS.get(aggregate.rpartition(".")[2], "other")
    return Change(notification_id, kind, name, str(getattr(event, "originator_id", "")))


Tell = Callable[[Change | None], None]  # None: the stream is over (the hub stopped)


class Unavailable(Exception):
    """Live changes are off in this process (not started, or stopped)."""


class LiveEvents:
    def __init__(self, make_feed: Callable[[], EventFeed], head: Callable[[], int],
                 projected: Callable[[], int]) -> None:
        self._make_feed, self._head, self._projected = make_feed, head, projected
        self._lock = threading.Lock()
        self._subscribers: dict[int, Tell] = {}
        self._kept: deque[Change] = deque(maxlen=KEEP)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._feed: EventFeed | None = None
        self.position = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> LiveEvents:
        if self.running:
            return self
        self._stop = threading.Event()
        self.position = self._head()
        self._feed = self._make_feed().start()
        self._thread = threading.Thread(target=self._run, name="live", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ends every stream and refuses new ones until `start()` again."""
        self._stop.set()
        with self._lock:
            told, self._subscribers = list(self._subscribers.values()), {}
        for tell in told:
            tell(None)
        if self._feed is not None:
            self._feed.stop()
        if self._thread is not None:
            self._thread.join(5)

    def subscribe(self, tell: Tell, after: int | None = None) -> Callable[[], None]:
        """`tell` hears every change from now on (and the kept ones after `after`); the
        answer unsubscribes."""
        with self._lock:
            if not self.running:
                raise Unavailable("live updates are off in this process")
            key = id(tell)
            self._subscribers[key] = tell
            missed = [c for c in self._kept if after is not None and c.id > after]
        for change in missed:
            tell(change)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(key, None)

        return unsubscribe

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def _run(self) -> None:
        feed = self._feed
        assert feed is not None
        while not self._stop.is_set():
            feed.wake.wait(0.5)
            feed.wake.clear()
            if not feed.changed():
                continue
            try:
                self._publish(feed)
            except Exception as exc:  # a database restart, say: the next wake reads again
                log.warning("live changes could not be read (%s)", exc)
                self._stop.wait(1.0)

    def _publish(self, feed: EventFeed) -> None:
        while not self._stop.is_set():
            batch = feed.read(self.position)
            if not batch:
                return
            changes = [change_of(nid, event) for nid, event in batch]
            self._await_projection(changes[-1].id)
            with self._lock:
                self._kept.extend(changes)
                tells = list(self._subscribers.values())
            for change in changes:
                for tell in tells:
                    tell(change)
            self.position = changes[-1].id

    def _await_projection(self, position: int) -> None:
        """Until the projected tables have applied `position` (bounded)."""
        deadline = time.monotonic() + PROJECTED_WAIT_SECONDS
        while self._projected() < position and time.monotonic() < deadline:
            if self._stop.wait(0.01):
                return
