"""Every database session slotqueue opens is bounded in time: connecting, and each statement.

A server that accepts connections and never answers fails a command after
SLOTQUEUE_CONNECT_TIMEOUT_SECONDS; a statement that stalls (a lock held elsewhere, a server
that hangs) after SLOTQUEUE_STATEMENT_TIMEOUT_SECONDS. The connect timeout travels in the
connection string; the statement timeout is set with `SET` once a session is open, because
poolers (PgBouncer, Supavisor) refuse or ignore libpq's `options`. The event store's own pool
gets both through `BoundedPostgresFactory`, which `store_env` names as the persistence module.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg.errors
from eventsourcing.persistence import ApplicationRecorder, DatabaseError, OperationalError
from eventsourcing.postgres import PostgresDatastore, PostgresFactory
from eventsourcing.utils import Environment, EnvType
from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow
from psycopg_pool import PoolTimeout

from slotqueue.database import EXTRA_KEY

CONNECT_KEY = "POSTGRES_SESSION_CONNECT_TIMEOUT"  # whole seconds
STATEMENT_KEY = "POSTGRES_SESSION_STATEMENT_TIMEOUT_MS"


@dataclass(frozen=True)
class Timeouts:
    connect_seconds: float = 5.0
    statement_seconds: float = 30.0

    @classmethod
    def of(cls, settings: Any) -> Timeouts:
        return cls(settings.connect_timeout_seconds, settings.statement_timeout_seconds)

    @property
    def connect_whole(self) -> int:
        """libpq counts whole seconds (and psycopg waits at least 2)."""
        return max(2, math.ceil(self.connect_seconds))

    @property
    def statement_ms(self) -> int:
        return max(1, round(self.statement_seconds * 1000))

    def env(self) -> dict[str, str]:
        """The event store's settings for its pool (read by BoundedPostgresFactory)."""
        return {CONNECT_KEY: str(self.connect_whole), STATEMENT_KEY: str(self.statement_ms)}


def bounded_url(url: str, timeouts: Timeouts) -> str:
    """`url` with the connect timeout (it replaces one the URL may carry)."""
    return make_conninfo(url, connect_timeout=timeouts.connect_whole)


def limit_statements(conn: psycopg.Connection[Any], milliseconds: int) -> None:
    """Sets the session's statement timeout; kept even if the caller's work rolls back."""
    conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{milliseconds}ms",))
    if not conn.autocommit:
        conn.commit()


class GaveUp(DatabaseError):
    """A statement or a wait for a connection ran out of time. Not an OperationalError, so the
    library does not try again: ten more waits would make one timeout ten."""


GAVE_UP = (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable, PoolTimeout)


class BoundedDatastore(PostgresDatastore):
    """The library's datastore; a statement or pool wait that ran out of time is final."""

    @contextmanager
    def get_connection(self) -> Iterator[Connection[DictRow]]:
        try:
            with super().get_connection() as conn:
                yield conn
        except OperationalError as exc:
            if isinstance(exc.__cause__, GAVE_UP):
                raise GaveUp(str(exc)) from exc.__cause__
            raise


class BoundedPostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory, bounded like our own sessions: its pool's connection
    attempts get the connect timeout, each pooled session the statement timeout, and a
    timeout is not retried (BoundedDatastore)."""

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        self.datastore.__class__ = BoundedDatastore  # the factory has no hook for its class
        pool = self.datastore.pool
        if isinstance(pool.kwargs, dict):
            pool.kwargs.update(conninfo_to_dict(self.env.get(EXTRA_KEY) or ""))
        connect = self.env.get(CONNECT_KEY)
        if connect and isinstance(pool.kwargs, dict):
            pool.kwargs["connect_timeout"] = int(connect)
        statement = self.env.get(STATEMENT_KEY)
        if statement:
            # psycopg_pool keeps the library's `configure` callback here; ours runs after it.
            pool._configure = _then_limit(pool._configure, int(statement))

    def application_recorder(self) -> ApplicationRecorder:
        """Opens the pool and waits for its first connection before the recorder asks for
        one: a request made while the pool is still connecting makes it open a second, so
        dozens of processes at once would hold twice the connections they use."""
        pool = self.datastore.pool
        pool.open(wait=True, timeout=pool.timeout)  # POSTGRES_CONNECT_TIMEOUT
        return super().application_recorder()


def _then_limit(configure: Any, milliseconds: int) -> Any:
    def configure_session(conn: psycopg.Connection[Any]) -> None:
        if configure is not None:
            configure(conn)  # the library's: autocommit, idle-in-transaction timeout
        limit_statements(conn, milliseconds)

    return configure_session
