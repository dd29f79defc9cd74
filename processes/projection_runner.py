"""Keeps the queue tables current from LISTEN/NOTIFY, and survives losing its connection.

The library's ProjectionRunner stops for good when its LISTEN connection dies; this
supervisor builds a new one, which resumes from the position tracked in the database.
"""

from __future__ import annotations

import logging
import threading

from eventsourcing.projection import ProjectionRunner

from slotqueue.application.queue import SlotQueue
from slotqueue.projections.messages import DEFAULT_TEXTS, Texts
from slotqueue.projections.queue_projection import QueueTablesProjection, QueueTablesView

log = logging.getLogger(__name__)


class SupervisedProjection:
    """Runs the `queue_tables` projection in a thread until `stop()`; restarts it on error.
    Message texts are rendered with `texts` (the composition root builds them from settings)."""

    def __init__(self, env: dict[str, str], retry_seconds: float = 1.0,
                 texts: Texts = DEFAULT_TEXTS) -> None:
        self.env = {**env, "POSTGRES_POOL_SIZE": "2"}  # one connection is held by LISTEN
        self.retry_seconds = retry_seconds
        self.projection_class = QueueTablesProjection.with_texts(texts)
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="queue_tables", daemon=True)

    def start(self) -> SupervisedProjection:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run_once(self) -> None:
        with ProjectionRunner(
            application_class=SlotQueue,
            projection_class=self.projection_class,
            view_class=QueueTablesView,
            env=self.env,
        ) as runner:
            while not self._stopping.is_set() and not runner.is_interrupted.is_set():
                runner.run_forever(timeout=0.5)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._run_once()
            except Exception as exc:  # any failure: rebuild from the position
                self.restarts += 1
                log.warning("projection queue_tables stopped (%s); restarting", exc)
                self._stopping.wait(self.retry_seconds)
