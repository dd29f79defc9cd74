"""The SMTP email provider against a real local SMTP server (aiosmtpd), spec service §3: what
the server received, exactly, and how each of its answers is classified; then a real delivery
worker whose deposit request reaches the inbox once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID

import psycopg
import pytest
from fake_smtp import Inbox, free_port, self_signed, smtp_server
from test_deliveries import deliveries, deposit_asked, wait_for

from slotqueue.adapters.messaging import PERMANENT, SENT, TRANSIENT, UNKNOWN, Outgoing
from slotqueue.adapters.smtp_email import SmtpEmail
from slotqueue.aggregates.delivery_policy import subject
from slotqueue.bootstrap import Service, delivery_worker
from slotqueue.settings import Settings

SENDER, TO = "queue@dmv.example", "kai.lee@example.com"
DELIVERY = UUID("6b1c0f0e-2c57-4b7e-9d53-0a9f6f1d2e31")


def mail(to: str = TO) -> Outgoing:
    return Outgoing(channel="email", to=to, kind="booked", delivery_id=DELIVERY,
                    subject="DMV Queue: your appointment is booked",
                    body="Booked: Kapolei, Tue Mar 3, 8:30 AM HST.\nBring your documents.")


@pytest.fixture
def server() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as running:
        yield running


def smtp(port: int, userinfo: str = "", scheme: str = "smtp") -> SmtpEmail:
    return SmtpEmail(f"{scheme}://{userinfo}127.0.0.1:{port}", SENDER, timeout=2.0)


def test_an_accepted_message_arrives_once_exactly_as_written(server):
    inbox, port = server
    outcome = smtp(port).send(mail())
    [got] = inbox.received
    assert (outcome.kind, outcome.provider_id) == (SENT, f"<{DELIVERY}@slotqueue>")
    assert (got.mail_from, got.rcpt_tos) == (SENDER, [TO])
    headers = got.message
    assert (headers["From"], headers["To"], headers["Message-ID"]) == (
        SENDER, TO, f"<{DELIVERY}@slotqueue>")
    assert headers["Subject"] == "DMV Queue: your appointment is booked"
    assert got.message.get_content() == ("Booked: Kapolei, Tue Mar 3, 8:30 AM HST.\n"
                                         "Bring your documents.\n")


@pytest.mark.parametrize(("reply", "kind"), [
    ("550 5.1.1 <kai.lee@example.com>: Recipient address rejected", PERMANENT),
    ("450 4.2.1 Mailbox busy, try later", TRANSIENT),
])
def test_a_refused_recipient_is_permanent_on_5xx_and_transient_on_4xx(reply, kind):
    with smtp_server(Inbox(refuse_recipients={TO: reply})) as (inbox, port):
        outcome = smtp(port).send(mail())
    assert outcome.kind == kind
    assert outcome.error is not None
    assert outcome.error.startswith(f"the server refused the recipient: {reply[:3]}")
    assert TO not in outcome.error  # masked: k•••@example.com
    assert inbox.received == []


@pytest.mark.parametrize(("reply", "kind"), [
    ("554 5.6.0 Message content rejected", PERMANENT),
    ("451 4.3.0 Temporary local problem", TRANSIENT),
])
def test_a_refused_message_is_permanent_on_5xx_and_transient_on_4xx(reply, kind):
    with smtp_server(Inbox(data_reply=reply)) as (_, port):
        outcome = smtp(port).send(mail())
    assert outcome.kind == kind
    assert (outcome.error or "").startswith(f"the server refused the message: {reply[:3]}")


def test_a_connection_lost_after_the_message_was_handed_over_is_unknown():
    with smtp_server(Inbox(drop_after_data=True)) as (_, port):
        outcome = smtp(port).send(mail())
    assert outcome.kind == UNKNOWN
    assert "may have it" in (outcome.error or "")


def test_no_server_is_transient_and_nothing_was_sent():
    outcome = smtp(free_port()).send(mail())
    assert outcome.kind == TRANSIENT
    assert "nothing was sent" in (outcome.error or "")


def test_a_login_is_used_and_a_refused_one_is_transient_without_the_password():
    password = "p@ss:w/rd 42"
    with smtp_server(Inbox(logins={"queue": password})) as (inbox, port):
        good = smtp(port, f"queue:{quote(password, safe='')}@").send(mail())
        bad = smtp(port, "queue:wrong-password@").send(mail())
    assert good.kind == SENT
    assert len(inbox.received) == 1
    assert bad.kind == TRANSIENT
    assert "refused our login" in (bad.error or "")
    assert "wrong-password" not in (bad.error or "")
    assert password not in repr(smtp(port, f"queue:{quote(password, safe='')}@"))


def test_starttls_is_used_when_offered_and_an_untrusted_certificate_sends_nothing(
        tmp_path: Path):
    context, cafile = self_signed(tmp_path)
    with smtp_server(tls_context=context) as (inbox, port):
        untrusted = smtp(port).send(mail())
        trusting = smtp(port)
        trusting.tls.load_verify_locations(cafile)
        trusted = trusting.send(mail())
    assert untrusted.kind == TRANSIENT
    assert "nothing was sent" in (untrusted.error or "")
    assert trusted.kind == SENT
    assert [m.tls for m in inbox.received] == [True]


def test_smtps_speaks_tls_from_the_start(tmp_path: Path):
    context, cafile = self_signed(tmp_path)
    with smtp_server(ssl_context=context) as (inbox, port):
        sender = smtp(port, scheme="smtps")
        sender.tls.load_verify_locations(cafile)
        outcome = sender.send(mail())
    assert outcome.kind == SENT
    assert [m.tls for m in inbox.received] == [True]


def test_a_deposit_request_reaches_the_inbox_once_through_the_worker(
        settings: Settings, database_url: str, service: Service,
        db: psycopg.Connection[Any], server: tuple[Inbox, int]) -> None:
    inbox, port = server
    worker = delivery_worker(settings.model_copy(update={
        "email_provider": "smtp", "smtp_url": f"smtp://127.0.0.1:{port}",
        "email_from": SENDER}), database_url).start()
    try:
        deposit_asked(service, "808-555-0101", TO)
        row = wait_for(lambda: next((r for r in deliveries(service, db)
                                     if r["channel"] == "email" and r["status"] == "sent"),
                                    None))
    finally:
        worker.stop(timeout=5)
    [got] = inbox.received
    assert got.rcpt_tos == [TO]
    assert got.message["Subject"] == subject("deposit_needed", "DMV Queue")
    assert "Pay your deposit by" in got.message.get_content()
    assert row["provider_id"] == got.message["Message-ID"]
    [(sms_text,)] = db.execute("SELECT meta_json->>'text' FROM message_log")
    assert got.message.get_content().rstrip("\n") == sms_text
