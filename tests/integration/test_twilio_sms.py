"""The Twilio SMS provider against a fake Twilio speaking the real wire format (spec service
§3): how each answer is classified, and a real delivery worker that retries, fails, opts out,
waits for Retry-After and never resends a text Twilio may have, as the fake received it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import psycopg
import pytest
from fake_twilio import FROM, HANG, SID, TOKEN, Fail, FakeTwilio
from test_deliveries import deliveries, deposit_asked, wait_for

from slotqueue.adapters.messaging import PERMANENT, SENT, TRANSIENT, UNKNOWN, Outgoing
from slotqueue.adapters.twilio_sms import TwilioSms, retry_after
from slotqueue.bootstrap import Service, delivery_worker
from slotqueue.processes.delivery_worker import DeliveryWorker
from slotqueue.settings import Settings

PHONE = "+18085550101"
CALLBACK = "https://queue.example/v1/webhooks/twilio/status?delivery=d1"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    server = FakeTwilio().start()
    yield server
    server.stop()


@pytest.fixture
def sms(fake: FakeTwilio) -> Iterator[TwilioSms]:
    sender = TwilioSms(SID, TOKEN, FROM, fake.base_url, timeout=1.0)
    yield sender
    sender.close()


def text(to: str = PHONE, body: str = "DMV Queue: you are number 3.",
         callback: str | None = CALLBACK) -> Outgoing:
    return Outgoing(channel="sms", to=to, kind="status", body=body, callback_url=callback)


def test_an_accepted_text_is_sent_with_twilios_sid_and_reaches_it_once_as_written(fake, sms):
    outcome = sms.send(text())
    [got] = fake.received
    assert (outcome.kind, outcome.provider_id) == (SENT, got.sid)
    assert got.sid is not None
    assert got.sid.startswith("SM")
    assert len(got.sid) == 34
    assert (got.to, got.from_, got.body, got.status_callback) == (
        PHONE, FROM, "DMV Queue: you are number 3.", CALLBACK)
    sms.send(text(callback=None))
    assert fake.received[1].status_callback is None  # not sent when there is none


def test_a_messaging_service_sid_sends_from_the_service_instead_of_a_number(fake):
    service = "MG" + "0" * 32
    sender = TwilioSms(SID, TOKEN, service, fake.base_url, timeout=1.0)
    try:
        assert sender.send(text()).kind == SENT
    finally:
        sender.close()
    assert [r.from_ for r in fake.received] == [service]


@pytest.mark.parametrize("code", [21211, 21614])
def test_a_number_that_can_never_get_a_text_fails_permanently_naming_twilios_code(
        fake, sms, code):
    fake.script(Fail(400, code))
    outcome = sms.send(text())
    assert outcome.kind == PERMANENT
    assert not outcome.opted_out
    assert outcome.error is not None
    assert outcome.error.startswith(f"twilio {code}: ")
    assert PHONE not in outcome.error
    assert "8085550101" not in outcome.error
    if code == 21211:
        assert "+1 808 •••-0101 is not a valid phone number" in outcome.error


def test_an_unsubscribed_recipient_fails_permanently_and_says_it_opted_out(fake, sms):
    fake.script(Fail(400, 21610))
    outcome = sms.send(text())
    assert (outcome.kind, outcome.opted_out) == (PERMANENT, True)
    assert outcome.error == "twilio 21610: Attempt to send to unsubscribed recipient"


def test_refused_credentials_are_transient_and_never_quote_the_token(fake):
    wrong = TwilioSms(SID, "not-the-token", FROM, fake.base_url, timeout=1.0)
    try:
        outcome = wrong.send(text())
    finally:
        wrong.close()
    assert outcome.kind == TRANSIENT
    assert outcome.error is not None
    assert "refused our credentials" in outcome.error
    assert "twilio 20003" in outcome.error
    assert "not-the-token" not in outcome.error


def test_too_many_requests_is_transient_with_twilios_retry_after(fake, sms):
    fake.script(Fail(429, retry_after=7))
    outcome = sms.send(text())
    assert (outcome.kind, outcome.retry_after) == (TRANSIENT, 7.0)
    assert sms.send(text()).retry_after is None  # the next answer's own headers


def test_a_server_error_is_transient(fake, sms):
    fake.script(Fail(500))
    outcome = sms.send(text())
    assert outcome.kind == TRANSIENT
    assert "HTTP 500" in (outcome.error or "")


def test_no_connection_is_transient_and_nothing_went_out(fake):
    fake.stop()
    closed = TwilioSms(SID, TOKEN, FROM, fake.base_url, timeout=1.0)
    outcome = closed.send(text())
    closed.close()
    assert outcome.kind == TRANSIENT
    assert "nothing was sent" in (outcome.error or "")


def test_no_answer_after_the_request_went_out_is_unknown(fake, sms):
    fake.script(HANG)
    outcome = sms.send(text())
    assert outcome.kind == UNKNOWN
    assert "may have sent" in (outcome.error or "")
    assert len(fake.received) == 1


def test_each_sender_thread_reads_its_own_answers_retry_after(fake, sms):
    fake.script(Fail(429, retry_after=5), to="+18085550111")
    found: dict[str, Any] = {}
    threads = [threading.Thread(target=lambda p=p: found.__setitem__(p, sms.send(text(p))))
               for p in ("+18085550111", "+18085550112", "+18085550113")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found["+18085550111"].retry_after == 5.0
    assert [found[p].kind for p in ("+18085550112", "+18085550113")] == [SENT, SENT]


def test_the_twilio_packages_request_lines_stay_out_of_the_log(fake, sms, caplog):
    caplog.set_level(logging.DEBUG)
    sms.send(text())
    assert not [r for r in caplog.records if r.name.startswith("twilio")]


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert retry_after("12") == 12.0
    assert retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after("soon") is None
    assert retry_after(None) is None


# A real delivery worker ----------------------------------------------------------------------


@pytest.fixture
def twilio_worker(settings: Settings, database_url: str, fake: FakeTwilio
                  ) -> Iterator[Callable[..., DeliveryWorker]]:
    started: list[DeliveryWorker] = []

    def start(**changes: Any) -> DeliveryWorker:
        chosen = settings.model_copy(update={
            "sms_provider": "twilio", "twilio_account_sid": SID, "twilio_auth_token": TOKEN,
            "twilio_from": FROM, "twilio_api_base": fake.base_url,
            "delivery_timeout_seconds": 1.0, **changes})
        started.append(delivery_worker(chosen, database_url).start())
        return started[-1]

    yield start
    for worker in started:
        worker.stop(timeout=5)


def sms_row(service: Service, db: psycopg.Connection[Any], status: str,
            message_type: str = "deposit_needed") -> dict[str, Any] | None:
    return next((r for r in deliveries(service, db) if r["channel"] == "sms"
                 and r["message_type"] == message_type and r["status"] == status), None)


def test_a_server_error_then_success_reaches_twilio_once_and_ends_sent(
        service, db, fake, twilio_worker):
    fake.script(Fail(500), to=PHONE)
    twilio_worker()
    deposit_asked(service, "808-555-0101")
    row = wait_for(lambda: sms_row(service, db, "sent"))
    got = fake.to(PHONE)
    assert [r.answered for r in got] == [500, 201]
    assert got[0].body == got[1].body
    assert "Pay your deposit by" in got[1].body
    assert (row["attempts"], row["provider_id"]) == (2, got[1].sid)
    [(delivery_id,)] = db.execute("SELECT id FROM message_deliveries WHERE channel = 'sms'")
    assert got[1].status_callback == (
        f"http://127.0.0.1:8000/v1/webhooks/twilio/status?delivery={delivery_id}")


def test_an_invalid_number_fails_after_one_request(service, db, fake, twilio_worker):
    fake.script(Fail(400, 21211), to=PHONE)
    twilio_worker()
    deposit_asked(service, "808-555-0101")
    row = wait_for(lambda: sms_row(service, db, "failed"))
    assert row["attempts"] == 1
    assert row["last_error"].startswith("twilio 21211: ")
    assert "8085550101" not in row["last_error"]
    assert len(fake.to(PHONE)) == 1


def test_an_unsubscribed_number_fails_opts_the_phone_out_and_later_texts_are_suppressed(
        service, db, fake, twilio_worker):
    fake.script(Fail(400, 21610), to=PHONE)
    twilio_worker()
    entry = deposit_asked(service, "808-555-0101")
    wait_for(lambda: sms_row(service, db, "failed"))
    assert service.app.opted_out(PHONE)
    service.app.cancel(entry, service.clock.now())  # a status text follows
    row = wait_for(lambda: sms_row(service, db, "suppressed", "status"))
    assert row["last_error"] == "the phone opted out (STOP)"
    assert len(fake.to(PHONE)) == 1


def test_too_many_requests_waits_at_least_retry_after(service, db, fake, twilio_worker):
    fake.script(Fail(429, retry_after=3), to=PHONE)
    twilio_worker()
    deposit_asked(service, "808-555-0101")
    wait_for(lambda: sms_row(service, db, "sent"), seconds=15)
    first, second = fake.to(PHONE)
    assert (first.answered, second.answered) == (429, 201)
    assert second.at - first.at >= 3.0


def test_a_hang_ends_unknown_and_is_never_requested_again(service, db, fake, twilio_worker):
    fake.script(HANG, to=PHONE)
    twilio_worker()
    deposit_asked(service, "808-555-0101")
    row = wait_for(lambda: sms_row(service, db, "unknown"))
    assert "may have sent" in row["last_error"]
    time.sleep(1.5)  # a retry, were there one, would come now
    assert len(fake.to(PHONE)) == 1
    assert sms_row(service, db, "unknown") is not None
