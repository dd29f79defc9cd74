"""What only the drills share (the rest is in `scripts/harness.py`): their command line and
time bounds, PASS/FAIL reporting, loopback-only databases, customers and openings drawn at
random, a feeder standing in for the monitor, and the invariants they check.

The drills are scripts run from the repository (`python scripts/drills/NAME.py`), not part of
the installed package; they import slotqueue only to create and inspect databases.
"""
# ruff: noqa: S311 - seeded randomness makes a drill repeatable

from __future__ import annotations

import argparse
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg.conninfo import conninfo_to_dict

from slotqueue.aggregates.matcher import Selection
from slotqueue.scripts import harness
from slotqueue.scripts.seeding import BLOCKS, HORIZONS

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
        harness.database_options(p, "drill")
        p.add_argument("--database-url", help="use this empty database instead of creating one "
                       "(migrated if needed, never dropped)")
    if seeded:
        p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--keep-logs", action="store_true",
                   help="keep the working folder with the processes' logs even on PASS")
    p.add_argument("--timeout", type=float, default=timeout,
                   help=f"hard bound on the whole drill in seconds (default {timeout:g})")
    return p


def run_options(p: argparse.ArgumentParser, *, interval: float, lock_ttl: int,
                settle: str) -> None:
    """The options of a drill that keeps `slotqueue run` working while a feeder scrapes."""
    p.add_argument("--interval", type=float, default=interval,
                   help=f"SLOTQUEUE_DISPATCH_INTERVAL_SECONDS (default {interval:g})")
    p.add_argument("--lock-ttl", type=int, default=lock_ttl,
                   help=f"SLOTQUEUE_LOCK_TTL_SECONDS (default {lock_ttl})")
    p.add_argument("--settle-timeout", type=float, default=60.0,
                   help=f"bound on the wait for outcomes {settle} (default 60)")
    p.add_argument("--feed-every", type=float, default=0.3,
                   help="seconds between the feeder's scrapes (1-3 new openings each)")


def run_env(url: str, args: argparse.Namespace) -> dict[str, str]:
    """The environment of that `slotqueue run`: sim booker, the drill's interval and TTL."""
    return harness.cli_env(url, SLOTQUEUE_BOOKER="sim",
                           SLOTQUEUE_DISPATCH_INTERVAL_SECONDS=str(args.interval),
                           SLOTQUEUE_LOCK_TTL_SECONDS=str(args.lock_ttl))


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
        harness.ProcessSet.kill_all()
    figures.setdefault("wall_seconds", round(deadline.elapsed(), 1))
    for key, value in figures.items():
        print(f"  {key}: {value}")
    used = harness.workdir.cache_info().currsize > 0
    if used and (verdict is not None or args.keep_logs):
        print(f"  logs: {harness.workdir()}")
    elif used:
        shutil.rmtree(harness.workdir(), ignore_errors=True)
    print("PASS" if verdict is None else f"FAIL: {verdict}")
    return 0 if verdict is None else 1


# --- databases --------------------------------------------------------------------------------

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


@contextmanager
def drill_database(args: argparse.Namespace, prefix: str) -> Iterator[str]:
    """A migrated database for the drill: `--database-url`, or a new one on the server."""
    if args.database_url:
        harness.migrate_database(loopback_only(args.database_url))
        yield args.database_url
        return
    server = loopback_only(harness.server_url(args.server_url))
    with harness.fresh_database(f"drill_{prefix}", server, keep=args.keep) as url:
        yield url


# --- customers and openings -------------------------------------------------------------------

def add_paid_customers(url: str, count: int, locations: list[UUID], rng: random.Random
                       ) -> None:
    """Paid customers (harness.add_paid_customers) with windows drawn at random and one or two
    of the locations each."""
    def choose(places: list[UUID]) -> tuple[Selection, list[UUID]]:
        return _random_selection(rng), rng.sample(places, rng.randint(1, 2))

    with harness.service(url) as svc:
        harness.add_paid_customers(svc, count, locations, choose)


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
            hour, minute = self.rng.choice(harness.GRID)
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


# --- the slotqueue processes ------------------------------------------------------------------

def logged(log: Path, event: str) -> int:
    """Lines of a process's JSON log with this event (e.g. each finished dispatch run)."""
    return len(harness.log_events(log, event))


def all_settled(url: str) -> bool:
    """Every slot_states row opened, and every opening with an outcome (event store)."""
    with psycopg.connect(url, connect_timeout=2) as conn:
        rows = conn.execute("SELECT count(*) FROM slot_states").fetchone()[0]  # type: ignore[index]
        return len(opened_ids(conn)) >= rows and not unsettled_ids(conn)


def verify(url: str) -> str | None:
    """`slotqueue projections verify` after a catch-up; None when it passes."""
    harness.catch_up(url)
    done = harness.slotqueue(url, "projections", "verify", timeout=120)
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
    harness.catch_up(url)
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
