"""What an operator reads on a real database: `queue` in rank order with masked phones, windows
in words and locations by name; `locations-list`; `status` without a deadline that no longer
applies; JSON times in UTC with Z."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from dispatch_world import GRACE, World
from test_cli import ok_json, refused, run

from dbsupport import event_count, snapshot

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture
def world(service, db):
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


@pytest.fixture
def queue(world):
    """Five customers: active (Kapolei and Kaneohe), waiting for a deposit, queued, paused,
    canceled."""
    kapolei, kaneohe = world.location("Kapolei"), world.location("Kaneohe")
    active = world.customer([kapolei, kaneohe], blocks=("afternoon", "early"), horizon="w4")
    due = world.customer([kapolei], paid=False)
    world.svc.app.require_deposit(due.queue_entry_id, world.now, GRACE)
    queued = world.customer([kaneohe], paid=False)
    paused = world.customer([kaneohe])
    world.svc.app.pause(paused.queue_entry_id, world.now)
    canceled = world.customer([kaneohe])
    world.svc.app.cancel(canceled.queue_entry_id, world.now)
    world.svc.catch_up()
    return {"active": active, "due": due, "queued": queued, "paused": paused,
            "canceled": canceled}


def test_the_queue_lists_ranked_entries_in_rank_order_with_what_an_operator_needs(
        world, queue, database_url):
    shown = ok_json(database_url, "queue")
    assert shown["total"] == 3
    [active, due, queued] = shown["entries"]
    assert [e["queue_entry_id"] for e in shown["entries"]] == [
        str(queue[k].queue_entry_id) for k in ("active", "due", "queued")]
    assert [e["rank"] for e in shown["entries"]] == [1, 2, 3]
    assert active["phone"] == "+1 808 \u2022\u2022\u2022-0001"
    assert active["windows"] == "weekdays, within 4 weeks, early morning or afternoon"
    assert active["locations"] == ["Kaneohe", "Kapolei"]
    assert (active["status"], active["deposit_due"]) == ("active", None)
    assert due["deposit_due"] == world.svc.app.entry(
        queue["due"].queue_entry_id).deposit_expires_at.isoformat().replace("+00:00", "Z")
    assert ISO_Z.match(due["deposit_due"])
    assert queued["windows"] == "weekdays, within 8 weeks, early morning"


def test_the_queue_never_shows_a_full_phone_number(queue, database_url):
    for args in ([], ["--status", "canceled"], ["--status", "paused"]):
        done = run(database_url, "queue", *args)
        assert done.returncode == 0, done.stderr
        assert not re.search(r"555.?000\d", done.stdout), args
        assert "+1 808 \u2022\u2022\u2022-000" in done.stdout, args
        shown = ok_json(database_url, "queue", *args)
        assert not re.search(r"555.?000\d", json.dumps(shown)), args
        assert {e["phone"][:-1] for e in shown["entries"]} == {"+1 808 \u2022\u2022\u2022-000"}


def test_the_queue_reads_as_a_table_with_local_times(world, queue, database_url):
    done = run(database_url, "queue")
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["rank", "priority", "phone", "status", "deposit", "due",
                                "windows", "locations"]
    assert lines[1].startswith("1 ")
    assert lines[1].rstrip().endswith("Kaneohe, Kapolei")
    assert re.search(r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d{1,2}, \d{1,2}:\d\d [AP]M HST", lines[2])
    assert lines[-1] == "3 of 3 entries"


def test_status_and_limit_choose_which_entries_are_listed(queue, database_url):
    paused = ok_json(database_url, "queue", "--status", "paused")
    assert [(e["rank"], e["status"]) for e in paused["entries"]] == [(None, "paused")]
    first = ok_json(database_url, "queue", "--limit", "1")
    assert (len(first["entries"]), first["total"]) == (1, 3)
    assert first["entries"][0]["queue_entry_id"] == str(queue["active"].queue_entry_id)


def test_an_unknown_status_is_refused_in_one_line_naming_it(queue, database_url, db):
    before, events = snapshot(db), event_count(db)
    stderr = refused(database_url, "queue", "--status", "waiting")
    assert "'waiting'" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert (snapshot(db), event_count(db)) == (before, events)


def test_locations_list_names_every_location_with_its_id(world, database_url):
    kapolei, kaneohe = world.location("Kapolei"), world.location("Kaneohe")
    listed = ok_json(database_url, "locations-list")
    assert listed == {"locations": [{"id": str(kaneohe), "name": "Kaneohe"},
                                    {"id": str(kapolei), "name": "Kapolei"}]}
    assert run(database_url, "locations-list").stdout.splitlines() == [
        f"Kaneohe  {kaneohe}", f"Kapolei  {kapolei}"]


def test_status_shows_the_deposit_deadline_only_while_it_applies(world, database_url):
    kapolei = world.location("Kapolei")
    paid, lapsed, canceled = (world.customer([kapolei], paid=False) for _ in range(3))
    for joined in (paid, lapsed, canceled):
        world.svc.app.require_deposit(joined.queue_entry_id, world.now, GRACE)
    due = ok_json(database_url, "status", str(paid.queue_entry_id))
    assert ISO_Z.match(due["deposit_expires_at"])
    assert "HST" in run(database_url, "status", str(paid.queue_entry_id)).stdout
    world.svc.app.record_payment(paid.queue_entry_id, "pay-1", world.now)
    world.svc.app.lapse_deposit(lapsed.queue_entry_id, world.now + GRACE + timedelta(minutes=1))
    world.svc.app.cancel(canceled.queue_entry_id, world.now)
    for joined in (paid, lapsed, canceled):
        shown = ok_json(database_url, "status", str(joined.queue_entry_id))
        assert shown["deposit_expires_at"] is None, shown
        assert "deposit_expires_at" not in run(
            database_url, "status", str(joined.queue_entry_id)).stdout


def test_json_times_are_utc_with_z(world, database_url):
    joined = ok_json(database_url, "join", "--phone", "808-555-0177")
    history = ok_json(database_url, "audit", "--entry", joined["queue_entry_id"])
    assert all(ISO_Z.match(event["at"]) for event in history["events"])
    assert ISO_Z.match(history["state"]["joined_at"])


@pytest.mark.parametrize("command", ["queue", "locations-list"])
def test_the_new_commands_explain_themselves_and_take_json(command):
    done = subprocess.run([sys.executable, "-m", "slotqueue", command, "--help"],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0
    assert "--json" in done.stdout
