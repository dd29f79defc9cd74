"""Offer events → slotqueue.offers (one row per offer: whom it went to, by which policy, its
deadline and round, what became of it, when); an opening's offer events → its row of
slotqueue.opened_slots (and booking_locks while an accepted offer's attempt is under way); an
operator's booking modes → slotqueue.customer_booking_modes. Every value comes from the
events, so a rebuild is exact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.offer import Offer
from slotqueue.aggregates.slot_offers import ATTEMPTING, SlotOffers
from slotqueue.projections.writes import Delete, Update, Upsert, Write

OFFERS, MODES = "offers", "customer_booking_modes"


def _row(e: Any, **values: Any) -> list[Write]:
    return [Update(OFFERS, {"id": e.originator_id}, values)]


def _made(e: Any) -> list[Write]:
    row = {"id": e.originator_id, "slot_id": e.slot_id, "slot_key": e.slot_key,
           "location_id": e.location_id, "slot_datetime_utc": e.slot_datetime,
           "queue_entry_id": e.entry_id, "customer_id": e.customer_id, "policy": e.policy,
           "status": "pending", "round": 1, "made_at": e.at, "expires_at": e.expires_at,
           "reminded_at": None, "answered_at": None, "answered_via": None, "ended_at": None,
           "reason": None}
    return [Upsert(OFFERS, ("id",), row)]


def _mode(e: Any) -> list[Write]:
    if e.mode is None:
        return [Delete(MODES, {"customer_id": e.originator_id})]
    row = {"customer_id": e.originator_id, "mode": e.mode, "set_by": e.by, "changed_at": e.at}
    return [Upsert(MODES, ("customer_id",), row)]


def _slot(e: Any, **values: Any) -> list[Write]:
    return [Update("opened_slots", {"id": e.originator_id}, values)]


def _taken(e: Any) -> list[Write]:
    """An accepted offer's attempt: the opening's winner, and its lock until the answer."""
    lock = {"lock_key": e.slot_key, "locked_until": e.until, "owner_run_id": e.run_id}
    return [*_slot(e, outcome=ATTEMPTING, winner_entry_id=e.entry_id, winner_rank=None,
                   claimed_by_run_id=e.run_id, claimed_until=e.until),
            Upsert("booking_locks", ("lock_key",), lock)]


HANDLERS: dict[type, Callable[[Any], list[Write]]] = {
    SlotOffers.OfferEnded: lambda e: _slot(e, outcome=e.outcome),
    SlotOffers.WindowEnded: lambda e: _slot(e, outcome=None),
    SlotOffers.Reopened: lambda e: _slot(e, outcome=None, claimed_by_run_id=None,
                                         claimed_until=None),
    SlotOffers.OfferTaken: _taken,
    Offer.Made: _made,
    Offer.Reminded: lambda e: _row(e, round=e.round, reminded_at=e.at),
    Offer.Accepted: lambda e: _row(e, status=e.status, answered_at=e.at, answered_via=e.via),
    Offer.Declined: lambda e: _row(e, status=e.status, answered_at=e.at, answered_via=e.via,
                                   ended_at=e.at),
    Offer.Expired: lambda e: _row(e, status=e.status, ended_at=e.at),
    Offer.Withdrawn: lambda e: _row(e, status=e.status, ended_at=e.at, reason=e.reason),
    Offer.Settled: lambda e: _row(e, status=e.status, ended_at=e.at, reason=e.error),
    Customer.BookingModeChanged: _mode,
}


def offer_writes(event: Any) -> list[Write]:
    handler = HANDLERS.get(type(event))
    return handler(event) if handler else []
