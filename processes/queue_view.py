"""The dispatcher's own view of the facts: queue entries and their ranks, customers' choices,
the candidate index and the openings, loaded once from a snapshot and then advanced, in
notification order, from the event store (never by re-reading projected tables).

It decides nothing: the rules are `aggregates.queue_policy`'s; this is their data, kept current
in memory so a tick that finds nothing to do costs no query, and a slot costs the same against
a queue of a thousand or a hundred thousand.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from sortedcontainers import SortedList

from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.opened_slot import ATTEMPTING
from slotqueue.aggregates.queue_policy import (
    Candidate,
    Check,
    Ranked,
    RankKey,
    is_ranked,
    rank_key,
)
from slotqueue.processes.candidate_index import CandidateIndex
from slotqueue.processes.view_events import HANDLERS
from slotqueue.projections.dispatch_snapshot import (
    CustomerState,
    EntryState,
    SlotState,
    Snapshot,
)


def _key(entry: EntryState) -> RankKey:
    return rank_key(entry.priority, entry.joined_at, entry.id)


class QueueView:
    def __init__(self, snapshot: Snapshot | None = None) -> None:
        self.position = 0
        self.watch_start: datetime | None = None  # the watermark's first position
        self.scan_position: datetime | None = None  # how far slot_states.last_seen was read
        self.entries: dict[UUID, EntryState] = {}
        self._open_entry: dict[UUID, UUID] = {}  # customer -> its open entry
        self.awaiting_deposit: set[UUID] = set()  # entries in deposit_required
        self.offer_holders: set[UUID] = set()  # entries holding a pending offer
        self.customers: dict[UUID, CustomerState] = {}
        self.ranked = SortedList()  # rank keys of ranked entries
        self.index = CandidateIndex()
        self.slots: dict[str, SlotState] = {}  # the latest opening of each slot key
        self.open_slots: dict[UUID, SlotState] = {}  # openings not yet settled, or listed
        if snapshot is not None:
            self.load(snapshot)

    # --- loading and following the log ------------------------------------------------------

    def load(self, snapshot: Snapshot) -> None:
        self.position = snapshot.position
        self.watch_start, self.scan_position = snapshot.watch_start, snapshot.scan_position
        for customer in snapshot.customers:
            self.customers[customer.id] = customer
        for entry in snapshot.entries:
            self.entries[entry.id] = entry
            self.reindex(entry)
        for slot in snapshot.slots:
            self.track(slot)

    def apply(self, event: Any) -> None:
        """Applies one recorded (or about to be recorded) event; others are ignored."""
        handler = HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    # --- reading -------------------------------------------------------------------------------

    def rank(self, entry_id: UUID) -> int | None:
        entry = self.entries.get(entry_id)
        if entry is None or not is_ranked(entry.status):
            return None
        return int(self.ranked.bisect_left(_key(entry))) + 1

    def front(self, count: int) -> Iterator[tuple[int, EntryState]]:
        """The first `count` ranked entries, with their ranks."""
        for rank, key in enumerate(self.ranked.islice(0, count), start=1):
            yield rank, self.entries[key[2]]

    def candidate(self, entry: EntryState) -> Candidate:
        customer = self.customers.get(entry.customer_id) or CustomerState(entry.customer_id)
        return Candidate(entry.id, entry.customer_id, entry.joined_at, entry.status,
                         entry.deposit_status, customer.location_ids, customer.selection,
                         entry.priority, offer_pending=entry.offer_id is not None,
                         cooling_until=entry.cooldown_until)

    def heads(self, location_id: UUID) -> Iterator[Ranked]:
        """The candidate index's group heads at a location, in rank order. Their ranks are
        not computed here (0): only the winner's is needed (`with_rank`)."""
        for candidate in self.index.heads(location_id):
            yield Ranked(candidate, 0)

    def eligible(self, location_id: UUID, check: Check, skip: Collection[UUID] = ()
                 ) -> Iterator[Ranked]:
        """Every candidate at a location that passes `check`, in rank order, but those in
        `skip` (ranks not computed: 0). The groups whose first member passes are merged, so
        a broadcast finds its customers without testing the whole queue."""
        groups = [self.index.members(location_id, head)
                  for head in self.index.heads(location_id) if check(head) is None]
        for candidate in heapq.merge(*groups, key=lambda c: c.rank_key):
            if candidate.entry_id not in skip:
                yield Ranked(candidate, 0)

    def with_rank(self, item: Ranked) -> Ranked:
        return Ranked(item.candidate, self.rank(item.candidate.entry_id) or 0)

    def ranked_front(self, count: int) -> Iterator[Ranked]:
        for rank, entry in self.front(count):
            yield Ranked(self.candidate(entry), rank)

    def undecided_slots(self) -> list[SlotState]:
        return [s for s in self.open_slots.values() if s.undecided]

    def attempting_slots(self) -> list[SlotState]:
        return [s for s in self.open_slots.values() if s.outcome == ATTEMPTING]

    def listed_slots(self) -> list[SlotState]:
        return [s for s in self.open_slots.values() if not s.closed]

    # --- changes, made by the handlers of `processes.view_events` ----------------------

    def reprioritise(self, entry: EntryState, score: int) -> None:
        """An operator's new score moves the entry in rank order (and in the index)."""
        self.ranked.discard(_key(entry))
        entry.priority = score
        self.reindex(entry)

    def reindex(self, entry: EntryState) -> None:
        key = _key(entry)
        if is_ranked(entry.status):
            if key not in self.ranked:
                self.ranked.add(key)
        else:
            self.ranked.discard(key)
        eligible = (entry.status == lc.ACTIVE and entry.deposit_status == lc.PAID
                    and entry.held_by is None and entry.offer_id is None
                    and entry.cooldown_until is None)
        if entry.offer_id is None:
            self.offer_holders.discard(entry.id)
        else:
            self.offer_holders.add(entry.id)
        if eligible:
            self.index.add(self.candidate(entry))
        else:
            self.index.remove(entry.id)
        if entry.status == lc.DEPOSIT_REQUIRED:
            self.awaiting_deposit.add(entry.id)
        else:
            self.awaiting_deposit.discard(entry.id)
        if entry.status not in lc.FINAL:
            self._open_entry[entry.customer_id] = entry.id

    def prune(self) -> None:
        """Drops entries that left for good. Not done as they leave: within a run a recorded
        fact may reach the view twice (previewed, then recorded), and the second must find
        the entry."""
        for entry in [e for e in self.entries.values() if e.status in lc.FINAL]:
            del self.entries[entry.id]
            if self._open_entry.get(entry.customer_id) == entry.id:
                del self._open_entry[entry.customer_id]

    def entry_of(self, event: Any) -> EntryState | None:
        return self.entries.get(event.originator_id)

    def customer_state(self, customer_id: UUID) -> CustomerState:
        return self.customers.setdefault(customer_id, CustomerState(customer_id))

    def reindex_customer(self, customer_id: UUID) -> None:
        entry_id = self._open_entry.get(customer_id)
        if entry_id is not None and entry_id in self.entries:
            self.reindex(self.entries[entry_id])

    def track(self, slot: SlotState) -> None:
        current = self.slots.get(slot.key)
        if current is None or (slot.opening, slot.first_seen) >= (current.opening,
                                                                   current.first_seen):
            self.slots[slot.key] = slot
        if not (slot.settled and slot.closed):
            self.open_slots[slot.id] = slot

    def slot_changed(self, slot: SlotState) -> None:
        if slot.settled and slot.closed:
            self.open_slots.pop(slot.id, None)

