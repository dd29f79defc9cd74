"""What the benchmarks share: a fresh database, percentiles, the machine's description, the
`slotqueue` processes they start, customers built with the product's aggregates, and a
`Figures` printer that puts every figure beside its reference and its goal.

The benchmarks are scripts run from the repository (`python scripts/bench/NAME.py`), not part
of the installed package. Each prints its figures on stdout (`--json`: one JSON object).
"""
# ruff: noqa: S603 - subprocesses run only this interpreter (`python -m slotqueue`, `-c` probes)

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
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

REPO = Path(__file__).resolve().parents[2]
HONOLULU = ZoneInfo("Pacific/Honolulu")
GRID = [f"{h:02d}:{m:02d}:00" for h in range(8, 16) for m in (0, 15, 30, 45)]
BROAD = Selection(timezone="Pacific/Honolulu", date_horizon_key="soonest",
                  weekday_rule_key="any_weekday", custom_weekdays=(),
                  time_block_keys=("early", "late", "midday", "afternoon"))
SAVE_LIMIT = 100  # aggregates per save: larger saves deadlock over the embedded server's socket


# --- command line -----------------------------------------------------------------------------

def parser(doc: str | None, runs: int, quick_runs: int) -> argparse.ArgumentParser:
    """The options every benchmark takes; each adds its own."""
    lines = (doc or "").strip().splitlines()
    p = argparse.ArgumentParser(
        description=lines[0] if lines else None,
        epilog="\n".join(lines[1:]).strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a small, fast variant (smoke test; figures are indicative only)")
    p.add_argument("--runs", type=int, default=None,
                   help=f"repetitions; figures are their medians (default {runs}, "
                        f"{quick_runs} with --quick)")
    p.add_argument("--server-url", help="server to create the benchmark's database on "
                   "(default: DATABASE_URL's server, else the embedded PostgreSQL)")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(default_runs=runs, quick_runs=quick_runs)
    return p


def runs(args: argparse.Namespace) -> int:
    if args.runs is not None:
        return max(1, args.runs)
    return int(args.quick_runs if args.quick else args.default_runs)


def progress(message: str) -> None:
    """Progress goes to stderr, so stdout carries only the figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- databases --------------------------------------------------------------------------------

def server_url(explicit: str | None = None) -> str:
    if explicit:
        return explicit
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    return embedded_url(load_settings().data_dir / "pgdata")


def _admin(url: str, statement: sql.Composable) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(statement)


@contextmanager
def fresh_database(prefix: str, server: str | None = None, *, migrate: bool = True,
                   keep: bool = False) -> Iterator[str]:
    """A new database on the server (migrated unless `migrate=False`), dropped afterwards
    (WITH (FORCE): a process left behind cannot keep it alive)."""
    server = server_url(server)
    name = f"bench_{prefix}_{uuid.uuid4().hex[:10]}"
    _admin(server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(server, name)
    try:
        if migrate:
            migrate_database(url)
        yield url
    finally:
        ProcessSet.kill_all()
        if keep:
            progress(f"kept database {url}")
        else:
            _admin(server, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


@contextmanager
def service(url: str, **settings: Any) -> Iterator[Service]:
    svc = build(Settings(database_url=url, **settings), url)
    try:
        yield svc
    finally:
        svc.close()


def db_now(conn: psycopg.Connection[Any]) -> datetime:
    return conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]


# --- statistics -------------------------------------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); p in 0..100."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = math.floor(k), math.ceil(k)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def spread(values: Sequence[float]) -> tuple[float, float]:
    return (min(values), max(values)) if values else (math.nan, math.nan)


def timed(action: Callable[[], Any]) -> float:
    """Seconds `action()` took (perf_counter)."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def child_cpu() -> float:
    """CPU seconds (user + system) of the waited-for children so far: a cost that, unlike wall
    time, other load on a shared machine barely changes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- the machine ------------------------------------------------------------------------------

def cpu_model() -> str:
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],  # noqa: S607
                            capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "aggregates",  # noqa: S607
                            "processes", "projections", "slotqueue", "migrations"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return {
        "cores": os.cpu_count(), "cpu": cpu_model(), "postgresql": version,
        "server": "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded",
        "python": platform.python_version(),
        "commit": commit + (" + uncommitted product changes" if dirty else ""),
    }


# --- slotqueue processes ----------------------------------------------------------------------

def cli_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a slotqueue process: this database, JSON logs, none of the caller's
    SLOTQUEUE_* settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SLOTQUEUE_") and k != "DATABASE_URL"}
    return {**env, "DATABASE_URL": url, "CI": "true", "SLOTQUEUE_LOG_FORMAT": "json", **extra}


@functools.cache
def workdir() -> Path:
    """The cwd of the processes a benchmark starts (so no stray .env is read), and their logs."""
    return Path(tempfile.mkdtemp(prefix="slotqueue-bench-"))


def slotqueue(url: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600
              ) -> subprocess.CompletedProcess[str]:
    """Runs one `slotqueue` command to completion; raises if it fails."""
    done = subprocess.run([sys.executable, "-m", "slotqueue", *args], env=env or cli_env(url),
                          capture_output=True, text=True, timeout=timeout, cwd=workdir(),
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"slotqueue {' '.join(args)} exited {done.returncode}: "
                           f"{done.stderr.strip()[-2000:]}")
    return done


class ProcessSet:
    """Processes a benchmark started; whatever is left is killed before its database goes."""

    live: list[subprocess.Popen[bytes]] = []

    @classmethod
    def start(cls, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(argv, env=env, cwd=workdir(), stdout=out, stderr=out)
        cls.live.append(proc)
        return proc

    @classmethod
    def slotqueue(cls, args: list[str], env: dict[str, str], log: Path
                  ) -> subprocess.Popen[bytes]:
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


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, then SIGKILL after `timeout`; the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def json_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects in a log file (other lines skipped)."""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            with suppress(ValueError):
                yield json.loads(line)


def wait_until(predicate: Callable[[], bool], seconds: float, every: float = 0.05) -> bool:
    end = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(every)
    return True


# --- customers and openings -------------------------------------------------------------------

def add_locations(conn: psycopg.Connection[Any], count: int) -> list[UUID]:
    names = [f"Bench location {n}" for n in range(1, count + 1)]
    for name in names:
        conn.execute("INSERT INTO locations (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,))
    rows = conn.execute("SELECT id FROM locations WHERE name = ANY(%s) ORDER BY name", (names,))
    return [row[0] for row in rows]


def add_paid_customers(svc: Service, count: int, locations: list[UUID],
                       selection: Selection = BROAD, first: int = 0) -> list[UUID]:
    """Paid, active customers who want any weekday slot at any of `locations`, made with the
    product's aggregate commands (the events `join`, `select`, `locations`, `require-deposit`
    and `deposit-paid` record), saved SAVE_LIMIT aggregates at a time; ranked in the order
    made. Returns their queue entry ids."""
    with svc.connect() as conn:
        presets, now = load_presets(conn), db_now(conn)
    pending: list[Any] = []
    entries = []
    for n in range(first, first + count):
        at = now - timedelta(hours=3) + timedelta(milliseconds=n)
        customer = Customer(phone=f"+1808{3000000 + n:07d}", email=None, at=at)
        entry = QueueEntry(customer_id=customer.id, sequence=1, at=at)
        customer.open_entry(entry.id, at)
        customer.select_windows(selection, presets, at)
        customer.prefer_locations(locations, locations, at)
        entry.require_deposit(at, svc.deposit_grace)
        entry.record_payment(f"bench-pay-{n}", at)
        pending += [customer, entry]
        entries.append(entry.id)
        if len(pending) >= SAVE_LIMIT:
            svc.app.save(*pending)
            pending = []
    if pending:
        svc.app.save(*pending)
    svc.catch_up()
    return entries


@dataclass
class Weekdays:
    """Distinct weekday slots (location, date, HH:MM:SS on the DMV's grid) from tomorrow on,
    each one a BROAD customer matches."""

    locations: list[UUID]
    today: date
    used: set[tuple[UUID, date, str]] = field(default_factory=set)
    _cursor: int = 0

    def next(self) -> tuple[UUID, date, str]:
        while True:
            n = self._cursor
            self._cursor += 1
            place = self.locations[n % len(self.locations)]
            slot = (n // len(self.locations))
            day = self.today + timedelta(days=1 + slot // len(GRID))
            if day.isoweekday() >= 6:
                continue
            key = (place, day, GRID[slot % len(GRID)])
            if key not in self.used:
                self.used.add(key)
                return key


def insert_opened(conn: psycopg.Connection[Any], place: UUID, day: date, time_text: str
                  ) -> datetime:
    """One slot_states row as the monitor writes a new opening (autocommit); its first_seen."""
    row = conn.execute(
        "INSERT INTO slot_states (location_id, date, time, first_seen, last_seen) "
        "VALUES (%s, %s, %s, now(), now()) RETURNING first_seen", (place, day, time_text))
    return row.fetchone()[0]  # type: ignore[index]


# --- output -----------------------------------------------------------------------------------

@dataclass
class Figure:
    name: str
    value: float
    unit: str
    low: float | None = None  # the range over the runs, when there were several
    high: float | None = None
    reference: str | None = None
    goal: float | None = None  # the figure must be ≤ goal (≥ goal when at_least)
    note: str | None = None
    at_least: bool = False

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        return self.value >= self.goal if self.at_least else self.value <= self.goal


def _fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if abs(value) >= 1 else 3
    return f"{value:.{digits}f} {unit}".strip()


@dataclass
class Figures:
    """Collects figures with their references and goals, and prints them as one block."""

    title: str
    command: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    rows: list[Figure] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def add(self, name: str, values: float | Sequence[float], unit: str, *,
            reference: str | None = None, goal: float | None = None,
            note: str | None = None, at_least: bool = False) -> Figure:
        """A figure: one value, or the median of several runs (their range is shown too).
        Its goal is an upper bound, or a lower bound with `at_least` (throughputs)."""
        many = list(values) if isinstance(values, Sequence) else [values]
        low, high = spread(many) if len(many) > 1 else (None, None)
        row = Figure(name, median(many), unit, low, high, reference, goal, note, at_least)
        self.rows.append(row)
        return row

    def as_dict(self) -> dict[str, Any]:
        return {"benchmark": self.title, "command": self.command, **self.info,
                "wall_seconds": round(time.monotonic() - self.started, 1),
                "figures": [{**vars(r), "met": r.met} for r in self.rows]}

    def print(self, as_json: bool = False) -> None:
        if as_json:
            print(json.dumps(self.as_dict(), default=str))
            return
        print(f"== {self.title}")
        if self.command:
            print(f"   command: {self.command}")
        for key, value in self.info.items():
            print(f"   {key}: {value}")
        width = max((len(r.name) for r in self.rows), default=10)
        for r in self.rows:
            text = f"   {r.name:<{width}}  {_fmt(r.value, r.unit):>11}"
            if r.low is not None:
                text += f"  [{_fmt(r.low, '')} .. {_fmt(r.high, r.unit)}]"
            if r.reference:
                text += f"  | reference: {r.reference}"
            if r.goal is not None:
                bound = "≥" if r.at_least else "≤"
                text += f"  | goal {bound} {_fmt(r.goal, r.unit)}: {'met' if r.met else 'MISSED'}"
            if r.note:
                text += f"  ({r.note})"
            print(text)
        print(f"   wall time: {time.monotonic() - self.started:.0f} s")
