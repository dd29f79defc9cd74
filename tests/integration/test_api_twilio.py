"""Twilio's webhooks over HTTP on a real database (spec service §3): signed inbound texts opt
a phone out and in and get the help text; unsigned or forged ones are refused with nothing
recorded; status callbacks from the fake Twilio, for texts a real worker sent through it,
settle the deliveries. Verification codes go through the configured SMS provider."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import psycopg
import pytest
from api_support import Api, make_api
from fake_twilio import FROM, SID, TOKEN, Fail, FakeTwilio
from psycopg import sql
from test_deliveries import deliveries, deposit_asked, start_worker, wait_for
from twilio.request_validator import RequestValidator

from slotqueue.adapters.twilio_sms import TwilioSms
from slotqueue.bootstrap import build, delivery_worker
from slotqueue.projections.messages import help_text
from slotqueue.settings import Settings

__all__ = ["start_worker"]  # a fixture of test_deliveries: the worker with console providers
PUBLIC = "https://queue.example"
PHONE, DIALED = "+18085550101", "808-555-0101"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, twilio_auth_token=TOKEN, public_url=PUBLIC)


@pytest.fixture
def api(service: Any) -> Iterator[Api]:
    made = make_api(service)
    yield made
    made.deps.reads.close()


def signed(api: Api, path: str, params: dict[str, str], token: str = TOKEN) -> Any:
    signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return api.client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def inbound(api: Api, body: str, phone: str = PHONE, **changes: str) -> Any:
    params = {"From": phone, "To": FROM, "Body": body, "MessageSid": "SM" + "1" * 32,
              "AccountSid": SID, **changes}
    return signed(api, "/v1/webhooks/twilio/inbound", params)


def replied(answer: Any) -> str | None:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(answer.text)
    assert root.tag == "Response"
    message = root.find("Message")
    return None if message is None else message.text


def events(service: Any) -> int:
    return int(service.app.recorder.max_notification_id() or 0)


def test_stop_opts_the_phone_out_and_the_next_deposit_text_is_suppressed(
        service, db, api, start_worker):
    assert replied(inbound(api, "Stop.")) is None
    assert service.app.opted_out(PHONE)
    _, outbox = start_worker()
    deposit_asked(service, DIALED)
    [row] = wait_for(lambda: [r for r in deliveries(service, db) if r["status"] == "suppressed"])
    assert row["last_error"] == "the phone opted out (STOP)"
    assert outbox.lines() == []


@pytest.mark.parametrize("word", ["STOPALL", "unsubscribe", "Cancel", "END", "quit"])
def test_every_stop_word_opts_out(service, api, word):
    assert replied(inbound(api, f"{word} please")) is None
    assert service.app.opted_out(PHONE)


def test_start_after_stop_lets_the_next_text_through(service, db, api, start_worker):
    inbound(api, "STOP")
    assert replied(inbound(api, "unstop")) is None
    assert not service.app.opted_out(PHONE)
    _, outbox = start_worker()
    deposit_asked(service, DIALED)
    [line] = wait_for(outbox.lines)
    assert (line["to"], line["type"]) == (PHONE, "deposit_needed")


def test_help_answers_with_the_help_text_in_twiml(service, api):
    before = events(service)
    assert replied(inbound(api, "help")) == help_text(service.texts)
    assert replied(inbound(api, "INFO")) == help_text(service.texts)
    assert replied(inbound(api, "what is this?")) is None  # anything else: no reply (yet)
    assert events(service) == before


@pytest.mark.parametrize("how", ["unsigned", "wrong token", "tampered body", "other url"])
def test_an_unsigned_or_forged_text_is_refused_and_nothing_is_recorded(service, api, how):
    params = {"From": PHONE, "To": FROM, "Body": "STOP", "AccountSid": SID}
    before = events(service)
    path = "/v1/webhooks/twilio/inbound"
    signature = RequestValidator("not-our-token" if how == "wrong token" else TOKEN
                                 ).compute_signature(PUBLIC + ("/elsewhere" if how == "other url"
                                                               else path), params)
    headers = {} if how == "unsigned" else {"X-Twilio-Signature": signature}
    sent = {**params, "Body": "STOP", "From": "+18085550102"} if how == "tampered body" \
        else params
    answer = api.client.post(path, data=sent, headers=headers)
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert "X-Twilio-Signature" in answer.json()["detail"]
    assert events(service) == before
    assert not service.app.opted_out(PHONE)
    assert not service.app.opted_out("+18085550102")


def test_without_an_auth_token_twilio_webhooks_answer_503_and_record_nothing(
        database_url, api):
    unconfigured = build(Settings(database_url=database_url), database_url)
    bare = make_api(unconfigured)
    try:
        before = events(unconfigured)
        for path in ("/v1/webhooks/twilio/inbound", "/v1/webhooks/twilio/status?delivery=x"):
            answer = bare.client.post(path, data={"From": PHONE, "Body": "STOP"},
                                      headers={"X-Twilio-Signature": "anything"})
            assert answer.status_code == 503
            assert "SLOTQUEUE_TWILIO_AUTH_TOKEN" in answer.json()["detail"]
        assert events(unconfigured) == before
    finally:
        bare.deps.reads.close()
        unconfigured.close()


def test_a_status_callback_for_an_unknown_delivery_is_answered_and_ignored(service, api):
    before = events(service)
    for delivery in ("not-a-uuid", "6b1c0f0e-2c57-4b7e-9d53-0a9f6f1d2e31"):
        answer = signed(api, f"/v1/webhooks/twilio/status?delivery={delivery}",
                        {"MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered"})
        assert answer.status_code == 200
        assert answer.json()["outcome"] == "unknown_delivery"
    assert events(service) == before


# Status callbacks for texts a real worker sent through the fake Twilio -----------------------


@pytest.fixture
def twilio_sending(settings, database_url, api) -> Iterator[FakeTwilio]:
    """A fake Twilio whose status callbacks reach this app, and a worker sending through it."""
    def post(url: str, params: dict[str, str], headers: dict[str, str]) -> int:
        parts = urlsplit(url)
        return int(api.client.post(f"{parts.path}?{parts.query}", data=params,
                                   headers=headers).status_code)

    fake = FakeTwilio(callbacks=post).start()
    worker = delivery_worker(settings.model_copy(update={
        "sms_provider": "twilio", "twilio_account_sid": SID, "twilio_from": FROM,
        "twilio_api_base": fake.base_url, "delivery_timeout_seconds": 1.0}),
        database_url).start()
    yield fake
    worker.stop(timeout=5)
    fake.stop()


def _sms(service, db) -> dict[str, Any] | None:
    return next((r for r in deliveries(service, db) if r["channel"] == "sms"), None)


def test_a_delivered_callback_marks_the_delivery_delivered(service, db, twilio_sending):
    deposit_asked(service, DIALED)
    row = wait_for(lambda: (found := _sms(service, db)) and found["status"] == "delivered"
                   and found)
    [sent] = twilio_sending.to(PHONE)
    assert row["provider_id"] == sent.sid
    wait_for(lambda: len(twilio_sending.reported) == 2)  # the fake notes an answer once read
    assert [(p["MessageStatus"], answer) for _, p, answer in twilio_sending.reported] == [
        ("sent", 200), ("delivered", 200)]


def test_an_undelivered_callback_fails_the_delivery_with_twilios_error_code(
        service, db, twilio_sending):
    twilio_sending.script(Fail(400, 30003, later=True), to=PHONE)
    deposit_asked(service, DIALED)
    row = wait_for(lambda: (found := _sms(service, db)) and found["status"] == "failed"
                   and found)
    assert row["last_error"] == "twilio 30003"
    assert len(twilio_sending.to(PHONE)) == 1


def test_a_repeated_callback_changes_nothing(service, db, twilio_sending):
    deposit_asked(service, DIALED)
    wait_for(lambda: (found := _sms(service, db)) and found["status"] == "delivered")
    wait_for(lambda: len(twilio_sending.reported) == 2)
    url, params, _ = twilio_sending.reported[-1]
    assert params["MessageStatus"] == "delivered"
    before = events(service)
    assert twilio_sending.post_signed(url, params) == 200
    assert events(service) == before


def test_a_status_callback_is_answered_while_the_projections_are_busy(
        service, db, database_url, twilio_sending):
    # Twilio gives up on a callback after about 15 s. When each callback brought the
    # projections up to date before answering, a burst of them queued behind one another
    # (the deliveries drill: 12 s at the median, 391 of 1,000 texts left `sent`).
    view = service.view
    tracking = sql.Identifier(view.datastore.schema, view.tracking_table_name)
    with psycopg.connect(database_url) as busy:  # another writer of the projected tables
        busy.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(tracking))
        deposit_asked(service, DIALED)
        wait_for(lambda: len(twilio_sending.reported) == 2, seconds=5)
    assert [(p["MessageStatus"], answer) for _, p, answer in twilio_sending.reported] == [
        ("sent", 200), ("delivered", 200)]
    assert _sms(service, db)["status"] == "delivered"


# Verification codes through the configured provider -------------------------------------------


@pytest.fixture
def coded(service) -> Iterator[tuple[Api, FakeTwilio]]:
    fake = FakeTwilio().start()
    sms = TwilioSms(SID, TOKEN, FROM, fake.base_url, timeout=1.0)
    made = make_api(service)
    made.deps.sms = sms
    yield made, fake
    made.deps.reads.close()
    sms.close()
    fake.stop()


def test_a_code_goes_out_through_twilio_and_never_becomes_a_delivery(service, db, coded):
    api, fake = coded
    answer = api.client.post("/v1/verifications", json={"phone": DIALED})
    assert answer.status_code == 202
    [got] = fake.received
    assert got.to == PHONE
    assert got.status_callback is None
    assert "your code is" in got.body
    assert deliveries(service, db) == []


def test_an_opted_out_phone_gets_no_code_and_is_told_to_text_start(service, coded):
    api, fake = coded
    service.app.opt_out(PHONE, "STOP", service.clock.now())
    answer = api.client.post("/v1/verifications", json={"phone": DIALED})
    assert answer.status_code == 409
    assert PHONE in answer.json()["detail"]
    assert "text START" in answer.json()["detail"]
    assert fake.received == []


def test_a_number_twilio_says_unsubscribed_is_opted_out_and_answered_409(service, coded):
    api, fake = coded
    fake.script(Fail(400, 21610))
    answer = api.client.post("/v1/verifications", json={"phone": DIALED})
    assert answer.status_code == 409
    assert service.app.opted_out(PHONE)


def test_an_invalid_number_is_a_422_naming_the_phone(coded):
    api, fake = coded
    fake.script(Fail(400, 21211))
    answer = api.client.post("/v1/verifications", json={"phone": DIALED})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "phone"
    assert "twilio 21211" in answer.json()["detail"]


@pytest.mark.parametrize(("failure", "wait"), [(Fail(500), "30"), (Fail(429, retry_after=12),
                                                                     "12")])
def test_a_provider_that_did_not_take_the_code_is_a_503_with_retry_after(coded, failure, wait):
    api, fake = coded
    fake.script(failure)
    answer = api.client.post("/v1/verifications", json={"phone": DIALED})
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["Retry-After"] == wait
    assert fake.received[0].body not in answer.text


def test_a_provider_that_may_have_the_code_is_answered_as_sent(coded):
    api, fake = coded
    fake.script("hang")
    answer = api.client.post("/v1/verifications", json={"phone": DIALED})
    assert answer.status_code == 202
    assert len(fake.received) == 1
