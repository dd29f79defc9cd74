"""The `queue_tables` projection: every event → its rows in the compatibility tables.

The rows and the tracking position are written in one transaction, tracking first, so a
second delivery of the same position waits for the first, then finds it recorded and changes
nothing. Every write sets absolute values, in event order, so a batch that overlaps one
already applied ends in the same state.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection

from slotqueue.projections import writes
from slotqueue.projections.coalesce import coalesce
from slotqueue.projections.delivery_tables import delivery_writes
from slotqueue.projections.dispatch_tables import dispatch_writes
from slotqueue.projections.identity_tables import identity_writes
from slotqueue.projections.imported_tables import imported_writes
from slotqueue.projections.messages import DEFAULT_TEXTS, Texts, message_writes
from slotqueue.projections.offer_tables import offer_writes
from slotqueue.projections.payment_tables import payment_writes
from slotqueue.projections.queue_tables import table_writes
from slotqueue.projections.timer_tables import timer_writes

# Parents before children: inserts follow this order, deletes the reverse.
TABLES = (
    "customers",
    "queue_entries",
    "entry_priorities",
    "user_target_window_selections",
    "user_location_preferences",
    "customer_locations",
    "message_log",
    "message_deliveries",
    "phone_opt_outs",
    "booking_attempts",
    "booking_locks",
    "queue_watermarks",
    "opened_slots",
    "booking_conflicts",
    "credentials",
    "payments",
    "timers",
    "offers",
    "customer_booking_modes",
)


def event_writes(event: Any, texts: Texts = DEFAULT_TEXTS) -> list[writes.Write]:
    return (table_writes(event) + message_writes(event, texts) + dispatch_writes(event)
            + imported_writes(event) + identity_writes(event) + payment_writes(event)
            + delivery_writes(event) + timer_writes(event) + offer_writes(event))


class QueueTablesView(PostgresTrackingRecorder):
    """The compatibility tables in `public` and `slotqueue.opened_slots`, tracked in
    `slotqueue.queue_tables_tracking`."""

    def apply(self, tracking: Tracking, changes: Sequence[writes.Write]) -> bool:
        """Writes the rows of events up to `tracking`; False (and nothing written) when
        another writer has already recorded that position."""
        with self.datastore.transaction(commit=True) as curs:
            try:
                self._insert_tracking(curs, tracking)  # locks the position row first
            except IntegrityError:
                return False  # the upsert matched no row: the position is already past
            writes.execute(curs, coalesce(changes, TABLES))
        return True


class QueueTablesProjection(Projection[QueueTablesView]):
    """Every event in; customers, queue_entries, selections, location preferences,
    message_log, booking_attempts, booking_locks, queue_watermarks and opened_slots out."""

    name = "queue_tables"
    texts = DEFAULT_TEXTS  # the composition root gives the settings' (see `with_texts`)

    @classmethod
    def with_texts(cls, texts: Texts) -> type[QueueTablesProjection]:
        """This projection rendering `texts`, as a class: the library's runner constructs
        the projection and starts delivering events at once, so setting an attribute on its
        instance afterwards could miss the first events."""
        return type(cls.__name__, (cls,), {"texts": texts, "name": cls.name})

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.apply(tracking, event_writes(domain_event, self.texts))
