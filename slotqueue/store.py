"""The event store's place in the database: its schema and settings, the check that it is
migrated, and `slotqueue migrate` (existing tables brought to the spec, SQL migrations, the
library's own tables, and an earlier implementation's rows made events)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from slotqueue.adapters import legacy_tables
from slotqueue.aggregates.watermark import SLOT_OPENED, Watermark
from slotqueue.application.importer import Imported, import_customers, import_history
from slotqueue.application.queue import SlotQueue
from slotqueue.database import eventsourcing_env
from slotqueue.definitions import Unsafe, adopt
from slotqueue.migrate import (
    ADOPT_ROWS_STEP,
    CUSTOMER_LOCATIONS_STEP,
    MigrationError,
    apply_migrations,
    record_step,
    wait_for_lock,
)
from slotqueue.projections.maintenance import catch_up, replay_table
from slotqueue.projections.messages import DEFAULT_TEXTS, Texts
from slotqueue.projections.queue_projection import QueueTablesProjection, QueueTablesView
from slotqueue.sessions import BoundedPostgresFactory, Timeouts

EVENT_SCHEMA = "slotqueue"
CREATE_LOCK_KEY = 0x51_07_9E_0E  # serialises the library's CREATE TABLE between processes


class NotMigrated(Exception):
    """The database lacks migrations; `slotqueue migrate` applies them."""


def store_env(url: str, *, create_tables: bool = False, pool_size: int = 2,
              timeouts: Timeouts | None = None) -> dict[str, str]:
    """The eventsourcing settings: our own schema, explicit pools and timeouts."""
    return {
        **eventsourcing_env(url),
        "PERSISTENCE_MODULE": f"{BoundedPostgresFactory.__module__}:BoundedPostgresFactory",
        "POSTGRES_SCHEMA": EVENT_SCHEMA,
        "CREATE_TABLE": "y" if create_tables else "n",
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "4",
        # How long a caller waits for a pooled connection: a vanished server fails after this
        # (sessions.BoundedDatastore does not let the library wait ten times).
        "POSTGRES_CONNECT_TIMEOUT": str(timeouts.connect_whole if timeouts else 10),
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_PRE_PING": "n",  # a dead connection fails fast and the library retries
        **(timeouts.env() if timeouts else {}),
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


@dataclass
class Migrated:
    """What `slotqueue migrate` did: SQL migrations applied, definitions brought to the spec,
    rows of an earlier implementation imported."""

    applied: list[str] = field(default_factory=list)
    definitions: list[str] = field(default_factory=list)
    imported: Imported = field(default_factory=Imported)

    def lines(self) -> list[str]:
        out = [f"applied {name}" for name in self.applied]
        out += [f"definition: {line}" for line in self.definitions]
        if self.imported.customers or self.imported.rows or self.imported.notes:
            out += self.imported.lines()
        return out or ["database is up to date"]


def _adopt_definitions(report: Migrated) -> Callable[[psycopg.Connection[Any], list[Any]], None]:
    def prepare(conn: psycopg.Connection[Any], migrations: list[Any]) -> None:
        try:
            report.definitions = [d.line() for d in adopt(conn, migrations)]
        except Unsafe as exc:
            raise MigrationError(
                "the queue tables differ from the spec where changing them could lose or "
                "invent data; nothing was changed:\n" + str(exc)) from None
    return prepare


def _replay_customer_locations(app: SlotQueue, view: QueueTablesView,
                               conn: psycopg.Connection[Any], report: Migrated) -> None:
    """Once: every customer's chosen locations from the events, deleted locations' too (the
    table's migration could copy only what user_location_preferences still held)."""
    done = conn.execute("SELECT 1 FROM slotqueue.schema_migrations WHERE name = %s",
                        (CUSTOMER_LOCATIONS_STEP,)).fetchone()
    if done is None:
        replay_table(app, view, "customer_locations")
        record_step(conn, CUSTOMER_LOCATIONS_STEP)
        report.applied.append(CUSTOMER_LOCATIONS_STEP)


def _import_rows(app: SlotQueue, conn: psycopg.Connection[Any], report: Migrated) -> None:
    """Rows an earlier implementation left become events (idempotent: only what is left)."""
    now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    import_customers(app, legacy_tables.customers(conn), now, report.imported)
    import_history(app, legacy_tables.history(conn), report.imported)
    record_step(conn, ADOPT_ROWS_STEP)


def migrate_database(url: str, texts: Texts = DEFAULT_TEXTS,
                     lock_timeout_ms: int | None = None) -> Migrated:
    """Brings existing queue tables to the spec, applies pending SQL migrations, lets the
    event-store library create its tables, and imports rows no event describes yet. Each step
    is whole or not at all; an interrupted `migrate` run again finishes the work."""
    report = Migrated()
    report.applied = apply_migrations(url, prepare=_adopt_definitions(report),
                                      lock_timeout_ms=lock_timeout_ms)
    with psycopg.connect(url, autocommit=True) as conn:
        wait_for_lock(conn, CREATE_LOCK_KEY, lock_timeout_ms)
        try:
            env = store_env(url, create_tables=True, pool_size=1)
            app, view = SlotQueue(env=env), make_view(env)
            try:
                _start_watermark(app, conn)
                _import_rows(app, conn, report)
                catch_up(app, view, texts=texts)
                _replay_customer_locations(app, view, conn, report)
            finally:
                app.close()
                view.datastore.close()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (CREATE_LOCK_KEY,))
    return report
