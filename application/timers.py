"""Firing durable timers (spec service §4.1): load the aggregate, check the timer is still set
and due, record `TimerFired` with what the firing does (its kind's effect), save all of it in
one transaction. A second firing (another scheduler, a retried job) finds the timer fired and
does nothing; a firing whose effect the aggregate refuses cancels the timer, saying why.

Effects are registered per timer kind (`fires`); the deposit's lapse is here, offers add theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from slotqueue.aggregates.errors import DomainError
from slotqueue.aggregates.queue_entry import DEPOSIT_LAPSE, QueueEntry
from slotqueue.aggregates.timers import FIRED as FIRED_STATE
from slotqueue.aggregates.timers import SET, Timed

FIRED, MOOT, EARLY = "fired", "moot", "early"
RETRIES = 8
# kind → the effect of firing: records on the aggregate (and returns other aggregates to save
# with it); raises DomainError when the firing no longer makes sense.
Effect = Callable[[Any, Timed, str, datetime], list[Aggregate]]
EFFECTS: dict[str, Effect] = {}


def fires(kind: str) -> Callable[[Effect], Effect]:
    def register(effect: Effect) -> Effect:
        EFFECTS[kind] = effect
        return effect
    return register


@fires(DEPOSIT_LAPSE)
def _lapse(app: Any, entry: Timed, name: str, now: datetime) -> list[Aggregate]:
    if not isinstance(entry, QueueEntry):
        raise DomainError(f"timer {name} is not on a queue entry")
    entry.lapse_deposit(now)  # fires the timer with the lapse
    return []


class TimerCommands:
    """Mixed into the application (`SlotQueue`)."""

    repository: Any
    save: Callable[..., Any]
    _get: Callable[[UUID], Any]

    def fire_timer(self, aggregate_id: UUID, name: str, now: datetime) -> str:
        """Fires the timer `name` of the aggregate if it is set and due by `now`: `fired`;
        `moot` when it already fired, was cancelled or is gone, or its effect refused (then it is
        cancelled, saying why); `early` before its time."""
        for _ in range(RETRIES):
            found = self._get(aggregate_id)
            timer = found.timers.get(name) if isinstance(found, Timed) else None
            if timer is None and name == DEPOSIT_LAPSE and isinstance(found, QueueEntry):
                return self._lapse_untimed(found, now)
            if timer is None or timer["state"] != SET:
                return MOOT
            if now <= timer["due_at"]:
                return EARLY
            others = self._effect(found, name, timer["kind"], now)
            try:
                self.save(found, *others)
                # cancelled when it fell due (its effect refused): saved, but not a firing
                return FIRED if found.timers[name]["state"] == FIRED_STATE else MOOT
            except IntegrityError:
                continue  # changed meanwhile (maybe fired elsewhere): look again
        raise IntegrityError(f"timer {name} of {aggregate_id} kept changing under us")

    def _effect(self, found: Timed, name: str, kind: str, now: datetime) -> list[Aggregate]:
        effect = EFFECTS.get(kind)
        try:
            if effect is None:
                raise DomainError(f"no effect for timers of kind {kind!r}")
            others = effect(self, found, name, now)
            found.fire_timer(name, now)  # an effect that did not fire it: fired now
            return others
        except DomainError as exc:
            found.cancel_timer(name, f"moot when it fell due: {exc}", now)
            return []

    def _lapse_untimed(self, entry: QueueEntry, now: datetime) -> str:
        """A deposit asked for before timers existed: its deadline is the entry's own."""
        if entry.deposit_expires_at is None or now <= entry.deposit_expires_at:
            return EARLY if entry.deposit_expires_at is not None else MOOT
        try:
            entry.lapse_deposit(now)
            self.save(entry)
        except (DomainError, IntegrityError):
            return MOOT
        return FIRED
