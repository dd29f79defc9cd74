"""Imported rows and retired locations → their rows in the compatibility tables (and a
customer's chosen locations → slotqueue.customer_locations, see `chosen_locations`).

An earlier implementation's rows come back exactly as `slotqueue migrate` read them (ids,
times, values), so a rebuild writes them again. A location the monitor removed is written only
while it exists (`writes.Ref`): a retired location's rows go, its events stay.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time
from typing import Any

from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.legacy_row import LegacyRow
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.projections.writes import Delete, InsertOnce, Ref, ReplaceSet, Upsert, Write

CHOSEN = "customer_locations"  # slotqueue's: every chosen location, deleted ones too
ENTRY_STATE = ("status", "deposit_status", "deposit_required_at", "deposit_paid_at",
               "deposit_expires_at", "booked_at", "booked_slot_datetime")


def location(location_id: Any, required: bool = False) -> Ref | None:
    return None if location_id is None else Ref("locations", location_id, required)


def preference_rows(customer_id: Any, pairs: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
    return [{"customer_id": customer_id, "location_id": location(loc, required=True),
             "created_at": at} for loc, at in pairs]


def chosen_locations(customer_id: Any, pairs: list[tuple[Any, Any]]) -> list[Write]:
    """A customer's whole choice of locations, (location id, chosen at) pairs, in both tables:
    user_location_preferences keeps the ones that exist; slotqueue.customer_locations keeps
    every one (no foreign key), so a dispatcher that starts from the tables still finds a
    choice of a location the monitor has since deleted, and retires it."""
    chosen = [{"customer_id": customer_id, "location_id": loc}
              for loc in dict.fromkeys(loc for loc, _ in pairs)]
    return [ReplaceSet("user_location_preferences", {"customer_id": customer_id},
                       preference_rows(customer_id, pairs)),
            ReplaceSet(CHOSEN, {"customer_id": customer_id}, chosen)]


def _customer(e: Any) -> list[Write]:
    out: list[Write] = [Upsert("customers", ("id",), {
        "id": e.originator_id, "phone": e.phone, "email": e.email, "created_at": e.at})]
    if e.selection is not None:
        s = e.selection
        out.append(Upsert("user_target_window_selections", ("customer_id",), {
            "customer_id": e.originator_id, "timezone": s["timezone"],
            "date_horizon_key": s["date_horizon_key"], "weekday_rule_key": s["weekday_rule_key"],
            "custom_weekdays": list(s["custom_weekdays"]),
            "time_block_keys": list(s["time_block_keys"]), "updated_at": e.selected_at}))
    return out + chosen_locations(e.originator_id, [(pair[0], pair[1]) for pair in e.locations])


def _entry(e: Any) -> list[Write]:
    row = {"id": e.originator_id, "customer_id": e.customer_id, "created_at": e.at,
           **{name: getattr(e, name) for name in ENTRY_STATE},
           "booked_location_id": location(e.booked_location_id)}
    return [Upsert("queue_entries", ("id",), row)]


_DECODE: dict[str, dict[str, Callable[[Any], Any]]] = {
    "booking_attempts": {"slot_date": date.fromisoformat, "slot_time": time.fromisoformat,
                         "location_id": location},
}
_KEYS = {"booking_attempts": ("id",), "message_log": ("dedupe_key",),
         "booking_locks": ("lock_key",), "queue_watermarks": ("key",)}


def _legacy(e: Any) -> list[Write]:
    decode = _DECODE.get(e.table, {})
    row = {k: (decode[k](v) if k in decode and v is not None else v) for k, v in e.row.items()}
    if e.table == "message_log":  # a message is never overwritten
        return [InsertOnce(e.table, _KEYS[e.table], row)]
    return [Upsert(e.table, _KEYS[e.table], row)]


def _retired(e: Any) -> list[Write]:
    where = {"customer_id": e.originator_id, "location_id": e.location_id}
    return [Delete("user_location_preferences", where), Delete(CHOSEN, where)]


HANDLERS: dict[type, Callable[[Any], list[Write]]] = {
    Customer.Imported: _customer,
    QueueEntry.Imported: _entry,
    LegacyRow.Imported: _legacy,
    Customer.LocationRetired: _retired,
}


def imported_writes(event: Any) -> list[Write]:
    handler = HANDLERS.get(type(event))
    return handler(event) if handler else []
