"""Payment events → slotqueue.payments, one row per payment reference: what the payment system
reported, for which entry, what became of it, and what was sent back. Every value comes from
the event, so a rebuild is exact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slotqueue.aggregates.payment import Payment
from slotqueue.projections.writes import Update, Upsert, Write


def _reported(e: Any) -> list[Write]:
    row = {"id": e.originator_id, "payment_ref": e.payment_ref, "provider": e.provider,
           "queue_entry_id": None, "client_reference": None, "amount": None, "currency": None,
           "outcome": None, "paid_at": None, "amount_refunded": 0, "refunded_at": None,
           "reported_at": e.at}
    return [Upsert("payments", ("id",), row)]


def _completed(e: Any) -> list[Write]:
    return [Update("payments", {"id": e.originator_id}, {
        "queue_entry_id": e.entry_id, "client_reference": e.client_reference,
        "amount": e.amount, "currency": e.currency, "outcome": e.outcome, "paid_at": e.at})]


def _refund_reported(e: Any) -> list[Write]:
    values: dict[str, Any] = {"amount_refunded": e.amount_refunded or 0}
    if e.full:
        values["refunded_at"] = e.at
    return [Update("payments", {"id": e.originator_id}, values)]


HANDLERS: dict[type, Callable[[Any], list[Write]]] = {
    Payment.Reported: _reported,
    Payment.Completed: _completed,
    Payment.RefundReported: _refund_reported,
}


def payment_writes(event: Any) -> list[Write]:
    handler = HANDLERS.get(type(event))
    return handler(event) if handler else []
