"""Email through an SMTP server (`SLOTQUEUE_EMAIL_PROVIDER=smtp`) with `smtplib`, one
connection per message: `smtp://[user:pass@]host:port` (STARTTLS when the server offers it),
`smtps://…` (TLS from the start). What each answer means for the delivery worker:

- the message accepted (250 after DATA) → sent, its Message-ID as the provider id;
- no connection, a refused login, any 4xx reply → transient: waiting or a fixed setting helps;
- a 5xx refusal of the sender, the recipient or the message → permanent;
- the connection lost (or timed out) once the message was being handed over → unknown: the
  server may have it, so it is never sent again without an operator.

The password never appears in an error: errors name the host and the server's reply only.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

from slotqueue.adapters.messaging import PERMANENT, TRANSIENT, UNKNOWN, Outcome, Outgoing
from slotqueue.projections.wording import mask_email

SMTP_PORT, SMTPS_PORT = 587, 465


class _HandOver:
    """Notes when the message itself started going out (DATA): after that, a lost
    connection may have delivered it."""

    handing_over = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.handing_over = True
        return super().data(msg)  # type: ignore[misc]


class _Smtp(_HandOver, smtplib.SMTP):
    pass


class _Smtps(_HandOver, smtplib.SMTP_SSL):
    pass


class SmtpEmail:
    """The `smtp` email provider; each send opens and closes its own connection, so the
    worker's sender threads share nothing."""

    name = "smtp"
    channel = "email"

    def __init__(self, url: str, email_from: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (SMTPS_PORT if self.implicit_tls else SMTP_PORT)
        self._login = (unquote(parts.username), unquote(parts.password or "")) \
            if parts.username else None
        self.email_from, self.timeout = email_from, timeout
        self.tls = ssl.create_default_context()

    def __repr__(self) -> str:  # never the password
        return f"SmtpEmail({self.host}:{self.port}, from {self.email_from})"

    def message(self, message: Outgoing) -> EmailMessage:
        mail = EmailMessage()
        mail["From"], mail["To"] = self.email_from, message.to
        mail["Subject"] = message.subject or ""
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = (f"<{message.delivery_id}@slotqueue>" if message.delivery_id
                              else make_msgid(domain="slotqueue"))
        mail.set_content(message.body)
        return mail

    def send(self, message: Outgoing) -> Outcome:
        mail = self.message(message)
        server: _Smtp | _Smtps | None = None
        try:
            server = self._connect()
            server.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (0, b""))
            return _refused("the recipient", code, reply)
        except smtplib.SMTPSenderRefused as exc:
            return _refused(f"our sender {exc.sender}", exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPDataError as exc:
            return _refused("the message", exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPAuthenticationError as exc:
            return Outcome(TRANSIENT, error=f"{self.host} refused our login ({exc.smtp_code}): "
                           "check the user and password of SLOTQUEUE_SMTP_URL")
        except (smtplib.SMTPException, OSError) as exc:
            return self._lost(exc, server)
        finally:
            _quit(server)
        return Outcome.sent(str(mail["Message-ID"]))

    def _connect(self) -> _Smtp | _Smtps:
        server: _Smtp | _Smtps
        if self.implicit_tls:
            server = _Smtps(self.host, self.port, timeout=self.timeout, context=self.tls)
        else:
            server = _Smtp(self.host, self.port, timeout=self.timeout)
        try:
            server.ehlo()
            if not self.implicit_tls and server.has_extn("starttls"):
                server.starttls(context=self.tls)
                server.ehlo()
            if self._login is not None:
                server.login(*self._login)
        except BaseException:
            _quit(server)
            raise
        return server

    def _lost(self, exc: BaseException, server: _Smtp | _Smtps | None) -> Outcome:
        what = f"{type(exc).__name__}" + (f" {exc.smtp_code}" if isinstance(
            exc, smtplib.SMTPResponseException) else "")
        if server is not None and server.handing_over:
            return Outcome(UNKNOWN, error=f"the connection to {self.host} broke while it took "
                           f"the message ({what}): it may have it")
        return Outcome(TRANSIENT, error=f"could not hand the message to {self.host}:"
                       f"{self.port} ({what}); nothing was sent")

    def close(self) -> None:
        return None


def _refused(what: str, code: int, reply: bytes | str) -> Outcome:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    said = f"the server refused {what}: {code} {_masked_addresses(text)}"[:300]
    return Outcome(PERMANENT if 500 <= code < 600 else TRANSIENT, error=said)


def _masked_addresses(text: str) -> str:
    return " ".join(mask_email(word.strip("<>,;")) if "@" in word else word
                    for word in text.split())


def _quit(server: smtplib.SMTP | None) -> None:
    if server is None:
        return
    try:
        server.quit()
    except (smtplib.SMTPException, OSError):
        server.close()
