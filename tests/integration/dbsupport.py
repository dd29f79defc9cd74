"""Shared constants and table snapshots for the integration tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)  # Monday 08:00 in Honolulu
TABLES = (
    "customers", "queue_entries", "user_target_window_selections",
    "user_location_preferences", "message_log",
)



def snapshot(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every projected table, in a stable order."""
    return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


def event_count(conn: psycopg.Connection[Any]) -> int:
    return conn.execute("SELECT count(*) FROM slotqueue.queue_events").fetchone()[0]  # type: ignore[index]
