"""The command-line contract, run as a real process against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dbsupport import event_count, snapshot

COMMANDS = ["migrate", "join", "select", "locations", "require-deposit", "deposit-paid", "pause",
            "resume", "cancel", "refund", "status", "audit", "projections status",
            "projections rebuild", "projections verify"]


def run(url, *args):
    env = {**os.environ, "DATABASE_URL": url, "CI": "true"}
    return subprocess.run([sys.executable, "-m", "slotqueue", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def ok_json(url, *args):
    done = run(url, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def refused(url, *args, code=1):
    done = run(url, *args)
    assert done.returncode == code, (done.stdout, done.stderr)
    return done.stderr


def test_the_queue_lifecycle_through_the_command_line(database_url, db):
    joined = ok_json(database_url, "join", "--phone", "808-555-0101", "--email", "a@example.com")
    assert set(joined) == {"customer_id", "queue_entry_id"}
    entry, customer = joined["queue_entry_id"], joined["customer_id"]
    status = ok_json(database_url, "status", entry)
    assert status == {"queue_entry_id": entry, "customer_id": customer, "status": "queued",
                      "deposit_status": "none", "rank": 1, "deposit_expires_at": None,
                      "booking_conflicts": [], "priority": 0}
    location = db.execute("INSERT INTO locations (name) VALUES ('Kapolei') RETURNING id")
    location_id = str(location.fetchone()[0])
    ok_json(database_url, "select", customer, "--horizon", "w4", "--blocks", "early,late",
            "--weekdays", "1,2,3")
    ok_json(database_url, "locations", customer, "--set", location_id)
    assert db.execute("SELECT weekday_rule_key, custom_weekdays FROM "
                      "user_target_window_selections").fetchone() == ("custom_weekdays", [1, 2, 3])
    required = ok_json(database_url, "require-deposit", entry)
    assert (required["status"], required["deposit_status"]) == ("deposit_required", "required")
    paid = ok_json(database_url, "deposit-paid", entry, "--payment-ref", "pay_1")
    assert (paid["status"], paid["deposit_status"]) == ("active", "paid")
    stray = run(database_url, "deposit-paid", entry, "--payment-ref", "pay_2", "--json")
    assert stray.returncode == 1
    assert "pay_2" in stray.stderr
    assert "refund needed" in stray.stderr
    assert json.loads(stray.stdout)["refund_needed"] is True
    assert ok_json(database_url, "pause", entry)["status"] == "paused"
    assert ok_json(database_url, "status", entry)["rank"] is None
    assert ok_json(database_url, "resume", entry)["status"] == "active"
    assert ok_json(database_url, "cancel", entry)["status"] == "canceled"
    assert ok_json(database_url, "refund", entry)["deposit_status"] == "refunded"
    history = ok_json(database_url, "audit", "--entry", entry)
    assert [e["name"] for e in history["events"]] == [
        "Joined", "DepositRequired", "TimerSet", "DepositPaid", "TimerCanceled",
        "PaymentNeedsRefund", "Paused", "Resumed", "Canceled", "Refunded"]
    assert set(history["events"][0]) >= {"at", "name", "status", "deposit_status", "data"}
    assert history["state"]["status"] == "canceled"
    as_of = history["events"][1]["at"]
    earlier = ok_json(database_url, "audit", "--entry", entry, "--as-of", as_of)
    assert earlier["state"]["status"] == "deposit_required"
    assert len(earlier["events"]) == 3  # the deadline's TimerSet is recorded with it
    assert len(ok_json(database_url, "audit", "--customer", customer)["events"]) > 8
    assert ok_json(database_url, "projections", "verify")["ok"] is True


@pytest.mark.parametrize(("args", "named"), [
    (["join", "--phone", "12345"], "'12345'"),
    (["join", "--phone", "808-555-0101", "--email", "nobody@"], "'nobody@'"),
    (["status", "not-a-uuid"], "'not-a-uuid'"),
    (["pause", "00000000-0000-0000-0000-000000000000"], "00000000-0000-0000-0000-000000000000"),
    (["audit", "--entry", "00000000-0000-0000-0000-000000000001", "--as-of", "yesterday"],
     "'yesterday'"),
    (["projections", "rebuild", "bogus"], "'bogus'"),
])
def test_bad_input_exits_1_with_one_line_naming_the_value_and_writes_nothing(
        database_url, db, args, named):
    before, events = snapshot(db), event_count(db)
    stderr = refused(database_url, *args)
    assert named in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert (snapshot(db), event_count(db)) == (before, events)


def test_select_refusals_name_the_bad_value(database_url):
    customer = ok_json(database_url, "join", "--phone", "808-555-0102")["customer_id"]
    for args, named in [(["--horizon", "w5", "--blocks", "early"], "w5"),
                        (["--horizon", "w4", "--blocks", "brunch"], "brunch"),
                        (["--horizon", "w4", "--blocks", "early", "--weekdays", "mon"], "mon"),
                        (["--horizon", "w4", "--blocks", "early", "--weekdays", "0"], "0"),
                        (["--horizon", "w4", "--blocks", "early", "--timezone", "Mars/X"],
                         "Mars/X")]:
        assert named in refused(database_url, "select", customer, *args)


def test_usage_errors_exit_2(database_url):
    refused(database_url, "join", code=2)
    refused(database_url, "audit", "--entry", "x", "--customer", "y", code=2)
    refused(database_url, "no-such-command", code=2)


def test_verify_exits_1_with_a_readable_diff_when_a_table_was_changed(database_url, db):
    entry = ok_json(database_url, "join", "--phone", "808-555-0103")["queue_entry_id"]
    db.execute("UPDATE queue_entries SET status = 'active' WHERE id = %s", (entry,))
    done = run(database_url, "projections", "verify")
    assert done.returncode == 1
    assert "queue_entries" in done.stderr
    assert "'active'" in done.stderr
    rebuilt = ok_json(database_url, "projections", "rebuild")
    assert rebuilt["rebuilt"]["queue_tables"] > 0
    assert ok_json(database_url, "projections", "status")["projections"][0]["lag"] == 0
    assert run(database_url, "projections", "verify").returncode == 0


def test_migrate_is_safe_to_run_again_and_commands_refuse_an_unmigrated_database(
        database_url, fresh_database_url):
    assert ok_json(database_url, "migrate") == {
        "applied": [], "definitions": [],
        "imported": {"customers": 0, "queue_entries": 0, "rows": {}, "notes": []}}
    stderr = refused(fresh_database_url, "status", "00000000-0000-0000-0000-000000000000")
    assert "slotqueue migrate" in stderr
    assert len(ok_json(fresh_database_url, "migrate")["applied"]) > 0


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself_and_takes_json(command):
    done = subprocess.run([sys.executable, "-m", "slotqueue", *command.split(), "--help"],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0
    assert "--json" in done.stdout
