"""What the drills share: a fresh database, the customers and openings they work on, the
`slotqueue` processes they start, the invariants they check, and PASS/FAIL reporting.

The drills are scripts run from the repository (`python scripts/drills/NAME.py`), not part of
the installed package; they import slotqueue only to create and inspect databases.
"""
# ruff: noqa: S311, S603 - seeded randomness makes a drill repeatable; subprocesses run only `python -m slotqueue`

from __future__ import annotations

import argparse
import functools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from slotqueue.adapters.presets import load_presets
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.matcher import Selection
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.bootstrap import build, migrate_database
from slotqueue.database import embedded_url, with_dbname
from slotqueue.settings import Settings, load_settings

HONOLULU = ZoneInfo("Pacific/Honolulu")
LOCATIONS = ("Dillingham", "Kapolei", "Kaneohe", "Wahiawa", "Waianae")
HORIZONS = ("soonest", "w4", "w8", "w12")
BLOCKS = ("early", "late", "midday", "afternoon")
GRID = [(h, m) for h in range(8, 16) for m in (0, 15, 30, 45)]
FINAL_OUTCOMES = {"booked", "booked_conflict", "attempt_failed", "no_eligible_customer",
                  "weekend", "skipped", "gone", "listed_before_watch"}
TOPIC = "slotqueue.aggregates.{}"


class DrillFailed(Exception):
    """An invariant did not hold; the message says which. The figures go with it."""

    def __init__(self, message: str, figures: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.figures = figures or {}


# --- command line and time bounds -------------------------------------------------------------

def parser(doc: str | None, timeout: float, databases: bool = True, seeded: bool = True
           ) -> argparse.ArgumentParser:
    """The options every drill takes; each drill adds its own."""
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0],
                                epilog="Prints figures, then PASS or FAIL; exit 0 on PASS, 1 on "
                                       "FAIL. Loopback/unix-socket PostgreSQL only.")
    if databases:
        p.add_argument("--server-url", help="server to create the drill's database on (default: "
                       "DATABASE_URL's server, else the embedded PostgreSQL under "
                       "SLOTQUEUE_DATA_DIR)")
        p.add_argument("--database-url", help="use this empty database instead of creating one "
                       "(migrated if needed, never dropped)")
        p.add_argument("--keep", action="store_true", help="keep the drill's database afterwards")
    if seeded:
        p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--keep-logs", action="store_true",
                   help="keep the working folder with the processes' logs even on PASS")
    p.add_argument("--timeout", type=float, default=timeout,
                   help=f"hard bound on the whole drill in seconds (default {timeout:g})")
    return p


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.start = time.monotonic()
        self.end = self.start + seconds

    def left(self) -> float:
        return max(self.end - time.monotonic(), 0.0)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def check(self, what: str) -> None:
        if time.monotonic() > self.end:
            raise DrillFailed(f"timed out ({what})")


def wait_until(predicate: Callable[[], bool], seconds: float, every: float = 0.1) -> bool:
    """Polls another process's progress; True as soon as `predicate` holds."""
    end = time.monotonic() + seconds
    while True:
        if predicate():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(every)


def _alarm(signum: int, frame: Any) -> None:
    raise TimeoutError("hard --timeout reached")


def main(run: Callable[[argparse.Namespace, Deadline], dict[str, Any]],
         args: argparse.Namespace) -> int:
    """Runs a drill under its hard time bound: figures, then PASS or FAIL; the exit code."""
    deadline = Deadline(args.timeout)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(args.timeout) + 30)  # a stuck wait cannot outlive the bound by much
    figures: dict[str, Any] = {}
    verdict: str | None = None
    try:
        figures = run(args, deadline)
    except DrillFailed as exc:
        verdict, figures = str(exc), exc.figures
    except (TimeoutError, Exception) as exc:  # any crash of the drill itself is a FAIL too
        verdict = f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
        ProcessSet.kill_all()
    figures.setdefault("wall_seconds", round(deadline.elapsed(), 1))
    for key, value in figures.items():
        print(f"  {key}: {value}")
    used = workdir.cache_info().currsize > 0
    if used and (verdict is not None or args.keep_logs):
        print(f"  logs: {workdir()}")
    elif used:
        shutil.rmtree(workdir(), ignore_errors=True)
    print("PASS" if verdict is None else f"FAIL: {verdict}")
    return 0 if verdict is None else 1


# --- databases --------------------------------------------------------------------------------

def server_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    return embedded_url(load_settings().data_dir / "pgdata")


LOOPBACK = {"", "localhost", "127.0.0.1", "::1"}


def loopback_only(url: str) -> str:
    """Refuses a server that is not on this machine: drills create, load and drop databases
    and must never reach a shared or production server."""
    parts = conninfo_to_dict(url)
    hosts = [h.strip() for key in ("host", "hostaddr")
             for h in str(parts.get(key) or "").split(",")]
    far = [h for h in hosts if h not in LOOPBACK and not h.startswith("/")]
    if far:
        raise DrillFailed(f"refusing to drill on {', '.join(far)}: loopback or unix socket only")
    return url


def _admin(url: str, statement: sql.Composable) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(statement)


@contextmanager
def drill_database(args: argparse.Namespace, prefix: str) -> Iterator[str]:
    """A migrated database for the drill: `--database-url`, or a new one on the server."""
    if args.database_url:
        migrate_database(loopback_only(args.database_url))
        yield args.database_url
        return
    server = loopback_only(server_url(args.server_url))
    name = f"drill_{prefix}_{uuid.uuid4().hex[:10]}"
    _admin(server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_dbname(server, name)
    try:
        migrate_database(url)
        yield url
    finally:
        if args.keep:
            print(f"  kept database: {url}")
        else:
            ProcessSet.kill_all()  # nothing of ours may still hold a connection
            _admin(server, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def db_now(conn: psycopg.Connection[Any]) -> datetime:
    return conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]


def catch_up(url: str) -> None:
    """Brings the projections to the head of the event store (what every command does)."""
    svc = build(Settings(database_url=url), url)
    try:
        svc.catch_up()
    finally:
        svc.close()


# --- customers and openings -------------------------------------------------------------------

def add_locations(conn: psycopg.Connection[Any], count: int) -> list[UUID]:
    names = [*LOCATIONS, *(f"Satellite {n}" for n in range(len(LOCATIONS), count))][:count]
    for name in names:
        conn.execute("INSERT INTO locations (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,))
    rows = conn.execute("SELECT id FROM locations WHERE name = ANY(%s) ORDER BY name", (names,))
    return [row[0] for row in rows]


def add_paid_customers(url: str, count: int, locations: list[UUID], rng: random.Random,
                       batch: int = 100) -> None:
    """Customers who joined, chose windows and locations, and paid their deposit, saved with
    the product's aggregates (the same events the commands record) in batches. At most
    10,000 (one phone number each)."""
    svc = build(Settings(database_url=url), url)
    try:
        with psycopg.connect(url) as conn:
            presets, now = load_presets(conn), db_now(conn)
        pending: list[Any] = []
        for n in range(count):
            at = now - timedelta(hours=3) + timedelta(milliseconds=10 * n)  # rank = n + 1
            customer = Customer(phone=f"+1808555{n:04d}", email=None, at=at)
            entry = QueueEntry(customer_id=customer.id, sequence=1, at=at)
            customer.open_entry(entry.id, at)
            customer.select_windows(_random_selection(rng), presets, at)
            customer.prefer_locations(rng.sample(locations, rng.randint(1, 2)), locations, at)
            entry.require_deposit(at, svc.deposit_grace)
            entry.record_payment(f"drill-pay-{n}", at)
            pending += [customer, entry]
            if len(pending) >= 2 * batch:
                svc.app.save(*pending)
                pending = []
        if pending:
            svc.app.save(*pending)
        svc.catch_up()
    finally:
        svc.close()


def _random_selection(rng: random.Random) -> Selection:
    custom = rng.random() < 0.25
    days = tuple(sorted(rng.sample(range(1, 6), rng.randint(2, 4)))) if custom else ()
    return Selection(timezone="Pacific/Honolulu", date_horizon_key=rng.choice(HORIZONS),
                     weekday_rule_key="custom_weekdays" if custom else "any_weekday",
                     custom_weekdays=days,
                     time_block_keys=tuple(rng.sample(BLOCKS, rng.randint(1, 2))))


@dataclass
class Openings:
    """Distinct slot_states rows, written the way the monitor writes them (the time in any of
    the formats it may use), on weekdays and weekends up to 45 days ahead."""

    locations: list[UUID]
    today: date
    rng: random.Random
    used: set[tuple[UUID, date, int, int]] = field(default_factory=set)

    def _next(self) -> tuple[UUID, date, str]:
        while True:
            place = self.rng.choice(self.locations)
            day = self.today + timedelta(days=self.rng.randint(1, 45))
            hour, minute = self.rng.choice(GRID)
            if (place, day, hour, minute) not in self.used:
                self.used.add((place, day, hour, minute))
                text = self.rng.choice((f"{hour:02d}:{minute:02d}:00", f"{hour:02d}:{minute:02d}",
                                        f"{hour}:{minute:02d}"))
                return place, day, text

    def insert(self, conn: psycopg.Connection[Any], count: int) -> int:
        rows = [self._next() for _ in range(count)]
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO slot_states (location_id, date, time, first_seen, last_seen) "
                "VALUES (%s, %s, %s, now(), now())", rows)
        return len(rows)


class Feeder:
    """A stand-in for the monitor, in a thread: a few new openings every `every` seconds and
    `last_seen` refreshed on every scrape. It rides out a server restart (reconnects)."""

    REFRESH = ("UPDATE slot_states SET last_seen = now() "
               "WHERE last_seen > now() - interval '2 minutes'")

    def __init__(self, url: str, openings: Openings, every: float, seed: int) -> None:
        self.url, self.openings, self.every = url, openings, every
        self.rng = random.Random(seed)
        self.inserted = self.failed_scrapes = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="feeder", daemon=True)

    def __enter__(self) -> Feeder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)

    def _loop(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while not self.stop.wait(self.every):
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.url, autocommit=True, connect_timeout=3)
                self.inserted += self.openings.insert(conn, self.rng.randint(1, 3))
                conn.execute(self.REFRESH)
            except psycopg.Error:
                self.failed_scrapes += 1  # the server is away: try again next scrape
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()


def honolulu_today(conn: psycopg.Connection[Any]) -> date:
    return db_now(conn).astimezone(HONOLULU).date()


# --- slotqueue processes ----------------------------------------------------------------------

def cli_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a slotqueue process: this database, JSON logs, nothing inherited
    from the caller's SLOTQUEUE_* settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SLOTQUEUE_") and k != "DATABASE_URL"}
    return {**env, "DATABASE_URL": url, "CI": "true", "SLOTQUEUE_LOG_FORMAT": "json", **extra}


@functools.cache
def workdir() -> Path:
    """The drill's working folder (logs; the cwd of its processes, so no stray .env is read)."""
    return Path(tempfile.mkdtemp(prefix="slotqueue-drill-"))


def slotqueue(url: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120
              ) -> subprocess.CompletedProcess[str]:
    """Runs one `slotqueue` command to completion (killed after `timeout`)."""
    return subprocess.run([sys.executable, "-m", "slotqueue", *args], env=env or cli_env(url),
                          capture_output=True, text=True, timeout=timeout, cwd=workdir(),
                          check=False)


class ProcessSet:
    """The slotqueue processes a drill started; whatever is left is killed at the end."""

    live: list[subprocess.Popen[str]] = []

    @classmethod
    def start(cls, args: list[str], env: dict[str, str], log: Path | None = None
              ) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "slotqueue", *args]
        if log is None:
            proc = subprocess.Popen(command, env=env, cwd=workdir(), text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        else:
            with log.open("a") as out:  # the child keeps its own copy of the descriptor
                proc = subprocess.Popen(command, env=env, cwd=workdir(), text=True,
                                        stdout=out, stderr=out)
        cls.live.append(proc)
        return proc

    @classmethod
    def kill_all(cls) -> None:
        for proc in cls.live:
            if proc.poll() is None:
                with suppress(ProcessLookupError):
                    proc.kill()
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(10)
        cls.live = [p for p in cls.live if p.poll() is None]


def verify(url: str) -> str | None:
    """`slotqueue projections verify` after a catch-up; None when it passes."""
    catch_up(url)
    done = slotqueue(url, "projections", "verify")
    if done.returncode == 0:
        return None
    return f"projections verify exit {done.returncode}: {done.stderr.strip()[-1500:]}"


# --- invariants -------------------------------------------------------------------------------

def _one(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    return conn.execute(query, params).fetchone()[0]  # type: ignore[index]


def _topic(name: str) -> str:
    return TOPIC.format(name)


OPENED = _topic("opened_slot:OpenedSlot.SlotOpened")
UNSETTLED_SQL = f"""
SELECT o.originator_id FROM slotqueue.queue_events o
WHERE o.topic = '{OPENED}'
  AND coalesce(convert_from(o.state, 'UTF8')::jsonb->>'baseline', 'false') <> 'true'
  AND NOT EXISTS (
  SELECT 1 FROM slotqueue.queue_events d WHERE d.originator_id = o.originator_id AND (
    d.topic = '{_topic("opened_slot:OpenedSlot.AttemptFinished")}' OR
    (d.topic = '{_topic("opened_slot:OpenedSlot.Closed")}'
     AND convert_from(d.state, 'UTF8')::jsonb->>'undecided' = 'true') OR
    (d.topic = '{_topic("opened_slot:OpenedSlot.Decided")}'
     AND convert_from(d.state, 'UTF8')::jsonb->>'outcome' <> 'attempting')))
"""


def opened_ids(conn: psycopg.Connection[Any]) -> set[UUID]:
    """Every slot with a SlotOpened event (from the event store, not a projection)."""
    rows = conn.execute("SELECT originator_id FROM slotqueue.queue_events WHERE topic = %s",
                        (OPENED,))
    return {row[0] for row in rows}


def unsettled_ids(conn: psycopg.Connection[Any]) -> set[UUID]:
    """Slots opened without an outcome yet, from the event store."""
    return {row[0] for row in conn.execute(UNSETTLED_SQL)}


def _per_event(topic: str, *keys: str) -> str:
    fields = ", ".join(f"convert_from(state, 'UTF8')::jsonb->>'{key}'" for key in keys)
    return (f"SELECT {fields}, count(*) "
            f"FROM slotqueue.queue_events WHERE topic = '{_topic(topic)}' "
            f"GROUP BY {', '.join(str(n + 1) for n in range(len(keys)))} HAVING count(*) > 1")


def _per_originator(topic: str) -> str:
    return (f"SELECT originator_id, count(*) FROM slotqueue.queue_events "
            f"WHERE topic = '{_topic(topic)}' GROUP BY 1 HAVING count(*) > 1")


DUPLICATE_CHECKS = (
    ("slots opened twice (same slot key and opening)",
     _per_event("opened_slot:OpenedSlot.SlotOpened", "slot_key", "opening")),
    ("slots attempted twice (decisions for a winner)",
     "SELECT originator_id, count(*) FROM slotqueue.queue_events "
     f"WHERE topic = '{_topic('opened_slot:OpenedSlot.Decided')}' "
     "AND convert_from(state, 'UTF8')::jsonb->>'attempt_id' IS NOT NULL "
     "GROUP BY 1 HAVING count(*) > 1"),
    ("slots attempted twice (booking_attempts rows)",
     "SELECT location_id, slot_date, slot_time, count(*) FROM booking_attempts "
     "GROUP BY 1, 2, 3 HAVING count(*) > 1"),
    ("customers booked twice (Booked events)",
     _per_event("queue_entry:QueueEntry.Booked", "customer_id")),
    ("customers booked twice (successful attempts)",
     "SELECT customer_id, count(*) FROM booking_attempts WHERE result = 'success' "
     "GROUP BY 1 HAVING count(*) > 1"),
    ("deposits asked twice", _per_originator("queue_entry:QueueEntry.DepositRequired")),
    ("customers nudged twice on one day",
     "SELECT originator_id, convert_from(state, 'UTF8')::jsonb->>'day', count(*) "
     f"FROM slotqueue.queue_events WHERE topic = '{_topic('customer:Customer.OpportunityPassed')}' "
     "GROUP BY 1, 2 HAVING count(*) > 1"),
    ("messages with a duplicate dedupe key",
     "SELECT dedupe_key, count(*) FROM message_log GROUP BY 1 HAVING count(*) > 1"),
)


def duplicates(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Anything recorded twice that must happen once (openings, attempts, bookings, deposit
    requests, nudges, messages): {what: the duplicated keys}, only what was found."""
    found = {}
    for label, query in DUPLICATE_CHECKS:
        rows = conn.execute(query).fetchall()  # type: ignore[call-overload]
        if rows:
            found[label] = rows
    return found


def _message_counts(conn: psycopg.Connection[Any]) -> list[str]:
    """One message row per fact that sends one, no more and no fewer."""
    pairs = (("booked", "queue_entry:QueueEntry.Booked"),
             ("opportunity_passed", "customer:Customer.OpportunityPassed"))
    found = []
    for kind, topic in pairs:
        rows = _one(conn, "SELECT count(*) FROM message_log WHERE message_type = %s", kind)
        events = _one(conn, "SELECT count(*) FROM slotqueue.queue_events WHERE topic = %s",
                      _topic(topic))
        if rows != events:
            found.append(f"{kind} messages: {rows} rows for {events} events")
    booked = _one(conn, "SELECT count(*) FROM queue_entries WHERE status = 'booked'")
    wins = _one(conn, "SELECT count(*) FROM booking_attempts WHERE result = 'success'")
    if booked != wins:
        found.append(f"{booked} booked entries but {wins} successful attempts")
    return found


def outcome_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    rows = conn.execute("SELECT coalesce(outcome, 'none'), count(*) FROM slotqueue.opened_slots "
                        "GROUP BY 1 ORDER BY 1")
    return dict(rows.fetchall())


def check_world(url: str, expect_opened: int | None = None) -> tuple[dict[str, Any], list[str]]:
    """Figures and broken invariants after the drill: every opening recorded once with an
    outcome, nothing duplicated, tables equal to a replay of the events."""
    catch_up(url)
    problems: list[str] = []
    with psycopg.connect(url) as conn:
        opened, unsettled = opened_ids(conn), unsettled_ids(conn)
        rows = _one(conn, "SELECT count(*) FROM slot_states")
        outcomes = outcome_counts(conn)
        figures: dict[str, Any] = {
            "slot_states_rows": rows, "slots_opened": len(opened), "outcomes": outcomes,
            "booking_attempts": _one(conn, "SELECT count(*) FROM booking_attempts"),
            "interrupted_attempts": _one(
                conn, "SELECT count(*) FROM booking_attempts WHERE error_code = %s",
                "attempt_interrupted"),
            "messages": dict(conn.execute("SELECT message_type, count(*) FROM message_log "
                                          "GROUP BY 1 ORDER BY 1").fetchall()),
            "events": _one(conn, "SELECT count(*) FROM slotqueue.queue_events"),
        }
        if expect_opened is not None and len(opened) != expect_opened:
            problems.append(f"{len(opened)} SlotOpened events for {expect_opened} opened rows")
        if unsettled:
            problems.append(f"{len(unsettled)} opened slots without an outcome "
                            f"(e.g. {sorted(map(str, unsettled))[:3]})")
        projected = sum(outcomes.values())
        if projected != len(opened) or set(outcomes) - FINAL_OUTCOMES:
            problems.append(f"slotqueue.opened_slots: {outcomes} for {len(opened)} openings")
        doubled = duplicates(conn)
        problems += [f"{what}: {len(keys)} (e.g. {keys[:3]})" for what, keys in doubled.items()]
        problems += _message_counts(conn)
    failed = verify(url)
    if failed:
        problems.append(failed)
    figures["duplicates"] = sum(len(keys) for keys in doubled.values())
    figures["projections_verify"] = "fail" if failed else "ok"
    return figures, problems
