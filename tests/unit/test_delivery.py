"""The Delivery aggregate, its rule table and the pure delivery rules (spec service §3)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from slotqueue.aggregates import delivery_states as states
from slotqueue.aggregates.delivery import Delivery
from slotqueue.aggregates.delivery_policy import QuietHours, backoff, channels, not_after
from slotqueue.aggregates.errors import InvalidInput, TransitionRefused
from slotqueue.aggregates.phone_opt_out import PhoneOptOut, keyword
from slotqueue.processes.due_queue import DueQueue

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)


def queued() -> Delivery:
    return Delivery(message_id=uuid4(), dedupe_key="status:x:canceled", customer_id=uuid4(),
                    channel="sms", message_type="status", to="+18085550101", subject=None,
                    body="DMV Queue: your place in the line is canceled.", at=NOW)


def sending() -> Delivery:
    d = queued()
    d.start_sending("w1", LATER, NOW)
    return d


def test_a_delivery_goes_queued_sending_sent_delivered_recording_each_step() -> None:
    d = queued()
    assert d.start_sending("w1", LATER, NOW) == 1
    d.record_sent(1, "SM1", NOW)
    assert d.provider_reported(True, "SM1", None, NOW)
    names = [type(e).__name__ for e in d.collect_events()]
    assert names == ["Queued", "SendingStarted", "Sent", "ProviderReported"]
    assert (d.status, d.attempts, d.provider_id) == (states.DELIVERED, 1, "SM1")


# (status, trigger) pairs the table allows; everything else is refused, nothing recorded.
ALLOWED = {
    (states.QUEUED, "hold"), (states.QUEUED, "send"), (states.QUEUED, "suppress"),
    (states.SENDING, "accept"), (states.SENDING, "retry_later"), (states.SENDING, "fail"),
    (states.SENDING, "lose_track"), (states.SENDING, "report_delivered"),
    (states.SENDING, "report_failed"), (states.SENT, "report_delivered"),
    (states.SENT, "report_failed"), (states.UNKNOWN, "accept"),
    (states.UNKNOWN, "retry_later"), (states.UNKNOWN, "fail"),
    (states.UNKNOWN, "report_delivered"), (states.UNKNOWN, "report_failed"),
    (states.UNKNOWN, "retry"), (states.FAILED, "retry"),
}
TRIGGERS = sorted({t for _, t in ALLOWED})


@pytest.mark.parametrize("status", states.STATUSES)
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_the_rule_table_allows_exactly_the_listed_transitions(status: str, trigger: str) -> None:
    if (status, trigger) in ALLOWED:
        assert states.next_status(status, trigger) in states.STATUSES
    else:
        with pytest.raises(TransitionRefused, match=status):
            states.next_status(status, trigger)


def test_a_refused_command_records_nothing() -> None:
    d = queued()
    d.collect_events()
    for command in (lambda: d.record_sent(1, "SM1", NOW), lambda: d.request_retry("ops", NOW),
                    lambda: d.lose_track(1, "?", NOW)):
        with pytest.raises(TransitionRefused):
            command()
    assert d.collect_events() == []
    assert d.status == states.QUEUED


def test_the_providers_late_word_settles_an_unknown_delivery_and_repeats_change_nothing() -> None:
    d = sending()
    d.lose_track(1, "worker died", NOW)
    assert d.is_attempt(1)
    assert d.provider_reported(False, "SM1", "twilio 30003", NOW)
    assert d.status == states.FAILED
    assert d.last_error == "twilio 30003"
    assert not d.provider_reported(False, "SM1", "twilio 30003", NOW)


def test_an_operators_retry_grants_a_fresh_set_of_tries() -> None:
    d = sending()
    d.record_failed(1, "gave up", NOW)
    d.request_retry("key:ops", NOW)
    assert (d.status, d.attempts_since_retry, d.next_attempt_at) == (states.QUEUED, 0, NOW)
    assert d.start_sending("w2", LATER, NOW) == 2
    assert d.attempts_since_retry == 1


def test_email_goes_only_for_money_bookings_and_offers() -> None:
    assert channels("deposit_needed", "+1808", "a@b.co") == [("sms", "+1808"),
                                                              ("email", "a@b.co")]
    assert channels("status", "+1808", "a@b.co") == [("sms", "+1808")]
    assert channels("booked", None, "a@b.co") == [("email", "a@b.co")]
    assert not_after("deposit_needed", {"expires_at": NOW.isoformat()}) == NOW
    assert not_after("booked", {"expires_at": NOW.isoformat()}) is None


@pytest.mark.parametrize(("local", "until"), [
    ("20:59", None), ("21:00", "2026-11-24 08:00"), ("23:30", "2026-11-24 08:00"),
    ("00:10", "2026-11-23 08:00"), ("07:59", "2026-11-23 08:00"), ("08:00", None),
])
def test_quiet_hours_run_from_nine_at_night_to_eight_in_the_morning_local(
        local: str, until: str | None) -> None:
    zone = "Pacific/Honolulu"
    moment = datetime.fromisoformat(f"2026-11-23 {local}").replace(tzinfo=ZoneInfo(zone))
    found = QuietHours().until(moment, zone)
    expected = None if until is None else datetime.fromisoformat(until).replace(
        tzinfo=ZoneInfo(zone))
    assert found == expected


def test_quiet_hours_parse_and_refuse_nonsense() -> None:
    assert QuietHours.parse("22:30-07:00") == QuietHours(time(22, 30), time(7, 0))
    assert QuietHours.parse("01:00-05:00").until(
        datetime(2026, 1, 1, 2, tzinfo=UTC), "UTC") == datetime(2026, 1, 1, 5, tzinfo=UTC)
    for bad in ("21-8", "25:00-08:00", "08:00-08:00", ""):
        with pytest.raises(InvalidInput, match="quiet hours"):
            QuietHours.parse(bad)


def test_backoff_doubles_keeps_a_random_half_is_capped_and_honours_retry_after() -> None:
    assert backoff(1, 0.0) == timedelta(seconds=1)
    assert backoff(1, 0.999) < timedelta(seconds=2)
    assert backoff(4, 0.0) == timedelta(seconds=8)
    assert backoff(30, 1.0) == timedelta(minutes=15)
    assert backoff(1, 0.0, retry_after=timedelta(seconds=40)) == timedelta(seconds=40)


def test_stop_and_start_words_and_opting_out_twice_records_once() -> None:
    assert [keyword(w) for w in ("stop", " Stop. ", "UNSTOP please", "", "1")] == [
        "STOP", "STOP", "UNSTOP", "", "1"]
    phone = PhoneOptOut("+18085550101", NOW)
    assert phone.opt_out("STOP", NOW)
    assert not phone.opt_out("QUIT", NOW)
    assert phone.opt_in("START", NOW)
    assert not phone.opt_in("START", NOW)
    assert [type(e).__name__ for e in phone.collect_events()] == ["Started", "OptedOut",
                                                                   "OptedIn"]


def test_the_due_queue_hands_out_an_id_once_at_its_earliest_time() -> None:
    due = DueQueue()
    first, second = uuid4(), uuid4()
    now = datetime.now(UTC)
    due.push(first, now + timedelta(hours=1))
    due.push(first, now - timedelta(seconds=1))  # earlier wins
    due.push(first, now + timedelta(hours=2))  # later: ignored
    due.push(second, now + timedelta(hours=1))
    assert due.pop(timeout=0.5) == first
    assert due.pop(timeout=0.05) is None
    assert len(due) == 1
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(due.pop(timeout=5)))
    waiter.start()
    due.push(second, datetime.now(UTC))  # wakes the waiting thread
    waiter.join(5)
    assert got == [second]


def test_metrics_show_deliveries_by_channel_and_status_and_timers_by_kind() -> None:
    from slotqueue.api.metrics import Metrics, Readings  # noqa: PLC0415 - the web stack

    metrics = Metrics()
    metrics.timer_lateness.observe(0.2)
    text = metrics.render(Readings(database_up=True, deliveries={("sms", "unknown"): 2},
                                   timers={"deposit_lapse": (5, 1)}))
    lines = text.decode().splitlines()
    assert 'slotqueue_deliveries{channel="sms",status="unknown"} 2.0' in lines
    assert 'slotqueue_deliveries{channel="email",status="delivered"} 0.0' in lines
    assert 'slotqueue_timers_set{kind="deposit_lapse"} 5.0' in lines
    assert 'slotqueue_timers_overdue{kind="deposit_lapse"} 1.0' in lines
    assert 'slotqueue_timer_lateness_seconds_bucket{le="0.25"} 1.0' in lines
