"""What the benchmarks (`scripts/bench/`) and the drills (`scripts/drills/`) share: a fresh
database on a server, the `slotqueue` processes they start and their logs, paid customers
built with the product's own aggregates, and polling with a bound.

Imported as `slotqueue.scripts.harness` by scripts run from the repository
(`python scripts/bench/NAME.py`, `python scripts/drills/NAME.py`); what only the benchmarks
need is in `scripts/bench/common.py`, what only the drills need in `scripts/drills/common.py`.
"""
# ruff: noqa: S603 - subprocesses run only this interpreter (`python -m slotqueue`, probes)

from __future__ import annotations

import argparse
import functools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from slotqueue.adapters.presets import load_presets
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.matcher import Selection
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.bootstrap import Service, build, migrate_database
from slotqueue.database import embedded_url, with_dbname
from slotqueue.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
HONOLULU = ZoneInfo("Pacific/Honolulu")
LOCATIONS = ("Dillingham", "Kapolei", "Kaneohe", "Wahiawa", "Waianae")
GRID = [(h, m) for h in range(8, 16) for m in (0, 15, 30, 45)]  # the DMV's slot times
BROAD = Selection(timezone="Pacific/Honolulu", date_horizon_key="soonest",
                  weekday_rule_key="any_weekday", custom_weekdays=(),
                  time_block_keys=("early", "late", "midday", "afternoon"))
SAVE_LIMIT = 100  # aggregates per save: larger saves deadlock over the embedded server's socket
Choice = Callable[[list[UUID]], tuple[Selection, list[UUID]]]


def progress(message: str) -> None:
    """Progress goes to stderr, so stdout carries only figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def database_options(p: argparse.ArgumentParser, what: str) -> None:
    """--server-url and --keep, which every script that makes its own database takes."""
    p.add_argument("--server-url", help=f"server to create the {what}'s database on (default: "
                   "DATABASE_URL's server, else the embedded PostgreSQL under "
                   "SLOTQUEUE_DATA_DIR)")
    p.add_argument("--keep", action="store_true", help=f"keep the {what}'s database afterwards")


# --- databases --------------------------------------------------------------------------------

def server_url(explicit: str | None = None) -> str:
    if explicit:
        return explicit
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    return embedded_url(load_settings().data_dir / "pgdata")


def admin(url: str, statement: sql.Composable) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(statement)


@contextmanager
def fresh_database(prefix: str, server: str | None = None, *, migrate: bool = True,
                   keep: bool = False) -> Iterator[str]:
    """A new database `<prefix>_<hex>` on the server (migrated unless `migrate=False`); the
    processes started meanwhile are killed and it is dropped afterwards (WITH (FORCE): a
    process left behind cannot keep it alive) unless `keep`."""
    server = server_url(server)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin(server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(server, name)
    try:
        if migrate:
            migrate_database(url)
        yield url
    finally:
        ProcessSet.kill_all()  # nothing of ours may still hold a connection
        if keep:
            progress(f"kept database {url}")
        else:
            admin(server, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


@contextmanager
def service(url: str, **settings: Any) -> Iterator[Service]:
    """The composition root on this database, closed afterwards."""
    svc = build(Settings(database_url=url, **settings), url)
    try:
        yield svc
    finally:
        svc.close()


def catch_up(url: str) -> None:
    """Brings the projections to the head of the event store (what every command does)."""
    with service(url) as svc:
        svc.catch_up()


def db_now(conn: psycopg.Connection[Any]) -> datetime:
    return conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]


def honolulu_today(conn: psycopg.Connection[Any]) -> date:
    return db_now(conn).astimezone(HONOLULU).date()


# --- customers --------------------------------------------------------------------------------

def add_locations(conn: psycopg.Connection[Any], count: int) -> list[UUID]:
    names = [*LOCATIONS, *(f"Satellite {n}" for n in range(len(LOCATIONS), count))][:count]
    for name in names:
        conn.execute("INSERT INTO locations (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,))
    rows = conn.execute("SELECT id FROM locations WHERE name = ANY(%s) ORDER BY name", (names,))
    return [row[0] for row in rows]


def _everything(locations: list[UUID]) -> tuple[Selection, list[UUID]]:
    return BROAD, locations


def add_paid_customers(svc: Service, count: int, locations: list[UUID],
                       choose: Choice = _everything, first: int = 0) -> list[UUID]:
    """Paid, active customers made with the product's aggregate commands (the events `join`,
    `select`, `locations`, `require-deposit` and `deposit-paid` record), saved SAVE_LIMIT
    aggregates at a time and projected; ranked in the order made. `choose(locations)` gives
    each one's windows and locations (default: any weekday slot at any of them). Returns
    their queue entry ids."""
    with svc.connect() as conn:
        presets, now = load_presets(conn), db_now(conn)
    pending: list[Any] = []
    entries = []
    for n in range(first, first + count):
        at = now - timedelta(hours=3) + timedelta(milliseconds=n)
        customer = Customer(phone=f"+1808{3000000 + n:07d}", email=None, at=at)
        entry = QueueEntry(customer_id=customer.id, sequence=1, at=at)
        customer.open_entry(entry.id, at)
        selection, places = choose(locations)
        customer.select_windows(selection, presets, at)
        customer.prefer_locations(places, locations, at)
        entry.require_deposit(at, svc.deposit_grace)
        entry.record_payment(f"paid-{n}", at)
        pending += [customer, entry]
        entries.append(entry.id)
        if len(pending) >= SAVE_LIMIT:
            svc.app.save(*pending)
            pending = []
    if pending:
        svc.app.save(*pending)
    svc.catch_up()
    return entries


def add_deposit_deadlines(svc: Service, dues: list[datetime], first: int = 0) -> list[UUID]:
    """Customers whose entries are asked for their deposits (the events `join` and
    `require-deposit` record), the deadline of the n-th falling due at `dues[n]`: one timer
    `deposit_lapse` each. Saved SAVE_LIMIT aggregates at a time, asked at the database's time
    of their batch (a due time already past is due at once). Phones are numbered from
    `first`. Returns the queue entry ids, in the order of `dues`."""
    entries: list[UUID] = []
    with svc.connect() as conn:
        for start in range(0, len(dues), SAVE_LIMIT // 2):
            now, pending = db_now(conn), []
            for n, due in enumerate(dues[start:start + SAVE_LIMIT // 2], start=first + start):
                customer = Customer(phone=f"+1808{5000000 + n:07d}", email=None, at=now)
                entry = QueueEntry(customer_id=customer.id, sequence=1, at=now)
                customer.open_entry(entry.id, now)
                entry.require_deposit(now, due - now)
                pending += [customer, entry]
                entries.append(entry.id)
            svc.app.save(*pending)
    return entries


# --- slotqueue processes ----------------------------------------------------------------------

def cli_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a slotqueue process: this database, JSON logs, none of the caller's
    SLOTQUEUE_* settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SLOTQUEUE_") and k != "DATABASE_URL"}
    return {**env, "DATABASE_URL": url, "CI": "true", "SLOTQUEUE_LOG_FORMAT": "json", **extra}


@functools.cache
def workdir() -> Path:
    """This script's working folder: the processes' logs, and their cwd (so no stray .env is
    read). Made on first use."""
    return Path(tempfile.mkdtemp(prefix=f"slotqueue-{Path(sys.argv[0]).stem}-"))


def slotqueue(url: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600,
              check: bool = False) -> subprocess.CompletedProcess[str]:
    """Runs one `slotqueue` command to completion (killed after `timeout`); with `check`,
    raises if it exits non-zero."""
    done = subprocess.run([sys.executable, "-m", "slotqueue", *args], env=env or cli_env(url),
                          capture_output=True, text=True, timeout=timeout, cwd=workdir(),
                          check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"slotqueue {' '.join(args)} exited {done.returncode}: "
                           f"{done.stderr.strip()[-2000:]}")
    return done


class ProcessSet:
    """The processes a script started; whatever is left is killed before its database goes."""

    live: list[subprocess.Popen[str]] = []

    @classmethod
    def start(cls, argv: list[str], env: dict[str, str], log: Path | None = None
              ) -> subprocess.Popen[str]:
        """Output to `log` (appended), else to pipes the caller reads."""
        if log is None:
            proc = subprocess.Popen(argv, env=env, cwd=workdir(), text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        else:
            with log.open("a") as out:  # the child keeps its own copy of the descriptor
                proc = subprocess.Popen(argv, env=env, cwd=workdir(), text=True,
                                        stdout=out, stderr=out)
        cls.live.append(proc)
        return proc

    @classmethod
    def slotqueue(cls, args: list[str], env: dict[str, str], log: Path | None = None
                  ) -> subprocess.Popen[str]:
        return cls.start([sys.executable, "-m", "slotqueue", *args], env, log)

    @classmethod
    def kill_all(cls) -> None:
        for proc in cls.live:
            if proc.poll() is None:
                with suppress(ProcessLookupError):
                    proc.kill()
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(10)
        cls.live = [p for p in cls.live if p.poll() is None]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 (for a server a script starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[str], timeout: float = 30) -> int:
    """SIGTERM, then SIGKILL after `timeout`; the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def log_events(path: Path, event: str | None = None) -> list[dict[str, Any]]:
    """The JSON objects of a process's log (all, or those of one `event`); other lines and a
    missing log are skipped."""
    text = path.read_text(errors="replace") if path.exists() else ""
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            with suppress(ValueError):
                record = json.loads(line)
                if event is None or record.get("event") == event:
                    found.append(record)
    return found


def wait_until(predicate: Callable[[], bool], seconds: float, every: float = 0.1) -> bool:
    """Polls another process's progress; True as soon as `predicate` holds, False after
    `seconds`."""
    end = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(every)
    return True
