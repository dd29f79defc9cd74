"""Follows the event store: new events in notification order, and a flag LISTEN/NOTIFY sets
when there may be some, so a process that found nothing new reads nothing."""

from __future__ import annotations

import logging
import threading
from typing import Any

import psycopg
from eventsourcing.application import Application
from psycopg import sql

log = logging.getLogger("slotqueue.feed")
BATCH = 500


class EventFeed:
    def __init__(self, app: Application[Any], listen_url: str | None = None) -> None:
        self.app = app
        self._url = listen_url
        self._dirty = threading.Event()
        self._dirty.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.wake = threading.Event()  # set on every notification, for a waiting process

    def start(self) -> EventFeed:
        """Listens in a thread until `stop()`; without it every `changed()` answers True."""
        if self._url is not None and self._thread is None:
            self._thread = threading.Thread(target=self._listen, name="feed", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def changed(self) -> bool:
        """True (once) when events may have been recorded since the last call."""
        if self._thread is None or not self._thread.is_alive():
            return True
        if self._dirty.is_set():
            self._dirty.clear()
            return True
        return False

    def read(self, after: int, stop: int | None = None) -> list[tuple[int, Any]]:
        """Up to BATCH events recorded after notification `after` (up to `stop`)."""
        notes = self.app.recorder.select_notifications(start=after + 1, limit=BATCH, stop=stop)
        return [(n.id, self.app.mapper.to_domain_event(n)) for n in notes]

    def _listen(self) -> None:
        channel = getattr(self.app.recorder, "channel_name", None)
        while not self._stop.is_set():
            try:
                with psycopg.connect(str(self._url), autocommit=True, connect_timeout=5) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(str(channel))))
                    self._dirty.set()  # anything recorded while not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._dirty.set()
                            self.wake.set()
            except psycopg.Error as exc:
                self._dirty.set()
                log.warning("event feed lost its LISTEN connection (%s); reconnecting", exc)
                self._stop.wait(1.0)
