"""The event store's place in the database: its schema and settings, the check that it is
migrated, and `slotqueue migrate` (SQL migrations, then the library's own tables)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from slotqueue.aggregates.watermark import SLOT_OPENED, Watermark
from slotqueue.application.queue import SlotQueue
from slotqueue.database import eventsourcing_env
from slotqueue.migrate import apply_migrations
from slotqueue.projections.maintenance import catch_up
from slotqueue.projections.queue_projection import QueueTablesProjection, QueueTablesView

EVENT_SCHEMA = "slotqueue"
CREATE_LOCK_KEY = 0x51_07_9E_0E  # serialises the library's CREATE TABLE between processes


class NotMigrated(Exception):
    """The database lacks migrations; `slotqueue migrate` applies them."""


def store_env(url: str, *, create_tables: bool = False, pool_size: int = 2) -> dict[str, str]:
    """The eventsourcing settings: our own schema, explicit pools and timeouts."""
    return {
        **eventsourcing_env(url),
        "POSTGRES_SCHEMA": EVENT_SCHEMA,
        "CREATE_TABLE": "y" if create_tables else "n",
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "4",
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_PRE_PING": "n",  # a dead connection fails fast and the library retries
    }


def make_view(env: dict[str, str]) -> QueueTablesView:
    factory = InfrastructureFactory.construct(Environment(QueueTablesProjection.name, env))
    return factory.tracking_recorder(QueueTablesView)


def require_store(url: str) -> None:
    """The library's tables are made by `migrate`; a newer release may need more of them."""
    with psycopg.connect(url) as conn:
        missing = conn.execute(
            "SELECT t FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NULL",
            ([f"{EVENT_SCHEMA}.queue_events", f"{EVENT_SCHEMA}.queue_snapshots",
              f"{EVENT_SCHEMA}.queue_tables_tracking"],)).fetchall()
    if missing:
        raise NotMigrated(f"event store incomplete (missing {missing[0][0]}): "
                          "run `slotqueue migrate`")


def _start_watermark(app: SlotQueue, conn: psycopg.Connection[Any]) -> None:
    """Records the seeded `slot_opened` watermark as the Watermark aggregate's first event, so
    that queue_watermarks, like every projected table, can be rebuilt from events alone."""
    key = SLOT_OPENED
    if app.recorder.select_events(Watermark.create_id(key), limit=1):
        return
    row = conn.execute(
        "SELECT last_processed_at FROM queue_watermarks WHERE key = %s", (key,)
    ).fetchone()
    now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    position = row[0] if row else now - timedelta(minutes=10)
    app.save(Watermark(key=key, position=position, at=now))


def migrate_database(url: str) -> list[str]:
    """Applies pending SQL migrations, then lets the event-store library create its tables."""
    applied = apply_migrations(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (CREATE_LOCK_KEY,))
        try:
            env = store_env(url, create_tables=True, pool_size=1)
            app, view = SlotQueue(env=env), make_view(env)
            try:
                _start_watermark(app, conn)
                catch_up(app, view)
            finally:
                app.close()
                view.datastore.close()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (CREATE_LOCK_KEY,))
    return applied
