"""The delivery worker on a real database with the console provider (spec service §3): every
message reaches the provider once per channel, its delivery is recorded and projected, and
the rules (purpose passed, STOP, quiet hours, the crash rule, an operator's retry) hold."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import psycopg
import pytest

from slotqueue.adapters.messaging import Console
from slotqueue.aggregates.delivery import Delivery
from slotqueue.aggregates.delivery_policy import QuietHours
from slotqueue.application.deliveries import messages_of
from slotqueue.bootstrap import Service, delivery_worker
from slotqueue.processes.delivery_worker import DeliveryRules, DeliveryWorker
from slotqueue.settings import Settings

pytestmark = pytest.mark.integration
GRACE = timedelta(minutes=120)


class Outbox:
    """What the console providers of one worker wrote, one JSON object per line."""

    def __init__(self) -> None:
        self.sms, self.email = io.StringIO(), io.StringIO()

    def senders(self) -> dict[str, Console]:
        return {"sms": Console("sms", self.sms), "email": Console("email", self.email)}

    def lines(self, channel: str = "sms") -> list[dict[str, Any]]:
        text = (self.sms if channel == "sms" else self.email).getvalue()
        return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def start_worker(settings: Settings, database_url: str
                 ) -> Iterator[Callable[..., tuple[DeliveryWorker, Outbox]]]:
    started: list[DeliveryWorker] = []

    def start(rules: DeliveryRules | None = None, **changes: Any) -> tuple[DeliveryWorker, Outbox]:
        outbox = Outbox()
        worker = delivery_worker(settings.model_copy(update=changes), database_url,
                                 senders=outbox.senders())  # type: ignore[arg-type]
        if rules is not None:
            worker.rules = rules
        started.append(worker.start())
        return worker, outbox

    yield start
    for worker in started:
        worker.stop(timeout=5)


def wait_for(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"not within {seconds} s: {check}")


def deliveries(service: Service, db: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    service.catch_up()
    cur = db.execute("SELECT channel, message_type, status, attempts, recipient, provider_id, "
                     "last_error, message_id FROM message_deliveries ORDER BY created_at, channel")
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def deposit_asked(service: Service, phone: str, email: str | None = None) -> UUID:
    joined = service.app.join(phone, email)
    service.app.require_deposit(joined.queue_entry_id, service.clock.now(), GRACE)
    return joined.queue_entry_id


def test_a_deposit_request_reaches_the_phone_and_the_inbox_once_each(
        service: Service, db: psycopg.Connection[Any], start_worker: Any) -> None:
    _, outbox = start_worker()
    deposit_asked(service, "808-555-0101", "kai@example.com")
    [sms] = wait_for(lambda: outbox.lines("sms"))
    [mail] = wait_for(lambda: outbox.lines("email"))
    assert sms["to"] == "+18085550101"
    assert sms["type"] == "deposit_needed"
    assert "Pay your deposit by" in sms["body"]
    assert mail["to"] == "kai@example.com"
    def both_sent() -> list[dict[str, Any]] | None:
        sent = [r for r in deliveries(service, db) if r["status"] == "sent"]
        return sent if len(sent) == 2 else None

    rows = wait_for(both_sent)
    assert {(r["channel"], r["attempts"]) for r in rows} == {("sms", 1), ("email", 1)}
    assert {r["recipient"] for r in rows} == {"+1 808 •••-0101", "k•••@example.com"}
    logged = db.execute("SELECT id FROM message_log WHERE message_type = 'deposit_needed'")
    assert {r["message_id"] for r in rows} == {logged.fetchone()[0]}  # type: ignore[index]


def test_two_workers_send_every_message_once(
        service: Service, db: psycopg.Connection[Any], start_worker: Any) -> None:
    (_, first), (_, second) = start_worker(), start_worker()
    phones = [f"808-555-{n:04d}" for n in range(200, 240)]
    for phone in phones:
        joined = service.app.join(phone, None)
        service.app.cancel(joined.queue_entry_id, service.clock.now())
    wait_for(lambda: len(first.lines()) + len(second.lines()) >= len(phones))
    time.sleep(0.5)  # a second send would come now
    sent = [line["to"] for line in first.lines() + second.lines()]
    assert sorted(sent) == sorted(f"+1808555{n:04d}" for n in range(200, 240))


def test_a_deposit_paid_before_its_request_went_out_suppresses_the_request(
        service: Service, db: psycopg.Connection[Any], start_worker: Any) -> None:
    entry = deposit_asked(service, "808-555-0102")
    service.app.record_payment(entry, "pi_1", service.clock.now())
    _, outbox = start_worker()
    wait_for(lambda: len(outbox.lines()) == 1)  # the receipt only
    assert [line["type"] for line in outbox.lines()] == ["deposit_received"]
    rows = wait_for(lambda: [r for r in deliveries(service, db) if r["status"] == "suppressed"])
    assert rows[0]["message_type"] == "deposit_needed"
    assert "no longer needed" in rows[0]["last_error"]


def test_a_phone_that_said_stop_gets_no_texts_and_the_suppression_is_recorded(
        service: Service, db: psycopg.Connection[Any], start_worker: Any) -> None:
    service.app.opt_out("+18085550103", "STOP", service.clock.now())
    _, outbox = start_worker()
    deposit_asked(service, "808-555-0103")
    rows = wait_for(lambda: [r for r in deliveries(service, db) if r["status"] == "suppressed"])
    assert rows[0]["last_error"] == "the phone opted out (STOP)"
    assert outbox.lines() == []


def test_quiet_hours_hold_a_nudge_but_not_a_deposit_request(
        service: Service, db: psycopg.Connection[Any], start_worker: Any) -> None:
    now = service.clock.now()
    local = now.astimezone(ZoneInfo("Pacific/Honolulu"))  # the customer's zone (the default)
    quiet = QuietHours((local - timedelta(hours=1)).time(), (local + timedelta(hours=1)).time())
    _, outbox = start_worker(DeliveryRules(quiet=quiet, timeout_seconds=2))
    customer = service.app.customer(service.app.join("808-555-0104", None).customer_id)
    customer.note_opportunity_passed(local.date().isoformat(), uuid4(), now)
    service.app.save(customer)
    deposit_asked(service, "808-555-0105")
    wait_for(outbox.lines)
    held = wait_for(lambda: [r for r in deliveries(service, db)
                             if r["message_type"] == "opportunity_passed"])
    assert held[0]["status"] == "queued"
    assert held[0]["attempts"] == 0
    time.sleep(0.3)
    assert [line["type"] for line in outbox.lines()] == ["deposit_needed"]
    row = db.execute("SELECT next_attempt_at FROM message_deliveries "
                     "WHERE message_type = 'opportunity_passed'").fetchone()
    assert row is not None
    assert row[0] == datetime.combine(local.date(), quiet.end, tzinfo=local.tzinfo) or (
        row[0] > now + timedelta(minutes=59))  # the end of the quiet hours (maybe tomorrow's)


def test_a_delivery_left_sending_by_a_dead_worker_becomes_unknown_and_only_an_operator_resends_it(
        service: Service, db: psycopg.Connection[Any], start_worker: Any) -> None:
    joined = service.app.join("808-555-0106", None)
    service.app.cancel(joined.queue_entry_id, service.clock.now())
    service.catch_up()
    [row] = db.execute("SELECT id, customer_id, message_type, dedupe_key, meta_json "
                       "FROM message_log").fetchall()
    message = messages_of([dict(zip(("id", "customer_id", "message_type", "dedupe_key",
                                     "meta_json"), row, strict=True))])[0]
    [queued] = service.app.queue_deliveries(service.app.deliveries_for(
        message, "DMV Queue", "Pacific/Honolulu", service.clock.now()))
    claimed = service.app.claim_delivery(queued.id, "dead-worker", timedelta(seconds=0.5),
                                         service.clock.now())
    assert claimed is not None
    _, outbox = start_worker()
    wait_for(lambda: service.app.delivery(queued.id).status == "unknown")
    time.sleep(0.3)
    assert outbox.lines() == [], "never resent by the worker alone"
    assert "dead-worker" in (service.app.delivery(queued.id).last_error or "")
    service.app.retry_delivery(queued.id, "key:ops", service.clock.now())
    [line] = wait_for(outbox.lines)
    assert line["type"] == "status"
    assert isinstance(service.app.delivery(queued.id), Delivery)
    wait_for(lambda: service.app.delivery(queued.id).status == "sent")
    assert service.app.delivery(queued.id).attempts == 2
