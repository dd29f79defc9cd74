"""An opening decided in offer mode (spec service §4.2, §4.3): instead of a booking attempt, the
winner gets an offer; with the priority window on, the first decision of an opening is an
exclusive offer to the first eligible customer (policy `priority`) and every later one a
broadcast to the next SLOTQUEUE_BROADCAST_SIZE eligible customers at once (`broadcast`); the
first customer goes straight to the broadcast when they cannot be reached (their phone said
STOP and they gave no email).

The decision (`Decided`, outcome `offered`, the policy and everyone offered or passed by), the
offers with their timers, and each recipient's hold (`OfferHeld`, and `ChosenForSlot` on the
customer, so a change of choices meanwhile is a version conflict) are saved in the one
transaction of `RunJournal.commit`. A customer holding an offer, cooling down, or offered this
opening before, is not eligible (`queue_policy.offer_check`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any
from uuid import UUID

from slotqueue.aggregates.booking_mode import AUTO, OFFER, effective_mode
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.matcher import Selection
from slotqueue.aggregates.offer import BROADCAST, PRIORITY, Offer
from slotqueue.aggregates.offer import OFFER as OFFER_POLICY
from slotqueue.aggregates.offer_tokens import derive, digest
from slotqueue.aggregates.opened_slot import NO_ELIGIBLE, OpenedSlot
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.aggregates.queue_policy import Candidate, Check, Choice, Ranked

if TYPE_CHECKING:
    from slotqueue.processes.slot_decision import SlotDecider

UNREACHABLE = "unreachable"  # the priority customer's phone said STOP and they have no email


@dataclass(frozen=True)
class OfferPolicy:
    """The offer settings a run decides with (SLOTQUEUE_BOOKING_MODE, SLOTQUEUE_OFFER_…,
    SLOTQUEUE_PRIORITY_WINDOW…, SLOTQUEUE_BROADCAST_SIZE)."""

    mode: str = AUTO
    minutes: timedelta = timedelta(minutes=30)
    reminder: timedelta = timedelta(minutes=10)
    window: timedelta | None = None  # the priority window, when it is on
    broadcast_size: int = 5


def fresh_candidate(entry: QueueEntry, customer: Customer) -> Candidate:
    """The entry as its own recorded facts describe it (not the view's)."""
    selection = None if customer.selection is None else Selection.from_json(customer.selection)
    return Candidate(entry.id, entry.customer_id, entry.joined_at, entry.status,
                     entry.deposit_status, frozenset(customer.location_ids), selection,
                     entry.priority, offer_pending=entry.offer_id is not None,
                     cooling_until=entry.cooldown_until)


class OfferDecider:
    def __init__(self, decider: SlotDecider, policy: OfferPolicy) -> None:
        self.d, self.policy = decider, policy
        self.writer, self.view = decider.writer, decider.view

    def mode(self, candidate: Candidate) -> str:
        customer = self.view.customers.get(candidate.customer_id)
        return effective_mode(customer.booking_mode if customer else None, self.policy.mode)

    def wanted(self, slot: OpenedSlot, winner: Ranked | None) -> bool:
        """Whether this decision is about offers: an offer is still open on the opening (a
        broadcast follows a priority window), or its winner is in offer mode."""
        return bool(slot.pending_offers) or (
            winner is not None and self.mode(winner.candidate) == OFFER)

    def _policy(self, slot: OpenedSlot) -> str:
        if slot.pending_offers:
            return BROADCAST
        if self.policy.window is None:
            return OFFER_POLICY
        return PRIORITY if slot.offer_policy is None else BROADCAST

    # --- deciding --------------------------------------------------------------------------

    def decide(self, slot: OpenedSlot, choice: Choice, check: Check, skip: Collection[UUID],
               nudged: list[Customer], passed: list[UUID]) -> bool:
        """One try at an offer decision; False when facts moved and it must be tried again."""
        policy, recipients, skipped = self._recipients(slot, choice, check, skip)
        if not recipients:
            if slot.pending_offers:  # nobody else: the priority offer stays open alone
                slot.decide_offers(self.d.run_id, self.d.now, self.d.presets_json, BROADCAST,
                                   skipped, passed)
            else:
                slot.decide(self.d.run_id, self.d.now, NO_ELIGIBLE, self.d.presets_json,
                            passed)
            self.d.journal.later(slot, *nudged)
            return True
        held = self._hold(slot, recipients, check, skip)
        if held is None:
            self.writer.forget(c.id for c in nudged)
            return False
        offers = [self._offer(slot, item, policy) for item in recipients]
        for offer, (entry, _) in zip(offers, held, strict=True):
            entry.hold_for_offer(offer.id, slot.id, self.d.now)
        items = skipped + [_item(r, o.id, policy) for r, o in zip(recipients, offers,
                                                                  strict=True)]
        slot.decide_offers(self.d.run_id, self.d.now, self.d.presets_json, policy, items,
                           passed)
        customers = [customer for _, customer in held]
        return self.d.journal.commit(slot, *(e for e, _ in held), *customers, *offers,
                                     *nudged)

    def _recipients(self, slot: OpenedSlot, choice: Choice, check: Check,
                    skip: Collection[UUID]) -> tuple[str, list[Ranked], list[dict[str, Any]]]:
        """The policy, whom it offers the opening to (ranked), and whom it passed by."""
        policy = self._policy(slot)
        if policy in (OFFER_POLICY, PRIORITY) and choice.winner is not None:
            winner = choice.winner
            if policy == OFFER_POLICY or self._reachable(winner.candidate):
                return policy, [winner], []
            passed_by = {**_item(winner, None, PRIORITY), "skipped": UNREACHABLE}
            return BROADCAST, self._broadcast(slot, check, {*skip, winner.candidate.entry_id}), \
                [passed_by]
        return BROADCAST, self._broadcast(slot, check, skip), []

    def _broadcast(self, slot: OpenedSlot, check: Check, skip: Collection[UUID]
                   ) -> list[Ranked]:
        """The next eligible customers in offer mode (those in auto mode asked to be booked,
        which a race for an offer cannot give them), as many as a broadcast takes."""
        found: Iterator[Ranked] = (r for r in self.view.eligible(slot.location_id, check, skip)
                                   if self.mode(r.candidate) == OFFER)
        return [self.view.with_rank(r) for r in islice(found, self.policy.broadcast_size)]

    def _reachable(self, candidate: Candidate) -> bool:
        customer = self.writer.get(Customer, candidate.customer_id)
        return bool(customer.email) or not self.writer.app.opted_out(  # type: ignore[attr-defined]
            customer.phone)

    def _hold(self, slot: OpenedSlot, recipients: list[Ranked], check: Check,
              skip: Collection[UUID]) -> list[tuple[QueueEntry, Customer]] | None:
        """Each recipient's entry and customer, checked against their own recorded facts and
        marked for this opening; None when the view was behind (it is caught up)."""
        held = []
        for item in recipients:
            entry = self.writer.get(QueueEntry, item.candidate.entry_id)
            customer = self.writer.get(Customer, item.candidate.customer_id)
            if (check(fresh_candidate(entry, customer)) is not None or entry.id in skip
                    or entry.offer_refusal() is not None):
                self.writer.forget([x.candidate.entry_id for x in recipients]
                                   + [x.candidate.customer_id for x in recipients])
                self.writer.refresh()
                return None
            customer.choose_for_slot(slot.id, entry.id, self.d.now)
            held.append((entry, customer))
        return held

    def _offer(self, slot: OpenedSlot, item: Ranked, policy: str) -> Offer:
        candidate = item.candidate
        offer_id = Offer.create_id(slot.id, candidate.entry_id)
        secret = self.writer.app.link_secret()  # type: ignore[attr-defined]
        return Offer.make(
            slot_id=slot.id, entry_id=candidate.entry_id, customer_id=candidate.customer_id,
            slot_key=slot.slot_key, location_id=slot.location_id,
            location_name=self.d.rules.location_name(slot.location_id),
            slot_datetime=slot.slot_datetime, policy=policy,
            token_hash=digest(derive(secret, offer_id, 1)), now=self.d.now,
            minutes=self.policy.minutes, reminder=self.policy.reminder,
            window=self.policy.window if policy == PRIORITY else None, run_id=self.d.run_id)


def _item(ranked: Ranked, offer_id: UUID | None, policy: str) -> dict[str, Any]:
    """One customer of an offer decision, as the journal records them."""
    c = ranked.candidate
    return {"offer_id": offer_id, "entry_id": c.entry_id, "customer_id": c.customer_id,
            "rank": ranked.rank, "joined_at": c.joined_at, "priority": c.priority,
            "policy": policy}
