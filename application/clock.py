"""Time as an input: commands take `now` from a clock the composition root chooses.

In production every recorded time comes from the database's clock (issue 7: one clock), so a
command run on a host whose clock is off cannot reorder the queue or lapse a deposit early.
Tests pass a fixed clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time."""

    def ordered(self) -> AbstractContextManager[datetime]:
        """A time that orders with recording: whatever is recorded inside the block sorts
        after everything recorded inside earlier blocks (join time = rank order)."""


class FixedClock:
    """A clock that says what it is told (tests, replays)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    @contextmanager
    def ordered(self) -> Iterator[datetime]:
        yield self.moment
