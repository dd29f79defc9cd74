"""What happens to one opening (spec §4.5 step 4): weekend, nobody, or an attempt for the first
eligible customer — decided against current facts, with every booking the adapter confirmed
on record whatever the timing.

The winner is chosen from the view (`queue_policy.first_eligible` over the candidate index),
then checked again against the winner's entry and customer aggregates. The decision, the
intent to book and the winner's hold are saved together with an event on each of those two
aggregates, so a pause or a change of windows recorded meanwhile is a version conflict, not a
booking outside them. Only then is the booking adapter called; its answer is saved with the
next intent (`processes.run_journal`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
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
from slotqueue.aggregates.matcher import Presets
from slotqueue.aggregates.opened_slot import (
    NO_ELIGIBLE,
    WEEKEND,
    OpenedSlot,
)
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.aggregates.queue_policy import (
    Check,
    Choice,
    Ranked,
    first_eligible,
    first_failed_check,
    is_weekend,
    nudge_day,
    passed_over,
)
from slotqueue.processes.offer_decision import OfferDecider, OfferPolicy, fresh_candidate
from slotqueue.processes.queue_view import QueueView, SlotState
from slotqueue.processes.run_journal import RunJournal
from slotqueue.processes.writer import Writer

log = logging.getLogger("slotqueue.dispatcher")
MAX_TRIES = 50


@dataclass(frozen=True)
class Rules:
    """What a run decides with: settings and the facts read once per run."""

    presets: Presets
    timezone: str
    opportunity_rank: int
    lock_ttl: timedelta
    location_name: Callable[[UUID], str]
    # The booking mode and offers (service §4.2, §4.3); by default, auto mode.
    offers: OfferPolicy = field(default_factory=OfferPolicy)


def choose(view: QueueView, location_id: UUID, check: Check, opportunity_rank: int,
           skip: Collection[UUID] = ()) -> Choice:
    """First eligible wins; those of rank ≤ opportunity_rank ahead of the winner who failed
    only on their windows were passed over (queue_policy's rules, fed by the view). `skip`:
    entries this opening was offered to already (service §4.2)."""
    if skip:
        winner = next(view.eligible(location_id, check, skip), None)
    else:
        winner = first_eligible(view.heads(location_id), check)
    if winner is not None:
        winner = view.with_rank(winner)
    front = view.ranked_front(opportunity_rank)
    return Choice(winner, passed_over(front, winner, opportunity_rank, check))


class SlotDecider:
    def __init__(self, writer: Writer, booker: Booker, rules: Rules, run_id: UUID,
                 now: datetime) -> None:
        self.writer, self.view, self.booker = writer, writer.view, booker
        self.rules, self.run_id, self.now = rules, run_id, now
        self.day = nudge_day(now, rules.timezone)
        self._presets = rules.presets.to_json()  # the rules in force, recorded with each decision
        self.journal = RunJournal(writer, self._apply_answer, self._decide_again)
        self.tally = self.journal.tally
        self.offers = OfferDecider(self, rules.offers)

    @property
    def presets_json(self) -> dict[str, Any]:
        return self._presets

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
            self.journal.later(slot)
            return True
        check = partial(first_failed_check, location_id=slot.location_id,
                        slot_utc=slot.slot_datetime, presets=self.rules.presets, now=self.now)
        skip = frozenset(slot.offered_entries)
        choice = choose(self.view, slot.location_id, check, self.rules.opportunity_rank, skip)
        nudged = self._nudges(choice.passed_over, slot.id)
        passed = [item.candidate.customer_id for item in choice.passed_over]
        if self.offers.wanted(slot, choice.winner):
            return self.offers.decide(slot, choice, check, skip, nudged, passed)
        return self._book(slot, choice, check, nudged, passed)

    def _book(self, slot: OpenedSlot, choice: Choice, check: Check, nudged: list[Customer],
              passed: list[UUID]) -> bool:
        """Nobody, or a booking attempt for the winner (auto mode)."""
        if choice.winner is None:
            slot.decide(self.run_id, self.now, NO_ELIGIBLE, self._presets, passed)
            self.journal.later(slot, *nudged)
            return True
        held = self._hold(slot, choice.winner, check)
        if held is None:
            self.writer.forget(c.id for c in nudged)
            return False
        entry, customer = held
        winner = choice.winner.candidate
        attempt_id = slot.decide_winner(self.run_id, self.now, self._presets, {
            "entry_id": winner.entry_id, "customer_id": winner.customer_id,
            "rank": choice.winner.rank, "joined_at": winner.joined_at,
            "priority": winner.priority}, passed,
            self.booker.name, self.rules.lock_ttl)
        if not self.journal.commit(slot, entry, customer, *nudged):
            return False  # the intent was not recorded: facts moved, decide again
        self.tally.attempts += 1
        result = self.booker.book_slot(winner.customer_id, slot.location_id,
                                       slot.slot_datetime, attempt_id)
        self.journal.answered(slot, entry, result)
        return True

    def _hold(self, slot: OpenedSlot, winner: Ranked, check: Check
              ) -> tuple[QueueEntry, Customer] | None:
        """The winner's entry and customer, checked against their own recorded facts and
        marked for this slot; None when the view was behind (it is caught up)."""
        candidate = winner.candidate
        entry = self.writer.get(QueueEntry, candidate.entry_id)
        customer = self.writer.get(Customer, candidate.customer_id)
        fresh = fresh_candidate(entry, customer)
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

    def _apply_answer(self, slot: OpenedSlot, entry: QueueEntry, result: BookingResult) -> None:
        """The adapter's answer on the slot and the entry: booked, released, or a conflict."""
        conflict = None
        if result.result == "success":
            conflict = entry.take_confirmed_booking(
                slot.id, slot.location_id, slot.slot_datetime, self.now,
                self.rules.location_name(slot.location_id))
        else:
            entry.release_attempt(slot.id, self.now, result.result)
        slot.record_answer(self.run_id, self.now, result.result, result.error_code,
                           result.error_message, conflict)

    def _decide_again(self, slot_id: UUID) -> None:
        state = self.view.open_slots.get(slot_id)
        if state is not None:
            self.decide(state)

    def flush(self) -> None:
        self.journal.flush()

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
            self.journal.save(*aggregates)
            self.tally.interrupted += 1
        except (DomainError, IntegrityError):
            self.writer.forget([state.id])
            self.writer.refresh()
