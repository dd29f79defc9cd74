"""The PaymentNotice aggregate: one event the payment system sent (a webhook delivery), applied
once. Its id comes from the provider's event id, so a resend collides with the first and gets
the first answer back; nothing else changes. With it, what a notice says, as the payment
adapter reads it: a payment made (`PaidNotice`) or money sent back (`RefundNotice`).

Events: Received (which notice, about which payment, and what applying it did).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from slotqueue.aggregates.ids import stable_id


@dataclass(frozen=True)
class PaidNotice:
    """A payment made: `client_reference` names the entry it pays for (the payment link's
    `client_reference_id`); `amount` in minor units (cents)."""

    event_id: str
    kind: str
    payment_ref: str
    client_reference: str | None
    amount: int | None
    currency: str | None


@dataclass(frozen=True)
class RefundNotice:
    """Money sent back: `amount_refunded` so far; `full` once all of it is back."""

    event_id: str
    kind: str
    payment_ref: str
    amount_refunded: int | None
    full: bool


class PaymentNotice(Aggregate):
    @staticmethod
    def create_id(provider: str, event_id: str) -> UUID:
        return stable_id("payment-notice", provider, event_id)

    @event("Received")
    def __init__(self, provider: str, event_id: str, kind: str, payment_ref: str,
                 outcome: str, entry_id: UUID | None, at: datetime) -> None:
        self.provider, self.event_id, self.kind = provider, event_id, kind
        self.payment_ref, self.outcome, self.entry_id = payment_ref, outcome, entry_id
        self.received_at = at
