"""The Offer aggregate (spec service §4.2, §4.3): one opening offered to one queue entry, and
what became of it. Statuses follow `aggregates.offer_states`.

Its id comes from the opening and the entry, so an opening is offered to an entry once. The
claim token is never recorded, only its digest per round (`aggregates.offer_tokens`).

Events: Made (the slot's facts, the policy that offered it: `offer`, `priority` or
`broadcast`, the deadline, round 1) with the timers `expiry` (at the deadline), `reminder`
(SLOTQUEUE_OFFER_REMINDER_MINUTES before it, if that is still to come) and, for a priority
offer, `priority_window`; Reminded (round 2: a new token; fired by the reminder, once);
Accepted | Declined (by link or SMS) | Expired (fired by the expiry) | Withdrawn (taken by
another, the slot gone, booked by an operator), each cancelling the timers still set; after
Accepted, Settled (booked or failed: the booking attempt's answer).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from slotqueue.aggregates import offer_states as states
from slotqueue.aggregates.errors import InvalidInput, TransitionRefused
from slotqueue.aggregates.ids import stable_id
from slotqueue.aggregates.timers import Timed

OFFER, PRIORITY, BROADCAST = "offer", "priority", "broadcast"  # the policy that offered it
POLICIES = (OFFER, PRIORITY, BROADCAST)
LINK, SMS = "link", "sms"  # how a customer answered
VIAS = (LINK, SMS)
# Timers: their names on the offer and their kinds (one kind a name).
EXPIRY, REMINDER, PRIORITY_WINDOW = "expiry", "reminder", "priority_window"
KINDS = {EXPIRY: "offer_expiry", REMINDER: "offer_reminder",
         PRIORITY_WINDOW: "offer_priority_window"}
# Why an offer is withdrawn.
TAKEN, SLOT_GONE, OPERATOR_BOOKED, ENTRY_LEFT = (
    "taken", "slot_gone", "booked_by_operator", "entry_left")


MESSAGE = "offer"  # the message type of an offer and its reminder


def message_key(offer_id: UUID, round_: int) -> str:
    """The dedupe key of the text of an offer's round (1: the offer, 2: the reminder)."""
    return f"{MESSAGE}:{offer_id}:{round_}"


def offer_of_message(dedupe_key: str) -> tuple[UUID, int] | None:
    """(offer id, round) of an offer's text, from its dedupe key; None for other texts."""
    parts = dedupe_key.split(":")
    if len(parts) != 3 or parts[0] != MESSAGE:
        return None
    try:
        return UUID(parts[1]), int(parts[2])
    except ValueError:
        return None


class Offer(Timed):
    """One opening offered to one entry."""

    @staticmethod
    def create_id(slot_id: UUID, entry_id: UUID) -> UUID:
        return stable_id("offer", slot_id, entry_id)

    @event("Made")
    def __init__(self, slot_id: UUID, entry_id: UUID, customer_id: UUID, slot_key: str,
                 location_id: UUID, location_name: str, slot_datetime: datetime, policy: str,
                 expires_at: datetime, token_hash: str, at: datetime,
                 run_id: UUID | None = None) -> None:
        self.slot_id, self.entry_id, self.customer_id = slot_id, entry_id, customer_id
        self.slot_key, self.location_id, self.location_name = slot_key, location_id, location_name
        self.slot_datetime, self.policy, self.expires_at = slot_datetime, policy, expires_at
        self.made_at = at
        self.status = states.PENDING
        self.round = 1
        self.token_hashes = [token_hash]
        self.answered_at: datetime | None = None
        self.via: str | None = None
        self.reason: str | None = None  # why it was withdrawn, or why the booking failed

    @classmethod
    def make(cls, slot_id: UUID, entry_id: UUID, customer_id: UUID, slot_key: str,
             location_id: UUID, location_name: str, slot_datetime: datetime, policy: str,
             token_hash: str, now: datetime, minutes: timedelta, reminder: timedelta,
             window: timedelta | None = None, run_id: UUID | None = None) -> Offer:
        """An offer with its timers: expiry at now + minutes; the reminder `reminder` before
        it, if that is still to come; the end of the priority window (priority offers)."""
        if policy not in POLICIES:
            raise InvalidInput(f"unknown offer policy {policy!r}")
        if (policy == PRIORITY) != (window is not None):
            raise InvalidInput("a priority offer, and only one, has a priority window")
        expires_at = now + minutes
        offer = cls(slot_id=slot_id, entry_id=entry_id, customer_id=customer_id,
                    slot_key=slot_key, location_id=location_id, location_name=location_name,
                    slot_datetime=slot_datetime, policy=policy, expires_at=expires_at,
                    token_hash=token_hash, at=now, run_id=run_id)
        offer.set_timer(EXPIRY, KINDS[EXPIRY], expires_at, now)
        if expires_at - reminder > now:
            offer.set_timer(REMINDER, KINDS[REMINDER], expires_at - reminder, now)
        if window is not None:
            offer.set_timer(PRIORITY_WINDOW, KINDS[PRIORITY_WINDOW],
                            min(now + window, expires_at), now)
        return offer

    @property
    def pending(self) -> bool:
        return self.status == states.PENDING

    @property
    def token_hash(self) -> str:
        """The digest of the token that works now (the latest round's)."""
        return self.token_hashes[-1]

    def _to(self, trigger: str) -> str:
        return states.next_status(self.status, trigger, **states.facts_of(
            self.round > 1, self.policy))

    # --- while pending ------------------------------------------------------------------------

    def remind(self, token_hash: str, now: datetime) -> None:
        """The reminder: round 2, with a new token (the first one stops working). Once."""
        status = self._to("remind")
        self.fire_timer(REMINDER, now)
        self._reminded(round=self.round + 1, token_hash=token_hash, status=status, at=now,
                       **self._facts(), expires_at=self.expires_at)

    def _facts(self) -> dict[str, Any]:
        """What each event repeats, so its message can be written from it alone."""
        return {"entry_id": self.entry_id, "customer_id": self.customer_id,
                "slot_id": self.slot_id, "location_name": self.location_name,
                "slot_datetime": self.slot_datetime}

    @event("Reminded")
    def _reminded(self, round: int, token_hash: str, status: str, at: datetime,
                  entry_id: UUID, customer_id: UUID, slot_id: UUID, location_name: str,
                  slot_datetime: datetime, expires_at: datetime) -> None:
        self.round = round
        self.token_hashes = [*self.token_hashes, token_hash]

    def end_window(self, now: datetime) -> None:
        """The priority window ran out with the offer unanswered (the slot's broadcast
        follows); the offer itself stays open until it expires."""
        self._to("end_window")
        self.fire_timer(PRIORITY_WINDOW, now)

    # --- answers and ends --------------------------------------------------------------------

    def accept(self, via: str, now: datetime) -> None:
        self._answer("accept", via, now)

    def decline(self, via: str, now: datetime) -> None:
        self._answer("decline", via, now)

    def _answer(self, trigger: str, via: str, now: datetime) -> None:
        if via not in VIAS:
            raise InvalidInput(f"unknown way of answering {via!r}")
        status = self._to(trigger)
        if now > self.expires_at:
            raise TransitionRefused(f"cannot {trigger}: the offer expired at "
                                    f"{self.expires_at.isoformat()}")
        record = self._accepted if trigger == "accept" else self._declined
        record(status=status, via=via, at=now, entry_id=self.entry_id,
               customer_id=self.customer_id, slot_id=self.slot_id, round=self.round)
        self.cancel_timers(f"offer {status}", now)

    @event("Accepted")
    def _accepted(self, status: str, via: str, at: datetime, entry_id: UUID,
                  customer_id: UUID, slot_id: UUID, round: int) -> None:
        self.status, self.via, self.answered_at = status, via, at

    @event("Declined")
    def _declined(self, status: str, via: str, at: datetime, entry_id: UUID,
                  customer_id: UUID, slot_id: UUID, round: int) -> None:
        self.status, self.via, self.answered_at = status, via, at

    def expire(self, now: datetime) -> None:
        """The deadline passed unanswered (fired by the expiry timer)."""
        status = self._to("expire")
        if now <= self.expires_at:
            raise TransitionRefused(f"cannot expire: the offer runs until "
                                    f"{self.expires_at.isoformat()}")
        self.fire_timer(EXPIRY, now)
        self._expired(status=status, at=now, entry_id=self.entry_id,
                      customer_id=self.customer_id, slot_id=self.slot_id)
        self.cancel_timers("offer expired", now)

    @event("Expired")
    def _expired(self, status: str, at: datetime, entry_id: UUID, customer_id: UUID,
                 slot_id: UUID) -> None:
        self.status = status

    def withdraw(self, reason: str, now: datetime, by: str | None = None) -> None:
        """Ends a pending offer that can no longer be had: taken by another customer, the
        slot gone, booked by an operator, the customer left the queue."""
        status = self._to("withdraw")
        self._withdrawn(status=status, reason=reason, at=now, by=by, **self._facts())
        self.cancel_timers(f"offer withdrawn: {reason}", now)

    @event("Withdrawn")
    def _withdrawn(self, status: str, reason: str, at: datetime, by: str | None,
                   entry_id: UUID, customer_id: UUID, slot_id: UUID, location_name: str,
                   slot_datetime: datetime) -> None:
        self.status, self.reason = status, reason

    def settle(self, booked: bool, now: datetime, error: str | None = None) -> None:
        """The booking attempt the acceptance started has answered."""
        status = self._to("book" if booked else "fail")
        self._settled(status=status, error=error, at=now, **self._facts())

    @event("Settled")
    def _settled(self, status: str, error: str | None, at: datetime, entry_id: UUID,
                 customer_id: UUID, slot_id: UUID, location_name: str,
                 slot_datetime: datetime) -> None:
        self.status, self.reason = status, error
