"""The rows an earlier implementation left in the queue tables slotqueue now projects, read
once by `slotqueue migrate` so they become events. Rows slotqueue's own events wrote are
left out: a customer or entry whose id has events, a message whose id is slotqueue's id for
its dedupe key, an attempt or lock of an opening slotqueue recorded, a row imported before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from slotqueue.aggregates.ids import stable_id
from slotqueue.aggregates.legacy_row import LegacyRow

ENTRY_COLUMNS = ("id", "customer_id", "created_at", "status", "deposit_status",
                 "deposit_required_at", "deposit_paid_at", "deposit_expires_at", "booked_at",
                 "booked_location_id", "booked_slot_datetime")
HISTORY = {  # table -> (key column, the spec's columns)
    "booking_attempts": ("id", ("id", "customer_id", "location_id", "slot_date", "slot_time",
                                "slot_datetime_utc", "attempt_at", "result", "error_code",
                                "error_message", "dispatcher_run_id")),
    "message_log": ("dedupe_key", ("id", "customer_id", "message_type", "sent_at",
                                   "dedupe_key", "meta_json")),
    "booking_locks": ("lock_key", ("lock_key", "locked_until", "owner_run_id")),
    "queue_watermarks": ("key", ("key", "last_processed_at")),
}


@dataclass
class LegacyCustomer:
    id: UUID
    phone: str
    email: str | None
    created_at: datetime
    selection: dict[str, Any] | None = None
    selected_at: datetime | None = None
    locations: list[list[Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)


def _without_events(conn: psycopg.Connection[Any], ids: list[UUID]) -> set[UUID]:
    if not ids:
        return set()
    known = conn.execute("SELECT DISTINCT originator_id FROM slotqueue.queue_events "
                         "WHERE originator_id = ANY(%s)", (ids,))
    return set(ids) - {row[0] for row in known}


def customers(conn: psycopg.Connection[Any]) -> list[LegacyCustomer]:
    """Customers (with their entries, windows and locations) no event of ours describes."""
    rows = conn.execute("SELECT id, phone, email, created_at FROM customers "
                        "ORDER BY created_at, id").fetchall()
    foreign = _without_events(conn, [r[0] for r in rows])
    found = {r[0]: LegacyCustomer(*r) for r in rows if r[0] in foreign}
    if not found:
        return []
    ids = list(found)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT {', '.join(ENTRY_COLUMNS)} FROM queue_entries "
                    "WHERE customer_id = ANY(%s) ORDER BY created_at, id", (ids,))
        for entry in cur:
            found[entry["customer_id"]].entries.append(dict(entry))
    for cid, tz, horizon, rule, days, blocks, at in conn.execute(
            "SELECT customer_id, timezone, date_horizon_key, weekday_rule_key, custom_weekdays,"
            " time_block_keys, updated_at FROM user_target_window_selections "
            "WHERE customer_id = ANY(%s)", (ids,)):
        found[cid].selection = {"timezone": tz, "date_horizon_key": horizon,
                                "weekday_rule_key": rule, "custom_weekdays": list(days or []),
                                "time_block_keys": list(blocks or [])}
        found[cid].selected_at = at
    for cid, location_id, at in conn.execute(
            "SELECT customer_id, location_id, created_at FROM user_location_preferences "
            "WHERE customer_id = ANY(%s) ORDER BY created_at, location_id", (ids,)):
        found[cid].locations.append([location_id, at])
    return list(found.values())


def _ours(table: str, row: dict[str, Any]) -> bool:
    if table == "message_log":
        return row["id"] == stable_id("message", row["dedupe_key"])
    if table == "queue_watermarks":
        return row["key"] == "slot_opened"  # the Watermark aggregate takes it over
    return False


def _our_openings(conn: psycopg.Connection[Any]) -> tuple[set[UUID], set[str]]:
    rows = conn.execute("SELECT id, slot_key FROM slotqueue.opened_slots").fetchall()
    return {stable_id("attempt", r[0]) for r in rows}, {r[1] for r in rows}


def _plain(value: Any) -> Any:
    """A value as an event can carry it (dates and times as ISO text)."""
    return value.isoformat() if isinstance(value, date | time) and not isinstance(
        value, datetime) else value


def history(conn: psycopg.Connection[Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(table, key, row) of every history row no event of ours wrote."""
    attempts, locks = _our_openings(conn)
    for table, (key, columns) in HISTORY.items():
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {key}")
            rows = [dict(r) for r in cur]
        rows = [r for r in rows if not _ours(table, r)
                and not (table == "booking_attempts" and r["id"] in attempts)
                and not (table == "booking_locks" and r["lock_key"] in locks)]
        done = set(rows and _without_events(conn, [LegacyRow.create_id(table, str(r[key]))
                                                   for r in rows]))
        for row in rows:
            if LegacyRow.create_id(table, str(row[key])) in done:
                yield table, str(row[key]), {k: _plain(v) for k, v in row.items()}
