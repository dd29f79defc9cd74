"""An opening's offers, on its journal (spec service §4.2, §4.3): a base of `OpenedSlot`, kept
apart so the slot's own module stays about deciding and attempting.

A decision in offer mode is `Decided` with outcome `offered`, the policy that decided
(`offer`, `priority`, `broadcast`) and every customer it offered the slot to. While offers
are pending nobody else is offered it; when the last one ends unanswered (declined, expired,
withdrawn) the decision is re-opened and the dispatcher's next run decides it again (the
customers offered it already are not offered it twice), unless the slot is gone. The end of a
priority window re-opens it for a broadcast while the priority offer stays open. An accepted
offer becomes the opening's booking attempt (intent recorded before the adapter is called,
under the slot's lock, as the dispatcher's are); when that attempt fails, the opening passes
on.

Events: OfferEnded, WindowEnded, OfferTaken, Reopened (and `Decided`, in opened_slot.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from slotqueue.aggregates.errors import InvalidInput, TransitionRefused
from slotqueue.aggregates.ids import stable_id

OFFERED = "offered"  # an outcome: offers are pending
ATTEMPTING, ATTEMPT_FAILED, GONE = "attempting", "attempt_failed", "gone"  # opened_slot's


class SlotOffers(Aggregate):
    # The aggregate that derives from this one has these (annotations here would become
    # fields of its creation event).
    if TYPE_CHECKING:
        slot_key: str
        outcome: str | None
        closed_at: datetime | None
        claimed_by: UUID | None
        claimed_until: datetime | None
        attempt: dict[str, Any] | None
        winner: dict[str, Any] | None

    # Openings recorded (or snapshotted) before offers existed have none of these.
    @property
    def pending_offers(self) -> list[UUID]:
        return list(self.__dict__.get("_pending_offers") or [])

    @property
    def offered_entries(self) -> list[UUID]:
        """Every entry this opening was offered to: none is offered it twice."""
        return list(self.__dict__.get("_offered_entries") or [])

    @property
    def offer_policy(self) -> str | None:
        """The policy of the last offer decision."""
        return self.__dict__.get("_offer_policy")

    def _offer_decided(self, policy: str, offers: list[dict[str, Any]]) -> None:
        """Part of the `Decided` event's body (assignments only)."""
        made = [o for o in offers if o.get("offer_id")]
        self._offer_policy = policy
        self._pending_offers = [*self.pending_offers, *(o["offer_id"] for o in made)]
        self._offered_entries = [*self.offered_entries, *(o["entry_id"] for o in made)]

    def _open_for(self, offer_id: UUID, doing: str) -> None:
        if offer_id not in self.pending_offers:
            raise TransitionRefused(f"cannot {doing}: offer {offer_id} is not pending on slot "
                                    f"{self.slot_key}")

    def end_offer(self, offer_id: UUID, entry_id: UUID, reason: str, now: datetime) -> str | None:
        """An offer ended unanswered (declined, expired, withdrawn). Returns the opening's
        outcome after: still `offered` while others are pending; re-opened (None) for the
        next decision while the slot is listed; `gone` once it is not."""
        self._open_for(offer_id, "end it")
        rest = [o for o in self.pending_offers if o != offer_id]
        outcome = self.outcome
        if not rest and self.outcome in (OFFERED, None):
            outcome = GONE if self.closed_at is not None else None
        self._offer_ended(offer_id=offer_id, entry_id=entry_id, reason=reason, at=now,
                          outcome=outcome, slot_key=self.slot_key)
        return outcome

    @event("OfferEnded")
    def _offer_ended(self, offer_id: UUID, entry_id: UUID, reason: str, at: datetime,
                     outcome: str | None, slot_key: str) -> None:
        self._pending_offers = [o for o in self.pending_offers if o != offer_id]
        self.outcome = outcome

    def end_window(self, offer_id: UUID, now: datetime) -> None:
        """The priority offer's window ran out unanswered: the opening is decided again, as
        a broadcast, while that offer stays open."""
        self._open_for(offer_id, "end its window")
        if self.closed_at is not None or self.outcome != OFFERED:
            raise TransitionRefused(f"slot {self.slot_key} is {self.outcome}"
                                    + (", no longer listed" if self.closed_at else ""))
        self._window_ended(offer_id=offer_id, at=now, slot_key=self.slot_key)

    @event("WindowEnded")
    def _window_ended(self, offer_id: UUID, at: datetime, slot_key: str) -> None:
        self.outcome = None  # decided again: a broadcast (the policy was priority)

    def take_offer(self, offer_id: UUID, entry_id: UUID, customer_id: UUID, run_id: UUID,
                   now: datetime, booker: str, ttl: timedelta) -> UUID:
        """An accepted offer wins the opening: the intent to book it, under the slot's lock
        until now + ttl, before the booking adapter is called; every other pending offer is
        withdrawn with it. Returns the attempt's id."""
        self._open_for(offer_id, "accept it")
        if self.closed_at is not None:
            raise TransitionRefused(f"slot {self.slot_key} is no longer listed")
        if self.outcome not in (OFFERED, None):
            raise TransitionRefused(f"slot {self.slot_key} is {self.outcome}")
        attempt_id = stable_id("attempt", self.id, offer_id)
        self._offer_taken(
            offer_id=offer_id, entry_id=entry_id, customer_id=customer_id, run_id=run_id,
            at=now, attempt_id=attempt_id, booker=booker, until=now + ttl,
            withdrawn=[o for o in self.pending_offers if o != offer_id], slot_key=self.slot_key)
        return attempt_id

    @event("OfferTaken")
    def _offer_taken(self, offer_id: UUID, entry_id: UUID, customer_id: UUID, run_id: UUID,
                     at: datetime, attempt_id: UUID, booker: str, until: datetime,
                     withdrawn: list[UUID], slot_key: str) -> None:
        self.outcome, self._pending_offers = ATTEMPTING, []
        self.winner = {"entry_id": entry_id, "customer_id": customer_id, "offer_id": offer_id}
        self.attempt = {"attempt_id": attempt_id, "run_id": run_id, "started_at": at}
        self.claimed_by, self.claimed_until = run_id, until

    def pass_on(self, now: datetime) -> bool:
        """An accepted offer's booking attempt failed: the opening passes to the next
        eligible customer while it is listed. False (nothing recorded) otherwise."""
        if self.outcome != ATTEMPT_FAILED or not (self.winner or {}).get("offer_id"):
            return False
        if self.closed_at is not None:
            return False
        self._reopened(reason="attempt_failed", at=now, slot_key=self.slot_key)
        return True

    @event("Reopened")
    def _reopened(self, reason: str, at: datetime, slot_key: str) -> None:
        self.outcome, self.claimed_by, self.claimed_until = None, None, None

    def check_offers(self, offers: list[dict[str, Any]]) -> None:
        if not offers and not self.pending_offers:
            raise InvalidInput(f"an offer decision for slot {self.slot_key} offers nothing")
        for item in offers:
            if not item.get("entry_id"):
                raise InvalidInput(f"an offer of slot {self.slot_key} names no queue entry")
            if item.get("offer_id") and item["entry_id"] in self.offered_entries:
                raise TransitionRefused(f"slot {self.slot_key} was offered to entry "
                                        f"{item['entry_id']} already")
