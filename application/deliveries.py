"""Delivery commands (spec service §3): queue a message's deliveries, claim one for sending,
record what the provider said, suppress or hold one, retry one by hand, and the phones' STOP
and START. Each loads, decides and saves; a lost race is decided again from fresh state.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from slotqueue.adapters.messaging import PERMANENT, SENT, UNKNOWN, Outcome
from slotqueue.aggregates import delivery_policy as policy
from slotqueue.aggregates import delivery_states as states
from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.delivery import Delivery
from slotqueue.aggregates.delivery_policy import SMS
from slotqueue.aggregates.delivery_states import QUEUED, SENDING
from slotqueue.aggregates.errors import NotFound
from slotqueue.aggregates.offer import MESSAGE, Offer, offer_of_message
from slotqueue.aggregates.phone_opt_out import PhoneOptOut
from slotqueue.aggregates.queue_entry import QueueEntry

RETRIES = 8


@dataclass(frozen=True)
class Message:
    """A message_log row as the projection renders it: what a delivery sends."""

    id: UUID
    customer_id: UUID
    message_type: str
    dedupe_key: str
    text: str
    meta: Mapping[str, Any]


class DeliveryCommands:
    """Mixed into the application (`SlotQueue`)."""

    repository: Any
    save: Callable[..., Any]

    def _get(self, aggregate_id: UUID) -> Any | None:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def delivery(self, delivery_id: UUID) -> Delivery:
        found = self._get(delivery_id)
        if not isinstance(found, Delivery):
            raise NotFound(f"unknown delivery {delivery_id}")
        return found

    def _deciding(self, delivery_id: UUID, decide: Callable[[Delivery], Any]) -> Any:
        """Loads the delivery, lets `decide` record on it, saves; again from fresh state
        when another writer saved first."""
        for _ in range(RETRIES):
            found = self.delivery(delivery_id)
            result = decide(found)
            if not found.pending_events:
                return result
            try:
                self.save(found)
                return result
            except IntegrityError:
                continue
        raise IntegrityError(f"delivery {delivery_id} kept changing under us")

    # queueing ---------------------------------------------------------------------------

    def deliveries_for(self, message: Message, brand: str, timezone: str,
                       now: datetime) -> list[Delivery]:
        """The deliveries a message needs (one per channel of its customer), not saved."""
        customer = self._get(message.customer_id)
        if not isinstance(customer, Customer):
            return []
        selection = getattr(customer, "selection", None)
        zone = getattr(selection, "timezone", None) or timezone
        entry = message.meta.get("queue_entry_id")
        return [Delivery(
            message_id=message.id, dedupe_key=message.dedupe_key,
            customer_id=message.customer_id, channel=channel,
            message_type=message.message_type, to=to,
            subject=policy.subject(message.message_type, brand) if channel != SMS else None,
            body=message.text, at=now, queue_entry_id=UUID(entry) if entry else None,
            not_after=policy.not_after(message.message_type, dict(message.meta)),
            quiet=message.message_type in policy.QUIET_TYPES, timezone=zone)
            for channel, to in policy.channels(message.message_type, customer.phone,
                                               customer.email)]

    def queue_deliveries(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Saves new deliveries; those recorded already (by another worker, or before a
        restart) are left as they are. Returns the ones this call recorded."""
        if not deliveries:
            return []
        try:
            self.save(*deliveries)
            return deliveries
        except IntegrityError:
            pass
        saved = []
        for one in deliveries:
            fresh = Delivery(**_queued_fields(one))
            try:
                self.save(fresh)
                saved.append(fresh)
            except IntegrityError:
                continue
        return saved

    # sending ------------------------------------------------------------------------------

    def why_not_send(self, delivery: Delivery, now: datetime) -> str | None:
        """Why a queued delivery should not go at all (its purpose passed, the phone opted
        out); None when it should."""
        if delivery.not_after is not None and now >= delivery.not_after:
            return f"too late: its deadline passed at {delivery.not_after.isoformat()}"
        if delivery.message_type == "deposit_needed" and delivery.queue_entry_id:
            entry = self._get(delivery.queue_entry_id)
            if isinstance(entry, QueueEntry) and not (
                    entry.status == lc.DEPOSIT_REQUIRED and entry.deposit_status == lc.REQUIRED):
                return f"no longer needed: the entry is {entry.status}"
        offer = self._offer_gone(delivery)
        if offer is not None:
            return offer
        if delivery.channel == SMS and self.opted_out(delivery.to):
            return "the phone opted out (STOP)"
        return None

    def _offer_gone(self, delivery: Delivery) -> str | None:
        """An offer's text whose offer is no longer open, or whose link a reminder replaced."""
        named = offer_of_message(delivery.dedupe_key) if delivery.message_type == MESSAGE \
            else None
        if named is None:
            return None
        offer = self._get(named[0])
        if not isinstance(offer, Offer):
            return "no longer needed: the offer is unknown"
        if not offer.pending:
            return f"no longer needed: the offer is {offer.status}"
        if offer.round != named[1]:
            return "no longer needed: the reminder's text carries the offer's link now"
        return None

    def claim_delivery(self, delivery_id: UUID, worker: str, lease: timedelta,
                       now: datetime) -> tuple[Delivery, int] | None:
        """Records the next attempt for `worker`; None when the delivery is not due or
        another worker claimed it first (its save won)."""
        found = self.delivery(delivery_id)
        if found.status != QUEUED or (found.next_attempt_at or now) > now:
            return None
        attempt = found.start_sending(worker, now + lease, now)
        try:
            self.save(found)
        except IntegrityError:
            return None
        return found, attempt

    def settle_delivery(self, delivery_id: UUID, attempt: int, outcome: Outcome,
                        max_attempts: int, now: datetime,
                        jitter: Callable[[], float] = random.random) -> str | None:
        """Records the provider's answer to `attempt`; returns the new status, or None when
        the attempt was already settled (an operator or the crash rule got there first)."""
        if outcome.opted_out:
            self.opt_out(self.delivery(delivery_id).to, "provider", now)

        def decide(d: Delivery) -> str | None:
            if not d.is_attempt(attempt):
                return None
            error = outcome.error or outcome.kind
            if outcome.kind == SENT:
                d.record_sent(attempt, outcome.provider_id, now)
            elif outcome.kind == UNKNOWN:
                if d.status == states.UNKNOWN:
                    return None
                d.lose_track(attempt, error, now)
            elif outcome.kind == PERMANENT:
                d.record_failed(attempt, error, now)
            elif d.attempts_since_retry >= max_attempts:
                d.record_failed(attempt, f"gave up after {max_attempts} attempts: {error}", now)
            else:
                wait = policy.backoff(attempt - d.attempts_before_retry, jitter(),
                                      retry_after=_seconds(outcome.retry_after))
                d.record_retry(attempt, error, now + wait, now)
            return str(d.status)

        return self._deciding(delivery_id, decide)

    def lose_track_of(self, delivery_id: UUID, now: datetime) -> bool:
        """The crash rule: a delivery still `sending` after its lease becomes `unknown`."""
        def decide(d: Delivery) -> bool:
            if d.status != SENDING or d.lease_until is None or d.lease_until > now:
                return False
            d.lose_track(d.attempts, f"worker {d.worker} stopped while sending attempt "
                         f"{d.attempts}; the provider may have it", now)
            return True

        return bool(self._deciding(delivery_id, decide))

    def suppress_delivery(self, delivery_id: UUID, reason: str, now: datetime) -> bool:
        def decide(d: Delivery) -> bool:
            if d.status != QUEUED:
                return False
            d.suppress(reason, now)
            return True

        return bool(self._deciding(delivery_id, decide))

    def hold_delivery(self, delivery_id: UUID, until: datetime, reason: str,
                      now: datetime) -> bool:
        def decide(d: Delivery) -> bool:
            if d.status != QUEUED or (d.next_attempt_at or now) >= until:
                return False
            d.hold(until, reason, now)
            return True

        return bool(self._deciding(delivery_id, decide))

    def retry_delivery(self, delivery_id: UUID, by: str, now: datetime) -> Delivery:
        """An operator sends an unknown or failed delivery again (TransitionRefused from
        any other status, naming it)."""
        def decide(d: Delivery) -> Delivery:
            d.request_retry(by, now)
            return d

        return self._deciding(delivery_id, decide)

    def provider_report(self, delivery_id: UUID, delivered: bool, provider_id: str | None,
                        error: str | None, now: datetime) -> bool:
        """The provider's final word (a status callback); False when it changes nothing."""
        return bool(self._deciding(delivery_id, lambda d: d.provider_reported(
            delivered, provider_id, error, now)))

    # opting out ---------------------------------------------------------------------------

    def opted_out(self, phone: str) -> bool:
        found = self._get(PhoneOptOut.create_id(phone))
        return isinstance(found, PhoneOptOut) and found.opted_out

    def opt_out(self, phone: str, word: str, now: datetime) -> bool:
        return self._opting(phone, lambda o: o.opt_out(word, now), now)

    def opt_in(self, phone: str, word: str, now: datetime) -> bool:
        return self._opting(phone, lambda o: o.opt_in(word, now), now)

    def _opting(self, phone: str, change: Callable[[PhoneOptOut], bool], now: datetime) -> bool:
        for _ in range(RETRIES):
            found = self._get(PhoneOptOut.create_id(phone))
            record = found if isinstance(found, PhoneOptOut) else PhoneOptOut(phone, now)
            changed = change(record)
            if not record.pending_events:
                return changed
            try:
                self.save(record)
                return changed
            except IntegrityError:
                continue
        raise IntegrityError(f"the opt-out of {phone} kept changing under us")


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=max(0.0, value))


def _queued_fields(d: Delivery) -> dict[str, Any]:
    return {"message_id": d.message_id, "dedupe_key": d.dedupe_key,
            "customer_id": d.customer_id, "channel": d.channel,
            "message_type": d.message_type, "to": d.to, "subject": d.subject, "body": d.body,
            "at": d.created_at, "queue_entry_id": d.queue_entry_id, "not_after": d.not_after,
            "quiet": d.quiet, "timezone": d.timezone}


def messages_of(rows: Iterable[Mapping[str, Any]]) -> list[Message]:
    """message_log rows (as `projections.messages` writes them) → Messages."""
    found = []
    for row in rows:
        meta = dict(row.get("meta_json") or {})
        found.append(Message(row["id"], row["customer_id"], row["message_type"],
                             row["dedupe_key"], str(meta.pop("text", "")), meta))
    return found
