"""Delivery rules (spec service §3) as pure functions: which channels a message takes, when a
message may go (quiet hours), how long to wait before the next try, and when it is too late.
`now` is always an argument; jitter comes in as a number, so the rules are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slotqueue.aggregates.errors import InvalidInput

SMS, EMAIL = "sms", "email"
CHANNELS = (SMS, EMAIL)
# Messages worth an email too (when the customer gave an address): money and bookings.
EMAIL_TYPES = frozenset({"deposit_needed", "booked", "offer"})
QUIET_TYPES = frozenset({"opportunity_passed"})  # never sent in quiet hours: they wait
SUBJECTS = {"deposit_needed": "pay your deposit to keep your place",
            "booked": "your appointment is booked", "offer": "an appointment is yours to claim"}


@dataclass(frozen=True)
class QuietHours:
    """Local hours when waiting messages are held: from `start` to `end` (across midnight
    when `end` ≤ `start`)."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """`21:00-08:00` → QuietHours; InvalidInput naming the text otherwise."""
        try:
            first, second = (time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError:
            raise InvalidInput(f"invalid quiet hours {text!r}: expected HH:MM-HH:MM, like "
                               "21:00-08:00") from None
        if first == second:
            raise InvalidInput(f"invalid quiet hours {text!r}: start and end are the same")
        return cls(first, second)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def until(self, now: datetime, timezone: str) -> datetime | None:
        """When quiet hours end, if `now` falls inside them in `timezone`; None otherwise."""
        zone = ZoneInfo(timezone)
        local = now.astimezone(zone)
        clock = local.time().replace(tzinfo=None)
        crosses_midnight = self.end <= self.start
        inside = (clock >= self.start or clock < self.end) if crosses_midnight else (
            self.start <= clock < self.end)
        if not inside:
            return None
        day = local.date() + timedelta(days=1) if crosses_midnight and clock >= self.start \
            else local.date()
        return datetime.combine(day, self.end, tzinfo=zone)


def channels(message_type: str, phone: str | None, email: str | None) -> list[tuple[str, str]]:
    """(channel, address) pairs a message goes to: SMS to the phone; email too for money,
    bookings and offers when the customer gave an address."""
    found = [(SMS, phone)] if phone else []
    if email and message_type in EMAIL_TYPES:
        found.append((EMAIL, email))
    return found


def subject(message_type: str, brand: str) -> str:
    return f"{brand}: {SUBJECTS.get(message_type, 'an update on your place in line')}"


def not_after(message_type: str, meta: dict[str, Any]) -> datetime | None:
    """When a message stops being worth sending: a deposit request or an offer at its
    deadline. Other messages have none."""
    if message_type in ("deposit_needed", "offer") and meta.get("expires_at"):
        return datetime.fromisoformat(str(meta["expires_at"]))
    return None


def backoff(attempt: int, jitter: float, base: timedelta = timedelta(seconds=2),
            cap: timedelta = timedelta(minutes=15),
            retry_after: timedelta | None = None) -> timedelta:
    """The wait after failed attempt `attempt` (1, 2, …): base·2^(attempt-1), capped, of
    which a random half (`jitter` in [0, 1)) is kept so workers do not retry in step; at least
    the provider's Retry-After."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    wait = ceiling / 2 + ceiling / 2 * min(max(jitter, 0.0), 1.0)
    return max(wait, retry_after or timedelta(0))
