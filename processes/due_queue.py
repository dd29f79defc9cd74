"""Ids that fall due at a time, for threads that wait for the next one: a heap of (time, id)
with one live time per id (the earliest asked for), so a repeat push costs nothing."""

from __future__ import annotations

import heapq
import threading
from datetime import UTC, datetime
from uuid import UUID


class DueQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[datetime, UUID]] = []
        self._due: dict[UUID, datetime] = {}
        self._ready = threading.Condition()

    def __len__(self) -> int:
        with self._ready:
            return len(self._due)

    def push(self, item: UUID, when: datetime) -> None:
        """`item` falls due at `when` (or earlier, if it was asked for earlier already)."""
        with self._ready:
            known = self._due.get(item)
            if known is not None and known <= when:
                return
            self._due[item] = when
            heapq.heappush(self._heap, (when, item))
            self._ready.notify()

    def pop(self, timeout: float) -> UUID | None:
        """The next item whose time has come, waiting at most `timeout` seconds for one."""
        deadline = datetime.now(UTC).timestamp() + timeout
        with self._ready:
            while True:
                now = datetime.now(UTC)
                while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # superseded by an earlier time
                if self._heap and self._heap[0][0] <= now:
                    _, item = heapq.heappop(self._heap)
                    del self._due[item]
                    return item
                left = deadline - now.timestamp()
                if left <= 0:
                    return None
                wait = left if not self._heap else min(
                    left, (self._heap[0][0] - now).total_seconds())
                self._ready.wait(max(wait, 0.001))

    def wake_all(self) -> None:
        with self._ready:
            self._ready.notify_all()
