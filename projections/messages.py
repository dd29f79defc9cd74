"""QueueEntry events → message_log rows, one per dedupe key, never overwritten (spec §4.6).

The text is rendered here and kept in meta_json so a delivery worker can send it as recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slotqueue.aggregates.ids import stable_id
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.projections.writes import InsertOnce, Write

LOCAL = ZoneInfo("Pacific/Honolulu")
PAYMENT_LINK = "{payment_link}"


def _local(at: datetime, fmt: str) -> str:
    return at.astimezone(LOCAL).strftime(fmt).replace(" 0", " ")


def message(
    customer_id: Any, at: datetime, message_type: str, dedupe_key: str, text: str, **meta: Any
) -> list[Write]:
    """One message_log row, recorded once per dedupe key and never overwritten."""
    row = {
        "id": stable_id("message", dedupe_key),
        "customer_id": customer_id,
        "message_type": message_type,
        "sent_at": at,
        "dedupe_key": dedupe_key,
        "meta_json": {"text": text, **meta},
    }
    return [InsertOnce("message_log", ("dedupe_key",), row)]


def _entry_message(e: Any, message_type: str, dedupe_key: str, text: str, **meta: Any
                   ) -> list[Write]:
    return message(e.customer_id, e.at, message_type, dedupe_key, text,
                   queue_entry_id=str(e.originator_id), **meta)


def _status(e: Any, what: str, text: str, **meta: Any) -> list[Write]:
    return _entry_message(e, "status", f"status:{e.originator_id}:{what}", text, what=what,
                          **meta)


def _deposit_needed(e: Any) -> list[Write]:
    text = (
        "You're near the front of the slotqueue line. Pay your deposit by "
        f"{_local(e.expires_at, '%a %b %d, %I:%M %p')} HST to hold your place and switch on "
        f"managed booking: {PAYMENT_LINK}"
    )
    return _entry_message(e, "deposit_needed", f"deposit_needed:{e.originator_id}", text,
                   expires_at=e.expires_at.isoformat())


def _deposit_received(e: Any) -> list[Write]:
    text = (
        "Deposit received, thank you. Your place is held and we will book the first opening "
        "inside the times you chose."
    )
    return _entry_message(e, "deposit_received", f"deposit_received:{e.originator_id}", text,
                   payment_ref=e.payment_ref)


def _booked(e: Any) -> list[Write]:
    where = e.location_name or "the DMV office you chose"
    text = (
        f"Booked: {where}, {_local(e.slot_datetime, '%A %B %d at %I:%M %p')} HST. Bring your ID "
        "and documents and arrive 10 minutes early. Reply to this message to change plans."
    )
    return _entry_message(e, "booked", f"booked:{e.originator_id}", text,
                   location_id=str(e.location_id), slot_datetime=e.slot_datetime.isoformat())


HANDLERS: dict[type, Callable[[Any], list[Write]]] = {
    QueueEntry.DepositRequired: _deposit_needed,
    QueueEntry.DepositPaid: _deposit_received,
    QueueEntry.Booked: _booked,
    QueueEntry.DepositLapsed: lambda e: _status(
        e, "deposit_lapsed",
        "Your deposit window closed, so your place in the queue has ended. You can join "
        "again at any time.",
    ),
    QueueEntry.Canceled: lambda e: _status(
        e, "canceled", "Your place in the slotqueue line is canceled."
    ),
    QueueEntry.PaymentNeedsRefund: lambda e: _status(
        e, f"refund_needed:{e.payment_ref}",
        "We received a payment we were not expecting; it will be refunded.",
        payment_ref=e.payment_ref, reason=e.reason,
    ),
    QueueEntry.Refunded: lambda e: _status(
        e, "refunded:" + ",".join(e.payment_refs), "Your payment has been refunded.",
        payment_refs=list(e.payment_refs),
    ),
}


def message_writes(event: Any) -> list[Write]:
    handler = HANDLERS.get(type(event))
    return handler(event) if handler else []
