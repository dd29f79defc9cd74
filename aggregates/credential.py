"""The Credential aggregate: a secret that signs someone in — a customer's token or an
operator's or auditor's API key (spec service §2.1). Only the secret's SHA-256 is kept.

Events: Issued, Revoked. A customer token's id comes from its hash; an API key's from its
name, so a name is taken once.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from slotqueue.aggregates.errors import InvalidInput, TransitionRefused
from slotqueue.aggregates.ids import stable_id

CUSTOMER, OPERATOR, AUDITOR = "customer", "operator", "auditor"
KEY_ROLES = (OPERATOR, AUDITOR)
KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def secret_hash(secret: str) -> str:
    """SHA-256 of a secret: tokens and keys are 32 random bytes, so no slower hash is needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id(name: str) -> UUID:
    return stable_id("api-key", name)


def token_id(hashed: str) -> UUID:
    return stable_id("customer-token", hashed)


def _issued(cls: type[Aggregate]) -> Any:
    """The Issued event class `@event` made (mypy cannot see it)."""
    return cls.__dict__["Issued"]


class Credential(Aggregate):
    @event("Issued")
    def __init__(self, secret_hash: str, role: str, subject: str, at: datetime,
                 by: str | None = None) -> None:
        self.secret_hash, self.role, self.subject = secret_hash, role, subject
        self.issued_at = at
        self.revoked_at: datetime | None = None

    @classmethod
    def api_key(cls, name: str, role: str, hashed: str, now: datetime, by: str | None
                ) -> Credential:
        if not isinstance(name, str) or not KEY_NAME.fullmatch(name):
            raise InvalidInput(f"invalid key name {name!r}: letters, digits, '.', '_' or '-', "
                               "up to 64")
        if role not in KEY_ROLES:
            raise InvalidInput(f"invalid role {role!r}: operator or auditor")
        return cls._create(_issued(cls), id=key_id(name), secret_hash=hashed, role=role,
                           subject=name, at=now, by=by)

    @classmethod
    def customer_token(cls, customer_id: UUID, hashed: str, now: datetime) -> Credential:
        return cls._create(_issued(cls), id=token_id(hashed), secret_hash=hashed,
                           role=CUSTOMER, subject=str(customer_id), at=now, by=None)

    def revoke(self, now: datetime, by: str | None) -> None:
        if self.revoked_at is not None:
            raise TransitionRefused(f"{self.role} credential {self.subject!r} is revoked "
                                    "already")
        self._revoked(at=now, by=by)

    @event("Revoked")
    def _revoked(self, at: datetime, by: str | None) -> None:
        self.revoked_at = at
