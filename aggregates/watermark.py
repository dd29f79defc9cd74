"""The Watermark aggregate: how far the slot watcher has read `slot_states.first_seen`."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from slotqueue.aggregates.ids import stable_id


class Watermark(Aggregate):
    """Only ever moves forward; concurrent runs race on its version."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return stable_id("watermark", key)

    @event("Started")
    def __init__(self, key: str, position: datetime, at: datetime) -> None:
        self.key, self.position, self.updated_at = key, position, at

    def advance(self, to: datetime, run_id: UUID, now: datetime) -> bool:
        if to <= self.position:
            return False
        self._advanced(key=self.key, position=to, run_id=run_id, at=now)
        return True

    @event("Advanced")
    def _advanced(self, key: str, position: datetime, run_id: UUID, at: datetime) -> None:
        self.position, self.updated_at = position, at
