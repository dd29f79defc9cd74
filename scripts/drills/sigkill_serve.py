"""Drill: `slotqueue serve` SIGKILLed at random moments while timers fall due, again and again.

Timers are due all along: before each start a batch falls due around the start (some already
overdue, recorded while no serve runs), and while serve runs a maker thread keeps adding timers
due within the next few seconds, and a payer thread makes some of them moot just around their
due time (a deposit paid as the deadline passes), racing the firing. Each round starts `slotqueue
serve`, waits until every timer due before that start has fired or been cancelled (bounded by
--settle-timeout), then SIGKILLs it after a random delay; some rounds (--early-kills) kill it
during start-up instead. A last serve, stopped with SIGTERM, fires what is left.

Checked from the event store: no timer fired (or ended) twice for one setting, none lost (every
timer ended by the end), every timer that fell due while a keeper was up, at least --late-limit
before that keeper was killed, ended within --late-limit of its due time; one DepositLapsed per
fired deposit timer and none twice; slotqueue.timers agrees; `slotqueue projections verify`
passes. The kinds of due work are in KINDS: deposit deadlines, and offers (offer_work.py:
serve in offer mode with the priority window on makes them from openings, and sets their
expiry, reminder, priority window and, after an expiry or a decline, the cooldown; answers race
them). With offers, the last serve runs until no timer is set any more (the openings close,
the cooldowns end).
"""
# ruff: noqa: S311 - seeded randomness makes a drill repeatable

from __future__ import annotations

import argparse
import itertools
import random
import signal
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import common
import offer_work
import psycopg
from eventsourcing.utils import get_topic

from slotqueue.aggregates.timers import Timed
from slotqueue.bootstrap import Service
from slotqueue.scripts import harness

TIMER_TOPICS = {get_topic(cls): cls.__name__
                for cls in (Timed.TimerSet, Timed.TimerFired, Timed.TimerCanceled)}
MADE_PER_STEP = 2.5  # the maker's timers per step (1-4), which the payer's share is of
LAPSED = "slotqueue.aggregates.queue_entry:QueueEntry.DepositLapsed"


# --- the due work: one entry per kind of timer ------------------------------------------------

@dataclass(frozen=True)
class Kind:
    """A kind of due work: `create(svc, dues, first)` records aggregates whose timers fall due
    at `dues` (numbering phones or names from `first`) and returns their ids; `moot(svc, id)`
    records the fact that makes a pending timer of one of them moot (None: nothing does)."""

    name: str
    create: Callable[[Service, list[datetime], int], list[UUID]]
    moot: Callable[[Service, UUID], Any] | None = None
    # Kinds whose timers serve sets itself (offers): serve's settings (also the answering
    # service's), what to record before the first start, the moot-making fact found by the
    # payer itself (`answer`), and the checks of what the firings did.
    settings: dict[str, Any] = field(default_factory=dict)
    prepare: Callable[[Service], Any] | None = None
    answer: Callable[[Service], Any] | None = None
    checks: Callable[[psycopg.Connection[Any], Counter[str]],
                     tuple[dict[str, Any], list[str]]] | None = None
    report: Callable[[], dict[str, Any]] | None = None


def _pay(svc: Service, entry: UUID) -> Any:
    return svc.app.record_payment(entry, f"drill-{entry}", svc.clock.now())


def _offers(url: str, rng: random.Random) -> Kind:
    work = offer_work.OfferWork(url, rng)
    return Kind("offer", work.create, None, offer_work.SETTINGS, work.prepare, work.answer,
                offer_work.checks, lambda: {"openings_for_offers": work.openings_made,
                                            "offer_answers": dict(work.answers)})


# name → the kind on a database (url) with a random source
KINDS: dict[str, Callable[[str, random.Random], Kind]] = {
    "deposit": lambda url, rng: Kind("deposit", harness.add_deposit_deadlines, _pay),
    "offer": _offers,
}


@dataclass
class DueWork:
    """Creates timers of every kind, round-robin, and remembers them for the payer."""

    svc: Service
    kinds: list[Kind]
    made: Counter[str] = field(default_factory=Counter)
    recent: list[tuple[Kind, UUID, datetime]] = field(default_factory=list)
    _numbers: Any = field(default_factory=lambda: itertools.count(0, 1000))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def settings(self) -> dict[str, Any]:
        """The settings every kind needs of serve (and of the payer's service)."""
        return {k: v for kind in self.kinds for k, v in kind.settings.items()}

    def add(self, dues: list[datetime]) -> None:
        for n, kind in enumerate(self.kinds):
            mine = dues[n::len(self.kinds)]
            if not mine:
                continue
            with self._lock:
                first = next(self._numbers)
            ids = kind.create(self.svc, mine, first)
            with self._lock:
                self.made[kind.name] += len(ids)
                if kind.moot is not None:  # the payer's: one aggregate a due time
                    self.recent = [*self.recent[-200:], *zip([kind] * len(ids), ids, mine,
                                                             strict=True)]

    def near(self, now: datetime, before: float, after: float) -> list[tuple[Kind, UUID]]:
        """Work falling due between `before` s before `now` and `after` s after it."""
        with self._lock:
            return [(k, i) for k, i, due in self.recent
                    if now - timedelta(seconds=before) <= due <= now + timedelta(seconds=after)]


class Background(threading.Thread):
    """Does `step()` every `every` seconds until stopped; counts its failures (the first one
    kept to print)."""

    def __init__(self, step: Callable[[], Any], every: float, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.step, self.every, self.failures = step, every, 0
        self.first_failure: str | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every):
            try:
                self.step()
            except Exception as exc:  # counted, the first one shown in the figures
                self.failures += 1
                self.first_failure = self.first_failure or f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        self.halt.set()
        self.join(30)


# --- the event store's view of the timers -----------------------------------------------------

LEDGER_SQL = """
SELECT originator_id, originator_version, topic, convert_from(state, 'UTF8')::jsonb->>'name',
       (convert_from(state, 'UTF8')::jsonb->'due_at'->>'_data_')::timestamptz,
       (convert_from(state, 'UTF8')::jsonb->'at'->>'_data_')::timestamptz
FROM slotqueue.queue_events WHERE topic = ANY(%s) ORDER BY originator_id, originator_version
"""


@dataclass
class Timer:
    """One setting of one timer (aggregate, name) and how it ended, from its events."""

    aggregate_id: UUID
    name: str
    due_at: datetime
    ended: str | None = None  # TimerFired | TimerCanceled
    ended_at: datetime | None = None
    extra_ends: int = 0  # a second end for the same setting: fired twice
    version: int = 0  # of its TimerSet on the aggregate
    seen_at: datetime | None = None  # when its TimerSet was first seen committed (Sightings)

    @property
    def due_from(self) -> datetime:
        """When a keeper could fire it: its due time, or when it was set if that came later
        (a timer committed past due: an offer made by a dispatch run that outlasted the lead
        of its reminder, its due times counted from the run's start)."""
        return max(self.due_at, self.seen_at or self.due_at)


class Sightings(Background):
    """Notes when each TimerSet becomes visible to others (committed), polling every 0.1 s."""

    SQL = ("SELECT notification_id, originator_id, originator_version FROM "
           "slotqueue.queue_events WHERE notification_id > %s AND topic = %s ORDER BY 1")

    def __init__(self, url: str) -> None:
        super().__init__(self._look, 0.1, "sightings")
        self.url, self.after = url, 0
        self.seen: dict[tuple[UUID, int], datetime] = {}
        self._conn: psycopg.Connection[Any] | None = None

    def _look(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True)
        rows = self._conn.execute(self.SQL, (self.after, get_topic(Timed.TimerSet))).fetchall()
        now = datetime.now(UTC)  # this machine's clock is the database's
        for _, originator, version in rows:
            self.seen.setdefault((originator, version), now)
        if rows:
            self.after = rows[-1][0]

    def stop(self) -> None:
        super().stop()
        if self._conn is not None:
            self._conn.close()

    def note(self, timers: list[Timer]) -> None:
        for timer in timers:
            timer.seen_at = self.seen.get((timer.aggregate_id, timer.version))


def ledger(conn: psycopg.Connection[Any]) -> tuple[list[Timer], int]:
    """Every timer setting in the event store, and the ends that followed no setting."""
    timers: list[Timer] = []
    current: dict[tuple[UUID, str], Timer] = {}
    orphans = 0
    for originator, version, topic, name, due, at in conn.execute(LEDGER_SQL,
                                                                  (list(TIMER_TOPICS),)):
        what = TIMER_TOPICS[topic]
        if what == "TimerSet":
            current[(originator, name)] = timer = Timer(originator, name, due, version=version)
            timers.append(timer)
            continue
        timer = current.get((originator, name))
        if timer is None:
            orphans += 1
        elif timer.ended is None:
            timer.ended, timer.ended_at = what, at
        else:
            timer.extra_ends += 1
    return timers, orphans


def overdue(conn: psycopg.Connection[Any], before: datetime) -> int:
    """Timers due before `before` that have not ended (fired or cancelled)."""
    timers, _ = ledger(conn)
    return sum(1 for t in timers if t.ended is None and t.due_at < before)


# --- a round ----------------------------------------------------------------------------------

@dataclass
class Life:
    """One serve process: when it was started, when its keeper was up, when it was killed."""

    spawned: datetime
    log: Path
    ready: datetime | None = None
    killed: datetime | None = None
    loaded: int = 0  # timers its keeper found set when it started
    backlog: int = 0  # timers due before it started and not ended
    settle: float | None = None


def _start(url: str, number: int, settings: dict[str, Any]) -> tuple[Any, Life]:
    """A new serve on a free port, with the kinds' settings; what was overdue when it
    started."""
    log = harness.workdir() / f"serve-{number}.log"
    env = harness.cli_env(url, SLOTQUEUE_HTTP_PORT=str(harness.free_port()),
                          **{f"SLOTQUEUE_{k.upper()}": str(v) for k, v in settings.items()})
    with psycopg.connect(url) as conn:
        life = Life(harness.db_now(conn), log)
        life.backlog = overdue(conn, life.spawned)
    return harness.ProcessSet.slotqueue(["serve"], env, log), life


def _alive(proc: Any, life: Life) -> None:
    if proc.poll() is not None:
        raise common.DrillFailed(f"slotqueue serve exited by itself ({proc.returncode}); "
                                 f"log {life.log}")


def _keeper_up(proc: Any, life: Life) -> bool:
    """Whether its timer keeper has started (noting when, and what it loaded)."""
    _alive(proc, life)
    if life.ready is None:
        for line in harness.log_events(life.log, "timer keeper started")[:1]:
            life.ready = datetime.fromisoformat(line["ts"])
            life.loaded = int(line.get("timers", 0))
    return life.ready is not None


def _settle(url: str, proc: Any, life: Life, seconds: float, what: str) -> None:
    """Until the keeper is up and every timer due before the start has ended, none twice."""
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        def settled() -> bool:
            return _keeper_up(proc, life) and overdue(conn, life.spawned) == 0
        if not harness.wait_until(settled, seconds, 0.2):
            raise common.DrillFailed(
                f"{overdue(conn, life.spawned)} timers due before {what} still set "
                f"{seconds:g} s after it (keeper up: {life.ready is not None}); log {life.log}")
        life.settle = time.monotonic() - started
        timers, orphans = ledger(conn)
    twice = sum(t.extra_ends for t in timers)
    if twice or orphans:
        raise common.DrillFailed(f"after {what}: {twice} timers ended twice for one setting, "
                                 f"{orphans} ended without being set")


def _drain(url: str, proc: Any, life: Life, seconds: float) -> None:
    """Until no timer is set: those serve sets itself (an offer's, a cooldown) keep coming
    after the last due time the drill made, until the openings close and the cooldowns end."""
    with psycopg.connect(url, autocommit=True) as conn:
        def still_set() -> int:
            _alive(proc, life)
            return sum(1 for t in ledger(conn)[0] if t.ended is None)
        if not harness.wait_until(lambda: still_set() == 0, seconds, 0.3):
            raise common.DrillFailed(f"{still_set()} timers still set {seconds:g} s after the "
                                     f"last start's due work; log {life.log}")


def _kill(proc: Any, life: Life) -> None:
    _keeper_up(proc, life)
    life.killed = datetime.now(UTC)  # this machine's clock is the database's
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def _life(url: str, number: int, args: Any, rng: random.Random, work: DueWork) -> Life:
    """One round: timers due around the start, serve started, settled (or killed while it
    starts), killed at a random moment."""
    with work.svc.connect() as conn:
        now = harness.db_now(conn)
    work.add([now + timedelta(seconds=rng.uniform(-1, 1)) for _ in range(args.batch)])
    proc, life = _start(url, number, work.settings)
    if rng.random() < args.early_kills:
        end = time.monotonic() + rng.uniform(0, args.max_kill_delay)
        while time.monotonic() < end:
            _alive(proc, life)
            time.sleep(0.05)
    else:
        _settle(url, proc, life, args.settle_timeout, f"restart {number}")
        time.sleep(rng.uniform(0, args.max_kill_delay))
    _kill(proc, life)
    return life


def _last_life(url: str, number: int, args: Any, work: DueWork) -> Life:
    """A last serve fires what is left (everything is due by then) and stops on SIGTERM."""
    with work.svc.connect() as conn:
        until = harness.db_now(conn) + timedelta(seconds=args.horizon)
    proc, life = _start(url, number, work.settings)
    time.sleep(max((until - life.spawned).total_seconds(), 0))
    life.spawned = until  # every timer is due before it: all must end
    _settle(url, proc, life, args.settle_timeout, "the last start")
    _drain(url, proc, life, args.settle_timeout + offer_work.GONE_AFTER)
    code = harness.stop(proc, 60)
    if code != 0:
        raise common.DrillFailed(f"the last serve exited {code} on SIGTERM; log {life.log}")
    return life


# --- the verdict ------------------------------------------------------------------------------

def _while_up(timer: Timer, lives: list[Life]) -> float | None:
    """For a timer that fell due while a keeper was up: how long it stayed set under that
    keeper (until it ended, or until the keeper was killed); None when it fell due while no
    keeper was up (serve down or starting)."""
    due = timer.due_from
    for life in lives:
        if life.ready is None or due < life.ready or (
                life.killed is not None and due >= life.killed):
            continue
        end = timer.ended_at
        if end is None or (life.killed is not None and end > life.killed):
            end = life.killed  # still set when this keeper was killed
        return (end - due).total_seconds() if end is not None else None
    return None


def _late(timers: list[Timer]) -> list[float]:
    """Due → fired of those that fired (a cancelled one may have ended long before due)."""
    return [(t.ended_at - t.due_at).total_seconds() for t in timers
            if t.ended == "TimerFired" and t.ended_at is not None]


def _stats(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {statistics.median(ordered):.3f} s, p99 {p99:.3f} s, max {ordered[-1]:.3f} s "
            f"(n={len(ordered)})")


def _projected(conn: psycopg.Connection[Any], timers: list[Timer]) -> list[str]:
    """slotqueue.timers against the latest setting of each timer in the event store."""
    latest = {(t.aggregate_id, t.name): t for t in timers}
    want = Counter({"TimerFired": "fired", "TimerCanceled": "canceled", None: "set"}[t.ended]
                   for t in latest.values())
    rows = Counter(dict(conn.execute("SELECT status, count(*) FROM slotqueue.timers "
                                     "GROUP BY 1").fetchall()))
    return [] if rows == want else [f"slotqueue.timers {dict(rows)} but the events say "
                                    f"{dict(want)}"]


def _lapses(conn: psycopg.Connection[Any], timers: list[Timer]) -> list[str]:
    """A deposit timer fires with its DepositLapsed, in one save: one each, none twice."""
    rows = conn.execute("SELECT originator_id, count(*) FROM slotqueue.queue_events "
                        "WHERE topic = %s GROUP BY 1", (LAPSED,)).fetchall()
    twice = sum(1 for _, n in rows if n > 1)
    fired = sum(1 for t in timers if t.name == "deposit_lapse" and t.ended == "TimerFired")
    found = [f"{twice} entries lapsed twice"] if twice else []
    if len(rows) != fired:
        found.append(f"{len(rows)} entries lapsed for {fired} deposit timers fired")
    return found


def _verdict(url: str, lives: list[Life], args: Any, kinds: list[Kind], sightings: Sightings
             ) -> tuple[dict[str, Any], list[str]]:
    harness.catch_up(url)
    kind_figures: dict[str, Any] = {}
    with psycopg.connect(url) as conn:
        timers, orphans = ledger(conn)
        sightings.note(timers)
        problems = _projected(conn, timers) + _lapses(conn, timers)
        fired = Counter(t.name for t in timers if t.ended == "TimerFired")
        for kind in kinds:
            if kind.checks is not None:
                found, wrong = kind.checks(conn, fired)
                kind_figures.update(found)
                problems += wrong
    twice = sum(t.extra_ends for t in timers)
    lost = [t for t in timers if t.ended is None]
    up = {id(t): _while_up(t, lives) for t in timers}
    held = [x for x in up.values() if x is not None]
    too_late = [x for x in held if x > args.late_limit]
    down = [t for t in timers if up[id(t)] is None]
    logs = [life.log for life in lives]
    failed = sum(common.logged(log, "timer failed to fire; trying again in 1 s") for log in logs)
    outcomes = Counter(e.get("outcome") for log in logs for e in harness.log_events(log, "timer"))
    problems += [f"{what}: {n}" for what, n in (
        ("timers ended twice for one setting", twice), ("ends without a setting", orphans),
        ("timers never fired nor cancelled", len(lost)),
        (f"timers left set over {args.late_limit:g} s past due by a keeper that was up",
         len(too_late)),
        ("firings that failed (logged)", failed)) if n]
    failed_verify = common.verify(url)
    if failed_verify:
        problems.append(failed_verify)
    settles = [life.settle for life in lives if life.settle is not None]
    figures = {
        "kills": len(lives) - 1,
        "kills_before_the_keeper_started": sum(1 for life in lives[:-1] if life.ready is None),
        "timers": len(timers),
        "ended": dict(Counter(t.ended or "still set" for t in timers)),
        "keeper_outcomes_logged": dict(outcomes),
        "overdue_at_a_start_max": max((life.backlog for life in lives), default=0),
        "jobs_of_a_keeper_when_started_max": max((life.loaded for life in lives), default=0),
        "settle_seconds_after_a_start_max": round(max(settles, default=0), 2),
        "settle_seconds_after_a_start_mean": round(statistics.fmean(settles), 2)
        if settles else 0,
        "set_past_due_under_a_live_keeper": _stats(held),
        "lateness_due_while_down_or_starting": _stats(_late(down)),
        "fired_timers_set_after_due": _stats([(t.due_from - t.due_at).total_seconds()
                                              for t in timers if t.due_from > t.due_at
                                              and t.ended == "TimerFired"]),
        "never_seen_set": sum(1 for t in timers if t.seen_at is None),
        "ended_twice": twice, "lost": len(lost),
        "projections_verify": "fail" if failed_verify else "ok", **kind_figures}
    return figures, problems


def run(args: argparse.Namespace, deadline: common.Deadline) -> dict[str, Any]:
    rng = random.Random(args.seed)
    with common.drill_database(args, "sigkill_serve") as url:
        kinds = [KINDS[name](url, random.Random(args.seed + 3)) for name in
                 args.kinds.split(",")]
        settings = {k: v for kind in kinds for k, v in kind.settings.items()}
        with harness.service(url) as maker_svc, harness.service(url, **settings) as payer_svc:
            return _drill(url, args, rng, deadline, DueWork(maker_svc, kinds), payer_svc)


def _drill(url: str, args: argparse.Namespace, rng: random.Random, deadline: common.Deadline,
           work: DueWork, payer_svc: Service) -> dict[str, Any]:
    for kind in work.kinds:
        if kind.prepare is not None:
            kind.prepare(work.svc)
    make_rng, pay_rng = random.Random(args.seed + 1), random.Random(args.seed + 2)

    def make() -> None:
        now = work.svc.clock.now()
        work.add([now + timedelta(seconds=make_rng.uniform(0, args.horizon))
                  for _ in range(make_rng.randint(1, 4))])

    def pay() -> None:
        near = work.near(payer_svc.clock.now(), 0.3, 0.3)
        if near and pay_rng.random() < args.moot_share * MADE_PER_STEP:
            kind, aggregate = pay_rng.choice(near)
            kind.moot(payer_svc, aggregate)  # type: ignore[misc]
        for kind in work.kinds:  # an answer to an offer, say, found by the kind itself
            if kind.answer is not None:
                kind.answer(payer_svc)

    maker, payer = Background(make, 0.25, "maker"), Background(pay, 0.25, "payer")
    sightings = Sightings(url)
    for part in (sightings, maker, payer):
        part.start()
    lives = []
    try:
        for number in range(1, args.times + 1):
            deadline.check(f"after {number - 1} kills")
            lives.append(_life(url, number, args, rng, work))
        maker.stop()
        payer.stop()
        deadline.check("before the last serve")
        lives.append(_last_life(url, args.times + 1, args, work))
    finally:
        for part in (maker, payer, sightings):
            part.stop()
    figures, problems = _verdict(url, lives, args, work.kinds, sightings)
    figures["made_by_kind"] = {k: n for k, n in work.made.items() if n}  # offers: serve's
    for kind in work.kinds:
        figures.update(kind.report() if kind.report is not None else {})
    for part in (maker, payer):
        if part.failures:
            figures[f"{part.name}_failures"] = f"{part.failures} ({part.first_failure})"
    if problems:
        raise common.DrillFailed("; ".join(problems), figures)
    return figures


def main() -> int:
    p = common.parser(__doc__, timeout=1200)
    p.add_argument("--times", type=int, default=50, help="SIGKILLs (default 50)")
    p.add_argument("--kinds", default=",".join(KINDS),
                   help=f"kinds of due work, comma-separated (default: all: {','.join(KINDS)})")
    p.add_argument("--batch", type=int, default=20,
                   help="timers recorded before each start, due within 1 s of it (default 20)")
    p.add_argument("--horizon", type=float, default=4.0,
                   help="the maker's timers fall due up to this many seconds ahead (default 4)")
    p.add_argument("--moot-share", type=float, default=0.1,
                   help="about this share of the timers is made moot around its due time "
                        "(default 0.1)")
    p.add_argument("--early-kills", type=float, default=0.2,
                   help="share of the kills that land during start-up, without waiting for "
                        "the keeper (default 0.2)")
    p.add_argument("--max-kill-delay", type=float, default=3.0,
                   help="kill at a random moment up to this many seconds after settling "
                        "(or after the start, for an early kill)")
    p.add_argument("--settle-timeout", type=float, default=30.0,
                   help="bound on the wait for the overdue timers after each start (default 30)")
    p.add_argument("--late-limit", type=float, default=5.0,
                   help="a timer due while a keeper is up ends within this many seconds "
                        "(default 5)")
    return common.main(run, p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
