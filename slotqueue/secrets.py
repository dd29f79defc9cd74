"""Secrets slotqueue keeps in its own database (`slotqueue.secrets`, made by a migration): the
key that signs offers' claim links. Read once per process through the event store's pool."""

from __future__ import annotations

import threading
from typing import Any

OFFER_LINKS = "offer_links"


class DatabaseSecret:
    """A callable giving the secret `name` as bytes, read on first use and kept."""

    def __init__(self, datastore: Any, name: str = OFFER_LINKS) -> None:
        self.datastore, self.name = datastore, name
        self._value: bytes | None = None
        self._lock = threading.Lock()

    def __call__(self) -> bytes:
        with self._lock:
            if self._value is None:
                with self.datastore.get_connection() as conn:
                    row = conn.execute("SELECT value FROM slotqueue.secrets WHERE name = %s",
                                       (self.name,)).fetchone()
                if row is None:
                    raise RuntimeError(f"no secret {self.name!r} in slotqueue.secrets: run "
                                       "`slotqueue migrate`")
                self._value = str(row["value"]).encode()
            return self._value

    def __repr__(self) -> str:  # never the value
        return f"DatabaseSecret({self.name!r})"
