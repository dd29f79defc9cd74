"""The QueueEntry aggregate: one customer's place in the queue, its deposit and its booking.

Commands check the lifecycle tables and record the destination; `@event` bodies only assign,
because they run again on every replay. Events: Joined (or Imported, for an entry an earlier
implementation kept), DepositRequired, DepositPaid, PaymentNeedsRefund, DepositLapsed,
Paused, Resumed, Canceled, Refunded, AttemptReserved, AttemptReleased, Booked,
BookingConflicted; and its timers' (`aggregates.timers`): the deposit's deadline is the timer
`deposit_lapse`, set with the request, cancelled by the payment (or a cancel, or a booking),
fired by the lapse. Operators' overrides (service §4.4, §4.5): PriorityChanged, and Booked
with `by` when an operator booked the entry directly. Offers (service §4.2; `OfferHolder`,
aggregates/entry_offers.py): OfferHeld, OfferReleased, CooldownStarted, Reactivated.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.entry_offers import OfferHolder
from slotqueue.aggregates.errors import InvalidInput, TransitionRefused
from slotqueue.aggregates.ids import stable_id
from slotqueue.aggregates.queue_policy import NO_PRIORITY, priority_reason, valid_priority

MAX_PAYMENT_REF = 200
DEPOSIT_LAPSE = "deposit_lapse"  # the timer of the deposit's deadline (its name and kind)


class QueueEntry(OfferHolder):
    """Statuses and deposit statuses follow `aggregates.lifecycle`."""

    @staticmethod
    def create_id(customer_id: UUID, sequence: int) -> UUID:
        return stable_id("queue-entry", customer_id, sequence)

    @event("Joined")
    def __init__(self, customer_id: UUID, sequence: int, at: datetime) -> None:
        self.customer_id = customer_id
        self.sequence = sequence
        self.joined_at = at
        self.status = lc.QUEUED
        self.deposit_status = lc.NONE
        self.deposit_required_at: datetime | None = None
        self.deposit_expires_at: datetime | None = None
        self.deposit_paid_at: datetime | None = None
        self.paused_from: str | None = None
        self.booked_at: datetime | None = None
        self.booked_location_id: UUID | None = None
        self.booked_slot_datetime: datetime | None = None
        self.payment_refs: list[str] = []
        self.deposit_payment_ref: str | None = None
        self.refunds_due: list[str] = []
        self.attempt_slot_id: UUID | None = None
        self.conflicts: list[UUID] = []

    class Imported(Aggregate.Created):
        """An entry an earlier implementation kept: its id, join time (so its rank) and state."""

        customer_id: UUID
        sequence: int
        at: datetime
        status: str
        deposit_status: str
        deposit_required_at: datetime | None
        deposit_paid_at: datetime | None
        deposit_expires_at: datetime | None
        booked_at: datetime | None
        booked_location_id: UUID | None
        booked_slot_datetime: datetime | None

        def apply(self, aggregate: Aggregate) -> None:
            entry: Any = aggregate
            entry.status, entry.deposit_status = self.status, self.deposit_status
            entry.deposit_required_at = self.deposit_required_at
            entry.deposit_paid_at = self.deposit_paid_at
            entry.deposit_expires_at = self.deposit_expires_at
            entry.booked_at, entry.booked_location_id = self.booked_at, self.booked_location_id
            entry.booked_slot_datetime = self.booked_slot_datetime
            if self.status == lc.PAUSED:  # the row does not say: a paid deposit was active
                entry.paused_from = lc.ACTIVE if self.deposit_status == lc.PAID else lc.QUEUED

    @classmethod
    def imported(cls, entry_id: UUID, **row: Any) -> QueueEntry:
        """The entry as the earlier implementation's row describes it (`slotqueue migrate`)."""
        if row.get("status") not in lc.STATUSES:
            raise InvalidInput(f"queue entry {entry_id}: unknown status {row.get('status')!r}")
        if row.get("deposit_status") not in lc.DEPOSIT_STATUSES:
            raise InvalidInput(f"queue entry {entry_id}: unknown deposit status "
                               f"{row.get('deposit_status')!r}")
        return cls._create(cls.Imported, id=entry_id, **row)

    @property
    def is_open(self) -> bool:
        return self.status not in lc.FINAL

    def _next(self, trigger: str, **facts: bool) -> tuple[str, str]:
        try:
            status = lc.next_status(self.status, trigger, **facts)
            return status, lc.next_deposit_status(self.deposit_status, trigger)
        except TransitionRefused as exc:
            raise TransitionRefused(f"{exc} (queue entry {self.id})") from None

    def require_deposit(self, now: datetime, grace: timedelta, by: str | None = None) -> None:
        status, deposit = self._next("require_deposit")
        self._deposit_required(
            at=now, expires_at=now + grace, status=status, deposit_status=deposit, by=by,
            customer_id=self.customer_id,
        )
        self.set_timer(DEPOSIT_LAPSE, DEPOSIT_LAPSE, now + grace, now)

    @event("DepositRequired")
    def _deposit_required(
        self, at: datetime, expires_at: datetime, status: str, deposit_status: str,
        customer_id: UUID, by: str | None = None,
    ) -> None:
        self.status, self.deposit_status = status, deposit_status
        self.deposit_required_at, self.deposit_expires_at = at, expires_at

    def record_payment(self, payment_ref: str, now: datetime, amount: int | None = None,
                       currency: str | None = None) -> bool:
        """Records a deposit payment; False when it must be refunded instead.

        The same payment reference twice is a no-op with the first answer. A payment for an
        entry no longer waiting for one is still recorded (money is never lost). `amount` is
        in the currency's minor units (cents), when the payment system says.
        """
        ref = payment_ref.strip() if payment_ref else ""
        if not ref or len(ref) > MAX_PAYMENT_REF:
            raise InvalidInput(f"invalid payment reference {payment_ref!r}")
        if ref in self.payment_refs:
            return ref == self.deposit_payment_ref
        if self.status == lc.DEPOSIT_REQUIRED and self.deposit_status == lc.REQUIRED:
            status, deposit = self._next("pay_deposit")
            self._deposit_paid(
                payment_ref=ref, at=now, status=status, deposit_status=deposit,
                customer_id=self.customer_id, amount=amount, currency=currency,
            )
            self.cancel_timer(DEPOSIT_LAPSE, "deposit paid", now)
            return True
        self._payment_needs_refund(
            payment_ref=ref, at=now, customer_id=self.customer_id,
            reason=f"entry is {self.status}, deposit {self.deposit_status}",
            amount=amount, currency=currency,
        )
        return False

    # `amount` and `currency` came later: events recorded before them replay with None.
    @event("DepositPaid")
    def _deposit_paid(
        self, payment_ref: str, at: datetime, status: str, deposit_status: str,
        customer_id: UUID, amount: int | None = None, currency: str | None = None,
    ) -> None:
        self.payment_refs.append(payment_ref)
        self.deposit_payment_ref = payment_ref
        self.status, self.deposit_status, self.deposit_paid_at = status, deposit_status, at

    @event("PaymentNeedsRefund")
    def _payment_needs_refund(
        self, payment_ref: str, at: datetime, customer_id: UUID, reason: str,
        amount: int | None = None, currency: str | None = None,
    ) -> None:
        self.payment_refs.append(payment_ref)
        self.refunds_due.append(payment_ref)

    def lapse_deposit(self, now: datetime) -> None:
        """Ends an entry whose deposit deadline has passed (spec §4.1 deviation)."""
        status, deposit = self._next("lapse_deposit")
        if self.deposit_expires_at is None or now <= self.deposit_expires_at:
            raise TransitionRefused(
                f"cannot lapse deposit: it is due at {self.deposit_expires_at}, now is {now}"
            )
        self.fire_timer(DEPOSIT_LAPSE, now)  # entries asked before timers existed have none
        self._deposit_lapsed(
            at=now, status=status, deposit_status=deposit, customer_id=self.customer_id
        )

    @event("DepositLapsed")
    def _deposit_lapsed(
        self, at: datetime, status: str, deposit_status: str, customer_id: UUID
    ) -> None:
        self.status, self.deposit_status = status, deposit_status

    def pause(self, now: datetime, by: str | None = None) -> None:
        status, _ = self._next("pause")
        self._paused(at=now, status=status, paused_from=self.status, by=by)

    @event("Paused")
    def _paused(self, at: datetime, status: str, paused_from: str, by: str | None = None
                ) -> None:
        self.status, self.paused_from = status, paused_from

    def resume(self, now: datetime, by: str | None = None) -> None:
        status, _ = self._next("resume", **{f"paused_from_{self.paused_from}": True})
        self._resumed(at=now, status=status, by=by)

    @event("Resumed")
    def _resumed(self, at: datetime, status: str, by: str | None = None) -> None:
        self.status, self.paused_from = status, None

    def cancel(self, now: datetime, by: str | None = None) -> None:
        status, _ = self._next("cancel")
        self._canceled(at=now, status=status, customer_id=self.customer_id, by=by)
        self.cancel_timers("entry canceled", now)

    @event("Canceled")
    def _canceled(self, at: datetime, status: str, customer_id: UUID, by: str | None = None
                  ) -> None:
        self.status = status

    def refund(self, now: datetime, by: str | None = None) -> list[str]:
        """Refunds every payment owed back; returns their references.

        A paid deposit goes back only once the entry has left the queue; payments that
        arrived when none was due go back at any time.
        """
        refs, deposit = list(self.refunds_due), self.deposit_status
        if self.deposit_status == lc.PAID:
            try:
                _, deposit = self._next("refund")
                refs.insert(0, str(self.deposit_payment_ref))
            except TransitionRefused:
                if not refs:
                    raise TransitionRefused(
                        f"cannot refund the deposit: entry is {self.status}; cancel it first"
                    ) from None
        if not refs:
            raise TransitionRefused(f"nothing to refund: deposit is {self.deposit_status}")
        self._refunded(
            at=now, payment_refs=refs, deposit_status=deposit, customer_id=self.customer_id,
            by=by,
        )
        return refs

    def record_refund(self, payment_ref: str, now: datetime, by: str | None = None
                      ) -> str | None:
        """The payment system reports one payment of this entry refunded in full: a fact, not
        a request, so it is never refused. Returns what it did, None when already recorded.

        A stray payment leaves the deposit as it is. A deposit refunded while the entry is
        still open ends the entry first (`Canceled`): an entry whose deposit went back cannot
        be booked and would hold a front rank for good (decisions.md, "Money").
        """
        if payment_ref not in self.payment_refs:
            raise TransitionRefused(f"no payment {payment_ref!r} on queue entry {self.id}")
        if payment_ref in self.refunds_due:
            self._refunded(at=now, payment_refs=[payment_ref],
                           deposit_status=self.deposit_status, customer_id=self.customer_id,
                           by=by)
            return "refunded"
        if payment_ref != self.deposit_payment_ref or self.deposit_status != lc.PAID:
            return None
        done = "refunded"
        if self.is_open:
            self.cancel(now, by)
            done = "canceled_and_refunded"
        _, deposit = self._next("refund")
        self._refunded(at=now, payment_refs=[payment_ref], deposit_status=deposit,
                       customer_id=self.customer_id, by=by)
        return done

    @event("Refunded")
    def _refunded(
        self, at: datetime, payment_refs: list[str], deposit_status: str, customer_id: UUID,
        by: str | None = None,
    ) -> None:
        self.deposit_status = deposit_status
        self.refunds_due = [r for r in self.refunds_due if r not in payment_refs]

    def reserve_attempt(self, slot_id: UUID, now: datetime) -> None:
        """Holds the entry for one booking attempt, so no other run can attempt a second slot
        for this customer at the same time."""
        lc.next_status(self.status, "book")
        lc.next_deposit_status(self.deposit_status, "book")
        if self.attempt_slot_id is not None:
            raise TransitionRefused(
                f"cannot attempt a booking: slot {self.attempt_slot_id} is being attempted")
        self._attempt_reserved(slot_id=slot_id, at=now)

    @event("AttemptReserved")
    def _attempt_reserved(self, slot_id: UUID, at: datetime) -> None:
        self.attempt_slot_id = slot_id

    def release_attempt(self, slot_id: UUID, now: datetime, result: str) -> None:
        """Ends the hold after a failed, skipped or interrupted attempt: still active."""
        if self.attempt_slot_id == slot_id:
            self._attempt_released(slot_id=slot_id, at=now, result=result)

    @event("AttemptReleased")
    def _attempt_released(self, slot_id: UUID, at: datetime, result: str) -> None:
        self.attempt_slot_id = None

    def book(
        self, location_id: UUID, slot_datetime: datetime, now: datetime, location_name: str = ""
    ) -> None:
        status, _ = self._next("book")  # the deposit table allows booking only when paid
        self._book(status, location_id, slot_datetime, now, location_name, None)

    def _book(self, status: str, location_id: UUID, slot_datetime: datetime, now: datetime,
              location_name: str, by: str | None) -> None:
        """Records a booking, the dispatcher's or an operator's, and ends what it makes moot."""
        self._booked(
            at=now, location_id=location_id, slot_datetime=slot_datetime,
            status=status, customer_id=self.customer_id, location_name=location_name, by=by,
        )
        self.cancel_timers("entry booked", now)

    # `by` came later (an operator's booking, service §4.5): earlier events replay with None.
    @event("Booked")
    def _booked(
        self, at: datetime, location_id: UUID, slot_datetime: datetime, status: str,
        customer_id: UUID, location_name: str, by: str | None = None,
    ) -> None:
        self.status, self.attempt_slot_id = status, None
        self.booked_at, self.booked_location_id = at, location_id
        self.booked_slot_datetime = slot_datetime

    def take_confirmed_booking(
        self, slot_id: UUID, location_id: UUID, slot_datetime: datetime, now: datetime,
        location_name: str = "",
    ) -> str | None:
        """The booking adapter confirmed a booking for this entry: book it, or, when a fact
        recorded meanwhile forbids that (booked elsewhere, paused, canceled, held for another
        slot), record the conflict for an operator. Returns the conflict, None when booked."""
        held_elsewhere = self.attempt_slot_id not in (None, slot_id)
        try:
            if held_elsewhere:
                raise TransitionRefused(f"entry is held for slot {self.attempt_slot_id}")
            self.book(location_id, slot_datetime, now, location_name)
            return None
        except TransitionRefused as exc:
            reason = str(exc).split(" (queue entry")[0]
        self._booking_conflicted(
            at=now, slot_id=slot_id, location_id=location_id, slot_datetime=slot_datetime,
            reason=reason, customer_id=self.customer_id, status=self.status)
        if self.attempt_slot_id == slot_id:
            self._attempt_released(slot_id=slot_id, at=now, result="conflict")
        return reason

    @event("BookingConflicted")
    def _booking_conflicted(
        self, at: datetime, slot_id: UUID, location_id: UUID, slot_datetime: datetime,
        reason: str, customer_id: UUID, status: str,
    ) -> None:
        self.conflicts = [*self.conflicts, slot_id]

    # --- operators' overrides (service §4.4, §4.5) ------------------------------------------

    @property
    def priority(self) -> int:
        """The operator's priority score (0: none; entries recorded before priorities have
        none). Rank order: `queue_policy.rank_key`."""
        return int(self.__dict__.get("_priority") or NO_PRIORITY)

    @property
    def priority_reason(self) -> str | None:
        return self.__dict__.get("_priority_reason")

    def set_priority(self, score: int, reason: str, now: datetime, by: str | None) -> None:
        """An operator moves the entry by a priority score (0 puts it back in join order);
        any open entry, so a paused one keeps it when it resumes."""
        score, reason = valid_priority(score), priority_reason(reason)
        self._next("set_priority")
        self._priority_changed(at=now, score=score, previous_score=self.priority,
                               reason=reason, by=by, customer_id=self.customer_id)

    @event("PriorityChanged")
    def _priority_changed(self, at: datetime, score: int, previous_score: int, reason: str,
                          by: str | None, customer_id: UUID) -> None:
        self._priority, self._priority_reason = score, reason

    def book_by_operator(self, location_id: UUID, slot_datetime: datetime, now: datetime,
                         by: str | None, location_name: str = "") -> None:
        """An operator booked this entry into a slot themselves (convert to booking): any
        open entry, its deposit as it is (a paid one stays paid). Refused while the dispatcher
        attempts a booking for it: the booking adapter may be booking it elsewhere."""
        status, _ = self._next("book_by_operator")
        if self.attempt_slot_id is not None:
            raise TransitionRefused(
                f"cannot book by operator: a booking attempt for slot {self.attempt_slot_id} is "
                f"under way for this entry; try again once it has ended (queue entry {self.id})")
        self._book(status, location_id, slot_datetime, now, location_name, by)
