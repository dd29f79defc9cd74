"""Durable timers (spec service §4.1): a deadline is an event on the aggregate it concerns.

`Timed` is the base of every aggregate that keeps deadlines (a queue entry's deposit lapse, an
offer's expiry and reminder, a cooldown's end). A timer is named on its aggregate; it is set
with its due time (`TimerSet`), fired once when it falls due (`TimerFired`, recorded in the
same transaction as what the firing does), or cancelled by the fact that made it moot
(`TimerCanceled`, recorded with that fact). Firing twice is refused by the aggregate's own
state and version, so two schedulers, or a job retried after a crash, fire it once.

Events: TimerSet, TimerFired, TimerCanceled (each names the timer and its kind).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

SET, FIRED, CANCELED = "set", "fired", "canceled"


class Timed(Aggregate):
    """An aggregate with timers of its own, by name: {name: {kind, due_at, state, set_at}}."""

    @property
    def timers(self) -> dict[str, dict[str, Any]]:
        # Aggregates recorded (or snapshotted) before timers existed have none.
        return self.__dict__.get("_timers") or {}

    def timer_pending(self, name: str) -> bool:
        timer = self.timers.get(name)
        return timer is not None and timer["state"] == SET

    def set_timer(self, name: str, kind: str, due_at: datetime, now: datetime) -> None:
        """Sets (or moves) the timer `name` to fall due at `due_at`."""
        self._timer_set(name=name, kind=kind, due_at=due_at, at=now)

    @event("TimerSet")
    def _timer_set(self, name: str, kind: str, due_at: datetime, at: datetime) -> None:
        self._timers = {**self.timers, name: {"kind": kind, "due_at": due_at, "state": SET,
                                              "set_at": at}}

    def fire_timer(self, name: str, now: datetime) -> bool:
        """Records that the timer fired; False (nothing recorded) unless it is pending."""
        if not self.timer_pending(name):
            return False
        timer = self.timers[name]
        self._timer_fired(name=name, kind=timer["kind"], due_at=timer["due_at"], at=now)
        return True

    @event("TimerFired")
    def _timer_fired(self, name: str, kind: str, due_at: datetime, at: datetime) -> None:
        self._timers = {**self.timers, name: {**self.timers[name], "state": FIRED}}

    def cancel_timer(self, name: str, reason: str, now: datetime) -> bool:
        """Cancels a pending timer, saying why; False (nothing recorded) when none is."""
        if not self.timer_pending(name):
            return False
        timer = self.timers[name]
        self._timer_canceled(name=name, kind=timer["kind"], due_at=timer["due_at"],
                             reason=reason, at=now)
        return True

    def cancel_timers(self, reason: str, now: datetime) -> None:
        for name in sorted(self.timers):
            self.cancel_timer(name, reason, now)

    @event("TimerCanceled")
    def _timer_canceled(self, name: str, kind: str, due_at: datetime, reason: str,
                        at: datetime) -> None:
        self._timers = {**self.timers, name: {**self.timers[name], "state": CANCELED}}
