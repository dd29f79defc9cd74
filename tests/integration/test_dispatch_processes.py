"""Real dispatcher processes on one database: overlap, SIGKILL, SIGTERM."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from dispatch_world import World, next_weekday

from slotqueue.adapters.booking import make_booker
from slotqueue.projections import maintenance

BLOCKS = ("early", "late", "midday", "afternoon")
GRID = [f"{h:02d}:{m:02d}" for h in range(8, 16) for m in (0, 15, 30, 45)]


@pytest.fixture
def world(service, db):
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


def _populate(world, customers, slots, seed=11):
    rng = random.Random(seed)
    locations = [world.location(name) for name in ("Dillingham", "Kapolei", "Kaneohe")]
    for _ in range(customers):
        world.customer(rng.sample(locations, rng.randint(1, 2)),
                       blocks=tuple(rng.sample(BLOCKS, rng.randint(1, 2))))
    opened = set()
    while len(opened) < slots:
        place = rng.choice(locations)
        day = next_weekday(world.today, rng.randint(1, 7), weeks=rng.randint(0, 5))
        moment = rng.choice(GRID)
        if (place, day, moment) not in opened:
            opened.add((place, day, moment))
            world.open_slot(place, day, moment)
    return opened


def _env(url, **extra):
    return {**os.environ, "DATABASE_URL": url, "SLOTQUEUE_BOOKER": "sim", "CI": "true",
            "SLOTQUEUE_LOG_FORMAT": "json", **extra}


def _dispatcher(url, **extra):
    return subprocess.Popen([sys.executable, "-m", "slotqueue", "dispatch", "--once", "--json"],
                            env=_env(url, **extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def assert_invariants(world, slots):
    """One SlotOpened per slot, an outcome for each, no slot attempted twice, no customer
    booked twice, no deposit asked twice, one message per dedupe key, tables = a replay."""
    rows = world.rows("SELECT slot_key, outcome FROM slotqueue.opened_slots")
    assert len(rows) == len({key for key, _ in rows}) == slots
    assert {outcome for _, outcome in rows} <= {
        "booked", "attempt_failed", "no_eligible_customer", "weekend"}
    twice = world.rows(
        "SELECT originator_id, count(*) FROM slotqueue.queue_events WHERE topic LIKE %s "
        "AND convert_from(state, 'UTF8')::jsonb->>'attempt_id' IS NOT NULL "
        "GROUP BY originator_id HAVING count(*) > 1", "%OpenedSlot.Decided")
    assert twice == []
    assert world.rows("SELECT location_id, slot_date, slot_time FROM booking_attempts "
                      "GROUP BY 1, 2, 3 HAVING count(*) > 1") == []
    assert world.rows("SELECT customer_id FROM booking_attempts WHERE result = 'success' "
                      "GROUP BY 1 HAVING count(*) > 1") == []
    assert world.rows(
        "SELECT originator_id FROM slotqueue.queue_events WHERE topic LIKE %s "
        "GROUP BY originator_id HAVING count(*) > 1", "%DepositRequired") == []
    booked = world.rows("SELECT count(*) FROM queue_entries WHERE status = 'booked'")[0][0]
    successes = world.rows("SELECT count(*) FROM booking_attempts WHERE result = 'success'")
    assert successes[0][0] == booked
    assert world.rows("SELECT count(*) FROM message_log WHERE message_type = 'booked'") == [
        (booked,)]
    world.svc.catch_up()
    assert maintenance.verify(world.svc.app, world.svc.view) == []


def test_several_dispatcher_processes_at_once_never_duplicate_anything(world, database_url):
    _populate(world, customers=80, slots=300)
    procs = [_dispatcher(database_url) for _ in range(4)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in outputs]
    summaries = [json.loads(out) for out, _ in outputs]
    assert sum(s["opened_slots_count"] for s in summaries) == 300
    assert sum(s["slots_decided_count"] for s in summaries) == 300
    assert sum(s["booking_success_count"] for s in summaries) > 0
    assert_invariants(world, 300)


@pytest.mark.parametrize("kill_after_decisions", [0, 15, 120])
def test_a_dispatcher_killed_mid_run_leaves_nothing_a_restart_cannot_finish(
        world, database_url, kill_after_decisions):
    _populate(world, customers=60, slots=200, seed=kill_after_decisions)
    proc = _dispatcher(database_url, SLOTQUEUE_LOCK_TTL_SECONDS="1")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        decided = world.rows("SELECT count(*) FROM slotqueue.queue_events WHERE topic LIKE %s",
                             "%Decided")[0][0]
        if decided >= kill_after_decisions:
            break
        time.sleep(0.02)  # polling a real process's progress, not waiting for an outcome
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    later = world.db.execute("SELECT now()").fetchone()[0] + timedelta(seconds=5)
    settings = world.svc.settings.model_copy(update={"lock_ttl_seconds": 1})
    world.svc.settings = settings
    booker = make_booker("sim", database_url, "Pacific/Honolulu", 3)
    world.svc.dispatch_once(booker, now=later)
    assert_invariants(world, 200)


def test_run_dispatches_continuously_and_stops_cleanly_on_sigterm(world, database_url):
    kapolei = world.location("Kapolei")
    customer = world.customer([kapolei], blocks=("early",))
    proc = subprocess.Popen([sys.executable, "-m", "slotqueue", "run"],
                            env=_env(database_url, SLOTQUEUE_DISPATCH_INTERVAL_SECONDS="0.3"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "08:45")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not world.rows(
                "SELECT 1 FROM queue_entries WHERE id = %s AND status = 'booked'",
                customer.queue_entry_id):
            time.sleep(0.05)
        assert world.svc.app.entry(customer.queue_entry_id).status == "booked"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    runs = [line for line in lines if line["event"] == "dispatch run"]
    assert runs
    assert set(runs[0]) >= {"dispatcher_run_id", "old_watermark", "new_watermark",
                            "opened_slots_count", "booking_attempt_count"}
    assert lines[-1]["event"] == "stopped"
