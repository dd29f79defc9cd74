"""Shared constants and table snapshots for the integration tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from slotqueue.projections.queue_projection import TABLES
from slotqueue.projections.writes import live_schema

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)  # Monday 08:00 in Honolulu



def snapshot(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every projected table, in a stable order."""
    return {
        t: sorted(conn.execute(f"SELECT * FROM {live_schema(t)}.{t}").fetchall(), key=repr)
        for t in TABLES
    }


def event_count(conn: psycopg.Connection[Any]) -> int:
    return conn.execute("SELECT count(*) FROM slotqueue.queue_events").fetchone()[0]  # type: ignore[index]


def at_once(settings: Any, url: str, count: int, work: Callable[[Any], Any]) -> list[Any]:
    """Runs `work(service)` in `count` threads at once, each with a service of its own
    (its own connection pools), and returns what each returned."""
    from slotqueue.bootstrap import build  # noqa: PLC0415 - keeps this module light

    services = [build(settings, url) for _ in range(count)]
    results: list[Any] = []
    threads = [threading.Thread(target=lambda s=s: results.append(work(s))) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for svc in services:
        svc.close()
    return results
