"""The delivery worker's intake: follows the event log, turns every message an event produces
(the same rows `projections.messages` writes to message_log) into one Delivery per channel,
and keeps the worker's due queue from the deliveries' own events (new, held, retried, claimed).

Every worker follows the whole log: queueing is idempotent (a delivery's id comes from its
message and channel), and claiming settles which worker sends. The position is stored so a
restart resumes where the workers stood, never from the beginning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg

from slotqueue.aggregates.delivery import Delivery
from slotqueue.application.deliveries import messages_of
from slotqueue.processes.due_queue import DueQueue
from slotqueue.processes.feed import EventFeed
from slotqueue.projections.messages import Texts, message_writes

log = logging.getLogger("slotqueue.deliveries")
NAME = "deliveries"
LOAD_SQL = "SELECT position FROM slotqueue.delivery_intake WHERE name = %s"
SAVE_SQL = """INSERT INTO slotqueue.delivery_intake (name, position, updated_at)
VALUES (%s, %s, now()) ON CONFLICT (name) DO UPDATE
SET position = greatest(delivery_intake.position, excluded.position), updated_at = now()"""


class IntakePosition:
    """Where the intake stands in the event log (table slotqueue.delivery_intake)."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]]) -> None:
        self.connect = connect

    def load(self) -> int:
        with self.connect() as conn:
            row = conn.execute(LOAD_SQL, (NAME,)).fetchone()
        return int(row[0]) if row else 0

    def save(self, position: int) -> None:
        with self.connect() as conn:
            conn.execute(SAVE_SQL, (NAME, position))


def due_time(event: Any) -> datetime | None:
    """When a delivery event asks the worker to look at its delivery again."""
    kind = type(event)
    if kind in (Delivery.Queued, Delivery.RetryRequested):
        return event.at  # type: ignore[no-any-return]
    if kind is Delivery.Held:
        return event.until  # type: ignore[no-any-return]
    if kind is Delivery.RetryScheduled:
        return event.next_attempt_at  # type: ignore[no-any-return]
    if kind is Delivery.SendingStarted:
        return event.lease_until  # type: ignore[no-any-return]  # the crash rule's moment
    return None


class DeliveryIntake:
    def __init__(self, app: Any, feed: EventFeed, due: DueQueue, texts: Texts,
                 position: IntakePosition, start: int) -> None:
        self.app, self.feed, self.due, self.texts = app, feed, due, texts
        self.store = position
        self.position = start
        self.queued = 0  # deliveries this intake recorded

    def step(self) -> int:
        """Reads what the log holds after the position; returns the events read."""
        read = 0
        while batch := self.feed.read(self.position):
            deliveries = []
            for _, event in batch:
                when = due_time(event)
                if when is not None:
                    self.due.push(event.originator_id, when)
                for message in self._messages(event):
                    deliveries += self.app.deliveries_for(
                        message, self.texts.brand, self.texts.timezone, self.app.clock.now())
            for saved in self.app.queue_deliveries(deliveries):
                self.due.push(saved.id, saved.created_at)
                self.queued += 1
            self.position = batch[-1][0]
            self.store.save(self.position)
            read += len(batch)
        return read

    def _messages(self, event: Any) -> list[Any]:
        rows = [w.row for w in message_writes(event, self.texts) if w.table == "message_log"]
        return messages_of(rows) if rows else []
