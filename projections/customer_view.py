"""What a customer sees of themselves (`GET /v1/me`): their latest entry, its rank and deposit,
their windows and locations by name, their booking and their pending offer (with its
deadline, never its link) — from the projected tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.aggregates.errors import NotFound
from slotqueue.projections.offer_audit import pending_offer
from slotqueue.projections.queries import rank_of
from slotqueue.projections.wording import deposit_deadline, local_time, utc_iso

_ME_SQL = """
SELECT c.id, c.phone, c.email, c.created_at, q.id, q.status, q.deposit_status,
       q.deposit_expires_at, q.booked_location_id, bl.name, q.booked_slot_datetime, q.created_at
FROM customers c
LEFT JOIN LATERAL (SELECT * FROM queue_entries WHERE customer_id = c.id
                   ORDER BY created_at DESC, id DESC LIMIT 1) q ON true
LEFT JOIN locations bl ON bl.id = q.booked_location_id
WHERE c.id = %s
"""
_WINDOWS_SQL = """
SELECT timezone, date_horizon_key, weekday_rule_key, custom_weekdays, time_block_keys, updated_at
FROM user_target_window_selections WHERE customer_id = %s
"""
_LOCATIONS_SQL = """
SELECT l.id, l.name FROM user_location_preferences p JOIN locations l ON l.id = p.location_id
WHERE p.customer_id = %s ORDER BY l.name
"""


def times(name: str, moment: datetime | None, timezone: str) -> dict[str, str | None]:
    """`name` in UTC with Z, and `name_local` for a person."""
    return {name: None if moment is None else utc_iso(moment),
            f"{name}_local": None if moment is None else local_time(moment, timezone)}


def me(conn: psycopg.Connection[Any], customer_id: UUID, timezone: str) -> dict[str, Any]:
    row = conn.execute(_ME_SQL, (customer_id,)).fetchone()
    if row is None:
        raise NotFound(f"unknown customer {customer_id}")
    (cid, phone, email, _, entry_id, status, deposit, expires, booked_loc, booked_name,
     booked_at, joined) = row
    windows = conn.execute(_WINDOWS_SQL, (customer_id,)).fetchone()
    entry = None
    if entry_id is not None:
        entry = {"queue_entry_id": entry_id, "status": status, "deposit_status": deposit,
                 "rank": rank_of(conn, entry_id), **times("joined_at", joined, timezone),
                 **times("deposit_due", deposit_deadline(status, deposit, expires), timezone)}
    booking = None if booked_at is None else {
        "location_id": booked_loc, "location": booked_name,
        **times("slot", booked_at, timezone)}
    return {
        "customer_id": cid, "phone": phone, "email": email, "entry": entry,
        "windows": None if windows is None else {
            "timezone": windows[0], "horizon": windows[1],
            "weekdays": "any" if windows[2] == "any_weekday" else list(windows[3]),
            "blocks": list(windows[4])},
        "locations": [{"id": r[0], "name": r[1]} for r in conn.execute(_LOCATIONS_SQL,
                                                                       (customer_id,))],
        "booking": booking,
        "pending_offer": pending_offer(conn, customer_id, timezone),
    }
