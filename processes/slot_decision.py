"""What happens to one claimed slot (spec §4.5 step 4): weekend, nobody, or an attempt.

The winner's entry is held and the intent to book recorded in one transaction before the
booking adapter is called; the result and the booking (or the release) in one more. Aggregates
stay in memory between steps and are reloaded only when a save lost a race.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError

from slotqueue.adapters.booking import Booker, BookingResult
from slotqueue.aggregates.eligibility import is_weekend
from slotqueue.aggregates.errors import DomainError
from slotqueue.aggregates.matcher import Presets
from slotqueue.aggregates.opened_slot import ATTEMPTING, NO_ELIGIBLE, WEEKEND, OpenedSlot
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.application.queue import MAX_PER_SAVE, SlotQueue
from slotqueue.processes.queue_index import QueueIndex, Ranked


def load_slot(app: SlotQueue, slot_id: UUID) -> OpenedSlot:
    slot = app.repository.get(slot_id)
    assert isinstance(slot, OpenedSlot)
    return slot


@dataclass
class Tally:
    attempts: int = 0
    successes: int = 0
    nudges: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class SlotDecider:
    app: SlotQueue
    booker: Booker
    conn: psycopg.Connection[Any]
    index: QueueIndex
    presets: Presets
    run_id: UUID
    now: datetime
    day: str
    timezone: str
    opportunity_rank: int
    tally: Tally = field(default_factory=Tally)
    _decided: list[OpenedSlot] = field(default_factory=list)
    _names: dict[UUID, str] = field(default_factory=dict)
    _entries: dict[UUID, QueueEntry] = field(default_factory=dict)
    _nudged: set[UUID] = field(default_factory=set)  # handled this run (one Honolulu day)

    def _entry(self, entry_id: UUID) -> QueueEntry:
        """The entry as this run last saved it; loaded once, reloaded after a lost race."""
        if entry_id not in self._entries:
            self._entries[entry_id] = self.app.entry(entry_id)
        return self._entries[entry_id]

    def decide(self, slot: OpenedSlot) -> None:
        rules = self.presets.to_json()
        for _ in range(50):
            if slot.claimed_by != self.run_id or slot.outcome is not None:
                return  # our lock ran out and another run took the slot over
            if is_weekend(slot.slot_datetime, self.timezone):
                slot.decide(self.run_id, self.now, WEEKEND, rules)
                self._later(slot)
                return
            choice = self.index.choose(slot.location_id, slot.slot_datetime, self.presets,
                                       self.now, self.opportunity_rank)
            passed = [item.candidate.customer_id for item in choice.passed_over]
            if choice.winner is None:
                slot.decide(self.run_id, self.now, NO_ELIGIBLE, rules, passed_over=passed)
                self._later(slot)
                self._nudge(passed, slot.id)
                return
            entry = self._reserve(slot, choice.winner, rules, passed)
            if entry is not None:
                self._nudge(passed, slot.id)
                self._attempt(slot, entry)
                return
            slot = self._reload(slot.id)
        raise RuntimeError(f"no stable decision for slot {slot.slot_key} after 50 tries")

    def _later(self, slot: OpenedSlot) -> None:
        """Decisions that call nobody are saved together, MAX_PER_SAVE at a time."""
        self._decided.append(slot)
        if len(self._decided) >= MAX_PER_SAVE:
            self.flush()

    def flush(self) -> None:
        batch, self._decided = self._decided, []
        try:
            self.app.save(*batch)
        except IntegrityError:  # a lock ran out under us: decide those again, one by one
            for slot in (self._reload(s.id) for s in batch):
                if slot.claimed_by == self.run_id and slot.outcome is None:
                    self.decide(slot)
            if self._decided:
                self.flush()

    def _reserve(self, slot: OpenedSlot, winner: Ranked, rules: dict[str, Any],
                 passed: list[UUID]) -> QueueEntry | None:
        """Decision, intent and the entry's hold in one transaction; None when the entry is
        no longer free (then the next customer is tried)."""
        c = winner.candidate
        entry = self._entry(c.entry_id)
        try:
            entry.reserve_attempt(slot.id, self.now)
        except DomainError:
            self.index.remove(c.entry_id)  # booked, paused or busy elsewhere since the index
            return None
        slot.decide(self.run_id, self.now, ATTEMPTING, rules, passed_over=passed, winner={
            "entry_id": c.entry_id, "customer_id": c.customer_id, "rank": winner.rank,
            "joined_at": c.joined_at})
        slot.start_attempt(self.run_id, self.now, self.booker.name)
        try:
            self.app.save(slot, entry)  # the intent is on record before the adapter is called
        except IntegrityError:
            self._entries.pop(c.entry_id, None)
            return None
        return entry

    def _attempt(self, slot: OpenedSlot, entry: QueueEntry) -> None:
        self.tally.attempts += 1
        result = self.booker.book_slot(entry.customer_id, slot.location_id, slot.slot_datetime)
        if self._record(slot, entry, result):
            self.index.remove(entry.id)
            self.tally.successes += 1

    def _record(self, slot: OpenedSlot, entry: QueueEntry, result: BookingResult) -> bool:
        """The result with the booking (or the hold's release) in one transaction. On failure
        the customer stays active and the slot is not passed on."""
        name = self._location_name(slot.location_id)
        for _ in range(8):
            slot.finish_attempt(self.run_id, self.now, result.result, result.error_code,
                                result.error_message)
            booked = False
            if result.result == "success":
                try:
                    entry.book(slot.location_id, slot.slot_datetime, self.now, name)
                    booked = True
                except DomainError as exc:  # booked at the DMV, but the entry moved on
                    self.tally.errors.append(f"{slot.slot_key}: booked, but {exc}")
            if not booked:
                entry.release_attempt(slot.id, self.now, result.result)
            try:
                self.app.save(slot, entry)
                return booked
            except IntegrityError:  # the entry changed under us (a pause, a payment)
                self._entries.pop(entry.id, None)
                slot, entry = self._reload(slot.id), self._entry(entry.id)
        raise RuntimeError(f"could not record the booking result for slot {slot.slot_key}")

    def interrupt(self, slot: OpenedSlot) -> None:
        """A run died mid-attempt: end the attempt as failed and free the customer."""
        slot.interrupt(self.run_id, self.now)
        entry = self.app.entry(slot.winner["entry_id"]) if slot.winner else None
        if entry is not None:
            entry.release_attempt(slot.id, self.now, "fail")
        self.app.save(slot, *([entry] if entry is not None else []))

    def _reload(self, slot_id: UUID) -> OpenedSlot:
        return load_slot(self.app, slot_id)

    def _location_name(self, location_id: UUID) -> str:
        if location_id not in self._names:
            row = self.conn.execute("SELECT name FROM locations WHERE id = %s", (location_id,))
            found = row.fetchone()
            self._names[location_id] = str(found[0]) if found else ""
        return self._names[location_id]

    def _nudge(self, customer_ids: list[UUID], slot_id: UUID) -> None:
        for customer_id in customer_ids:
            if customer_id in self._nudged:
                continue  # nudged (or found nudged) earlier in this run: same day
            self._nudged.add(customer_id)
            for _ in range(5):
                customer = self.app.customer(customer_id)
                if not customer.note_opportunity_passed(self.day, slot_id, self.now):
                    break
                try:
                    self.app.save(customer)
                    self.tally.nudges += 1
                    break
                except IntegrityError:
                    continue
