"""How a command fails: one line on stderr naming the problem and exit 1, never a traceback.

Refusals (domain errors, settings, migrations) name the bad value themselves; a database error
becomes one line saying what happened (unreachable, too slow, a refused write …) with the
server's own words; anything else is a bug: one line on stderr, and its traceback as one JSON
line in the log file (`SLOTQUEUE_DATA_DIR/slotqueue.log`). Passwords are masked throughout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import platformdirs
import psycopg
import psycopg.errors
from eventsourcing.persistence import PersistenceError
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from slotqueue.aggregates.errors import DomainError, InvalidInput
from slotqueue.database import EmbeddedServerError
from slotqueue.logs import JsonFormatter
from slotqueue.migrate import MigrationError
from slotqueue.redact import redact
from slotqueue.settings import ConfigError
from slotqueue.store import NotMigrated


class Behind(Exception):
    """The command is recorded, but the projected tables could not catch up with it."""


REFUSALS = (DomainError, ConfigError, NotMigrated, MigrationError, EmbeddedServerError, Behind)
FLAGS = {"--json", "--once", "--help"}  # options that take no value
STATEMENT_HINT = " (SLOTQUEUE_STATEMENT_TIMEOUT_SECONDS)"
# What happened, by the error's class; the first match wins.
DATABASE_ERRORS: tuple[tuple[type[Exception], str, str], ...] = (
    (PoolTimeout, "the database gave no connection in time (it went away, or is full)",
     " (SLOTQUEUE_CONNECT_TIMEOUT_SECONDS)"),
    (psycopg.errors.ConnectionTimeout, "the database{at} did not answer in time",
     " (SLOTQUEUE_CONNECT_TIMEOUT_SECONDS)"),
    (psycopg.errors.LockNotAvailable, "the database is busy: a lock held elsewhere", ""),
    (psycopg.errors.QueryCanceled, "the database did not finish in time", STATEMENT_HINT),
    (psycopg.errors.IdleInTransactionSessionTimeout, "the database ended a transaction", ""),
    (psycopg.errors.TooManyConnections, "the database is full", ""),
    (psycopg.OperationalError, "the database is unavailable", ""),
    (psycopg.IntegrityError, "the database refused the change", ""),
    (psycopg.DataError, "the database refused a value", ""),
    (psycopg.Error, "database error", ""),
)


def catch_up_after(svc: Any) -> None:
    """Brings the projections up to the command just recorded; says so when they cannot."""
    try:
        svc.catch_up()
    except Exception as exc:
        raise Behind("recorded in the event store, but the queue tables could not catch up: "
                     + describe(exc)) from exc


def one_line(text: str) -> str:
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def describe(exc: BaseException) -> str:
    """What went wrong, for the operator: one line (a settings error: one per bad value)."""
    if isinstance(exc, REFUSALS):
        return redact(str(exc))
    found = _database_error(exc)
    if found is not None:
        return redact(_database_line(found))
    if isinstance(exc, PersistenceError):
        return redact(f"database error: {one_line(str(exc))}")
    if isinstance(exc, UnicodeError):
        return f"text is not valid UTF-8 ({one_line(str(exc))})"
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return redact(f"{exc.strerror}{where}")
    return _internal(exc)


def _database_error(exc: BaseException) -> psycopg.Error | None:
    """The psycopg error behind `exc` (the event store library wraps them in its own)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, psycopg.Error):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _database_line(error: psycopg.Error) -> str:
    what, hint = next((w, h) for kind, w, h in DATABASE_ERRORS if isinstance(error, kind))
    diag = error.diag
    said = diag.message_primary or str(error)
    if hint == STATEMENT_HINT and "statement timeout" not in said:
        hint = ""  # canceled by an operator, not by our timeout
    detail = f" ({one_line(diag.message_detail)})" if diag.message_detail else ""
    what = what.replace("{at}", _server())
    return f"{what}: {one_line(said)}{detail}{hint}"


def _server() -> str:
    """` at host:port` of DATABASE_URL ("" for the embedded server or an unreadable URL)."""
    try:
        parts = conninfo_to_dict(os.environ.get("DATABASE_URL") or "")
    except psycopg.Error:
        return ""
    host = parts.get("host") or parts.get("hostaddr")
    return f" at {host}:{parts.get('port') or 5432}" if host else ""


def _internal(exc: BaseException) -> str:
    summary = one_line(f"{type(exc).__name__}: {exc}")[:300]
    record = logging.LogRecord("slotqueue.failure", logging.ERROR, __file__, 0,
                               "internal error", None, (type(exc), exc, exc.__traceback__))
    try:
        path = LogFile().write(record)
    except OSError as problem:
        return redact(f"internal error ({summary}); its details could not be logged: "
                      f"{problem.strerror or problem}")
    return redact(f"internal error ({summary}); details in {path}")


def check_arguments(args: list[str]) -> None:
    """Refuses an argument that is not valid UTF-8 text (the shell passed bytes that are
    not), before any command reads it."""
    for n, arg in enumerate(args):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            before = args[n - 1] if n else ""
            named = before if before.startswith("--") and before not in FLAGS else "argument"
            if arg.startswith("--") and "=" in arg:
                named, value = arg.split("=", 1)
                raise InvalidInput(f"{named} {value!r}: not valid UTF-8 text") from None
            raise InvalidInput(f"{named} {arg!r}: not valid UTF-8 text") from None


def log_file() -> Path:
    """SLOTQUEUE_DATA_DIR/slotqueue.log, or the temporary folder when that is not writable."""
    folder = Path(os.environ.get("SLOTQUEUE_DATA_DIR") or platformdirs.user_data_dir("slotqueue"))
    try:
        folder.expanduser().mkdir(parents=True, exist_ok=True)
        if os.access(folder.expanduser(), os.W_OK):
            return folder.expanduser() / "slotqueue.log"
    except (OSError, ValueError):
        pass
    return Path(tempfile.gettempdir()) / f"slotqueue-{os.getuid()}.log"


class _RedactingJson(JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class LogFile(logging.Handler):
    """Appends records to the log file, one JSON line each. A one-shot command's library
    warnings (a pool that cannot reconnect, say) go there, so its stderr carries only the one
    line of its outcome; a log that cannot be written is skipped."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(_RedactingJson())

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a log that cannot be written fails nothing
            self.write(record)

    def write(self, record: logging.LogRecord) -> Path:
        path = log_file()
        with path.open("a", encoding="utf-8", errors="backslashreplace") as out:
            out.write(self.format(record) + "\n")
        return path


def keep_logs_off_stderr() -> None:
    """Until a command configures logs of its own (`run`, `demo`, `dispatch`)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(LogFile())
