"""The queue_tables projection: rows from events, idempotent delivery, rebuild, verify."""

from __future__ import annotations

from datetime import timedelta

from eventsourcing.persistence import Tracking

from slotqueue.adapters.presets import load_presets
from slotqueue.aggregates.matcher import Selection
from slotqueue.bootstrap import store_env
from slotqueue.processes.projection_runner import SupervisedProjection
from slotqueue.projections import maintenance, writes
from slotqueue.projections.queue_projection import event_writes

from dbsupport import NOW, at_once, event_count, snapshot

GRACE = timedelta(minutes=120)


def _populate(service, add_location, db, customers=5):
    honolulu = add_location("Dillingham")
    kapolei = add_location("Kapolei")
    presets = load_presets(db)
    entries = []
    for n in range(customers):
        joined = service.app.join(f"808-555-01{n:02d}", f"c{n}@example.com", NOW)
        service.app.select_windows(joined.customer_id, Selection(
            timezone="Pacific/Honolulu", date_horizon_key="w4", weekday_rule_key="any_weekday",
            custom_weekdays=(), time_block_keys=("early", "midday")), presets, NOW)
        service.app.prefer_locations(joined.customer_id, [honolulu, kapolei][: 1 + n % 2],
                                     [honolulu, kapolei], NOW)
        entries.append(joined.queue_entry_id)
    service.app.require_deposit(entries[0], NOW, GRACE)
    service.app.record_payment(entries[0], "pay-0", NOW + timedelta(minutes=5))
    service.app.record_payment(entries[0], "pay-0-again", NOW + timedelta(minutes=6))
    service.app.require_deposit(entries[1], NOW, GRACE)
    service.app.lapse_deposit(entries[1], NOW + GRACE + timedelta(seconds=1))
    service.app.pause(entries[2], NOW)
    service.app.cancel(entries[3], NOW)
    return entries


def test_the_tables_show_what_the_commands_did(service, add_location, db):
    entries = _populate(service, add_location, db)
    service.catch_up()
    status = dict(db.execute("SELECT id, status || '/' || deposit_status FROM queue_entries"))
    assert [status[e] for e in entries] == [
        "active/paid", "expired/expired", "paused/none", "canceled/none", "queued/none"]
    paid = db.execute(
        "SELECT deposit_required_at, deposit_paid_at, deposit_expires_at FROM queue_entries "
        "WHERE id = %s", (entries[0],)).fetchone()
    assert paid == (NOW, NOW + timedelta(minutes=5), NOW + GRACE)
    keys = {k for (k,) in db.execute("SELECT dedupe_key FROM message_log")}
    assert keys == {
        f"deposit_needed:{entries[0]}", f"deposit_received:{entries[0]}",
        f"status:{entries[0]}:refund_needed:pay-0-again",
        f"deposit_needed:{entries[1]}", f"status:{entries[1]}:deposit_lapsed",
        f"status:{entries[3]}:canceled",
    }
    assert db.execute("SELECT count(*) FROM customers").fetchone() == (5,)
    assert db.execute("SELECT time_block_keys, date_horizon_key FROM user_target_window_selections"
                      " LIMIT 1").fetchone() == (["early", "midday"], "w4")
    assert db.execute("SELECT count(*) FROM user_location_preferences").fetchone() == (7,)


def test_every_event_delivered_twice_changes_no_table(service, add_location, db):
    _populate(service, add_location, db)
    service.catch_up()
    before = snapshot(db)
    notes = service.app.recorder.select_notifications(start=1, limit=10_000)
    with service.view.datastore.transaction(commit=True) as curs:
        for note in notes:  # the at-least-once monkey: every write again, tracking bypassed
            writes.execute(curs, event_writes(service.app.mapper.to_domain_event(note)))
    assert snapshot(db) == before
    for note in notes:  # a tracked redelivery is recognised and writes nothing
        event = service.app.mapper.to_domain_event(note)
        service.projection.process_event(event, Tracking(service.app.name, note.id))
    assert not service.view.apply(Tracking(service.app.name, notes[-1].id),
                                  event_writes(service.app.mapper.to_domain_event(notes[-1])))
    assert snapshot(db) == before


def test_rebuilding_twice_gives_identical_tables(service, add_location, db):
    _populate(service, add_location, db)
    service.catch_up()
    live = snapshot(db)
    head = service.app.recorder.max_notification_id()
    assert maintenance.rebuild(service.app, service.view) == head
    assert snapshot(db) == live
    assert maintenance.rebuild(service.app, service.view) == head
    assert snapshot(db) == live
    tracking = db.execute("SELECT application_name, notification_id FROM "
                          "slotqueue.queue_tables_tracking ORDER BY 1").fetchall()
    assert tracking == [("__migration__", 1), ("queue", head)]


def test_verify_catches_a_row_changed_behind_its_back(service, add_location, db):
    entries = _populate(service, add_location, db)
    service.catch_up()
    assert maintenance.verify(service.app, service.view) == []
    db.execute("UPDATE queue_entries SET status = 'booked' WHERE id = %s", (entries[4],))
    db.execute("DELETE FROM message_log WHERE dedupe_key = %s", (f"status:{entries[3]}:canceled",))
    diffs = maintenance.verify(service.app, service.view)
    found = {(d.table, d.side) for d in diffs}
    assert found == {("queue_entries", "live only"), ("queue_entries", "replay only"),
                     ("message_log", "replay only")}
    assert any(d.row.get("status") == "booked" for d in diffs)
    maintenance.rebuild(service.app, service.view)
    assert maintenance.verify(service.app, service.view) == []


def test_concurrent_catch_ups_apply_each_event_exactly_once(service, add_location, db, settings):
    _populate(service, add_location, db, customers=12)
    at_once(settings, service.url, 4, lambda svc: svc.catch_up())
    assert maintenance.status(service.app, service.view, "queue_tables").lag == 0
    assert maintenance.verify(service.app, service.view) == []
    assert db.execute("SELECT count(*) FROM customers").fetchone() == (12,)


def test_runner_resumes_from_its_position_after_losing_its_connection(service, add_location, db):
    runner = SupervisedProjection(store_env(service.url), retry_seconds=0.2).start()
    try:
        service.app.join("808-555-0199", None, NOW)
        head = service.app.recorder.max_notification_id()
        service.view.wait(service.app.name, head, timeout=10)
        killed = db.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert killed > 0
        service.app.join("808-555-0198", None, NOW)  # the app's pool reconnects (pre-ping)
        head = service.app.recorder.max_notification_id()
        service.view.wait(service.app.name, head, timeout=15)
        assert runner.restarts >= 1
        phones = {p for (p,) in db.execute("SELECT phone FROM customers")}
        assert phones == {"+18085550199", "+18085550198"}
        assert event_count(db) == head
    finally:
        runner.stop()
