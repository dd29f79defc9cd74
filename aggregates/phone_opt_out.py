"""The PhoneOptOut aggregate: whether a phone said STOP (spec service §3). One per phone
(E.164); an opted-out phone gets no SMS until it says START.

Events: Started (the first keyword) ; OptedOut ; OptedIn. Each keeps the word the phone sent.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from slotqueue.aggregates.ids import stable_id

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})


def keyword(body: str | None) -> str:
    """The keyword of an inbound text: its first word, upper-cased, punctuation dropped."""
    words = (body or "").strip().split()
    return "".join(ch for ch in words[0] if ch.isalnum()).upper() if words else ""


class PhoneOptOut(Aggregate):
    """Whether texts to one phone are allowed."""

    @staticmethod
    def create_id(phone: str) -> UUID:
        return stable_id("phone-opt-out", phone)

    @event("Started")
    def __init__(self, phone: str, at: datetime) -> None:
        self.phone = phone
        self.opted_out = False
        self.changed_at = at
        self.word: str | None = None

    def opt_out(self, word: str, now: datetime) -> bool:
        """Records the STOP; False (nothing recorded) when the phone is out already."""
        if self.opted_out:
            return False
        self._opted_out(word=word, at=now)
        return True

    @event("OptedOut")
    def _opted_out(self, word: str, at: datetime) -> None:
        self.opted_out, self.word, self.changed_at = True, word, at

    def opt_in(self, word: str, now: datetime) -> bool:
        if not self.opted_out:
            return False
        self._opted_in(word=word, at=now)
        return True

    @event("OptedIn")
    def _opted_in(self, word: str, at: datetime) -> None:
        self.opted_out, self.word, self.changed_at = False, word, at
