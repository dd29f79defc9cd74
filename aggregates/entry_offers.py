"""What offers do to a queue entry (spec service §4.2): the hold of a pending offer, and the
cooldown after a decline or an expiry. A base of `QueueEntry`, kept apart so the entry's own
module stays about its lifecycle.

An entry holds at most one pending offer (it is not offered two openings at once) and is not
offered anything while it holds one, while a booking attempt is under way for it, or while it
cools down. A cooldown is a timer on the entry (`cooldown`); its firing is `Reactivated`.

Events: OfferHeld, OfferReleased (accepted, withdrawn, or ended by a decline or an expiry),
CooldownStarted, Reactivated.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import event

from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.errors import TransitionRefused
from slotqueue.aggregates.timers import Timed

COOLDOWN = "cooldown"  # the timer's name on the entry
COOLDOWN_KIND = "offer_cooldown"


class OfferHolder(Timed):
    # The aggregate that derives from this one has these (annotations here would become
    # fields of its creation event).
    if TYPE_CHECKING:
        status: str
        deposit_status: str
        attempt_slot_id: UUID | None
        customer_id: UUID

    # Entries recorded (or snapshotted) before offers existed have none of these.
    @property
    def offer_id(self) -> UUID | None:
        """The pending offer this entry holds, if any."""
        return self.__dict__.get("_offer_id")

    @property
    def offer_slot_id(self) -> UUID | None:
        return self.__dict__.get("_offer_slot_id")

    @property
    def cooldown_until(self) -> datetime | None:
        """When the cooldown ends, while the entry cools down (None once reactivated)."""
        return self.__dict__.get("_cooldown_until")

    def offer_refusal(self) -> str | None:
        """Why this entry cannot be offered an opening now; None when it can."""
        try:
            lc.next_status(self.status, "book")
            lc.next_deposit_status(self.deposit_status, "book")
        except TransitionRefused as exc:
            return str(exc)
        if self.attempt_slot_id is not None:
            return f"a booking attempt for slot {self.attempt_slot_id} is under way"
        if self.offer_id is not None:
            return f"it holds offer {self.offer_id}"
        if self.cooldown_until is not None:
            return f"it cools down until {self.cooldown_until.isoformat()}"
        return None

    def hold_for_offer(self, offer_id: UUID, slot_id: UUID, now: datetime) -> None:
        """Holds the entry for one pending offer (active and paid, not held, not cooling)."""
        refusal = self.offer_refusal()
        if refusal is not None:
            raise TransitionRefused(f"cannot offer: {refusal} (queue entry {self.id})")
        self._offer_held(offer_id=offer_id, slot_id=slot_id, at=now,
                         customer_id=self.customer_id)

    @event("OfferHeld")
    def _offer_held(self, offer_id: UUID, slot_id: UUID, at: datetime,
                    customer_id: UUID) -> None:
        self._offer_id: UUID | None = offer_id
        self._offer_slot_id: UUID | None = slot_id

    def release_offer(self, offer_id: UUID, outcome: str, now: datetime) -> bool:
        """Ends the hold of `offer_id` (accepted, withdrawn, declined, expired); False when
        the entry does not hold it."""
        if self.offer_id != offer_id:
            return False
        self._offer_released(offer_id=offer_id, outcome=outcome, at=now,
                             customer_id=self.customer_id)
        return True

    @event("OfferReleased")
    def _offer_released(self, offer_id: UUID, outcome: str, at: datetime,
                        customer_id: UUID) -> None:
        self._offer_id, self._offer_slot_id = None, None

    def start_cooldown(self, offer_id: UUID, until: datetime, reason: str,
                       now: datetime) -> bool:
        """A declined or expired offer: the hold ends and, while the entry is still in the
        queue, no offer comes until `until` (the timer `cooldown`). False: no cooldown (the
        entry has left the queue)."""
        self.release_offer(offer_id, reason, now)
        if self.status in lc.FINAL:
            return False
        self._cooldown_started(offer_id=offer_id, until=until, reason=reason, at=now,
                               customer_id=self.customer_id)
        self.set_timer(COOLDOWN, COOLDOWN_KIND, until, now)
        return True

    @event("CooldownStarted")
    def _cooldown_started(self, offer_id: UUID, until: datetime, reason: str, at: datetime,
                          customer_id: UUID) -> None:
        self._cooldown_until: datetime | None = until

    def reactivate(self, now: datetime) -> None:
        """The cooldown is over (fired by its timer): offers may come again."""
        if self.cooldown_until is None:
            raise TransitionRefused(f"cannot reactivate: queue entry {self.id} is not "
                                    "cooling down")
        if now <= self.cooldown_until:
            raise TransitionRefused(f"cannot reactivate: the cooldown runs until "
                                    f"{self.cooldown_until.isoformat()}")
        self.fire_timer(COOLDOWN, now)
        self._reactivated(at=now, customer_id=self.customer_id)

    @event("Reactivated")
    def _reactivated(self, at: datetime, customer_id: UUID) -> None:
        self._cooldown_until = None
