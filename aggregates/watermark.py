"""The Watermark aggregate: how far the slot watcher has read `slot_states.last_seen`.

Its first position is when slotqueue began watching: slots listed before it are recorded as
baseline openings, never decided. It never passes the database's now() (`slot_listing`).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from slotqueue.aggregates.ids import stable_id
from slotqueue.aggregates.slot_listing import scan_mark

SLOT_OPENED = "slot_opened"  # the watermark of the slot watcher (spec §3.2 seed row)


class Watermark(Aggregate):
    """Only ever moves forward, never past `now`; concurrent runs race on its version."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return stable_id("watermark", key)

    @event("Started")
    def __init__(self, key: str, position: datetime, at: datetime) -> None:
        self.key, self.position, self.updated_at = key, position, at
        self.started_at = position

    def advance(self, to: datetime, run_id: UUID, now: datetime) -> bool:
        to = scan_mark(to, now)
        if to <= self.position:
            return False
        self._advanced(key=self.key, position=to, run_id=run_id, at=now)
        return True

    @event("Advanced")
    def _advanced(self, key: str, position: datetime, run_id: UUID, at: datetime) -> None:
        self.position, self.updated_at = position, at
