"""The dispatcher's command line: dispatch --once, audit --slot, the passed-over list, demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from dispatch_world import World, next_weekday
from test_cli import ok_json, refused

SUMMARY_KEYS = {"dispatcher_run_id", "old_watermark", "new_watermark", "opened_slots_count",
                "deposit_required_set_count", "deposits_lapsed_count", "booking_attempt_count",
                "booking_success_count", "opportunity_passed_sent_count"}


@pytest.fixture
def world(service, db):
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


def test_dispatch_once_prints_its_summary_and_audit_explains_the_slot(world, database_url):
    kapolei = world.location("Kapolei")
    window = world.customer([kapolei], blocks=("afternoon",))
    winner = world.customer([kapolei], blocks=("early",))
    key = world.open_slot(kapolei, next_weekday(world.today, 1, weeks=1), "9:15")
    summary = ok_json(database_url, "dispatch", "--once")
    assert set(summary) >= SUMMARY_KEYS
    assert (summary["opened_slots_count"], summary["booking_attempt_count"],
            summary["booking_success_count"]) == (1, 1, 0)  # the default stub booker fails
    journal = ok_json(database_url, "audit", "--slot", key.replace("09:15:00", "9:15"))
    [slot] = journal["slots"]
    assert slot["outcome"] == "attempt_failed"
    assert slot["winner"]["customer_id"] == str(winner.customer_id)
    assert slot["ahead"] == [{"rank": 1, "queue_entry_id": str(window.queue_entry_id),
                              "customer_id": str(window.customer_id),
                              "failed": "window:time_block"}]
    mine = ok_json(database_url, "audit", "--customer", str(window.customer_id))
    assert [(p["slot_key"], p["failed"]) for p in mine["passed_over"]] == [
        (key, "window:time_block")]
    assert "'nope'" in refused(database_url, "audit", "--slot", "nope")
    refused(database_url, "dispatch", code=2)


def test_demo_books_slots_within_seconds_and_stops_cleanly():
    data_dir = Path(os.environ.get("SLOTQUEUE_TEST_PGDATA",
                                   tempfile.gettempdir() + "/slotqueue-test-pg"))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"SLOTQUEUE_DATA_DIR": str(data_dir), "CI": "true"}
    done = subprocess.run([sys.executable, "-m", "slotqueue", "demo", "--seconds", "10",
                           "--customers", "24", "--json"], capture_output=True, text=True,
                          env=env, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    booked = sum(line.get("booking_success_count", 0) for line in lines)
    assert booked > 0
    messages = [json.loads(line) for line in done.stdout.splitlines()[1:]]
    assert "booked" in {m["message_type"] for m in messages}
    assert json.loads(done.stdout.splitlines()[0])["customers"] == 24
    assert lines[-1]["event"] == "stopped"
