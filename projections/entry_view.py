"""One queue entry as an operator reads it (`GET /v1/entries/{id}` and the answer to every
operator action): its state replayed from the event store, so an action's effect shows at once,
with its rank, windows and locations by name from the projected tables. Phones are masked."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from slotqueue.application.queue import SlotQueue
from slotqueue.projections.customer_view import times
from slotqueue.projections.queries import rank_of
from slotqueue.projections.wording import Labels, deposit_deadline, mask_phone, windows_in_words

_NAMES_SQL = "SELECT id, name FROM locations WHERE id = ANY(%s)"


def _names(conn: psycopg.Connection[Any], ids: list[UUID]) -> dict[UUID, str]:
    return {row[0]: str(row[1]) for row in conn.execute(_NAMES_SQL, (ids,))} if ids else {}


def entry_view(app: SlotQueue, conn: psycopg.Connection[Any], entry_id: UUID, timezone: str,
               labels: Labels) -> dict[str, Any]:
    """The entry's state, rank (None when its status holds none), priority score and why,
    deposit deadline while it applies, payments, booking and conflicts; the customer's windows
    in words and locations (a location the monitor removed reads as its id)."""
    entry = app.entry(entry_id)
    customer = app.customer(entry.customer_id)
    names = _names(conn, [*customer.location_ids, *filter(None, [entry.booked_location_id])])
    booking = None if entry.booked_slot_datetime is None else {
        "location_id": entry.booked_location_id,
        "location": names.get(entry.booked_location_id),
        **times("slot", entry.booked_slot_datetime, timezone)}
    due = deposit_deadline(entry.status, entry.deposit_status, entry.deposit_expires_at)
    return {
        "queue_entry_id": entry.id, "customer_id": entry.customer_id,
        "phone": mask_phone(customer.phone), "status": entry.status,
        "deposit_status": entry.deposit_status, "rank": rank_of(conn, entry.id),
        "priority": entry.priority, "priority_reason": entry.priority_reason,
        **times("joined_at", entry.joined_at, timezone), **times("deposit_due", due, timezone),
        **times("deposit_paid_at", entry.deposit_paid_at, timezone),
        "payment_refs": list(entry.payment_refs), "refunds_due": list(entry.refunds_due),
        "booking": booking,
        "booking_conflicts": list(getattr(entry, "conflicts", [])),  # older snapshots: none
        "windows": windows_in_words(customer.selection, labels, timezone),
        "locations": [{"id": i, "name": names.get(i, str(i))} for i in customer.location_ids],
    }
