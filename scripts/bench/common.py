"""What only the benchmarks share (the rest is in `scripts/harness.py`): their command line,
percentiles, the machine's description, weekday openings every broad customer takes, and a
`Figures` printer that puts every figure beside its reference and its goal.

The benchmarks are scripts run from the repository (`python scripts/bench/NAME.py`), not part
of the installed package. Each prints its figures on stdout (`--json`: one JSON object).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.scripts import harness

PRODUCT = ("aggregates", "application", "adapters", "processes", "projections", "slotqueue",
           "migrations")


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
    harness.database_options(p, "benchmark")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(default_runs=runs, quick_runs=quick_runs)
    return p


def sized(p: argparse.ArgumentParser, flag: str, kind: type, full: float, quick: float,
          what: str) -> None:
    """An option whose default is smaller with --quick (`parse` fills it in)."""
    dest = flag.lstrip("-").replace("-", "_")
    p.add_argument(flag, type=kind, default=None,
                   help=f"{what} (default {full:g}; {quick:g} with --quick)")
    p.set_defaults(sized={**(p.get_default("sized") or {}), dest: (full, quick)})


def parse(p: argparse.ArgumentParser) -> argparse.Namespace:
    """The arguments, with every `sized` option not given set for --quick or not."""
    args = p.parse_args()
    for dest, (full, quick) in (getattr(args, "sized", None) or {}).items():
        if getattr(args, dest) is None:
            setattr(args, dest, quick if args.quick else full)
    return args


def runs(args: argparse.Namespace) -> int:
    if args.runs is not None:
        return max(1, args.runs)
    return int(args.quick_runs if args.quick else args.default_runs)


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


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(harness.REPO), *args],  # noqa: S603, S607
                          capture_output=True, text=True, check=False).stdout.strip()


def machine(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    commit = os.environ.get("BENCH_COMMIT")  # set by pinned.py, which runs a copy
    if not commit:
        dirty = _git("status", "--porcelain", "--", *PRODUCT)
        commit = _git("rev-parse", "--short", "HEAD") + (
            " + uncommitted product changes" if dirty else "")
    return {
        "cores": os.cpu_count(), "cpu": cpu_model(), "postgresql": version,
        "server": "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded",
        "python": platform.python_version(), "commit": commit,
    }


# --- openings ---------------------------------------------------------------------------------

@dataclass
class Weekdays:
    """Distinct weekday slots (location, date, HH:MM:SS on the DMV's grid) from tomorrow on,
    each one a harness.BROAD customer matches."""

    locations: list[UUID]
    today: date
    used: set[tuple[UUID, date, str]] = field(default_factory=set)
    _cursor: int = 0

    def next(self) -> tuple[UUID, date, str]:
        grid = harness.GRID
        while True:
            n = self._cursor
            self._cursor += 1
            place = self.locations[n % len(self.locations)]
            slot = (n // len(self.locations))
            day = self.today + timedelta(days=1 + slot // len(grid))
            if day.isoweekday() >= 6:
                continue
            hour, minute = grid[slot % len(grid)]
            key = (place, day, f"{hour:02d}:{minute:02d}:00")
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


# --- a customer with a long history (the audit benchmarks, §6 and §12) ----------------------

EVENTS_SQL = ("SELECT originator_id, originator_version, topic, state "
              "FROM slotqueue.queue_events WHERE originator_id = ANY(%s) "
              "ORDER BY notification_id")


def customer_with_events(svc: Any, events: int) -> tuple[UUID, list[UUID]]:
    """A customer whose aggregates hold `events` events, made by commands one save each
    (join, then pause and resume in turn); their customer id and aggregate ids."""
    with svc.connect() as conn:
        now = harness.db_now(conn)
    joined = svc.app.join("+18085550100", None, now)
    ids = [joined.customer_id, joined.queue_entry_id]
    made, paused = events_of(svc, ids), False
    while made < events:
        if paused:
            svc.app.resume(joined.queue_entry_id, now)
        else:
            svc.app.pause(joined.queue_entry_id, now)
        paused, made = not paused, made + 1
        if made % 250 == 0:
            harness.progress(f"  {made}/{events} events")
    return joined.customer_id, ids


def events_of(svc: Any, ids: list[UUID]) -> int:
    """How many events the aggregates `ids` hold in the event store."""
    with svc.connect() as conn:
        row = conn.execute("SELECT count(*) FROM slotqueue.queue_events "
                           "WHERE originator_id = ANY(%s)", (ids,)).fetchone()
    return int(row[0]) if row else 0
