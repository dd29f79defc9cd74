"""Operators' overrides (service §4.4, §4.5) as commands on the application: a priority score
for an entry, and booking an entry into a slot directly (convert to booking).

A direct booking is one transaction: the entry's `Booked` (with the operator's `by`) and, when
slotqueue tracks an open opening of that slot, its `BookedByOperator`, so no dispatcher run
attempts it afterwards; a run deciding it at the same moment loses the version race to one
side. The booking adapter is not called: the operator has booked the slot themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from slotqueue.aggregates.opened_slot import OpenedSlot
from slotqueue.aggregates.operator_slot import OperatorSlot
from slotqueue.aggregates.queue_entry import QueueEntry


@dataclass(frozen=True)
class OperatorBooking:
    entry_id: UUID
    opening_id: UUID | None  # the opening decided with it; None when none was tracked
    previous_outcome: str | None  # what that opening's outcome was before


class OperatorCommands:
    """Mixed into the application (`SlotQueue`); uses its repository, save and retries."""

    repository: Any
    save: Callable[..., Any]
    _retrying: Callable[[Callable[[], Any]], Any]
    _change: Callable[..., Any]
    _load: Callable[..., Any]

    def set_priority(self, entry_id: UUID, score: int, reason: str, now: datetime,
                     by: str | None) -> None:
        self._change(QueueEntry, entry_id, lambda e: e.set_priority(score, reason, now, by))

    def book_by_operator(self, entry_id: UUID, slot: OperatorSlot, location_name: str,
                         now: datetime, by: str | None, known_openings: Iterable[UUID] = ()
                         ) -> OperatorBooking:
        """Books the entry into `slot` and decides the slot's open opening, if one is tracked.
        `known_openings` are the slot's openings the projected tables list (openings recorded
        since are found by their ids)."""
        known = list(known_openings)

        def attempt() -> OperatorBooking:
            entry = self._load(QueueEntry, entry_id)
            entry.book_by_operator(slot.location_id, slot.slot_utc, now, by, location_name)
            opening = self._open_opening(slot.key, known)
            previous = None if opening is None else opening.outcome
            if opening is not None:
                opening.book_by_operator(entry.id, entry.customer_id, now, by)
            withdrawn = self.withdraw_pending_offers(slot.key, now, by, entry)
            self.save(entry, *([opening] if opening is not None else []), *withdrawn)
            return OperatorBooking(entry.id, None if opening is None else opening.id, previous)

        return self._retrying(attempt)  # type: ignore[no-any-return]

    def withdraw_pending_offers(self, slot_key: str, now: datetime, by: str | None,
                                booked: QueueEntry | None = None) -> list[Aggregate]:
        """The slot's pending offers, withdrawn because an operator booked the slot (service
        §4.5): the changed aggregates, saved in the booking's transaction. Provided by
        `application/offers.py: OfferCommands`, which `SlotQueue` mixes in ahead of this class;
        a composition without it must not book silently past pending offers."""
        raise NotImplementedError("withdraw_pending_offers comes from OfferCommands")

    def _open_opening(self, slot_key: str, known: list[UUID]) -> OpenedSlot | None:
        """The slot's opening still listed (not closed), if slotqueue tracks one: the latest of
        those the tables list and those recorded after them (ids `(key, n)` in turn)."""
        found = [s for s in map(self._opening, known) if s is not None]
        number = max((s.opening for s in found), default=0)
        while (later := self._opening(OpenedSlot.create_id(slot_key, number + 1))) is not None:
            found.append(later)
            number += 1
        current = [s for s in found if s.slot_key == slot_key and s.closed_at is None]
        return max(current, key=lambda s: (s.opening, s.first_seen), default=None)

    def _opening(self, opening_id: UUID) -> OpenedSlot | None:
        try:
            found = self.repository.get(opening_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, OpenedSlot) else None
