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

from slotqueue.adapters.messaging import PERMANENT, TRANSIENT, Outcome, Outgoing
from slotqueue.aggregates.contact import normalise_email, normalise_phone
from slotqueue.aggregates.credential import Credential, key_id, secret_hash
from slotqueue.aggregates.errors import InvalidInput, NotFound, TransitionRefused
from slotqueue.aggregates.phone_verification import PhoneVerification

SendText = Callable[[Outgoing], Outcome]  # the SMS provider's `send`


class CodeNotSent(Exception):
    """The SMS provider did not take the code this time (it may later): `retry_after`
    seconds, when it said."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


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
    opted_out: Callable[[str], bool]
    opt_out: Callable[[str, str, datetime], bool]

    def send_code(self, phone: str, now: datetime, send: SendText, brand: str) -> datetime:
        """Records a new code for the phone and texts it (never a delivery: codes are
        secrets); returns when it expires. An opted-out phone gets none (TransitionRefused);
        a number that can never get texts is InvalidInput; a provider that did not take it
        this time, CodeNotSent. A provider that may have it counts as sent."""
        e164 = normalise_phone(phone)
        _refuse_opted_out(self.opted_out(e164), e164)
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
        outcome = send(Outgoing(channel="sms", to=e164, kind="verification",
                                body=f"{brand}: your code is {code}. It expires in 10 minutes."))
        if outcome.opted_out:
            self.opt_out(e164, "provider", now)
        _refuse_opted_out(outcome.opted_out, e164)
        if outcome.kind == PERMANENT:
            raise InvalidInput(f"texts cannot reach {e164}: {outcome.error}", field="phone")
        if outcome.kind == TRANSIENT:
            raise CodeNotSent(outcome.error or "the SMS provider did not take the code",
                              outcome.retry_after)
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


def _refuse_opted_out(opted_out: bool, e164: str) -> None:
    if opted_out:
        raise TransitionRefused(f"{e164} has opted out of our texts (STOP): text START to the "
                                "number our texts come from, then ask for a code again")
