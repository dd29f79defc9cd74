"""Delivery events → public.message_deliveries (one row per message and channel: status,
attempts, next attempt, provider id, last error, times); PhoneOptOut events →
slotqueue.phone_opt_outs. Recipients are masked; every value comes from the event, so a
rebuild is exact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slotqueue.aggregates.delivery import Delivery
from slotqueue.aggregates.delivery_states import DELIVERED, QUEUED
from slotqueue.aggregates.phone_opt_out import PhoneOptOut
from slotqueue.projections.wording import mask_email, mask_phone
from slotqueue.projections.writes import Ref, Update, Upsert, Write

TABLE = "message_deliveries"


def masked(channel: str, to: str) -> str:
    return mask_email(to) if channel == "email" else mask_phone(to)


def _queued(e: Any) -> list[Write]:
    row = {"id": e.originator_id, "message_id": Ref("message_log", e.message_id),
           "dedupe_key": e.dedupe_key, "customer_id": Ref("customers", e.customer_id),
           "channel": e.channel, "message_type": e.message_type,
           "recipient": masked(e.channel, e.to), "status": QUEUED, "attempts": 0,
           "next_attempt_at": e.at, "lease_until": None, "provider_id": None,
           "last_error": None, "created_at": e.at, "updated_at": e.at, "sent_at": None,
           "delivered_at": None}
    return [Upsert(TABLE, ("id",), row)]


def _set(e: Any, **values: Any) -> list[Write]:
    return [Update(TABLE, {"id": e.originator_id}, {**values, "updated_at": e.at})]


def _reported(e: Any) -> list[Write]:
    values: dict[str, Any] = {"status": e.status, "lease_until": None}
    if e.provider_id:
        values["provider_id"] = e.provider_id
    if e.error:
        values["last_error"] = e.error
    if e.status == DELIVERED:
        values["delivered_at"] = e.at
    return _set(e, **values)


def _opt_out(e: Any) -> list[Write]:
    row = {"id": e.originator_id, "recipient": mask_phone(e.phone), "opted_out": False,
           "word": None, "changed_at": e.at}
    return [Upsert("phone_opt_outs", ("id",), row)]


def _opt_change(opted_out: bool) -> Callable[[Any], list[Write]]:
    def writes(e: Any) -> list[Write]:
        return [Update("phone_opt_outs", {"id": e.originator_id},
                       {"opted_out": opted_out, "word": e.word, "changed_at": e.at})]
    return writes


HANDLERS: dict[type, Callable[[Any], list[Write]]] = {
    Delivery.Queued: _queued,
    Delivery.Held: lambda e: _set(e, next_attempt_at=e.until),
    Delivery.SendingStarted: lambda e: _set(e, status=e.status, attempts=e.attempt,
                                            lease_until=e.lease_until, next_attempt_at=None),
    Delivery.Sent: lambda e: _set(e, status=e.status, lease_until=None, sent_at=e.at,
                                  **({"provider_id": e.provider_id} if e.provider_id else {})),
    Delivery.RetryScheduled: lambda e: _set(e, status=e.status, last_error=e.error,
                                            next_attempt_at=e.next_attempt_at, lease_until=None),
    Delivery.Failed: lambda e: _set(e, status=e.status, last_error=e.error, lease_until=None),
    Delivery.LostTrack: lambda e: _set(e, status=e.status, last_error=e.reason,
                                       lease_until=None),
    Delivery.Suppressed: lambda e: _set(e, status=e.status, last_error=e.reason,
                                        next_attempt_at=None),
    Delivery.ProviderReported: _reported,
    Delivery.RetryRequested: lambda e: _set(e, status=e.status, next_attempt_at=e.at),
    PhoneOptOut.Started: _opt_out,
    PhoneOptOut.OptedOut: _opt_change(True),
    PhoneOptOut.OptedIn: _opt_change(False),
}


def delivery_writes(event: Any) -> list[Write]:
    handler = HANDLERS.get(type(event))
    return handler(event) if handler else []
