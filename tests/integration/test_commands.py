"""Commands against the event store: joins, refusals that write nothing, payments, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slotqueue.adapters.presets import load_presets
from slotqueue.aggregates.errors import DomainError, InvalidInput, NotFound, TransitionRefused
from slotqueue.aggregates.matcher import Selection
from slotqueue.projections import audit

from dbsupport import NOW, at_once, event_count, snapshot

GRACE = timedelta(minutes=120)


def _selection(**changes):
    base = {"timezone": "Pacific/Honolulu", "date_horizon_key": "w8",
            "weekday_rule_key": "any_weekday", "custom_weekdays": (),
            "time_block_keys": ("early",)}
    return Selection(**{**base, **changes})


def test_a_customer_with_an_open_entry_gets_that_entry_back(service):
    first = service.app.join("808-555-0101", None, NOW)
    again = service.app.join("(808) 555-0101", "new@example.com", NOW)
    assert (again.customer_id, again.queue_entry_id) == (first.customer_id, first.queue_entry_id)
    assert not again.new_entry
    assert service.app.customer(first.customer_id).email == "new@example.com"
    service.app.cancel(first.queue_entry_id, NOW)
    third = service.app.join("+1 808 555 0101", None, NOW)
    assert third.new_entry
    assert third.queue_entry_id != first.queue_entry_id


def test_concurrent_joins_for_one_phone_make_one_customer_and_one_entry(settings, service, db):
    results = at_once(settings, service.url, 6,
                      lambda svc: svc.app.join("808-555-0123", None, NOW))
    assert len(results) == 6
    assert len({r.queue_entry_id for r in results}) == 1
    assert sum(r.new_entry for r in results) == 1
    service.catch_up()
    assert db.execute("SELECT count(*) FROM queue_entries").fetchone() == (1,)


@pytest.mark.parametrize(("phone", "email", "named"), [
    ("12345", None, "'12345'"),
    ("", None, "''"),
    ("808-555-0101", "not-an-email", "'not-an-email'"),
    ("808-555-0101'; DROP TABLE customers; --", None, "DROP TABLE"),
])
def test_a_bad_join_is_refused_by_name_and_writes_nothing(service, db, phone, email, named):
    before, events = snapshot(db), event_count(db)
    with pytest.raises(InvalidInput, match=named.replace("'", ".")):
        service.app.join(phone, email, NOW)
    service.catch_up()
    assert (snapshot(db), event_count(db)) == (before, events)


def test_bad_selections_and_locations_are_refused_by_name_and_write_nothing(
        service, db, add_location):
    known = add_location("Kapolei")
    customer = service.app.join("808-555-0144", None, NOW).customer_id
    service.catch_up()
    before, events = snapshot(db), event_count(db)
    presets = load_presets(db)
    db.execute("UPDATE target_window_presets SET active = false WHERE key = 'w12'")
    inactive = load_presets(db)
    refusals = [
        (lambda: service.app.select_windows(customer, _selection(date_horizon_key="w5"),
                                            presets, NOW), "w5"),
        (lambda: service.app.select_windows(customer, _selection(date_horizon_key="w12"),
                                            inactive, NOW), "w12"),
        (lambda: service.app.select_windows(customer, _selection(time_block_keys=()),
                                            presets, NOW), "time block"),
        (lambda: service.app.select_windows(customer, _selection(
            weekday_rule_key="custom_weekdays", custom_weekdays=(1, 6)), presets, NOW), "6"),
        (lambda: service.app.select_windows(customer, _selection(timezone="Mars/Base"),
                                            presets, NOW), "Mars/Base"),
        (lambda: service.app.prefer_locations(
            customer, [known, customer], [known], NOW), str(customer)),
        (lambda: service.app.prefer_locations(customer, [], [known], NOW), "no locations"),
    ]
    for refuse, named in refusals:
        with pytest.raises(InvalidInput, match=named):
            refuse()
    service.catch_up()
    assert (snapshot(db), event_count(db)) == (before, events)


def test_commands_on_unknown_or_wrong_ids_are_refused_and_write_nothing(service, db):
    joined = service.app.join("808-555-0155", None, NOW)
    events = event_count(db)
    with pytest.raises(NotFound, match="queue entry"):
        service.app.pause(joined.customer_id, NOW)  # a customer id is not an entry id
    with pytest.raises(NotFound, match="customer"):
        service.app.customer(joined.queue_entry_id)
    with pytest.raises(TransitionRefused, match="queued"):
        service.app.resume(joined.queue_entry_id, NOW)
    assert event_count(db) == events


def test_a_repeated_payment_is_recorded_once_and_a_stray_one_needs_a_refund(service, db):
    entry = service.app.join("808-555-0166", None, NOW).queue_entry_id
    assert service.app.record_payment(entry, "early-pay", NOW) is False  # nothing due yet
    service.app.require_deposit(entry, NOW, GRACE)
    assert service.app.record_payment(entry, "pay-1", NOW) is True
    events = event_count(db)
    assert service.app.record_payment(entry, "pay-1", NOW) is True
    assert service.app.record_payment(entry, "early-pay", NOW) is False
    assert event_count(db) == events
    state = service.app.entry(entry)
    assert (state.status, state.deposit_status, state.refunds_due) == (
        "active", "paid", ["early-pay"])
    assert service.app.refund(entry, NOW) == ["early-pay"]  # stray money goes back at once
    with pytest.raises(TransitionRefused, match="cancel it first"):
        service.app.refund(entry, NOW)
    service.app.cancel(entry, NOW)
    assert service.app.refund(entry, NOW) == ["pay-1"]
    assert service.app.entry(entry).deposit_status == "refunded"
    service.catch_up()
    keys = {k for (k,) in db.execute("SELECT dedupe_key FROM message_log")}
    assert f"status:{entry}:refund_needed:early-pay" in keys


def test_a_payment_recorded_before_the_lapse_wins(service):
    entry = service.app.join("808-555-0177", None, NOW).queue_entry_id
    service.app.require_deposit(entry, NOW, GRACE)
    late = NOW + GRACE + timedelta(minutes=1)  # past the deadline, lapse not yet processed
    assert service.app.record_payment(entry, "pay-late", late) is True
    with pytest.raises(DomainError):
        service.app.lapse_deposit(entry, late)
    assert service.app.entry(entry).status == "active"


def test_audit_replays_an_entry_and_its_state_at_any_moment(service):
    joined = service.app.join("808-555-0188", None, NOW)
    entry = joined.queue_entry_id
    service.app.require_deposit(entry, NOW + timedelta(minutes=1), GRACE)
    service.app.record_payment(entry, "pay-9", NOW + timedelta(minutes=30))
    service.app.pause(entry, NOW + timedelta(hours=1))
    lines = audit.entry_history(service.app, entry, None)
    assert [(line.name, line.status, line.deposit_status) for line in lines] == [
        ("Joined", "queued", "none"), ("DepositRequired", "deposit_required", "required"),
        ("TimerSet", "deposit_required", "required"), ("DepositPaid", "active", "paid"),
        ("TimerCanceled", "active", "paid"), ("Paused", "paused", "paid")]
    assert lines[3].data["payment_ref"] == "pay-9"
    assert (lines[2].data["name"], lines[2].data["due_at"]) == (
        "deposit_lapse", NOW + timedelta(minutes=1) + GRACE)  # the deadline, as a timer
    assert lines[4].data["reason"] == "deposit paid"
    assert [line.at for line in lines] == [
        NOW, NOW + timedelta(minutes=1), NOW + timedelta(minutes=1),
        NOW + timedelta(minutes=30), NOW + timedelta(minutes=30), NOW + timedelta(hours=1)]
    moment = NOW + timedelta(minutes=10)
    assert len(audit.entry_history(service.app, entry, moment)) == 3
    assert audit.entry_state(audit.state_as_of(service.app, entry, moment))["status"] == (
        "deposit_required")
    everything = audit.customer_history(service.app, joined.customer_id, None)
    assert [line.name for line in everything][:3] == ["Registered", "Joined", "EntryOpened"]
    state = audit.customer_state(service.app, joined.customer_id, moment)
    assert [e["status"] for e in state["entries"]] == ["deposit_required"]
    with pytest.raises(NotFound):
        audit.entry_history(service.app, joined.customer_id, None)
