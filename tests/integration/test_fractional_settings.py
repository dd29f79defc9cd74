"""Durations with fractions reach the code that uses them: a dispatcher run with a half-second
lock TTL, a six-second lookback and a thirty-second deposit grace books, lists and asks as
those values say (the sim booker's freshness check included)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from dispatch_world import World, next_weekday

FRACTIONS = {"SLOTQUEUE_LOCK_TTL_SECONDS": "0.5", "SLOTQUEUE_DISPATCH_LOOKBACK_MINUTES": "0.1",
             "SLOTQUEUE_DEPOSIT_GRACE_MINUTES": "0.5",
             "SLOTQUEUE_SLOT_SAFETY_MARGIN_MINUTES": "0.25",
             "SLOTQUEUE_RUN_TIMEOUT_SECONDS": "30.5", "SLOTQUEUE_CONNECT_TIMEOUT_SECONDS": "2.5",
             "SLOTQUEUE_STATEMENT_TIMEOUT_SECONDS": "2.5", "SLOTQUEUE_BOOKER": "sim"}


@pytest.fixture
def world(service, db):
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


def dispatch_once(url):
    done = subprocess.run([sys.executable, "-m", "slotqueue", "dispatch", "--once", "--json"],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "DATABASE_URL": url, "CI": "true", **FRACTIONS})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_a_run_with_fractional_durations_books_a_fresh_slot_and_times_deposits_exactly(
        world, database_url):
    kapolei = world.location("Kapolei")
    world.customer([kapolei], blocks=("early",))
    unpaid = world.customer([kapolei], blocks=("early",), paid=False)
    day = next_weekday(world.today, 2, weeks=1)
    world.open_slot(kapolei, day, "8:15")
    world.open_slot(kapolei, day, "8:30", last_seen_ago=timedelta(seconds=30))  # not listed
    summary = dispatch_once(database_url)
    assert (summary["opened_slots_count"], summary["booking_success_count"]) == (1, 1)
    assert summary["deposit_required_set_count"] == 1
    [(required, expires)] = world.rows(
        "SELECT deposit_required_at, deposit_expires_at FROM queue_entries WHERE id = %s",
        unpaid.queue_entry_id)
    assert expires - required == timedelta(seconds=30)
