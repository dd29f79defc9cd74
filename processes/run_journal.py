"""What one dispatcher run records, and how: decisions that call nobody and each booking
adapter's answer wait in memory and ride along with the next intent to book, so an attempt
costs one transaction; a conflict saves every answer alone (a confirmed booking is never lost)
and has the waiting decisions made again. The run's tally counts what was recorded.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from slotqueue.adapters.booking import BookingResult
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.offer import Offer
from slotqueue.aggregates.opened_slot import ATTEMPTING, BOOKED, BOOKED_CONFLICT, OpenedSlot
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.processes.writer import Writer

log = logging.getLogger("slotqueue.dispatcher")
PENDING_LIMIT = 100  # aggregates waiting to ride along with the next save
MAX_TRIES = 50


@dataclass
class Tally:
    """What a run recorded (counted from the events it saved)."""

    decided: set[UUID] = field(default_factory=set)  # openings it decided
    nudged: set[UUID] = field(default_factory=set)  # customers it nudged
    attempts: int = 0
    successes: int = 0
    interrupted: int = 0
    offers: int = 0  # offers made (service §4.2)
    conflicts: list[str] = field(default_factory=list)
    # openings by the outcome this run recorded: nobody's (weekend, no eligible customer) or
    # the attempt's end (booked, attempt_failed, skipped, booked_conflict)
    outcomes: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Answer:
    """An adapter's answer held in memory until it is saved."""

    slot_id: UUID
    entry_id: UUID
    result: BookingResult


ApplyAnswer = Callable[[OpenedSlot, QueueEntry, BookingResult], None]


class RunJournal:
    def __init__(self, writer: Writer, apply_answer: ApplyAnswer,
                 decide_again: Callable[[UUID], None]) -> None:
        self.writer, self.apply_answer, self.decide_again = writer, apply_answer, decide_again
        self.tally = Tally()
        self._pending: list[Aggregate] = []
        self._answers: list[Answer] = []
        self._waiting: list[UUID] = []  # openings decided without a winner, not yet saved

    def later(self, slot: OpenedSlot, *more: Aggregate) -> None:
        """A decision that calls nobody rides along with the next save."""
        self._pending += [slot, *more]
        self._waiting.append(slot.id)
        self._flush_if_full()

    def answered(self, slot: OpenedSlot, entry: QueueEntry, result: BookingResult) -> None:
        """The adapter's answer, applied to the aggregates in memory and shown to the view now
        (the next decision must see it); it is saved with the next intent."""
        self.apply_answer(slot, entry, result)
        self.writer.preview(slot, entry)
        self._answers.append(Answer(slot.id, entry.id, result))
        self._pending += [slot, entry]
        self._flush_if_full()

    def commit(self, *aggregates: Aggregate) -> bool:
        """Saves what waits with `aggregates`, all or nothing. On a conflict every answer that
        waited is saved alone, decisions without a winner are made again, and False says
        `aggregates` were not recorded (the caller decides again from fresh facts)."""
        batch = [*self._pending, *aggregates]
        answers, waiting = self._answers, self._waiting
        self._pending, self._answers, self._waiting = [], [], []
        try:
            self.save(*batch)
            return True
        except IntegrityError:
            self.writer.forget(a.id for a in batch)
            self.writer.refresh()
            for answer in answers:
                self._save_alone(answer)
            for slot_id in waiting:
                self.decide_again(slot_id)
            return False

    def flush(self) -> None:
        while self._pending and not self.commit():
            continue

    def _flush_if_full(self) -> None:
        if len(self._pending) >= PENDING_LIMIT:
            self.flush()

    def save(self, *aggregates: Aggregate) -> None:
        """Saves, then counts what was recorded: the run's summary tells facts, not tries."""
        events = [e for a in aggregates for e in a.pending_events]
        self.writer.save(*aggregates)
        for event in events:
            self._count(event)

    def _save_alone(self, answer: Answer) -> None:
        """Saves one answer by itself, from freshly loaded aggregates, until it is on record."""
        for _ in range(MAX_TRIES):
            self.writer.forget([answer.slot_id, answer.entry_id])
            slot = self.writer.get(OpenedSlot, answer.slot_id)
            entry = self.writer.get(QueueEntry, answer.entry_id)
            self.apply_answer(slot, entry, answer.result)
            try:
                self.save(slot, entry)
                return
            except IntegrityError:
                self.writer.refresh()
        raise RuntimeError(f"could not record the answer for slot {answer.slot_id}")

    def _count(self, event: Any) -> None:
        kind = type(event)
        if kind is OpenedSlot.Decided:
            self.tally.decided.add(event.originator_id)
            if event.outcome != ATTEMPTING:
                self.tally.outcomes[event.outcome] += 1
        elif kind in (OpenedSlot.AttemptFinished, OpenedSlot.AttemptAnsweredLate):
            if kind is OpenedSlot.AttemptFinished:
                self.tally.outcomes[event.outcome] += 1
            if event.outcome == BOOKED:
                self.tally.successes += 1
            elif event.outcome == BOOKED_CONFLICT:
                self.tally.conflicts.append(f"{event.slot_key}: booked, but {event.conflict}")
                log.error("booking confirmed but the entry could not take it", extra={
                    "fields": {"slot_key": event.slot_key, "entry_id": str(event.entry_id),
                               "reason": event.conflict}})
        elif kind is Customer.OpportunityPassed:
            self.tally.nudged.add(event.originator_id)
        elif kind is Offer.Made:
            self.tally.offers += 1
