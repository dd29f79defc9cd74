"""A local SMTP server for tests (aiosmtpd on 127.0.0.1): it keeps every message it accepts,
and can refuse a recipient or a message with a given reply, or drop the connection once the
message was handed over. `self_signed(dir)` makes a certificate for STARTTLS and smtps."""

from __future__ import annotations

import datetime as dt
import email
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from email.policy import default
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: Message
    tls: bool  # it came over STARTTLS or smtps


@dataclass
class Inbox:
    """The handler: what the server accepted, and what it should refuse."""

    received: list[Mail] = field(default_factory=list)
    refuse_recipients: dict[str, str] = field(default_factory=dict)  # address → reply
    data_reply: str | None = None  # e.g. "554 5.6.0 message refused"
    drop_after_data: bool = False
    logins: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          options: list[str]) -> str:
        if address in self.refuse_recipients:
            return self.refuse_recipients[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.drop_after_data:
            server.transport.close()
            return "250 never heard"
        if self.data_reply is not None:
            return self.data_reply
        message = email.message_from_bytes(envelope.content.replace(b"\r\n", b"\n"),
                                           policy=default)
        tls = session.ssl is not None or bool(server.transport.get_extra_info("sslcontext"))
        with self.lock:
            self.received.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message, tls))
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and self.logins.get(
            auth_data.login.decode()) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 235 or 535


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(inbox: Inbox | None = None, **options: Any) -> Iterator[tuple[Inbox, int]]:
    """A running server and its port; `options` go to aiosmtpd's Controller (tls_context,
    ssl_context, …). Logins are allowed without TLS when the inbox has any."""
    inbox = inbox or Inbox()
    if inbox.logins:
        options = {"authenticator": inbox.authenticate, "auth_require_tls": False, **options}
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def self_signed(folder: Path) -> tuple[ssl.SSLContext, str]:
    """A server context with a fresh certificate for 127.0.0.1, and the certificate's file
    (for a client that should trust it)."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(
                "127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, str(cert_file)
