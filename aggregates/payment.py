"""The Payment aggregate: one payment as the payment system reports it (spec service §2.3),
whichever of its reports arrives first, so no money is lost or applied twice.

Its id comes from the payment reference (Stripe's payment intent id). Events: Reported (first
heard of), Completed (paid: for which entry, how much, what became of it), RefundReported
(money sent back, in part or in full). A refund reported before its payment waits here; the
payment, when it comes, then leaves the entry as it was (the money is back already).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from slotqueue.aggregates.ids import stable_id

# What became of a payment (Completed.outcome), as the operator reads it in slotqueue.payments.
DEPOSIT_PAID = "deposit_paid"
REFUND_NEEDED = "refund_needed"  # the entry was not waiting for a deposit (core §4.1)
UNMATCHED = "unmatched_payment"  # it names no known entry: an operator must place or refund it
PAID_AFTER_REFUND = "paid_after_refund"  # reported after its own refund: nothing to apply
MAX_REFERENCE = 200


class Payment(Aggregate):
    @staticmethod
    def create_id(payment_ref: str) -> UUID:
        return stable_id("payment", payment_ref)

    @event("Reported")
    def __init__(self, payment_ref: str, provider: str, at: datetime) -> None:
        self.payment_ref, self.provider, self.reported_at = payment_ref, provider, at
        self.entry_id: UUID | None = None
        self.outcome: str | None = None
        self.amount_refunded = 0
        self.refunded = False

    @property
    def is_paid(self) -> bool:
        return self.outcome is not None

    def complete(self, entry_id: UUID | None, client_reference: str | None,
                 amount: int | None, currency: str | None, outcome: str, now: datetime) -> bool:
        """Records the payment once; False (nothing recorded) when it was recorded already."""
        if self.is_paid:
            return False
        reference = client_reference[:MAX_REFERENCE] if client_reference else None
        self._completed(entry_id=entry_id, client_reference=reference, amount=amount,
                        currency=currency, outcome=outcome, at=now)
        return True

    @event("Completed")
    def _completed(self, entry_id: UUID | None, client_reference: str | None,
                   amount: int | None, currency: str | None, outcome: str, at: datetime
                   ) -> None:
        self.entry_id, self.outcome = entry_id, outcome

    def report_refund(self, amount_refunded: int | None, full: bool, now: datetime) -> bool:
        """Records money sent back (amounts are cumulative, as Stripe reports them); False
        when nothing is new (a full refund already recorded)."""
        if self.refunded:
            return False
        self._refund_reported(amount_refunded=amount_refunded, full=full, at=now)
        return True

    @event("RefundReported")
    def _refund_reported(self, amount_refunded: int | None, full: bool, at: datetime) -> None:
        self.amount_refunded = max(self.amount_refunded, amount_refunded or 0)
        self.refunded = full
