"""Payments and refunds the payment system reports (spec service §2.3), as commands on the
application: each notice applied once (a resend gets the first answer), in any order, and no
payment lost — one for no known entry is kept on its `Payment` for an operator.

Each command saves the notice, the payment and the entry in one transaction; a lost race is
retried from fresh state, and a notice recorded meanwhile turns the retry into a replay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from slotqueue.aggregates import payment as pay
from slotqueue.aggregates.payment import Payment
from slotqueue.aggregates.payment_notice import PaidNotice, PaymentNotice, RefundNotice
from slotqueue.aggregates.queue_entry import QueueEntry

# Outcomes of a notice besides the payment outcomes of `aggregates.payment`.
ALREADY_RECORDED = "already_recorded"  # the same payment reported by an earlier notice
REFUNDED = "refunded"
CANCELED_AND_REFUNDED = "canceled_and_refunded"
REFUND_BEFORE_PAYMENT = "refund_before_payment"  # kept on the payment until it is reported
PARTIAL_REFUND = "partial_refund"
ALREADY_REFUNDED = "already_refunded"


@dataclass(frozen=True)
class NoticeAnswer:
    outcome: str
    entry_id: UUID | None
    replayed: bool


class PaymentCommands:
    """Mixed into the application (`SlotQueue`); uses its repository, save and retries."""

    repository: Any
    save: Callable[..., Any]
    _retrying: Callable[[Callable[[], Any]], Any]

    def _found(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def _entry_named(self, reference: str | None) -> QueueEntry | None:
        try:
            entry = self._found(UUID(str(reference).strip()))
        except ValueError:
            return None
        return entry if isinstance(entry, QueueEntry) else None

    def _applied(self, provider: str, notice: PaidNotice | RefundNotice,
                 apply: Callable[[Payment, datetime], tuple[str, UUID | None, list[Any]]],
                 now: datetime) -> NoticeAnswer:
        def attempt() -> NoticeAnswer:
            seen = self._found(PaymentNotice.create_id(provider, notice.event_id))
            if seen is not None:
                return NoticeAnswer(seen.outcome, seen.entry_id, replayed=True)
            payment = (self._found(Payment.create_id(notice.payment_ref))
                       or Payment(payment_ref=notice.payment_ref, provider=provider, at=now))
            outcome, entry_id, changed = apply(payment, now)
            record = PaymentNotice(provider=provider, event_id=notice.event_id,
                                   kind=notice.kind, payment_ref=notice.payment_ref,
                                   outcome=outcome, entry_id=entry_id, at=now)
            self.save(record, payment, *changed)
            return NoticeAnswer(outcome, entry_id, replayed=False)

        return self._retrying(attempt)

    def record_provider_payment(self, provider: str, notice: PaidNotice, now: datetime
                                ) -> NoticeAnswer:
        """A payment the payment system reports: the entry's deposit, a payment to refund,
        or (no such entry) an unmatched payment kept for an operator."""

        def apply(payment: Payment, at: datetime) -> tuple[str, UUID | None, list[Any]]:
            if payment.is_paid:
                return ALREADY_RECORDED, payment.entry_id, []
            entry = self._entry_named(notice.client_reference)
            changed: list[Any] = []
            if entry is None:
                outcome = pay.UNMATCHED
            elif payment.refunded:
                outcome = pay.PAID_AFTER_REFUND
            else:
                paid = entry.record_payment(notice.payment_ref, at, notice.amount,
                                            notice.currency)
                outcome, changed = (pay.DEPOSIT_PAID if paid else pay.REFUND_NEEDED), [entry]
            entry_id = entry.id if entry is not None else None
            payment.complete(entry_id, notice.client_reference, notice.amount,
                             notice.currency, outcome, at)
            return outcome, entry_id, changed

        return self._applied(provider, notice, apply, now)

    def record_provider_refund(self, provider: str, notice: RefundNotice, now: datetime
                               ) -> NoticeAnswer:
        """A refund the payment system reports: recorded on its payment and, once in full,
        on the entry the payment was for (see `QueueEntry.record_refund`)."""

        def apply(payment: Payment, at: datetime) -> tuple[str, UUID | None, list[Any]]:
            entry_id = payment.entry_id
            if not payment.report_refund(notice.amount_refunded, notice.full, at):
                return ALREADY_REFUNDED, entry_id, []
            if not notice.full:
                return PARTIAL_REFUND, entry_id, []
            if not payment.is_paid:
                return REFUND_BEFORE_PAYMENT, None, []
            if entry_id is None:  # an unmatched payment: no entry to change
                return REFUNDED, None, []
            entry = self._found(entry_id)
            done = entry.record_refund(notice.payment_ref, at, by=provider)
            return (done or ALREADY_REFUNDED), entry_id, [entry]

        return self._applied(provider, notice, apply, now)
