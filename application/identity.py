"""Who may call the HTTP API (spec service §2.1), as commands on the application: customers
prove their phone with a code and get a token; operators and auditors get API keys. Secrets
are 32 random bytes, shown once, kept as hashes; codes are 6 digits, kept as salted hashes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from slotqueue.aggregates.contact import normalise_email, normalise_phone
from slotqueue.aggregates.credential import Credential, key_id, secret_hash
from slotqueue.aggregates.errors import InvalidInput, NotFound, TransitionRefused
from slotqueue.aggregates.phone_verification import PhoneVerification

SendText = Callable[[str, str, str], None]  # (to, kind, body)


@dataclass(frozen=True)
class Verified:
    customer_id: UUID
    queue_entry_id: UUID
    customer_token: str
    new_entry: bool


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class IdentityCommands:
    """Mixed into the application (`SlotQueue`); uses its load, save and join."""

    repository: Any
    save: Callable[..., Any]
    join: Callable[..., Any]

    def send_code(self, phone: str, now: datetime, send: SendText, brand: str) -> datetime:
        """Records a new code for the phone and sends it; returns when it expires."""
        e164 = normalise_phone(phone)
        code = f"{secrets.randbelow(10**6):06d}"
        for _ in range(5):
            try:
                verification = self.repository.get(PhoneVerification.create_id(e164))
            except AggregateNotFoundError:
                verification = PhoneVerification(phone=e164, at=now)
            expires = verification.send(code, secrets.token_bytes(16), now)
            try:
                self.save(verification)
                break
            except IntegrityError:
                continue
        else:
            raise TransitionRefused(f"could not record a code for {e164}: try again")
        send(e164, "verification", f"{brand}: your code is {code}. It expires in 10 minutes.")
        return expires

    def verify_and_join(self, phone: str, code: str, email: str | None,
                        now: datetime) -> Verified:
        """Checks the code (the try is recorded either way), joins the queue (or returns the
        open entry) and issues a customer token."""
        e164, address = normalise_phone(phone), normalise_email(email)
        try:
            verification = self.repository.get(PhoneVerification.create_id(e164))
        except AggregateNotFoundError:
            raise TransitionRefused(f"no code was sent to {e164}: ask for one first") from None
        right = verification.check(code, now)
        self.save(verification)
        if not right:
            raise InvalidInput("the code is not right", field="code")
        joined = self.join(e164, address)
        token = new_secret()
        self.save(Credential.customer_token(joined.customer_id, secret_hash(token), now))
        return Verified(joined.customer_id, joined.queue_entry_id, token, joined.new_entry)

    def create_api_key(self, name: str, role: str, now: datetime, by: str | None) -> str:
        """A new key, shown once; a name is taken once (revoked ones included)."""
        secret = new_secret()
        key = Credential.api_key(name.strip() if isinstance(name, str) else name, role,
                                 secret_hash(secret), now, by)
        try:
            self.save(key)
        except IntegrityError:
            raise TransitionRefused(f"an API key named {name!r} exists already (revoked "
                                    "names are not reused)") from None
        return secret

    def revoke_api_key(self, name: str, now: datetime, by: str | None) -> None:
        try:
            key = self.repository.get(key_id(name))
        except AggregateNotFoundError:
            raise NotFound(f"unknown API key {name!r}") from None
        key.revoke(now, by)
        self.save(key)
