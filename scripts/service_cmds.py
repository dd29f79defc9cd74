"""`slotqueue dispatch --once`, `slotqueue run` and `slotqueue demo`."""

from __future__ import annotations

import json
import random
import threading
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import psycopg
import typer
from psycopg import sql

from slotqueue import logs
from slotqueue.bootstrap import build, migrate_database, run_forever
from slotqueue.database import embedded_url, with_dbname
from slotqueue.processes.dispatcher import Summary
from slotqueue.redact import redact
from slotqueue.scripts.common import JsonOption, emit, errors, long_running, service
from slotqueue.settings import load_settings

SUMMARY_KEYS = ("dispatcher_run_id", "old_watermark", "new_watermark", "opened_slots_count",
                "deposit_required_set_count", "deposits_lapsed_count", "booking_attempt_count",
                "booking_success_count", "opportunity_passed_sent_count")


def dispatch(
    once: Annotated[bool, typer.Option("--once", help="Run one dispatcher tick and exit.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run one dispatcher tick (for cron); `slotqueue run` runs them continuously."""
    if not once:
        raise typer.BadParameter("only --once is supported here; use `slotqueue run`",
                                 param_hint="--once")
    with service(as_json) as svc:
        logs.configure(svc.settings.log_format)
        summary = svc.dispatch_once().as_dict()
    emit(as_json, summary, lambda: "\n".join(f"{k}: {summary[k]}" for k in SUMMARY_KEYS))


def run(as_json: JsonOption = False) -> None:
    """Run the dispatcher continuously (APScheduler); stop with SIGTERM or Ctrl-C.

    Logs one line per run and a heartbeat on stderr (JSON with --json or when not a terminal).
    """
    with errors(as_json):
        settings, url = long_running(as_json)
        run_forever(settings, url)


class Reporter:
    """Prints what the demo's messages say, as the service records them."""

    def __init__(self, url: str, as_json: bool) -> None:
        self.url, self.as_json = url, as_json
        self.seen: set[str] = set()
        self.zone = ZoneInfo("Pacific/Honolulu")

    def __call__(self, summary: Summary | None) -> None:
        with psycopg.connect(self.url) as conn:
            rows = conn.execute(
                "SELECT dedupe_key, message_type, meta_json->>'text' FROM message_log "
                "WHERE NOT dedupe_key = ANY(%s) ORDER BY sent_at, dedupe_key",
                (list(self.seen),)).fetchall()
        for key, kind, text in rows:
            self.seen.add(key)
            if self.as_json:  # one object per line: a stream for as long as the demo runs
                typer.echo(json.dumps({"message_type": kind, "text": text}))
            else:
                typer.echo(f"{datetime.now(self.zone):%H:%M:%S} {kind:<18} {text}")


def _fresh_database(server_url: str, name: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(drop.format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_dbname(server_url, name)


def demo(
    customers: Annotated[int, typer.Option(min=1, max=2000, help="Customers to seed.")] = 36,
    seconds: Annotated[float | None, typer.Option(
        min=0.1, max=86_400, help="Stop after this many seconds.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Watch slotqueue work: seeded customers, a simulated monitor, the sim booker.

    Uses its own database, slotqueue_demo, on the embedded PostgreSQL, made afresh each time.
    With --json, stdout carries one JSON object per line (the messages as they are queued).
    """
    from slotqueue.scripts.demo import SimulatedMonitor, seed  # noqa: PLC0415

    with errors(as_json):
        base = load_settings()
        server = embedded_url(base.data_dir / "pgdata")
        url = _fresh_database(server, "slotqueue_demo")
        migrate_database(url)
        settings = base.model_copy(update={"database_url": url, "booker": "sim"})
        logs.configure("json" if as_json else "console")
        rng = random.Random(7)  # noqa: S311 - a repeatable demo, not a secret
        svc = build(settings, url)
        try:
            seed(svc, customers, rng)
        finally:
            svc.close()
        shown = redact(url)  # the embedded server's password, if it has one, stays here
        emit(as_json, {"demo_database": shown, "customers": customers},
             f"demo database {shown}: {customers} customers queued; Ctrl-C stops")
        monitor = SimulatedMonitor(url, rng)
        monitor.thread.start()
        stop = threading.Event()
        if seconds is not None:
            threading.Timer(seconds, stop.set).start()
        reporter = Reporter(url, as_json)
        try:
            # The demo prints its messages itself (the reporter): no console provider beside it.
            run_forever(settings, url, stop=stop, on_summary=reporter, deliveries=False)
        finally:
            monitor.stop.set()
        svc = build(settings, url)  # the last run's messages, once the projections have them
        try:
            svc.catch_up()
        finally:
            svc.close()
        reporter(None)


def register(app: typer.Typer) -> None:
    app.command()(dispatch)
    app.command()(run)
    app.command()(demo)

