"""The events the dispatcher's view follows, and what each changes in it.

Every handler sets absolute values taken from its event, so a fact that reaches the view twice
(shown before it is saved, then read back) leaves it as once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.entry_offers import OfferHolder
from slotqueue.aggregates.matcher import Selection
from slotqueue.aggregates.opened_slot import (
    ATTEMPTING,
    BASELINE,
    BOOKED_BY_OPERATOR,
    GONE,
    OpenedSlot,
)
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.aggregates.slot_offers import SlotOffers
from slotqueue.aggregates.watermark import SLOT_OPENED, Watermark
from slotqueue.projections.dispatch_snapshot import EntryState, SlotState

if TYPE_CHECKING:
    from slotqueue.processes.queue_view import QueueView

Handler = Callable[["QueueView", Any], None]
HANDLERS: dict[type, Handler] = {}


def _on(*kinds: type) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for kind in kinds:
            HANDLERS[kind] = handler
        return handler
    return register


@_on(Customer.Registered)
def _registered(view: QueueView, e: Any) -> None:
    view.customer_state(e.originator_id)


@_on(Customer.TargetWindowsSelected)
def _windows(view: QueueView, e: Any) -> None:
    view.customer_state(e.originator_id).selection = Selection.from_json(e.selection)
    view.reindex_customer(e.originator_id)


@_on(Customer.LocationsPreferred)
def _locations(view: QueueView, e: Any) -> None:
    view.customer_state(e.originator_id).location_ids = frozenset(e.location_ids)
    view.reindex_customer(e.originator_id)


@_on(Customer.Imported)
def _customer_imported(view: QueueView, e: Any) -> None:
    state = view.customer_state(e.originator_id)
    state.selection = None if e.selection is None else Selection.from_json(e.selection)
    state.location_ids = frozenset(UUID(str(pair[0])) for pair in e.locations)
    view.reindex_customer(e.originator_id)


@_on(Customer.LocationRetired)
def _location_retired(view: QueueView, e: Any) -> None:
    state = view.customer_state(e.originator_id)
    state.location_ids = state.location_ids - {e.location_id}
    view.reindex_customer(e.originator_id)


@_on(Customer.OpportunityPassed)
def _nudged(view: QueueView, e: Any) -> None:
    view.customer_state(e.originator_id).nudged_day = e.day


@_on(QueueEntry.Joined)
def _joined(view: QueueView, e: Any) -> None:
    entry = EntryState(e.originator_id, e.customer_id, e.at)
    view.entries[entry.id] = entry
    view.reindex(entry)


@_on(QueueEntry.Imported)
def _entry_imported(view: QueueView, e: Any) -> None:
    entry = EntryState(e.originator_id, e.customer_id, e.at, e.status, e.deposit_status,
                       e.deposit_expires_at)
    view.entries[entry.id] = entry
    view.reindex(entry)


def _set_status(view: QueueView, e: Any, **changes: Any) -> None:
    entry = view.entry_of(e)
    if entry is None:
        return
    for name, value in changes.items():
        setattr(entry, name, value)
    view.reindex(entry)


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


@_on(QueueEntry.PriorityChanged)
def _priority(view: QueueView, e: Any) -> None:
    entry = view.entry_of(e)
    if entry is not None:
        view.reprioritise(entry, e.score)


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
    view.track(SlotState(
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
        offers = getattr(e, "offers", None) or []  # an offer decision (service §4.2)
        slot.pending_offers |= {o["offer_id"] for o in offers if o.get("offer_id")}
        view.slot_changed(slot)


# --- offers (service §4.2, §4.3): events their bases record, so keyed by the base's class ----

@_on(OfferHolder.OfferHeld)
def _offer_held(view: QueueView, e: Any) -> None:
    _set_status(view, e, offer_id=e.offer_id)


@_on(OfferHolder.OfferReleased)
def _offer_released(view: QueueView, e: Any) -> None:
    entry = view.entry_of(e)
    if entry is not None and entry.offer_id == e.offer_id:
        _set_status(view, e, offer_id=None)


@_on(OfferHolder.CooldownStarted)
def _cooling(view: QueueView, e: Any) -> None:
    _set_status(view, e, cooldown_until=e.until)


@_on(OfferHolder.Reactivated)
def _reactivated(view: QueueView, e: Any) -> None:
    _set_status(view, e, cooldown_until=None)


@_on(Customer.BookingModeChanged)
def _booking_mode(view: QueueView, e: Any) -> None:
    view.customer_state(e.originator_id).booking_mode = e.mode


@_on(SlotOffers.OfferEnded)
def _offer_ended(view: QueueView, e: Any) -> None:
    if (slot := _slot(view, e)) is not None:
        slot.pending_offers.discard(e.offer_id)
        slot.outcome = e.outcome
        view.slot_changed(slot)


@_on(SlotOffers.WindowEnded, SlotOffers.Reopened)
def _reopened(view: QueueView, e: Any) -> None:
    if (slot := _slot(view, e)) is not None:
        slot.outcome = None
        if type(e) is SlotOffers.Reopened:
            slot.claimed_until = None


@_on(SlotOffers.OfferTaken)
def _offer_taken(view: QueueView, e: Any) -> None:
    if (slot := _slot(view, e)) is not None:
        slot.outcome, slot.winner_entry, slot.claimed_until = ATTEMPTING, e.entry_id, e.until
        slot.pending_offers.clear()


@_on(OpenedSlot.AttemptStarted)
def _attempt_started(view: QueueView, e: Any) -> None:
    if (slot := _slot(view, e)) is not None:
        slot.attempt_run = e.run_id


@_on(OpenedSlot.AttemptFinished, OpenedSlot.AttemptAnsweredLate)
def _attempt_finished(view: QueueView, e: Any) -> None:
    if (slot := _slot(view, e)) is not None:
        slot.outcome = e.outcome
        view.slot_changed(slot)


@_on(OpenedSlot.BookedByOperator)
def _booked_by_operator(view: QueueView, e: Any) -> None:
    if (slot := _slot(view, e)) is not None:
        slot.outcome, slot.winner_entry = BOOKED_BY_OPERATOR, e.entry_id
        slot.pending_offers.clear()  # withdrawn with the booking (service §4.5)
        view.slot_changed(slot)


@_on(OpenedSlot.Closed)
def _closed(view: QueueView, e: Any) -> None:
    if (slot := _slot(view, e)) is not None:
        slot.closed = True
        if slot.outcome is None:
            slot.outcome = GONE
        view.slot_changed(slot)
