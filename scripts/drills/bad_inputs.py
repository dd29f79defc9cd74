"""Drill: a corpus of bad inputs, over every command, changes nothing.

Sets up a small queue (entries in several states, a stray payment, deactivated presets), then
runs each case of CASES as a `slotqueue` process. PASS when every case exits 1 with a stderr
that names the bad value (each of its needles), and a dump of every table in schemas public
and slotqueue (rows sorted) plus the count and max notification id of slotqueue.queue_events
are byte-for-byte the same before and after it.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import common
import psycopg
from psycopg import sql

from slotqueue.adapters.presets import load_presets
from slotqueue.aggregates.matcher import Selection
from slotqueue.database import with_dbname
from slotqueue.scripts import harness

NO_ID = "5b0c0c1e-0000-4000-8000-00000000dead"  # a well-formed id nobody has
HUGE = "9" * 5000
SQL_BOMB = "x'); DROP TABLE customers; --"
SOON = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()  # a slot still to come
# Commands with subcommands, each counted apart (`messages` alone lists, so it counts too).
GROUPS = ("projections", "api-keys", "messages")


@dataclass(frozen=True)
class Case:
    """One bad input: the command's arguments, what stderr must name, extra environment.

    `@{NAME}` in args, needles and env values stands for an id made by the set-up: customers
    A to F, their entries QA to QF, location L1, and MISSING_DB_URL.
    """

    name: str
    args: tuple[str, ...]
    needles: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def command(self) -> str:
        grouped = self.args[0] in GROUPS and len(self.args) > 1 and not (
            self.args[1].startswith("-"))
        return " ".join(self.args[:2]) if grouped else self.args[0]


def _case(name: str, *args: str, needles: tuple[str, ...] | str | None = None,
          env: dict[str, str] | None = None) -> Case:
    if needles is None:
        needles = ()
    return Case(name, args, (needles,) if isinstance(needles, str) else needles, env or {})


# Set-up: A/QA queued, with a stray payment "stray-1" (refund due); B/QB deposit_required;
# C/QC active, paid with "pay-c"; D/QD canceled; E/QE queued, nothing paid; F/QF queued, its
# stray payment "stray-f" refunded. Presets w12,
# afternoon are deactivated.
CASES: tuple[Case, ...] = (
    # join: phones and emails
    _case("phone not a number", "join", "--phone", "not-a-phone", needles="'not-a-phone'"),
    _case("phone empty", "join", "--phone", "", needles=("invalid phone", "''")),
    _case("phone too short", "join", "--phone", "555", needles="'555'"),
    _case("phone no such number", "join", "--phone", "+1 000 000 0000",
          needles="'+1 000 000 0000'"),
    _case("phone huge", "join", "--phone", HUGE, needles=HUGE),
    _case("phone SQL metacharacters", "join", "--phone", "808' OR '1'='1",
          needles="808' OR '1'='1"),
    _case("phone with a newline", "join", "--phone", "808-555-0101\nDROP TABLE customers",
          needles="808-555-0101\\nDROP TABLE customers"),
    _case("email without @", "join", "--phone", "808-555-0199", "--email", "no-at-sign",
          needles="'no-at-sign'"),
    _case("email without a dot in the domain", "join", "--phone", "808-555-0199", "--email",
          "a@b", needles="'a@b'"),
    _case("email empty", "join", "--phone", "808-555-0199", "--email", "",
          needles=("invalid email", "''")),
    _case("email huge", "join", "--phone", "808-555-0199", "--email",
          "x" * 300 + "@example.com", needles="x" * 300 + "@example.com"),
    _case("email SQL metacharacters", "join", "--phone", "808-555-0199", "--email",
          SQL_BOMB + "@example.com", needles=SQL_BOMB + "@example.com"),
    # select: presets, weekdays, timezones, ids
    _case("unknown horizon", "select", "@{A}", "--horizon", "w99", "--blocks", "early",
          needles="'w99'"),
    _case("inactive horizon", "select", "@{A}", "--horizon", "w12", "--blocks", "early",
          needles="'w12'"),
    _case("unknown block", "select", "@{A}", "--horizon", "w4", "--blocks", "early,brunch",
          needles="'brunch'"),
    _case("inactive block", "select", "@{A}", "--horizon", "w4", "--blocks", "afternoon",
          needles="'afternoon'"),
    _case("empty blocks", "select", "@{A}", "--horizon", "w4", "--blocks", "",
          needles="time block"),
    _case("block SQL metacharacters", "select", "@{A}", "--horizon", "w4", "--blocks",
          "early'; DELETE FROM customers; --", needles="DELETE FROM customers"),
    _case("weekday 0", "select", "@{A}", "--horizon", "w4", "--blocks", "early",
          "--weekdays", "0", needles="weekday 0 "),
    _case("weekday 6", "select", "@{A}", "--horizon", "w4", "--blocks", "early",
          "--weekdays", "6", needles="weekday 6 "),
    _case("weekday 7", "select", "@{A}", "--horizon", "w4", "--blocks", "early",
          "--weekdays", "1,7", needles="weekday 7 "),
    _case("weekday empty", "select", "@{A}", "--horizon", "w4", "--blocks", "early",
          "--weekdays", "", needles=("weekday", "''")),
    _case("weekday mon", "select", "@{A}", "--horizon", "w4", "--blocks", "early",
          "--weekdays", "mon", needles="'mon'"),
    _case("unknown timezone", "select", "@{A}", "--horizon", "w4", "--blocks", "early",
          "--timezone", "Mars/Olympus", needles="'Mars/Olympus'"),
    _case("select unknown customer", "select", NO_ID, "--horizon", "w4", "--blocks", "early",
          needles=NO_ID),
    _case("select malformed customer id", "select", "42; DROP TABLE customers", "--horizon",
          "w4", "--blocks", "early", needles="'42; DROP TABLE customers'"),
    # locations
    _case("unknown location", "locations", "@{A}", "--set", f"@{{L1}},{NO_ID}", needles=NO_ID),
    _case("location not an id", "locations", "@{A}", "--set", "Kapolei",
          needles="'Kapolei'"),
    _case("no locations", "locations", "@{A}", "--set", ",", needles="location"),
    _case("locations unknown customer", "locations", NO_ID, "--set", "@{L1}", needles=NO_ID),
    # deposits and payments
    _case("require deposit unknown entry", "require-deposit", NO_ID, needles=NO_ID),
    _case("require deposit twice", "require-deposit", "@{QB}",
          needles=("deposit_required",)),
    _case("require deposit canceled entry", "require-deposit", "@{QD}", needles="canceled"),
    _case("payment unknown entry", "deposit-paid", NO_ID, "--payment-ref", "pay-x",
          needles=NO_ID),
    _case("payment repeated stray", "deposit-paid", "@{QA}", "--payment-ref", "stray-1",
          needles=("'stray-1'", "@{QA}")),
    _case("payment repeated after its refund", "deposit-paid", "@{QF}", "--payment-ref",
          "stray-f", needles=("'stray-f'", "@{QF}")),
    _case("payment ref empty", "deposit-paid", "@{QB}", "--payment-ref", "  ",
          needles="'  '"),
    _case("payment ref huge", "deposit-paid", "@{QB}", "--payment-ref", "r" * 300,
          needles="r" * 300),
    _case("payment malformed entry id", "deposit-paid", "@{QB}x", "--payment-ref", "pay-y",
          needles="@{QB}x"),
    # lifecycle in the wrong state
    _case("pause deposit_required", "pause", "@{QB}", needles="deposit_required"),
    _case("resume not paused", "resume", "@{QC}", needles="active"),
    _case("cancel canceled", "cancel", "@{QD}", needles="canceled"),
    _case("refund open paid entry", "refund", "@{QC}", needles="active"),
    _case("refund nothing owed", "refund", "@{QE}", needles="none"),
    _case("pause unknown entry", "pause", NO_ID, needles=NO_ID),
    _case("cancel malformed id", "cancel", "", needles="''"),
    # operators' overrides: priority, convert to booking, booking mode
    _case("priority unknown entry", "priority", NO_ID, "--score", "5", "--reason", "called",
          needles=NO_ID),
    _case("priority score too high", "priority", "@{QA}", "--score", "101", "--reason",
          "called", needles=("priority score", "101")),
    _case("priority negative score", "priority", "@{QA}", "--score", "-1", "--reason",
          "called", needles=("priority score", "-1")),
    _case("priority blank reason", "priority", "@{QA}", "--score", "5", "--reason", "  ",
          needles=("reason", "'  '")),
    _case("priority huge reason", "priority", "@{QA}", "--score", "5", "--reason", "r" * 600,
          needles="r" * 600),
    _case("priority canceled entry", "priority", "@{QD}", "--score", "5", "--reason", "called",
          needles="canceled"),
    _case("book unknown entry", "book", NO_ID, "--location", "@{L1}", "--date", SOON,
          "--time", "09:00", needles=NO_ID),
    _case("book unknown location", "book", "@{QA}", "--location", "Atlantis", "--date", SOON,
          "--time", "09:00", needles="'Atlantis'"),
    _case("book SQL-laden location", "book", "@{QA}", "--location", SQL_BOMB, "--date", SOON,
          "--time", "09:00", needles=SQL_BOMB),
    _case("book impossible date", "book", "@{QA}", "--location", "@{L1}", "--date",
          "2026-02-30", "--time", "09:00", needles="'2026-02-30'"),
    _case("book impossible time", "book", "@{QA}", "--location", "@{L1}", "--date", SOON,
          "--time", "25:61", needles="'25:61'"),
    _case("book slot in the past", "book", "@{QA}", "--location", "@{L1}", "--date",
          "2020-01-06", "--time", "09:00", needles=("2020-01-06", "already passed")),
    _case("book canceled entry", "book", "@{QD}", "--location", "@{L1}", "--date", SOON,
          "--time", "09:00", needles="canceled"),
    # a customer's booking mode (service §4.2)
    _case("booking mode unknown", "booking-mode", "@{QA}", "sometimes",
          needles=("invalid booking mode", "'sometimes'")),
    _case("booking mode empty", "booking-mode", "@{QA}", "", needles=("booking mode", "''")),
    _case("booking mode SQL metacharacters", "booking-mode", "@{QA}", SQL_BOMB,
          needles=SQL_BOMB),
    _case("booking mode unknown entry", "booking-mode", NO_ID, "offer", needles=NO_ID),
    _case("booking mode malformed entry", "booking-mode", "42; DROP TABLE customers", "offer",
          needles="'42; DROP TABLE customers'"),
    # reads and operations
    _case("status unknown entry", "status", NO_ID, needles=NO_ID),
    _case("status huge id", "status", "f" * 5000, needles="f" * 5000),
    _case("status missing database", "status", "@{QA}", needles="slotqueue_drill_missing",
          env={"DATABASE_URL": "@{MISSING_DB_URL}"}),
    _case("audit unknown entry", "audit", "--entry", NO_ID, needles=NO_ID),
    _case("audit unknown customer", "audit", "--customer", NO_ID, needles=NO_ID),
    _case("audit as-of not a time", "audit", "--entry", "@{QA}", "--as-of", "yesterday",
          needles="'yesterday'"),
    _case("audit malformed slot", "audit", "--slot", "Kapolei|tomorrow|9am",
          needles="Kapolei|tomorrow|9am"),
    _case("audit unknown slot", "audit", "--slot", "@{L1}|2031-03-04|08:00:00",
          needles="@{L1}|2031-03-04|08:00:00"),
    _case("audit slot bad date", "audit", "--slot", "@{L1}|2026-02-30|08:00:00",
          needles="2026-02-30"),
    _case("rebuild unknown projection", "projections", "rebuild", "queue_tables; --",
          needles="'queue_tables; --'"),
    _case("queue unknown status", "queue", "--status", "bogus", needles="'bogus'"),
    _case("queue status SQL metacharacters", "queue", "--status", SQL_BOMB, needles=SQL_BOMB),
    _case("queue bad timezone setting", "queue", needles=("SLOTQUEUE_TIMEZONE", "Mars/Olympus"),
          env={"SLOTQUEUE_TIMEZONE": "Mars/Olympus"}),
    _case("locations-list missing database", "locations-list",
          needles="slotqueue_drill_missing", env={"DATABASE_URL": "@{MISSING_DB_URL}"}),
    _case("locations-list bad log format", "locations-list",
          needles=("SLOTQUEUE_LOG_FORMAT", "'xml'"), env={"SLOTQUEUE_LOG_FORMAT": "xml"}),
    _case("api-keys create unknown role", "api-keys", "create", "--name", "ops-x", "--role",
          "root", needles="'root'"),
    _case("api-keys create empty name", "api-keys", "create", "--name", "", "--role",
          "operator", needles="''"),
    _case("api-keys create SQL-laden name", "api-keys", "create", "--name", SQL_BOMB, "--role",
          "auditor", needles=SQL_BOMB),
    _case("api-keys revoke unknown key", "api-keys", "revoke", "nobody-key",
          needles="nobody-key"),
    _case("api-keys list missing database", "api-keys", "list",
          needles="slotqueue_drill_missing", env={"DATABASE_URL": "@{MISSING_DB_URL}"}),
    _case("deliver bad quiet hours setting", "deliver",
          needles=("SLOTQUEUE_QUIET_HOURS", "'25:00-08:00'"),
          env={"SLOTQUEUE_QUIET_HOURS": "25:00-08:00"}),
    _case("deliver twilio without credentials", "deliver",
          needles=("SLOTQUEUE_TWILIO_AUTH_TOKEN", "SLOTQUEUE_SMS_PROVIDER=twilio"),
          env={"SLOTQUEUE_SMS_PROVIDER": "twilio"}),
    _case("messages unknown status", "messages", "--status", "lost", needles="'lost'"),
    _case("messages SQL-laden status", "messages", "--status", SQL_BOMB, needles=SQL_BOMB),
    _case("messages retry unknown id", "messages", "retry",
          "00000000-0000-4000-8000-000000000000",
          needles="00000000-0000-4000-8000-000000000000"),
    _case("messages retry not an id", "messages", "retry", "yesterday", needles="'yesterday'"),
    _case("serve bad port setting", "serve", needles=("SLOTQUEUE_HTTP_PORT", "'99999'"),
          env={"SLOTQUEUE_HTTP_PORT": "99999"}),
    _case("serve bad log format", "serve", needles=("SLOTQUEUE_LOG_FORMAT", "'xml'"),
          env={"SLOTQUEUE_LOG_FORMAT": "xml"}),
    _case("projections status bad setting", "projections", "status",
          needles=("SLOTQUEUE_RUN_TIMEOUT_SECONDS", "'soon'"),
          env={"SLOTQUEUE_RUN_TIMEOUT_SECONDS": "soon"}),
    _case("projections verify bad timezone setting", "projections", "verify",
          needles=("SLOTQUEUE_TIMEZONE", "Mars/Olympus"),
          env={"SLOTQUEUE_TIMEZONE": "Mars/Olympus"}),
    _case("migrate bad log format", "migrate", needles=("SLOTQUEUE_LOG_FORMAT", "'xml'"),
          env={"SLOTQUEUE_LOG_FORMAT": "xml"}),
    _case("dispatch unknown booker", "dispatch", "--once",
          needles=("SLOTQUEUE_BOOKER", "'dmv-live'"), env={"SLOTQUEUE_BOOKER": "dmv-live"}),
    _case("dispatch rank threshold not a number", "dispatch", "--once",
          needles=("SLOTQUEUE_DEPOSIT_RANK_THRESHOLD", "'ten'"),
          env={"SLOTQUEUE_DEPOSIT_RANK_THRESHOLD": "ten"}),
    _case("run lock ttl 0", "run", needles=("SLOTQUEUE_LOCK_TTL_SECONDS", "'0'"),
          env={"SLOTQUEUE_LOCK_TTL_SECONDS": "0"}),
    _case("run negative interval", "run",
          needles=("SLOTQUEUE_DISPATCH_INTERVAL_SECONDS", "'-1'"),
          env={"SLOTQUEUE_DISPATCH_INTERVAL_SECONDS": "-1"}),
    _case("seed grace not a number", "seed", "--customers", "3",
          needles=("SLOTQUEUE_DEPOSIT_GRACE_MINUTES", "'two hours'"),
          env={"SLOTQUEUE_DEPOSIT_GRACE_MINUTES": "two hours"}),
    _case("demo negative grace", "demo", "--seconds", "1",
          needles=("SLOTQUEUE_DEPOSIT_GRACE_MINUTES", "'-5'"),
          env={"SLOTQUEUE_DEPOSIT_GRACE_MINUTES": "-5"}),
)


def _fill(text: str, refs: dict[str, str]) -> str:
    return re.sub(r"@\{(\w+)\}", lambda m: refs[m.group(1)], text)


def set_up(url: str) -> dict[str, str]:
    """The queue the cases run against; returns the ids the cases refer to."""
    with harness.service(url) as svc:
        with psycopg.connect(url, autocommit=True) as conn:
            (location,) = harness.add_locations(conn, 1)
            presets = load_presets(conn)
        now, refs = datetime.now(UTC), {"L1": str(location)}
        grace = timedelta(minutes=120)
        for n, name in enumerate("ABCDEF"):
            joined = svc.app.join(f"808-555-01{n:02d}", f"{name.lower()}@example.com", now)
            refs[name], refs[f"Q{name}"] = str(joined.customer_id), str(joined.queue_entry_id)
            svc.app.select_windows(joined.customer_id, Selection(
                "Pacific/Honolulu", "w8", "any_weekday", (), ("early",)), presets, now)
            svc.app.prefer_locations(joined.customer_id, [location], [location], now)
            entry = joined.queue_entry_id
            if name == "A":
                svc.app.record_payment(entry, "stray-1", now)  # nobody asked: refund due
            if name == "F":
                svc.app.record_payment(entry, "stray-f", now)
                svc.app.refund(entry, now)
            if name in "BC":
                svc.app.require_deposit(entry, now, grace)
            if name == "C":
                svc.app.record_payment(entry, "pay-c", now)
            if name == "D":
                svc.app.cancel(entry, now)
        svc.catch_up()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE target_window_presets SET active = false "
                     "WHERE key IN ('w12', 'afternoon')")
    refs["MISSING_DB_URL"] = with_dbname(url, "slotqueue_drill_missing")
    return refs


def snapshot(url: str) -> dict[str, str]:
    """A digest of every table in public and slotqueue (rows sorted), with the event store's
    count and max notification id spelled out."""
    out = {}
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('public', 'slotqueue') AND table_type = 'BASE TABLE' "
            "ORDER BY 1, 2").fetchall()
        for schema, table in tables:
            name = sql.Identifier(schema, table)
            query = sql.SQL("COPY (SELECT * FROM {} t ORDER BY t::text) TO STDOUT").format(name)
            digest = hashlib.sha256()
            with conn.cursor().copy(query) as copy:
                for chunk in copy:
                    digest.update(chunk)
            out[f"{schema}.{table}"] = digest.hexdigest()
        count, top = conn.execute("SELECT count(*), max(notification_id) "
                                  "FROM slotqueue.queue_events").fetchone()  # type: ignore[misc]
    out["queue_events count/max id"] = f"{count}/{top}"
    return out


def run_case(case: Case, url: str, refs: dict[str, str], timeout: float
             ) -> tuple[list[str], str]:
    """Problems with one case (empty when it behaved), and its stderr."""
    args = [_fill(a, refs) for a in case.args]
    env = harness.cli_env(url, **{k: _fill(v, refs) for k, v in case.env.items()},
                         SLOTQUEUE_DATA_DIR=str(harness.workdir() / "data"))
    before = snapshot(url)
    try:
        done = harness.slotqueue(url, *args, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [f"still running after {timeout:g} s"], ""
    problems = []
    if done.returncode != 1:
        problems.append(f"exit {done.returncode}, expected 1")
    for needle in (_fill(n, refs) for n in case.needles):
        if needle not in done.stderr:
            problems.append(f"stderr does not name {needle[:60]!r}")
    changed = [k for k, v in snapshot(url).items() if before.get(k) != v]
    if changed:
        problems.append(f"changed: {', '.join(changed)}")
    if problems:
        problems.append(f"stderr: {done.stderr.strip()[:300]!r}")
    return problems, done.stderr


def run(args: Any, deadline: common.Deadline) -> dict[str, Any]:
    with common.drill_database(args, "bad_inputs") as url:
        refs = set_up(url)
        start = snapshot(url)
        failed = []
        chosen = [c for c in CASES if not args.only or args.only in c.name]
        for case in chosen:
            deadline.check(f"at case {case.name!r}")
            problems, stderr = run_case(case, url, refs,
                                        min(args.case_timeout, deadline.left() + 1))
            shown = shlex.join(_fill(a, refs) for a in case.args).replace("\n", "\\n")
            print(f"{'ok  ' if not problems else 'FAIL'} {case.name}: slotqueue "
                  f"{shown[:90]}" + ("" if not problems else " -> " + "; ".join(problems)))
            if args.verbose:
                print(f"       {stderr.strip()[:160]}")
            if problems:
                failed.append(case.name)
        unchanged = snapshot(url) == start
    figures = {"cases": len(chosen), "commands": len({c.command for c in chosen}),
               "failed": len(failed), "tables_unchanged_overall": unchanged}
    if failed or not unchanged:
        raise common.DrillFailed(f"{len(failed)} cases misbehaved: {', '.join(failed)}"
                                 if failed else "the tables changed", figures)
    return figures


def main() -> int:
    p = common.parser(__doc__, timeout=600, seeded=False)
    p.add_argument("--case-timeout", type=float, default=60.0,
                   help="bound on one command (default 60)")
    p.add_argument("--verbose", action="store_true", help="show each case's stderr")
    p.add_argument("--only", help="run only the cases whose name contains this text")
    return common.main(run, p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
