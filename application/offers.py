"""Offer commands (spec service §4.2, §4.3): find an offer by its claim link or by the phone
it went to, accept it (the booking attempt follows at once), decline it, withdraw the offers
of an opening that can no longer be had, and set a customer's booking mode. Each loads,
decides and saves in one transaction; a lost race is decided again from fresh state, so of an
accept and an expiry at the deadline, or five accepts of a broadcast, exactly one wins.

An acceptance records the booking attempt's intent (the opening's lock, the entry's hold)
with the answer, then calls the booking adapter, then records its answer as the dispatcher
does: booked (the `booked` message), or failed (the customer is told, the opening passes on).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from slotqueue.adapters.booking import Booker, BookingResult
from slotqueue.aggregates import offer_states as states
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.entry_offers import COOLDOWN_KIND
from slotqueue.aggregates.errors import DomainError, NotFound, TransitionRefused
from slotqueue.aggregates.offer import (
    EXPIRY,
    KINDS,
    OPERATOR_BOOKED,
    PRIORITY_WINDOW,
    REMINDER,
    TAKEN,
    Offer,
)
from slotqueue.aggregates.offer_tokens import derive, digest, matches
from slotqueue.aggregates.opened_slot import OpenedSlot
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.aggregates.timers import Timed
from slotqueue.application.timers import fires

log = logging.getLogger("slotqueue.offers")
RETRIES = 8
NO_MATCH = "no offer matches this link"


class LinkReplaced(TransitionRefused):
    """A token of an earlier round: the reminder sent a new link (answered 403)."""


class OfferClosed(TransitionRefused):
    """The offer is no longer pending; the message says what became of it (409)."""

    def __init__(self, offer: Offer) -> None:
        super().__init__(closed_in_words(offer))
        self.status = offer.status


CLOSED_WORDS = {
    states.ACCEPTED: "you accepted this offer; the booking is under way",
    states.BOOKED: "you accepted this offer and it is booked",
    states.FAILED: "you accepted this offer, but booking it failed",
    states.DECLINED: "you declined this offer",
    states.EXPIRED: "this offer expired",
}
WITHDRAWN_WORDS = {
    TAKEN: "this opening was taken by someone who answered first",
    "slot_gone": "this opening is no longer available",
    OPERATOR_BOOKED: "this opening was booked by our staff",
    "entry_left": "your place in line has ended",
}


def closed_in_words(offer: Offer) -> str:
    if offer.status == states.WITHDRAWN:
        return WITHDRAWN_WORDS.get(str(offer.reason), "this offer was withdrawn")
    return CLOSED_WORDS.get(offer.status, f"this offer is {offer.status}")


@dataclass(frozen=True)
class OfferRules:
    """What answering an offer needs from the settings."""

    cooldown: timedelta = timedelta(minutes=60)
    lock_ttl: timedelta = timedelta(seconds=120)


@dataclass(frozen=True)
class Answer:
    """What an answer did: the offer's status after it, and the booking's result."""

    offer_id: UUID
    status: str
    result: BookingResult | None = None


def _no_secret() -> bytes:
    raise RuntimeError("no link secret: the composition root sets one")


class OfferCommands:
    """Mixed into the application (`SlotQueue`)."""

    repository: Any
    save: Callable[..., Any]
    _get: Callable[[UUID], Any]
    link_secret: Callable[[], bytes] = staticmethod(_no_secret)
    offer_rules = OfferRules()

    # --- finding ---------------------------------------------------------------------------

    def offer(self, offer_id: UUID) -> Offer:
        found = self._get(offer_id)
        if not isinstance(found, Offer):
            raise NotFound(f"unknown offer {offer_id}")
        return found

    def offer_by_token(self, offer_id: UUID, token: str | None) -> Offer:
        """The offer this link names, if the token is its latest round's; NotFound alike for
        an unknown offer and a wrong token (a wrong token learns nothing), LinkReplaced for a
        token a reminder replaced."""
        found = self._get(offer_id)
        hashes = found.token_hashes if isinstance(found, Offer) else []
        hits = [matches(token, h) for h in hashes]  # every one compared: constant time
        if not any(hits):
            raise NotFound(NO_MATCH)
        if not hits[-1]:
            raise LinkReplaced("this link was replaced by the one in our latest text: use "
                               "that one")
        return found  # type: ignore[no-any-return]

    def pending_offer_of_phone(self, phone: str) -> Offer | None:
        """The pending offer the phone's customer holds, if any (SMS replies 1 and 9)."""
        customer = self.customer_for_phone(phone)  # type: ignore[attr-defined]
        if not isinstance(customer, Customer) or customer.open_entry_id is None:
            return None
        entry = self._get(customer.open_entry_id)
        if not isinstance(entry, QueueEntry) or entry.offer_id is None:
            return None
        found = self._get(entry.offer_id)
        return found if isinstance(found, Offer) and found.pending else None

    # --- answering ---------------------------------------------------------------------------

    def _current(self, offer_id: UUID, token: str | None) -> Offer:
        """The offer, loaded afresh; with a token (a link), only if it is the latest round's."""
        return self.offer(offer_id) if token is None else self.offer_by_token(offer_id, token)

    def decline_offer(self, offer_id: UUID, via: str, now: datetime,
                      token: str | None = None) -> Answer:
        """The customer declines: they cool down; the opening passes on while it is open."""
        return self._ending(offer_id, token, now, lambda o: o.decline(via, now), "declined")

    def expire_offer(self, offer: Offer, now: datetime) -> list[Aggregate]:
        """The expiry timer's effect (fires it): the customer cools down; the opening passes on
        while it is open. Returns the other aggregates to save with the offer."""
        offer.expire(now)
        return self._after_end(offer, "expired", now, cool=True)

    def _ending(self, offer_id: UUID, token: str | None, now: datetime,
                end: Callable[[Offer], None], reason: str) -> Answer:
        for _ in range(RETRIES):
            offer = self._current(offer_id, token)
            if not offer.pending:
                raise OfferClosed(offer)
            end(offer)
            others = self._after_end(offer, reason, now, cool=True)
            try:
                self.save(offer, *others)
                return Answer(offer.id, offer.status)
            except IntegrityError:
                continue  # answered, expired or taken meanwhile: look again
        raise IntegrityError(f"offer {offer_id} kept changing under us")

    def _after_end(self, offer: Offer, reason: str, now: datetime, *, cool: bool,
                   entry: QueueEntry | None = None) -> list[Aggregate]:
        """What an offer's unanswered end does elsewhere: the opening records it (and is
        decided again, or is gone), the entry's hold ends (and it cools down)."""
        slot = self._get(offer.slot_id)
        entry = entry or self._get(offer.entry_id)
        changed: list[Aggregate] = []
        if isinstance(slot, OpenedSlot) and offer.id in slot.pending_offers:
            slot.end_offer(offer.id, offer.entry_id, reason, now)
            changed.append(slot)
        if isinstance(entry, QueueEntry):
            if cool:
                entry.start_cooldown(offer.id, now + self.offer_rules.cooldown, reason, now)
            else:
                entry.release_offer(offer.id, reason, now)
            changed.append(entry)
        return changed

    def withdraw_offer(self, offer_id: UUID, reason: str, now: datetime,
                       by: str | None = None) -> bool:
        """Withdraws a pending offer (its opening went away, its customer left the queue);
        False when it was not pending."""
        for _ in range(RETRIES):
            offer = self.offer(offer_id)
            if not offer.pending:
                return False
            offer.withdraw(reason, now, by)
            try:
                self.save(offer, *self._after_end(offer, f"withdrawn: {reason}", now,
                                                  cool=False))
                return True
            except IntegrityError:
                continue
        raise IntegrityError(f"offer {offer_id} kept changing under us")

    def withdraw_pending_offers(self, slot_key: str, now: datetime, by: str | None,
                                booked: QueueEntry | None = None) -> list[Aggregate]:
        """The pending offers of the slot's open opening, withdrawn because an operator booked
        the slot (service §4.5), with their entries' holds: saved by the caller with the
        booking. `booked` is the entry the caller books (its hold ends on that instance)."""
        opening = self._open_opening(slot_key, [])  # type: ignore[attr-defined]
        if not isinstance(opening, OpenedSlot):
            return []
        changed: list[Aggregate] = []
        for offer_id in opening.pending_offers:
            offer = self._get(offer_id)
            if not isinstance(offer, Offer) or not offer.pending:
                continue
            offer.withdraw(OPERATOR_BOOKED, now, by)
            holder = booked if booked is not None and booked.id == offer.entry_id \
                else self._get(offer.entry_id)
            if isinstance(holder, QueueEntry):
                holder.release_offer(offer.id, "withdrawn", now)
                if holder is not booked:
                    changed.append(holder)
            changed.append(offer)
        return changed

    # --- accepting ---------------------------------------------------------------------------

    def accept_offer(self, offer_id: UUID, via: str, now: datetime, booker: Booker,
                     token: str | None = None) -> Answer:
        """The customer accepts: the offer wins the opening (every other pending offer of it
        is withdrawn) and the booking attempt's intent is recorded, all in one transaction;
        then the booking adapter is called and its answer recorded."""
        started, run_id = time.perf_counter(), uuid4()
        for _ in range(RETRIES):
            offer = self._current(offer_id, token)
            if not offer.pending:
                raise OfferClosed(offer)
            changed, attempt_id = self._take(offer, run_id, via, now, booker.name)
            try:
                self.save(offer, *changed)
                break
            except IntegrityError:
                continue  # expired, declined or taken meanwhile: look again
        else:
            raise IntegrityError(f"offer {offer_id} kept changing under us")
        recorded = time.perf_counter()
        result = booker.book_slot(offer.customer_id, offer.location_id, offer.slot_datetime,
                                  attempt_id)
        answered = time.perf_counter()
        status = self._record_answer(offer_id, run_id, result, self._now_after(now))
        log.info("offer accepted", extra={"fields": {
            "offer_id": str(offer_id), "slot_key": offer.slot_key, "via": via,
            "result": result.result, "status": status,
            "accept_to_attempt_ms": round((recorded - started) * 1000, 1),
            "adapter_ms": round((answered - recorded) * 1000, 1)}})
        return Answer(offer_id, status, result)

    def _take(self, offer: Offer, run_id: UUID, via: str, now: datetime, booker: str
              ) -> tuple[list[Aggregate], UUID]:
        slot = self._get(offer.slot_id)
        entry = self._get(offer.entry_id)
        if not isinstance(slot, OpenedSlot) or not isinstance(entry, QueueEntry):
            raise NotFound(f"offer {offer.id}: its opening or its queue entry is gone")
        offer.accept(via, now)  # refused past the deadline, before anything else
        entry.release_offer(offer.id, "accepted", now)
        entry.reserve_attempt(slot.id, now)  # refused when paused, canceled, ...
        others: list[Aggregate] = []
        for other_id in slot.pending_offers:
            other = self._get(other_id)
            if other_id == offer.id or not isinstance(other, Offer) or not other.pending:
                continue
            other.withdraw(TAKEN, now)
            holder = self._get(other.entry_id)
            if isinstance(holder, QueueEntry):
                holder.release_offer(other.id, "withdrawn", now)
                others.append(holder)
            others.append(other)
        attempt_id = slot.take_offer(offer.id, entry.id, entry.customer_id, run_id, now,
                                     booker, self.offer_rules.lock_ttl)
        return [slot, entry, *others], attempt_id

    def _now_after(self, now: datetime) -> datetime:
        """The clock after the adapter answered (never before `now`)."""
        later = self.clock.now()  # type: ignore[attr-defined]
        return later if later > now else now

    def _record_answer(self, offer_id: UUID, run_id: UUID, result: BookingResult,
                       now: datetime) -> str:
        """The adapter's answer on the opening, the entry and the offer, as the dispatcher
        records one (`SlotDecider._apply_answer`); a failure passes the opening on."""
        for _ in range(RETRIES):
            offer = self.offer(offer_id)
            slot, entry = self._get(offer.slot_id), self._get(offer.entry_id)
            conflict = None
            if result.result == "success":
                conflict = entry.take_confirmed_booking(
                    slot.id, slot.location_id, slot.slot_datetime, now, offer.location_name)
            else:
                entry.release_attempt(slot.id, now, result.result)
            slot.record_answer(run_id, now, result.result, result.error_code,
                               result.error_message, conflict)
            offer.settle(result.result == "success" and conflict is None, now,
                         conflict or result.error_message or result.error_code)
            slot.pass_on(now)
            try:
                self.save(offer, slot, entry)
                return offer.status
            except IntegrityError:
                continue
        raise IntegrityError(f"could not record the answer for offer {offer_id}")

    # --- booking modes -----------------------------------------------------------------------

    def set_booking_mode(self, entry_id: UUID, mode: str, now: datetime, by: str | None
                         ) -> str | None:
        """An operator's booking mode for the entry's customer (auto, offer, default); returns
        the customer's own mode after it (None: the deployment's)."""
        for _ in range(RETRIES):
            entry = self._get(entry_id)
            if not isinstance(entry, QueueEntry):
                raise NotFound(f"unknown queue entry {entry_id}")
            customer = self._get(entry.customer_id)
            customer.set_booking_mode(mode, now, by)
            try:
                self.save(customer)
                return customer.booking_mode  # type: ignore[no-any-return]
            except IntegrityError:
                continue
        raise IntegrityError(f"customer of entry {entry_id} kept changing under us")


# --- timers' effects (application/timers.py fires them) ------------------------------------

def _offer(found: Timed) -> Offer:
    if not isinstance(found, Offer):
        raise DomainError(f"timer on {type(found).__name__} {found.id}, not an offer")
    return found


@fires(KINDS[EXPIRY])
def _expire(app: Any, found: Timed, name: str, now: datetime) -> list[Aggregate]:
    return app.expire_offer(_offer(found), now)  # type: ignore[no-any-return]


@fires(KINDS[REMINDER])
def _remind(app: Any, found: Timed, name: str, now: datetime) -> list[Aggregate]:
    """Round 2: a new token, whose link the reminder's text carries (once: the timer fires
    once, and the offer refuses a second reminder)."""
    offer = _offer(found)
    offer.remind(digest(derive(app.link_secret(), offer.id, offer.round + 1)), now)
    return []


@fires(KINDS[PRIORITY_WINDOW])
def _window_ends(app: Any, found: Timed, name: str, now: datetime) -> list[Aggregate]:
    """The priority offer's window ran out unanswered: its opening is decided again, as a
    broadcast (the dispatcher's next run), while the offer stays open."""
    offer = _offer(found)
    slot = app._get(offer.slot_id)
    if not isinstance(slot, OpenedSlot):
        raise DomainError(f"offer {offer.id}: its opening is gone")
    slot.end_window(offer.id, now)  # first: it refuses when the opening has moved on
    offer.end_window(now)
    return [slot]


@fires(COOLDOWN_KIND)
def _reactivate(app: Any, found: Timed, name: str, now: datetime) -> list[Aggregate]:
    if not isinstance(found, QueueEntry):
        raise DomainError(f"cooldown timer on {type(found).__name__} {found.id}")
    found.reactivate(now)
    return []
