"""Applies the SQL files of `slotqueue.migrations` in name order, each once and whole, recorded
in a table; and records the steps of `slotqueue migrate` that are not SQL (importing an earlier
implementation's rows), so every other command can tell a database that is not migrated yet.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import psycopg
import psycopg.errors
from psycopg import sql

from slotqueue.database import connect

NAME_PATTERN = re.compile(r"^\d{14}_[a-z0-9_]+\.sql$")
# One fixed key for every slotqueue process on a server: b"slotqueu" read as a big-endian int.
LOCK_KEY = 8317145157756872053

BOOKKEEPING_SQL = """
create schema if not exists slotqueue;
revoke all on schema slotqueue from public;
create table if not exists slotqueue.schema_migrations (
  name text primary key,
  checksum text not null,
  applied_at timestamptz not null default now()
);
"""


# Steps of `slotqueue migrate` written in Python; recorded like SQL migrations, once done.
ADOPT_ROWS_STEP = "20261129000003_adopt_existing_rows"
# slotqueue.customer_locations (its migration, ..._071) rewritten from the events: exact where
# the migration's backfill from user_location_preferences lacks deleted locations' choices.
CUSTOMER_LOCATIONS_STEP = "20261129000072_customer_locations_replayed"
STEPS = (ADOPT_ROWS_STEP, CUSTOMER_LOCATIONS_STEP)
STEP_CHECKSUM = "python-step"
MONITOR_TABLES = ("locations", "slot_states")
CREATED_MARK = "slotqueue: created for standalone use; the monitor owns this table in production"


class MigrationError(Exception):
    """A migration file is misnamed, was edited after it was applied, or failed to apply."""


@dataclass(frozen=True)
class Migration:
    name: str
    sql: bytes

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql).hexdigest()


def load_migrations(source: Traversable | Path | None = None) -> list[Migration]:
    """The migration files of `source` (the installed package by default), in name order."""
    folder = source if source is not None else files("slotqueue.migrations")
    found = [entry for entry in folder.iterdir() if entry.name.endswith(".sql")]
    for entry in found:
        if not NAME_PATTERN.match(entry.name):
            raise MigrationError(f"{entry.name}: not named like YYYYMMDDHHMMSS_name.sql")
    return [Migration(e.name, e.read_bytes()) for e in sorted(found, key=lambda e: e.name)]


Prepare = Callable[[psycopg.Connection[Any], list[Migration]], None]


def wait_for_lock(conn: psycopg.Connection[Any], key: int, lock_timeout_ms: int | None) -> None:
    """Takes a session advisory lock, waiting at most `lock_timeout_ms` (then for every lock
    this session takes): a migrate behind one that hangs fails with a clear line."""
    if lock_timeout_ms is not None:
        conn.execute("select set_config('lock_timeout', %s, false)", (f"{lock_timeout_ms}ms",))
    try:
        conn.execute("select pg_advisory_lock(%s)", (key,))
    except psycopg.errors.LockNotAvailable:
        raise MigrationError(
            f"another `slotqueue migrate` has held the database for over {lock_timeout_ms} ms;"
            " run it again when that one has finished") from None


def apply_migrations(url: str, source: Traversable | Path | None = None,
                     prepare: Prepare | None = None,
                     lock_timeout_ms: int | None = None) -> list[str]:
    """Applies the migrations not yet recorded; returns the names applied by this call.
    `prepare` runs first, under the same lock (bringing existing tables to the spec)."""
    migrations = load_migrations(source)
    with connect(url, autocommit=True) as conn:
        # Session-level lock: a second process waits here, then finds nothing left to apply.
        wait_for_lock(conn, LOCK_KEY, lock_timeout_ms)
        try:
            conn.execute(BOOKKEEPING_SQL)
            applied = _applied_checksums(conn)
            _refuse_edited(migrations, applied)
            if prepare is not None:
                prepare(conn, migrations)
            pending = [m for m in migrations if m.name not in applied]
            for migration in pending:
                _apply_one(conn, migration)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))
    return [m.name for m in pending]


def record_step(conn: psycopg.Connection[Any], name: str) -> None:
    """Records a step of `slotqueue migrate` that is not an SQL file as done."""
    conn.execute("insert into slotqueue.schema_migrations (name, checksum) values (%s, %s) "
                 "on conflict (name) do nothing", (name, STEP_CHECKSUM))


def pending_migrations(url: str, source: Traversable | Path | None = None) -> list[str]:
    """Names of the migrations not yet applied to this database ([] when it is up to date):
    the SQL files of `source` (the package's by default) and, for the package's, the steps of
    `slotqueue migrate` that are not SQL."""
    names = [m.name for m in load_migrations(source)] + (list(STEPS) if source is None else [])
    with connect(url, autocommit=True) as conn:
        if conn.execute("select to_regclass('slotqueue.schema_migrations')").fetchone() == (None,):
            return names
        applied = _applied_checksums(conn)
    return [name for name in names if name not in applied]


def _applied_checksums(conn: psycopg.Connection) -> dict[str, str]:
    rows = conn.execute("select name, checksum from slotqueue.schema_migrations").fetchall()
    return dict(rows)


def _refuse_edited(migrations: list[Migration], applied: dict[str, str]) -> None:
    for migration in migrations:
        recorded = applied.get(migration.name)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"{migration.name} was changed after it was applied: recorded checksum "
                f"{recorded}, file checksum {migration.checksum}; add a new migration instead"
            )


def _missing_monitor_tables(conn: psycopg.Connection) -> list[str]:
    return [t for t in MONITOR_TABLES
            if conn.execute("select to_regclass(%s)", (f"public.{t}",)).fetchone() == (None,)]


def _apply_one(conn: psycopg.Connection, migration: Migration) -> None:
    try:
        with conn.transaction():
            missing = _missing_monitor_tables(conn)
            conn.execute(migration.sql)
            for table in set(missing) - set(_missing_monitor_tables(conn)):
                # this migration created one of the monitor's tables (standalone use): say so,
                # so later migrations may secure it without touching a real monitor's table
                conn.execute(sql.SQL("comment on table public.{} is {}").format(
                    sql.Identifier(table), sql.Literal(CREATED_MARK)))
            conn.execute(
                "insert into slotqueue.schema_migrations (name, checksum) values (%s, %s)",
                (migration.name, migration.checksum),
            )
    except psycopg.Error as exc:
        raise MigrationError(f"{migration.name} failed: {exc}") from exc
