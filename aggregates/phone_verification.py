"""The PhoneVerification aggregate: codes sent to prove a phone (spec service §2.1).

A code is valid for 10 minutes and 5 tries; at most 3 codes go to a phone per 10 minutes.
Codes are kept as salted scrypt hashes and compared in constant time. Events: CodeSent,
CodeChecked (every try, right or wrong, so a try counts even when the request is refused).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from slotqueue.aggregates.errors import InvalidInput, TransitionRefused
from slotqueue.aggregates.ids import stable_id

CODE_LIFETIME = timedelta(minutes=10)
TRIES = 5
CODES_PER_WINDOW = 3
WINDOW = timedelta(minutes=10)


class TooManyCodes(TransitionRefused):
    """A phone asked for more codes than allowed; `retry_after` says when it may again."""

    def __init__(self, message: str, retry_after: timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def code_hash(code: str, salt: bytes) -> str:
    return hashlib.scrypt(code.encode(), salt=salt, n=2**14, r=8, p=1).hex()


class PhoneVerification(Aggregate):
    @staticmethod
    def create_id(phone: str) -> UUID:
        return stable_id("phone-verification", phone)

    @event("Started")
    def __init__(self, phone: str, at: datetime) -> None:
        self.phone = phone
        self.sent: list[datetime] = []
        self.code: str | None = None
        self.salt: str | None = None
        self.expires_at: datetime | None = None
        self.tries = 0

    def send(self, code: str, salt: bytes, now: datetime) -> datetime:
        """Records a new code (its hash); returns when it expires."""
        recent = sorted(t for t in self.sent if now - t < WINDOW)
        if len(recent) >= CODES_PER_WINDOW:
            wait = WINDOW - (now - recent[0])
            raise TooManyCodes(f"too many codes for {self.phone}: {CODES_PER_WINDOW} per "
                               f"{int(WINDOW.total_seconds() // 60)} minutes", wait)
        self._code_sent(code_hash=code_hash(code, salt), salt=salt.hex(), at=now,
                        expires_at=now + CODE_LIFETIME)
        return now + CODE_LIFETIME

    @event("CodeSent")
    def _code_sent(self, code_hash: str, salt: str, at: datetime, expires_at: datetime) -> None:
        self.sent = [*self.sent, at]
        self.code, self.salt, self.expires_at, self.tries = code_hash, salt, expires_at, 0

    def check(self, code: str, now: datetime) -> bool:
        """Records a try; True when `code` is the live code. Refuses when there is none (none
        sent, expired, used, or its tries are spent)."""
        if not isinstance(code, str) or not code.isdigit() or len(code) != 6:
            raise InvalidInput("invalid code: 6 digits")
        if self.code is None or self.salt is None or self.expires_at is None:
            raise TransitionRefused("no code to check: ask for a new one")
        if now > self.expires_at or self.tries >= TRIES:
            raise TransitionRefused("the code expired or its tries are spent: ask for a new one")
        right = hmac.compare_digest(code_hash(code, bytes.fromhex(self.salt)), self.code)
        self._code_checked(at=now, right=right)
        return right

    @event("CodeChecked")
    def _code_checked(self, at: datetime, right: bool) -> None:
        self.tries += 1
        if right:
            self.code = None  # used: a code signs in once
