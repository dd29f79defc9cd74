"""The dispatcher's own view of the facts: queue entries and their ranks, customers' choices,
the candidate index and the openings, loaded once from a snapshot and then advanced, in
notification order, from the event store (never by re-reading projected tables).

It decides nothing: the rules are `aggregates.queue_policy`'s; this is their data, kept current
in memory so a tick that finds nothing to do costs no query, and a slot costs the same against
a queue of a thousand or a hundred thousand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from sortedcontainers import SortedList

from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.matcher import Selection
from slotqueue.aggregates.opened_slot import ATTEMPTING, BASELINE, GONE, OpenedSlot
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.aggregates.queue_policy import Candidate, Ranked, is_ranked, rank_key
from slotqueue.aggregates.watermark import SLOT_OPENED, Watermark
from slotqueue.processes.candidate_index import CandidateIndex
from slotqueue.projections.dispatch_snapshot import (
    CustomerState,
    EntryState,
    SlotState,
    Snapshot,
)

Handler = Callable[["QueueView", Any], None]
HANDLERS: dict[type, Handler] = {}


def _on(*kinds: type) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for kind in kinds:
            HANDLERS[kind] = handler
        return handler
    return register


class QueueView:
    def __init__(self, snapshot: Snapshot | None = None) -> None:
        self.position = 0
        self.watch_start: datetime | None = None  # the watermark's first position
        self.scan_position: datetime | None = None  # how far slot_states.last_seen was read
        self.entries: dict[UUID, EntryState] = {}
        self._open_entry: dict[UUID, UUID] = {}  # customer -> its open entry
        self.awaiting_deposit: set[UUID] = set()  # entries in deposit_required
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
            self._reindex(entry)
        for slot in snapshot.slots:
            self._track(slot)

    def apply(self, event: Any) -> None:
        handler = HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    # --- reading -------------------------------------------------------------------------------

    def rank(self, entry_id: UUID) -> int | None:
        entry = self.entries.get(entry_id)
        if entry is None or not is_ranked(entry.status):
            return None
        return int(self.ranked.bisect_left(rank_key(entry.joined_at, entry.id))) + 1

    def front(self, count: int) -> Iterator[tuple[int, EntryState]]:
        """The first `count` ranked entries, with their ranks."""
        for rank, key in enumerate(self.ranked.islice(0, count), start=1):
            yield rank, self.entries[key[1]]

    def candidate(self, entry: EntryState) -> Candidate:
        customer = self.customers.get(entry.customer_id) or CustomerState(entry.customer_id)
        return Candidate(entry.id, entry.customer_id, entry.joined_at, entry.status,
                         entry.deposit_status, customer.location_ids, customer.selection)

    def heads(self, location_id: UUID) -> Iterator[Ranked]:
        """The candidate index's group heads at a location, with their ranks."""
        for candidate in self.index.heads(location_id):
            yield Ranked(candidate, self.rank(candidate.entry_id) or 0)

    def ranked_front(self, count: int) -> Iterator[Ranked]:
        for rank, entry in self.front(count):
            yield Ranked(self.candidate(entry), rank)

    def undecided_slots(self) -> list[SlotState]:
        return [s for s in self.open_slots.values() if s.undecided]

    def attempting_slots(self) -> list[SlotState]:
        return [s for s in self.open_slots.values() if s.outcome == ATTEMPTING]

    def listed_slots(self) -> list[SlotState]:
        return [s for s in self.open_slots.values() if not s.closed]

    # --- keeping the derived structures right --------------------------------------------------

    def _reindex(self, entry: EntryState) -> None:
        key = rank_key(entry.joined_at, entry.id)
        if is_ranked(entry.status):
            if key not in self.ranked:
                self.ranked.add(key)
        else:
            self.ranked.discard(key)
        eligible = (entry.status == lc.ACTIVE and entry.deposit_status == lc.PAID
                    and entry.held_by is None)
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

    def _entry(self, event: Any) -> EntryState | None:
        return self.entries.get(event.originator_id)

    def _customer(self, customer_id: UUID) -> CustomerState:
        return self.customers.setdefault(customer_id, CustomerState(customer_id))

    def _reindex_customer(self, customer_id: UUID) -> None:
        entry_id = self._open_entry.get(customer_id)
        if entry_id is not None and entry_id in self.entries:
            self._reindex(self.entries[entry_id])

    def _track(self, slot: SlotState) -> None:
        current = self.slots.get(slot.key)
        if current is None or (slot.opening, slot.first_seen) >= (current.opening,
                                                                   current.first_seen):
            self.slots[slot.key] = slot
        if not (slot.settled and slot.closed):
            self.open_slots[slot.id] = slot

    def _slot_changed(self, slot: SlotState) -> None:
        if slot.settled and slot.closed:
            self.open_slots.pop(slot.id, None)


# --- the events the view follows ----------------------------------------------------------------

@_on(Customer.Registered)
def _registered(view: QueueView, e: Any) -> None:
    view._customer(e.originator_id)


@_on(Customer.TargetWindowsSelected)
def _windows(view: QueueView, e: Any) -> None:
    view._customer(e.originator_id).selection = Selection.from_json(e.selection)
    view._reindex_customer(e.originator_id)


@_on(Customer.LocationsPreferred)
def _locations(view: QueueView, e: Any) -> None:
    view._customer(e.originator_id).location_ids = frozenset(e.location_ids)
    view._reindex_customer(e.originator_id)


@_on(Customer.OpportunityPassed)
def _nudged(view: QueueView, e: Any) -> None:
    view._customer(e.originator_id).nudged_day = e.day


@_on(QueueEntry.Joined)
def _joined(view: QueueView, e: Any) -> None:
    entry = EntryState(e.originator_id, e.customer_id, e.at)
    view.entries[entry.id] = entry
    view._reindex(entry)


def _set_status(view: QueueView, e: Any, **changes: Any) -> None:
    entry = view._entry(e)
    if entry is None:
        return
    for name, value in changes.items():
        setattr(entry, name, value)
    view._reindex(entry)


@_on(QueueEntry.DepositRequired)
def _deposit_required(view: QueueView, e: Any) -> None:
    _set_status(view, e, status=e.status, deposit_status=e.deposit_status,
                deposit_expires_at=e.expires_at)


@_on(QueueEntry.DepositPaid, QueueEntry.DepositLapsed)
def _deposit(view: QueueView, e: Any) -> None:
    _set_status(view, e, status=e.status, deposit_status=e.deposit_status)


@_on(QueueEntry.Paused, QueueEntry.Resumed, QueueEntry.Canceled)
def _status(view: QueueView, e: Any) -> None:
    _set_status(view, e, status=e.status)


@_on(QueueEntry.Refunded)
def _refunded(view: QueueView, e: Any) -> None:
    _set_status(view, e, deposit_status=e.deposit_status)


@_on(QueueEntry.AttemptReserved)
def _held(view: QueueView, e: Any) -> None:
    _set_status(view, e, held_by=e.slot_id)


@_on(QueueEntry.AttemptReleased)
def _released(view: QueueView, e: Any) -> None:
    _set_status(view, e, held_by=None)


@_on(QueueEntry.Booked)
def _booked(view: QueueView, e: Any) -> None:
    _set_status(view, e, status=e.status, held_by=None)


@_on(Watermark.Started)
def _watch_started(view: QueueView, e: Any) -> None:
    if e.key != SLOT_OPENED:
        return
    view.watch_start = view.watch_start or e.position
    view.scan_position = max(view.scan_position or e.position, e.position)


@_on(Watermark.Advanced)
def _scanned(view: QueueView, e: Any) -> None:
    if e.key != SLOT_OPENED:
        return
    view.scan_position = max(view.scan_position or e.position, e.position)


@_on(OpenedSlot.SlotOpened)
def _opened(view: QueueView, e: Any) -> None:
    view._track(SlotState(
        id=e.originator_id, key=e.slot_key, opening=getattr(e, "opening", 0),
        location_id=e.location_id, slot_utc=e.slot_datetime, first_seen=e.first_seen,
        last_seen=getattr(e, "last_seen", None) or e.at,
        outcome=BASELINE if getattr(e, "baseline", False) else None))


def _slot(view: QueueView, e: Any) -> SlotState | None:
    return view.open_slots.get(e.originator_id)


@_on(OpenedSlot.Claimed)
def _claimed(view: QueueView, e: Any) -> None:
    if (slot := _slot(view, e)) is not None:
        slot.claimed_until = e.until


@_on(OpenedSlot.Decided)
def _decided(view: QueueView, e: Any) -> None:
    if (slot := _slot(view, e)) is not None:
        slot.outcome = e.outcome
        slot.winner_entry = (e.winner or {}).get("entry_id")
        slot.claimed_until = getattr(e, "until", None) or slot.claimed_until
        view._slot_changed(slot)


@_on(OpenedSlot.AttemptStarted)
def _attempt_started(view: QueueView, e: Any) -> None:
    if (slot := _slot(view, e)) is not None:
        slot.attempt_run = e.run_id


@_on(OpenedSlot.AttemptFinished, OpenedSlot.AttemptAnsweredLate)
def _attempt_finished(view: QueueView, e: Any) -> None:
    if (slot := _slot(view, e)) is not None:
        slot.outcome = e.outcome
        view._slot_changed(slot)


@_on(OpenedSlot.Closed)
def _closed(view: QueueView, e: Any) -> None:
    if (slot := _slot(view, e)) is not None:
        slot.closed = True
        if slot.outcome is None:
            slot.outcome = GONE
        view._slot_changed(slot)
