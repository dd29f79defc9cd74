"""The customer audit shows each message with what became of it on each channel (spec service
§3: no message is lost without a trace): `slotqueue audit --customer` in text and JSON, and
`GET /v1/audit/customers/{id}`, from public.message_deliveries, recipients masked."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from api_support import bearer, make_api
from test_cli import ok_json, run
from test_deliveries import deliveries, deposit_asked, start_worker, wait_for

from slotqueue.bootstrap import Service
from slotqueue.projections import audit

pytestmark = pytest.mark.integration
__all__ = ["start_worker"]  # the delivery worker fixture, shared with test_deliveries
PHONE, E164, MASKED = "808-555-0131", "+18085550131", "+1 808 \u2022\u2022\u2022-0131"


@pytest.fixture
def told(service: Service, db: psycopg.Connection[Any], start_worker: Any) -> Any:
    """A deposit request sent by SMS and email; then the phone says STOP and the customer
    cancels: that text is suppressed."""
    _, outbox = start_worker()
    entry = deposit_asked(service, PHONE, "kai@example.com")
    wait_for(lambda: len([r for r in deliveries(service, db) if r["status"] == "sent"]) == 2)
    service.app.opt_out(E164, "STOP", service.clock.now())
    service.app.cancel(entry, service.clock.now())
    wait_for(lambda: [r for r in deliveries(service, db) if r["status"] == "suppressed"])
    assert len(outbox.lines("sms")) == 1
    return service.app.entry(entry).customer_id


def _channels(message: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(d["channel"], d["recipient"], d["status"], d["attempts"], d["last_error"])
            for d in message["deliveries"]]


def test_each_message_shows_its_deliveries_with_status_attempts_and_last_error(
        service: Service, db: psycopg.Connection[Any], told: Any) -> None:
    messages = audit.customer_audit(service.app, db, told, None)["messages"]
    assert [m["message_type"] for m in messages] == ["deposit_needed", "status"]
    deposit, canceled = messages
    assert deposit["text"].startswith("DMV Queue: you're near the front")
    assert _channels(deposit) == [("email", "k\u2022\u2022\u2022@example.com", "sent", 1, None),
                                  ("sms", MASKED, "sent", 1, None)]
    assert all(d["sent_at"] is not None and d["provider_id"] for d in deposit["deliveries"])
    assert _channels(canceled) == [("sms", MASKED, "suppressed", 0,
                                    "the phone opted out (STOP)")]


def test_the_command_prints_the_deliveries_in_text_and_json(
        told: Any, database_url: str) -> None:
    shown = ok_json(database_url, "audit", "--customer", PHONE)
    assert [(m["message_type"], [d["status"] for d in m["deliveries"]])
            for m in shown["messages"]] == [("deposit_needed", ["sent", "sent"]),
                                            ("status", ["suppressed"])]
    assert E164 not in str(shown["messages"])
    text = run(database_url, "audit", "--customer", PHONE).stdout
    section = text[text.index("messages (2):"):text.index("history:")].splitlines()
    assert section[1].endswith("deposit_needed: " + shown["messages"][0]["text"])
    assert section[2].startswith("    email to k\u2022\u2022\u2022@example.com: sent after 1 "
                                 "attempt (queued 20")
    assert section[3].startswith(f"    sms to {MASKED}: sent after 1 attempt (queued ")
    assert ", sent 20" in section[3]
    assert section[4].endswith("status: DMV Queue: your place in the line is canceled.")
    assert section[5].startswith(f"    sms to {MASKED}: suppressed (queued ")
    assert section[5].endswith("; why: the phone opted out (STOP)")


def test_the_http_audit_answers_the_same_deliveries_with_local_times(
        service: Service, told: Any, database_url: str) -> None:
    api = make_api(service)
    try:
        key = bearer(api.key("audit-bob", "auditor"))
        answer = api.client.get(f"/v1/audit/customers/{told}", headers=key)
    finally:
        api.deps.reads.close()
    assert answer.status_code == 200, answer.text
    messages = answer.json()["messages"]
    deposit_sms = messages[0]["deliveries"][1]
    assert (deposit_sms["channel"], deposit_sms["recipient"], deposit_sms["status"]) == (
        "sms", MASKED, "sent")
    assert deposit_sms["sent_at"].endswith("Z")
    assert deposit_sms["sent_at_local"].endswith("HST")
    assert messages[0]["queued_at_local"].endswith("HST")
    assert messages[1]["deliveries"][0]["last_error"] == "the phone opted out (STOP)"


def test_a_message_no_worker_took_yet_shows_no_delivery_and_as_of_hides_later_ones(
        service: Service, db: psycopg.Connection[Any], database_url: str) -> None:
    before = service.clock.now()
    entry = deposit_asked(service, "808-555-0132")
    service.catch_up()
    customer = service.app.entry(entry).customer_id
    [message] = audit.customer_audit(service.app, db, customer, None)["messages"]
    assert (message["message_type"], message["deliveries"]) == ("deposit_needed", [])
    assert "    no delivery recorded" in run(database_url, "audit", "--customer",
                                            "808-555-0132").stdout.splitlines()
    assert audit.customer_audit(service.app, db, customer, before)["messages"] == []
