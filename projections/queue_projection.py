"""The `queue_tables` projection: every event → its rows in the compatibility tables.

The rows and the tracking position are written in one transaction, tracking first, so a
second delivery of the same position waits, then fails and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection

from slotqueue.projections import writes
from slotqueue.projections.messages import message_writes
from slotqueue.projections.queue_tables import table_writes

# Parents before children: inserts follow this order, deletes the reverse.
TABLES = (
    "customers",
    "queue_entries",
    "user_target_window_selections",
    "user_location_preferences",
    "message_log",
)


def event_writes(event: Any) -> list[writes.Write]:
    return table_writes(event) + message_writes(event)


class QueueTablesView(PostgresTrackingRecorder):
    """The compatibility tables in `public`, tracked in `slotqueue.queue_tables_tracking`."""

    def apply(self, tracking: Tracking, changes: Sequence[writes.Write]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(curs, tracking)
            writes.execute(curs, changes)


class QueueTablesProjection(Projection[QueueTablesView]):
    """Customer and QueueEntry events in; customers, queue_entries, selections, location
    preferences and message_log out."""

    name = "queue_tables"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.apply(tracking, event_writes(domain_event))
