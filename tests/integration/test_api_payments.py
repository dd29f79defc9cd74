"""Stripe's webhook (spec service §2.3) on a real database: payloads signed here with a test
secret the way Stripe signs them (the `stripe` package's own header generator; Stripe is never
called). Each event id applies once, in any order; no payment is lost; a refused delivery
records nothing."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
from api_support import make_api

from slotqueue.aggregates.payment_notice import PaidNotice
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.bootstrap import build
from slotqueue.projections import maintenance
from slotqueue.settings import Settings

from dbsupport import NOW, at_once, event_count, snapshot

SECRET = "whsec_test_slotqueue"
LINK = "https://buy.stripe.com/test_6oE8Ab3xY0aB1cD2eF"
GRACE = timedelta(minutes=120)
HOOK = "/v1/webhooks/stripe"


def _settings(database_url: str, **more: Any) -> Settings:
    return Settings(database_url=database_url, stripe_webhook_secret=SECRET,
                    payment_link_url=LINK, **more)


@pytest.fixture
def svc(database_url):
    made = build(_settings(database_url), database_url)
    yield made
    made.close()


@pytest.fixture
def api(svc):
    made = make_api(svc)
    yield made
    made.deps.reads.close()


def signed(payload: Any, *, secret: str = SECRET, at: int | None = None) -> tuple[bytes, dict]:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=at)
    return body.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}


def checkout(event_id: str, reference: Any, intent: str = "pi_1", amount: int = 2500,
             status: str = "paid") -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": "checkout.session.completed",
            "data": {"object": {
                "id": f"cs_test_{intent}", "object": "checkout.session",
                "client_reference_id": None if reference is None else str(reference),
                "payment_intent": intent, "payment_status": status, "amount_total": amount,
                "currency": "usd", "mode": "payment"}}}


def refunded(event_id: str, intent: str = "pi_1", amount: int = 2500, back: int = 2500
             ) -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": "charge.refunded",
            "data": {"object": {"id": f"ch_{intent}", "object": "charge",
                                "payment_intent": intent, "amount": amount,
                                "amount_refunded": back, "refunded": back >= amount}}}


def deliver(api, payload: Any, **signing: Any):
    body, headers = signed(payload, **signing)
    return api.client.post(HOOK, content=body, headers=headers)


def waiting_entry(svc, phone: str = "808-555-0101") -> uuid.UUID:
    joined = svc.app.join(phone, None, NOW)
    svc.app.require_deposit(joined.queue_entry_id, NOW, GRACE)
    svc.catch_up()
    return joined.queue_entry_id


def entry_row(db, entry_id) -> tuple[str, str]:
    return db.execute("SELECT status, deposit_status FROM queue_entries WHERE id = %s",
                      (entry_id,)).fetchone()


def payment_row(db, ref: str) -> dict[str, Any]:
    cur = db.execute("SELECT queue_entry_id, client_reference, amount, currency, outcome, "
                     "paid_at IS NOT NULL AS paid, amount_refunded, "
                     "refunded_at IS NOT NULL AS refunded FROM slotqueue.payments "
                     "WHERE payment_ref = %s", (ref,))
    names = [c.name for c in cur.description]
    row = cur.fetchone()
    return dict(zip(names, row, strict=True)) if row else {}


def test_a_paid_checkout_pays_the_deposit_and_records_the_amount(api, svc, db):
    entry = waiting_entry(svc)
    answer = deliver(api, checkout("evt_pay_1", entry))
    assert answer.status_code == 200
    assert answer.json() == {"received": True, "event_id": "evt_pay_1",
                             "outcome": "deposit_paid", "queue_entry_id": str(entry),
                             "replayed": False}
    assert entry_row(db, entry) == ("active", "paid")
    assert payment_row(db, "pi_1") == {
        "queue_entry_id": entry, "client_reference": str(entry), "amount": 2500,
        "currency": "usd", "outcome": "deposit_paid", "paid": True, "amount_refunded": 0,
        "refunded": False}
    paid = [e for e in svc.app.repository.event_store.get(entry)
            if type(e).__name__ == "DepositPaid"]
    assert [(e.payment_ref, e.amount, e.currency) for e in paid] == [("pi_1", 2500, "usd")]


def test_a_resent_event_answers_the_same_and_changes_nothing(api, svc, db):
    entry = waiting_entry(svc)
    first = deliver(api, checkout("evt_pay_1", entry))
    events, tables = event_count(db), snapshot(db)
    again = deliver(api, checkout("evt_pay_1", entry))  # a new signature, the same event
    assert again.status_code == 200
    assert again.json() == {**first.json(), "replayed": True}
    assert (event_count(db), snapshot(db)) == (events, tables)


def test_the_same_payment_in_another_event_is_recorded_once(api, svc, db):
    entry = waiting_entry(svc)
    deliver(api, checkout("evt_pay_1", entry))
    other = deliver(api, checkout("evt_pay_2", entry))
    assert other.json()["outcome"] == "already_recorded"
    messages = db.execute("SELECT count(*) FROM message_log WHERE dedupe_key LIKE "
                          "'status:%%refund_needed%%'").fetchone()
    assert messages == (0,)


def test_a_refund_of_a_left_entry_marks_its_deposit_refunded(api, svc, db):
    entry = waiting_entry(svc)
    deliver(api, checkout("evt_pay_1", entry))
    svc.app.cancel(entry, NOW + timedelta(minutes=9))
    answer = deliver(api, refunded("evt_refund_1"))
    assert answer.json()["outcome"] == "refunded"
    assert entry_row(db, entry) == ("canceled", "refunded")
    assert payment_row(db, "pi_1")["refunded"] is True


def test_a_deposit_refunded_at_stripe_while_the_entry_waits_ends_the_entry(api, svc, db):
    entry = waiting_entry(svc)
    deliver(api, checkout("evt_pay_1", entry))
    answer = deliver(api, refunded("evt_refund_1"))
    assert answer.json()["outcome"] == "canceled_and_refunded"
    assert entry_row(db, entry) == ("canceled", "refunded")
    [by] = [e.by for e in svc.app.repository.event_store.get(entry)
            if type(e).__name__ == "Canceled"]
    assert by == "stripe"


def test_a_partial_refund_is_kept_on_the_payment_and_leaves_the_deposit_paid(api, svc, db):
    entry = waiting_entry(svc)
    deliver(api, checkout("evt_pay_1", entry))
    part = deliver(api, refunded("evt_refund_1", back=500))
    assert part.json()["outcome"] == "partial_refund"
    assert entry_row(db, entry) == ("active", "paid")
    assert payment_row(db, "pi_1")["amount_refunded"] == 500
    full = deliver(api, refunded("evt_refund_2", back=2500))
    assert full.json()["outcome"] == "canceled_and_refunded"
    assert payment_row(db, "pi_1")["amount_refunded"] == 2500


def test_a_refund_before_its_payment_is_kept_and_the_late_payment_changes_no_entry(
        api, svc, db):
    entry = waiting_entry(svc)
    early = deliver(api, refunded("evt_refund_1"))
    assert early.status_code == 200
    assert early.json()["outcome"] == "refund_before_payment"
    assert payment_row(db, "pi_1")["refunded"] is True
    late = deliver(api, checkout("evt_pay_1", entry))
    assert late.json()["outcome"] == "paid_after_refund"
    assert entry_row(db, entry) == ("deposit_required", "required")  # the money is back
    assert payment_row(db, "pi_1") | {"queue_entry_id": entry} == {
        "queue_entry_id": entry, "client_reference": str(entry), "amount": 2500,
        "currency": "usd", "outcome": "paid_after_refund", "paid": True,
        "amount_refunded": 2500, "refunded": True}


def test_an_unknown_event_type_is_answered_and_ignored(api, db):
    events = event_count(db)
    answer = deliver(api, {"id": "evt_x", "object": "event", "type": "customer.created",
                           "data": {"object": {"id": "cus_1"}}})
    assert answer.status_code == 200
    assert answer.json()["outcome"] == "ignored"
    assert event_count(db) == events


def test_an_unpaid_checkout_records_nothing_until_its_payment_succeeds(api, svc, db):
    entry = waiting_entry(svc)
    events = event_count(db)
    pending = deliver(api, checkout("evt_pay_1", entry, status="unpaid"))
    assert (pending.status_code, pending.json()["outcome"]) == (200, "ignored")
    assert event_count(db) == events
    succeeded = checkout("evt_pay_2", entry) | {
        "type": "checkout.session.async_payment_succeeded"}
    assert deliver(api, succeeded).json()["outcome"] == "deposit_paid"


@pytest.mark.parametrize("reference", [
    "6f1c2a3e-0000-4000-8000-000000000000", "not-an-entry", None, "   "])
def test_a_payment_for_no_known_entry_is_kept_for_an_operator(api, db, reference):
    answer = deliver(api, checkout("evt_pay_1", reference, intent="pi_lost"))
    assert answer.status_code == 200
    assert answer.json()["outcome"] == "unmatched_payment"
    assert answer.json()["queue_entry_id"] is None
    row = payment_row(db, "pi_lost")
    assert (row["outcome"], row["amount"], row["queue_entry_id"]) == (
        "unmatched_payment", 2500, None)
    assert row["client_reference"] == (reference.strip() or None if reference else None)
    refund = deliver(api, refunded("evt_refund_1", intent="pi_lost"))
    assert refund.json()["outcome"] == "refunded"
    assert payment_row(db, "pi_lost")["refunded"] is True


def test_a_customer_id_is_not_an_entry(api, svc, db):
    joined = svc.app.join("808-555-0109", None, NOW)
    answer = deliver(api, checkout("evt_pay_1", joined.customer_id))
    assert answer.json()["outcome"] == "unmatched_payment"


def test_a_payment_for_an_entry_not_waiting_is_recorded_to_refund(api, svc, db):
    joined = svc.app.join("808-555-0101", None, NOW)  # queued: no deposit asked
    answer = deliver(api, checkout("evt_pay_1", joined.queue_entry_id))
    assert answer.status_code == 200
    assert answer.json()["outcome"] == "refund_needed"
    assert entry_row(db, joined.queue_entry_id) == ("queued", "none")
    assert db.execute("SELECT count(*) FROM message_log WHERE dedupe_key = %s",
                      (f"status:{joined.queue_entry_id}:refund_needed:pi_1",)).fetchone() == (1,)
    assert deliver(api, refunded("evt_refund_1")).json()["outcome"] == "refunded"
    assert svc.app.entry(joined.queue_entry_id).refunds_due == []
    assert entry_row(db, joined.queue_entry_id) == ("queued", "none")


def _refused(answer, status: int, field: str) -> None:
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in answer.json()["errors"]]


def test_a_bad_signature_is_refused_and_records_nothing(api, svc, db):
    entry = waiting_entry(svc)
    events = event_count(db)
    body, headers = signed(checkout("evt_pay_1", entry), secret="whsec_someone_else")
    _refused(api.client.post(HOOK, content=body, headers=headers), 400, "Stripe-Signature")
    body, headers = signed(checkout("evt_pay_1", entry))
    tampered = body.replace(b"2500", b"1")
    _refused(api.client.post(HOOK, content=tampered, headers=headers), 400, "Stripe-Signature")
    _refused(api.client.post(HOOK, content=body), 400, "Stripe-Signature")  # no header
    _refused(api.client.post(HOOK, content=body, headers={"Stripe-Signature": "garbage"}),
             400, "Stripe-Signature")
    assert event_count(db) == events
    assert entry_row(db, entry) == ("deposit_required", "required")


def test_a_stale_signature_is_refused_and_records_nothing(api, svc, db):
    entry = waiting_entry(svc)
    events = event_count(db)
    stale = deliver(api, checkout("evt_pay_1", entry), at=int(time.time()) - 301)
    _refused(stale, 400, "Stripe-Signature")
    assert "older than 300 seconds" in stale.json()["detail"]
    assert event_count(db) == events
    fresh = deliver(api, checkout("evt_pay_1", entry), at=int(time.time()) - 240)
    assert fresh.json()["outcome"] == "deposit_paid"  # the refused one spent nothing


@pytest.mark.parametrize("payload", [
    "{not json", "[1, 2]", '"text"', "null",
    json.dumps({"object": "event", "type": "checkout.session.completed"}),  # no id
    json.dumps({"id": "evt_1", "type": "checkout.session.completed", "data": {}}),
    json.dumps({"id": "evt_1", "type": "charge.refunded", "data": {"object": "ch_1"}}),
    json.dumps({"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {
        "payment_status": "paid", "payment_intent": None}}}),  # no reference at all
])
def test_a_signed_body_that_is_not_a_stripe_event_is_refused(api, db, payload):
    events = event_count(db)
    _refused(deliver(api, payload), 400, "body")
    assert event_count(db) == events


def test_a_body_that_is_not_utf8_is_refused(api, db):
    header = stripe.WebhookSignature.generate_signature_header("x", SECRET)
    answer = api.client.post(HOOK, content=b"\xff\xfe{}", headers={"Stripe-Signature": header})
    assert answer.status_code == 400


def test_without_a_secret_every_delivery_is_refused_with_a_clear_problem(database_url, db):
    bare = build(Settings(database_url=database_url), database_url)
    api = make_api(bare)
    try:
        entry = waiting_entry(bare)
        events = event_count(db)
        answer = deliver(api, checkout("evt_pay_1", entry))
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert "SLOTQUEUE_STRIPE_WEBHOOK_SECRET" in answer.json()["detail"]
        assert event_count(db) == events
    finally:
        api.deps.reads.close()
        bare.close()


def test_the_deposit_link_closes_the_loop_through_the_webhook(api, svc, db):
    """deposit_needed message → its link's client_reference_id → a signed checkout → active."""
    joined = api.join("808-555-0101", "+18085550101")
    svc.dispatch_once()  # rank 1 is asked for the deposit
    (meta,) = db.execute("SELECT meta_json FROM message_log WHERE message_type = "
                         "'deposit_needed'").fetchone()
    link = re.search(r"https://\S+", meta["text"]).group(0)
    assert link.startswith(LINK)
    [reference] = parse_qs(urlsplit(link).query)["client_reference_id"]
    assert reference == joined["queue_entry_id"]
    assert deliver(api, checkout("evt_pay_1", reference)).json()["outcome"] == "deposit_paid"
    assert entry_row(db, joined["queue_entry_id"]) == ("active", "paid")
    received = db.execute("SELECT count(*) FROM message_log WHERE dedupe_key = %s",
                          (f"deposit_received:{joined['queue_entry_id']}",)).fetchone()
    assert received == (1,)


def test_the_same_event_delivered_at_once_is_applied_once(svc, database_url, db):
    entry = waiting_entry(svc)
    notice = PaidNotice(event_id="evt_pay_1", kind="checkout.session.completed",
                        payment_ref="pi_1", client_reference=str(entry), amount=2500,
                        currency="usd")
    answers = at_once(_settings(database_url), database_url, 6,
                      lambda s: s.app.record_provider_payment("stripe", notice, NOW))
    assert sorted(a.replayed for a in answers) == [False] + [True] * 5
    assert {a.outcome for a in answers} == {"deposit_paid"}
    paid = [e for e in svc.app.repository.event_store.get(entry)
            if isinstance(e, QueueEntry.DepositPaid)]
    assert len(paid) == 1


def test_payment_tables_survive_a_rebuild(api, svc, db):
    entry = waiting_entry(svc)
    deliver(api, refunded("evt_refund_0", intent="pi_early"))
    deliver(api, checkout("evt_pay_1", entry))
    deliver(api, checkout("evt_pay_2", "nobody", intent="pi_lost"))
    deliver(api, refunded("evt_refund_1", back=100))
    svc.catch_up()
    live = snapshot(db)
    assert len(live["payments"]) == 3
    assert maintenance.rebuild(svc.app, svc.view, texts=svc.texts)
    assert snapshot(db) == live
    assert maintenance.verify(svc.app, svc.view, texts=svc.texts) == []
