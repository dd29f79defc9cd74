"""What happens to one opening (spec §4.5 step 4): weekend, nobody, or an attempt for the first
eligible customer — decided against current facts, with every booking the adapter confirmed
on record whatever the timing.

The winner is chosen from the view (`queue_policy.first_eligible` over the candidate index),
then checked again against the winner's entry and customer aggregates. The decision, the
intent to book and the winner's hold are saved together with an event on each of those two
aggregates, so a pause or a change of windows recorded meanwhile is a version conflict, not a
booking outside them. Only then is the booking adapter called. Its answer is saved with the
next opening's decision (or when the run ends): one transaction per attempt, and the next
decision still sees the answer, as if each had been saved alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from slotqueue.adapters.booking import Booker, BookingResult
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.errors import DomainError
from slotqueue.aggregates.matcher import Presets, Selection
from slotqueue.aggregates.opened_slot import (
    BOOKED,
    BOOKED_CONFLICT,
    NO_ELIGIBLE,
    WEEKEND,
    OpenedSlot,
)
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.aggregates.queue_policy import (
    Candidate,
    Check,
    Choice,
    Ranked,
    first_eligible,
    first_failed_check,
    is_weekend,
    nudge_day,
    passed_over,
)
from slotqueue.processes.queue_view import SlotState
from slotqueue.processes.writer import Writer

log = logging.getLogger("slotqueue.dispatcher")
MAX_TRIES = 50
PENDING_LIMIT = 100  # aggregates waiting to ride along with the next save


@dataclass(frozen=True)
class Rules:
    """What a run decides with: settings and the facts read once per run."""

    presets: Presets
    timezone: str
    opportunity_rank: int
    lock_ttl: timedelta
    location_name: Callable[[UUID], str]


@dataclass
class Tally:
    """What a run recorded (counted from the events it saved)."""

    decided: set[UUID] = field(default_factory=set)  # openings it decided
    nudged: set[UUID] = field(default_factory=set)  # customers it nudged
    attempts: int = 0
    successes: int = 0
    interrupted: int = 0
    conflicts: list[str] = field(default_factory=list)


@dataclass
class _Answer:
    """An adapter's answer held in memory until it is saved."""

    slot_id: UUID
    entry_id: UUID
    result: BookingResult


def choose(heads: Iterable[Ranked], front: Iterable[Ranked], check: Check,
           opportunity_rank: int) -> Choice:
    """First eligible wins; those of rank ≤ opportunity_rank ahead of the winner who failed
    only on their windows were passed over (queue_policy's rules, fed by the view)."""
    winner = first_eligible(heads, check)
    return Choice(winner, passed_over(front, winner, opportunity_rank, check))


def _fresh_candidate(entry: QueueEntry, customer: Customer) -> Candidate:
    selection = None if customer.selection is None else Selection.from_json(customer.selection)
    return Candidate(entry.id, entry.customer_id, entry.joined_at, entry.status,
                     entry.deposit_status, frozenset(customer.location_ids), selection)


class SlotDecider:
    def __init__(self, writer: Writer, booker: Booker, rules: Rules, run_id: UUID,
                 now: datetime) -> None:
        self.writer, self.view, self.booker = writer, writer.view, booker
        self.rules, self.run_id, self.now = rules, run_id, now
        self.day = nudge_day(now, rules.timezone)
        self._presets = rules.presets.to_json()  # the rules in force, recorded with each decision
        self.tally = Tally()
        self._pending: list[Aggregate] = []
        self._answers: list[_Answer] = []
        self._redecide: list[UUID] = []

    # --- deciding ------------------------------------------------------------------------------

    def decide(self, state: SlotState) -> None:
        for _ in range(MAX_TRIES):
            slot = self.writer.get(OpenedSlot, state.id)
            if slot.outcome is not None:
                return  # decided (or ended) by another run meanwhile
            if self._try(slot):
                return
        raise RuntimeError(f"no stable decision for slot {state.key} after {MAX_TRIES} tries")

    def _try(self, slot: OpenedSlot) -> bool:
        """One try at deciding `slot`; False when facts moved and it must be tried again."""
        if (slot.claimed_until is not None and self.now <= slot.claimed_until
                and slot.claimed_by != self.run_id):
            return True  # another run holds its lock
        if is_weekend(slot.slot_datetime, self.rules.timezone):
            slot.decide(self.run_id, self.now, WEEKEND, self._presets)
            return self._later(slot)
        check = partial(first_failed_check, location_id=slot.location_id,
                        slot_utc=slot.slot_datetime, presets=self.rules.presets, now=self.now)
        choice = choose(self.view.heads(slot.location_id),
                        self.view.ranked_front(self.rules.opportunity_rank), check,
                        self.rules.opportunity_rank)
        nudged = self._nudges(choice.passed_over, slot.id)
        passed = [item.candidate.customer_id for item in choice.passed_over]
        if choice.winner is None:
            slot.decide(self.run_id, self.now, NO_ELIGIBLE, self._presets, passed)
            return self._later(slot, *nudged)
        held = self._hold(slot, choice.winner, check)
        if held is None:
            self.writer.forget(c.id for c in nudged)
            return False
        entry, customer = held
        winner = choice.winner.candidate
        attempt_id = slot.decide_winner(self.run_id, self.now, self._presets, {
            "entry_id": winner.entry_id, "customer_id": winner.customer_id,
            "rank": choice.winner.rank, "joined_at": winner.joined_at}, passed,
            self.booker.name, self.rules.lock_ttl)
        if not self._commit(slot, entry, customer, *nudged):
            return False  # the intent was not recorded: facts moved, decide again
        self.tally.attempts += 1
        result = self.booker.book_slot(winner.customer_id, slot.location_id,
                                       slot.slot_datetime, attempt_id)
        self._answer(slot, entry, result)
        return True

    def _hold(self, slot: OpenedSlot, winner: Ranked, check: Check
              ) -> tuple[QueueEntry, Customer] | None:
        """The winner's entry and customer, checked against their own recorded facts and
        marked for this slot; None when the view was behind (it is caught up)."""
        candidate = winner.candidate
        entry = self.writer.get(QueueEntry, candidate.entry_id)
        customer = self.writer.get(Customer, candidate.customer_id)
        fresh = _fresh_candidate(entry, customer)
        if check(fresh) is not None or entry.attempt_slot_id is not None:
            self.writer.forget([entry.id, customer.id])
            self.writer.refresh()
            return None
        entry.reserve_attempt(slot.id, self.now)
        customer.choose_for_slot(slot.id, entry.id, self.now)
        return entry, customer

    def _nudges(self, passed: list[Ranked], slot_id: UUID) -> list[Customer]:
        """Customers to tell about the opening they missed: once per customer per day."""
        nudged = []
        for item in passed:
            state = self.view.customers.get(item.candidate.customer_id)
            if state is not None and state.nudged_day is not None and state.nudged_day >= self.day:
                continue
            customer = self.writer.get(Customer, item.candidate.customer_id)
            if customer.note_opportunity_passed(self.day, slot_id, self.now):
                nudged.append(customer)
        return nudged

    # --- answers -------------------------------------------------------------------------------

    def _answer(self, slot: OpenedSlot, entry: QueueEntry, result: BookingResult) -> None:
        """Records the adapter's answer in memory; it is saved with the next decision."""
        self._apply_answer(slot, entry, result)
        self.writer.preview(slot, entry)
        self._answers.append(_Answer(slot.id, entry.id, result))
        self._pending += [slot, entry]
        if len(self._pending) >= PENDING_LIMIT:
            self.flush()

    def _apply_answer(self, slot: OpenedSlot, entry: QueueEntry, result: BookingResult) -> None:
        conflict = None
        if result.result == "success":
            conflict = entry.take_confirmed_booking(
                slot.id, slot.location_id, slot.slot_datetime, self.now,
                self.rules.location_name(slot.location_id))
        else:
            entry.release_attempt(slot.id, self.now, result.result)
        slot.record_answer(self.run_id, self.now, result.result, result.error_code,
                           result.error_message, conflict)

    def _record_alone(self, answer: _Answer) -> None:
        """Saves one answer by itself, from freshly loaded aggregates, until it is on record:
        a booking the adapter confirmed is never lost."""
        for _ in range(MAX_TRIES):
            self.writer.forget([answer.slot_id, answer.entry_id])
            slot = self.writer.get(OpenedSlot, answer.slot_id)
            entry = self.writer.get(QueueEntry, answer.entry_id)
            self._apply_answer(slot, entry, answer.result)
            try:
                self._save(slot, entry)
                return
            except IntegrityError:
                self.writer.refresh()
        raise RuntimeError(f"could not record the answer for slot {answer.slot_id}")

    # --- saving --------------------------------------------------------------------------------

    def _later(self, slot: OpenedSlot, *more: Aggregate) -> bool:
        """A decision that calls nobody rides along with the next save."""
        self._pending += [slot, *more]
        self._redecide.append(slot.id)
        if len(self._pending) >= PENDING_LIMIT:
            self.flush()
        return True

    def _commit(self, *aggregates: Aggregate) -> bool:
        """Saves what is pending with `aggregates`, all or nothing. On a conflict every
        answer held is saved alone, decisions without a winner are made again, and False
        says the new ones were not recorded."""
        batch = [*self._pending, *aggregates]
        answers, redecide = self._answers, self._redecide
        self._pending, self._answers, self._redecide = [], [], []
        try:
            self._save(*batch)
            return True
        except IntegrityError:
            self.writer.forget(a.id for a in batch)
            self.writer.refresh()
            for answer in answers:
                self._record_alone(answer)
            for slot_id in redecide:
                state = self.view.open_slots.get(slot_id)
                if state is not None:
                    self.decide(state)
            return False

    def _save(self, *aggregates: Aggregate) -> None:
        """Saves, then counts what was recorded: the run's summary tells facts, not tries."""
        events = [e for a in aggregates for e in a.pending_events]
        self.writer.save(*aggregates)
        for event in events:
            self._tally(event)

    def _tally(self, event: Any) -> None:
        kind = type(event)
        if kind is OpenedSlot.Decided:
            self.tally.decided.add(event.originator_id)
        elif kind in (OpenedSlot.AttemptFinished, OpenedSlot.AttemptAnsweredLate):
            if event.outcome == BOOKED:
                self.tally.successes += 1
            elif event.outcome == BOOKED_CONFLICT:
                self.tally.conflicts.append(f"{event.slot_key}: booked, but {event.conflict}")
                log.error("booking confirmed but the entry could not take it", extra={
                    "fields": {"slot_key": event.slot_key, "entry_id": str(event.entry_id),
                               "reason": event.conflict}})
        elif kind is Customer.OpportunityPassed:
            self.tally.nudged.add(event.originator_id)

    def flush(self) -> None:
        while self._pending and not self._commit():
            continue

    # --- recovery ------------------------------------------------------------------------------

    def interrupt(self, state: SlotState) -> None:
        """A run stopped answering mid-attempt: end the attempt as failed and free the
        customer (the adapter's answer, if it ever comes, is still recorded)."""
        self.flush()
        try:
            slot = self.writer.get(OpenedSlot, state.id)
            slot.interrupt(self.run_id, self.now)
            aggregates: list[Aggregate] = [slot]
            if slot.winner is not None:
                entry = self.writer.get(QueueEntry, slot.winner["entry_id"])
                entry.release_attempt(slot.id, self.now, "fail")
                aggregates.append(entry)
            self._save(*aggregates)
            self.tally.interrupted += 1
        except (DomainError, IntegrityError):
            self.writer.forget([state.id])
            self.writer.refresh()
