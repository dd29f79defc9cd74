"""What a customer sees of themselves (`GET /v1/me`): their latest entry, its rank and deposit,
their windows and locations by name, their booking and their pending offer (with its
deadline, never its link) — from the projected tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.aggregates.errors import NotFound
from slotqueue.projections.offer_audit import PENDING_SQL, offer_of
from slotqueue.projections.queries import RANKED_STATUSES, rank_sql
from slotqueue.projections.wording import deposit_deadline, local_time, utc_iso

# One statement, one round trip: the customer, their latest entry (`e`: the rank's subquery
# names its own tables q and p) with its rank and booking, their windows, their locations by
# name and their pending offer.
_ME_SQL = f"""
SELECT c.id, c.phone, c.email, e.id, e.status, e.deposit_status, e.deposit_expires_at,
       e.booked_location_id, bl.name, e.booked_slot_datetime, e.created_at,
       {rank_sql("e.id")},
       w.customer_id, w.timezone, w.date_horizon_key, w.weekday_rule_key, w.custom_weekdays,
       w.time_block_keys, loc.ids, loc.names,
       o.id, o.policy, o.round, o.location, o.slot_datetime_utc, o.made_at, o.expires_at
FROM customers c
LEFT JOIN LATERAL (SELECT * FROM queue_entries WHERE customer_id = c.id
                   ORDER BY created_at DESC, id DESC LIMIT 1) e ON true
LEFT JOIN locations bl ON bl.id = e.booked_location_id
LEFT JOIN user_target_window_selections w ON w.customer_id = c.id
LEFT JOIN LATERAL (SELECT array_agg(l.id ORDER BY l.name, l.id) AS ids,
                          array_agg(l.name ORDER BY l.name, l.id) AS names
                   FROM user_location_preferences p JOIN locations l ON l.id = p.location_id
                   WHERE p.customer_id = c.id) loc ON true
LEFT JOIN LATERAL ({PENDING_SQL}) o ON true
WHERE c.id = %(customer)s
"""


def times(name: str, moment: datetime | None, timezone: str) -> dict[str, str | None]:
    """`name` in UTC with Z, and `name_local` for a person."""
    return {name: None if moment is None else utc_iso(moment),
            f"{name}_local": None if moment is None else local_time(moment, timezone)}


def me(conn: psycopg.Connection[Any], customer_id: UUID, timezone: str) -> dict[str, Any]:
    row = conn.execute(_ME_SQL, {"customer": customer_id, "ranked": RANKED_STATUSES}).fetchone()
    if row is None:
        raise NotFound(f"unknown customer {customer_id}")
    (cid, phone, email, entry_id, status, deposit, expires, booked_loc, booked_name,
     booked_at, joined, rank, windows_of, *windows) = row[:18]
    location_ids, location_names = row[18:20]
    entry = None
    if entry_id is not None:
        entry = {"queue_entry_id": entry_id, "status": status, "deposit_status": deposit,
                 "rank": None if rank is None else int(rank),
                 **times("joined_at", joined, timezone),
                 **times("deposit_due", deposit_deadline(status, deposit, expires), timezone)}
    booking = None if booked_at is None else {
        "location_id": booked_loc, "location": booked_name,
        **times("slot", booked_at, timezone)}
    return {
        "customer_id": cid, "phone": phone, "email": email, "entry": entry,
        "windows": None if windows_of is None else {
            "timezone": windows[0], "horizon": windows[1],
            "weekdays": "any" if windows[2] == "any_weekday" else list(windows[3]),
            "blocks": list(windows[4])},
        "locations": [{"id": i, "name": n}
                      for i, n in zip(location_ids or (), location_names or (), strict=True)],
        "booking": booking,
        "pending_offer": None if row[20] is None else offer_of(row[20:], timezone),
    }
