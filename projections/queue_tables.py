"""Customer and QueueEntry events → customers, queue_entries, user_target_window_selections,
user_location_preferences (and every chosen location, deleted ones too, →
slotqueue.customer_locations), and operators' priority scores → slotqueue.entry_priorities (the
spec fixes queue_entries' columns; rank order joins the two). Every value comes from the event,
so a rebuild is exact; a location the monitor removed is written only while it exists
(`writes.Ref`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.projections.imported_tables import chosen_locations, location
from slotqueue.projections.writes import Update, Upsert, Write


def _entry_update(event: Any, **values: Any) -> list[Write]:
    return [Update("queue_entries", {"id": event.originator_id}, values)]


def _registered(e: Any) -> list[Write]:
    row = {"id": e.originator_id, "phone": e.phone, "email": e.email, "created_at": e.at}
    return [Upsert("customers", ("id",), row)]


def _email_changed(e: Any) -> list[Write]:
    return [Update("customers", {"id": e.originator_id}, {"email": e.email})]


def _windows_selected(e: Any) -> list[Write]:
    s = e.selection
    row = {
        "customer_id": e.originator_id,
        "timezone": s["timezone"],
        "date_horizon_key": s["date_horizon_key"],
        "weekday_rule_key": s["weekday_rule_key"],
        "custom_weekdays": list(s["custom_weekdays"]),
        "time_block_keys": list(s["time_block_keys"]),
        "updated_at": e.at,
    }
    return [Upsert("user_target_window_selections", ("customer_id",), row)]


def _locations_preferred(e: Any) -> list[Write]:
    return chosen_locations(e.originator_id, [(loc, e.at) for loc in e.location_ids])


def _joined(e: Any) -> list[Write]:
    row = {
        "id": e.originator_id, "customer_id": e.customer_id, "created_at": e.at,
        "status": "queued", "deposit_status": "none", "deposit_required_at": None,
        "deposit_paid_at": None, "deposit_expires_at": None, "booked_at": None,
        "booked_location_id": None, "booked_slot_datetime": None,
    }
    return [Upsert("queue_entries", ("id",), row)]


def _priority_changed(e: Any) -> list[Write]:
    """The entry's current score (kept at 0 when set back: the row says who did it, and the
    audits find entries that ever had a priority through it)."""
    row = {"queue_entry_id": e.originator_id, "score": e.score, "reason": e.reason,
           "set_by": e.by, "set_at": e.at}
    return [Upsert("entry_priorities", ("queue_entry_id",), row)]


HANDLERS: dict[type, Callable[[Any], list[Write]]] = {
    Customer.Registered: _registered,
    Customer.EmailChanged: _email_changed,
    Customer.TargetWindowsSelected: _windows_selected,
    Customer.LocationsPreferred: _locations_preferred,
    QueueEntry.Joined: _joined,
    QueueEntry.DepositRequired: lambda e: _entry_update(
        e, status=e.status, deposit_status=e.deposit_status,
        deposit_required_at=e.at, deposit_expires_at=e.expires_at,
    ),
    QueueEntry.DepositPaid: lambda e: _entry_update(
        e, status=e.status, deposit_status=e.deposit_status, deposit_paid_at=e.at
    ),
    QueueEntry.DepositLapsed: lambda e: _entry_update(
        e, status=e.status, deposit_status=e.deposit_status
    ),
    QueueEntry.Paused: lambda e: _entry_update(e, status=e.status),
    QueueEntry.Resumed: lambda e: _entry_update(e, status=e.status),
    QueueEntry.Canceled: lambda e: _entry_update(e, status=e.status),
    QueueEntry.Refunded: lambda e: _entry_update(e, deposit_status=e.deposit_status),
    QueueEntry.Booked: lambda e: _entry_update(
        e, status=e.status, booked_at=e.at, booked_location_id=location(e.location_id),
        booked_slot_datetime=e.slot_datetime,
    ),
    QueueEntry.PriorityChanged: _priority_changed,
}


def table_writes(event: Any) -> list[Write]:
    handler = HANDLERS.get(type(event))
    return handler(event) if handler else []
