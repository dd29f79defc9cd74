"""The Delivery aggregate: one message (a `message_log` row) on one channel, and what became
of it (spec service §3).

Its id comes from the message and the channel, so queueing a message twice is a version
conflict, never a second text. Sending is claimed by recording `SendingStarted` on the version
the worker read: of two workers, one saves and the other's save conflicts, so one sends.

Events: Queued → Held (quiet hours; still queued) → SendingStarted → Sent | RetryScheduled |
Failed | LostTrack (unknown: the provider may have it) ; Suppressed (its purpose passed, the
phone opted out, no address) ; ProviderReported (delivered or failed, the provider's word) ;
RetryRequested (an operator sends an unknown or failed delivery again).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from slotqueue.aggregates import delivery_states as states
from slotqueue.aggregates.ids import stable_id


class Delivery(Aggregate):
    """One message on one channel (sms or email)."""

    @staticmethod
    def create_id(message_id: UUID, channel: str) -> UUID:
        return stable_id("delivery", message_id, channel)

    @event("Queued")
    def __init__(self, message_id: UUID, dedupe_key: str, customer_id: UUID, channel: str,
                 message_type: str, to: str, subject: str | None, body: str, at: datetime,
                 queue_entry_id: UUID | None = None, not_after: datetime | None = None,
                 quiet: bool = False, timezone: str | None = None) -> None:
        self.message_id, self.dedupe_key, self.customer_id = message_id, dedupe_key, customer_id
        self.channel, self.message_type, self.to = channel, message_type, to
        self.subject, self.body, self.queue_entry_id = subject, body, queue_entry_id
        self.not_after, self.quiet, self.timezone = not_after, quiet, timezone
        self.created_at = at
        self.status = states.QUEUED
        self.next_attempt_at: datetime | None = at
        self.attempts = 0
        self.attempts_before_retry = 0  # attempts made before the last operator's retry
        self.worker: str | None = None
        self.lease_until: datetime | None = None
        self.provider_id: str | None = None
        self.last_error: str | None = None
        self.updated_at = at

    @property
    def attempts_since_retry(self) -> int:
        return self.attempts - self.attempts_before_retry

    def _to(self, trigger: str) -> str:
        return states.next_status(self.status, trigger)

    def hold(self, until: datetime, reason: str, now: datetime) -> None:
        self._to("hold")
        self._held(until=until, reason=reason, at=now)

    @event("Held")
    def _held(self, until: datetime, reason: str, at: datetime) -> None:
        self.next_attempt_at, self.updated_at = until, at

    def start_sending(self, worker: str, lease_until: datetime, now: datetime) -> int:
        """Claims the next attempt for `worker` until `lease_until`; returns its number."""
        status = self._to("send")
        self._sending_started(attempt=self.attempts + 1, worker=worker,
                              lease_until=lease_until, status=status, at=now)
        return self.attempts

    @event("SendingStarted")
    def _sending_started(self, attempt: int, worker: str, lease_until: datetime, status: str,
                         at: datetime) -> None:
        self.attempts, self.worker, self.lease_until = attempt, worker, lease_until
        self.status, self.next_attempt_at, self.updated_at = status, None, at

    def is_attempt(self, attempt: int) -> bool:
        """True while attempt `attempt` awaits its outcome: under way, or lost track of (a
        late answer from the provider still settles it)."""
        return self.status in (states.SENDING, states.UNKNOWN) and self.attempts == attempt

    def record_sent(self, attempt: int, provider_id: str | None, now: datetime) -> None:
        self._sent(attempt=attempt, provider_id=provider_id, status=self._to("accept"), at=now)

    @event("Sent")
    def _sent(self, attempt: int, provider_id: str | None, status: str, at: datetime) -> None:
        self.provider_id = provider_id or self.provider_id
        self.status, self.lease_until, self.updated_at = status, None, at

    def record_retry(self, attempt: int, error: str, next_attempt_at: datetime,
                     now: datetime) -> None:
        self._retry_scheduled(attempt=attempt, error=error, next_attempt_at=next_attempt_at,
                              status=self._to("retry_later"), at=now)

    @event("RetryScheduled")
    def _retry_scheduled(self, attempt: int, error: str, next_attempt_at: datetime,
                         status: str, at: datetime) -> None:
        self.last_error, self.next_attempt_at = error, next_attempt_at
        self.status, self.lease_until, self.updated_at = status, None, at

    def record_failed(self, attempt: int, error: str, now: datetime) -> None:
        self._failed(attempt=attempt, error=error, status=self._to("fail"), at=now)

    @event("Failed")
    def _failed(self, attempt: int, error: str, status: str, at: datetime) -> None:
        self.last_error, self.status, self.lease_until, self.updated_at = error, status, None, at

    def lose_track(self, attempt: int, reason: str, now: datetime) -> None:
        """The provider may have taken attempt `attempt`; nobody knows: never resent alone."""
        self._lost_track(attempt=attempt, reason=reason, status=self._to("lose_track"), at=now)

    @event("LostTrack")
    def _lost_track(self, attempt: int, reason: str, status: str, at: datetime) -> None:
        self.last_error, self.status, self.lease_until, self.updated_at = reason, status, None, at

    def suppress(self, reason: str, now: datetime) -> None:
        self._suppressed(reason=reason, status=self._to("suppress"), at=now)

    @event("Suppressed")
    def _suppressed(self, reason: str, status: str, at: datetime) -> None:
        self.last_error, self.status, self.next_attempt_at = reason, status, None
        self.updated_at = at

    def provider_reported(self, delivered: bool, provider_id: str | None, error: str | None,
                          now: datetime) -> bool:
        """Records the provider's final word; False (nothing recorded) when it changes
        nothing: a repeat, or a word about a delivery already settled otherwise."""
        trigger = "report_delivered" if delivered else "report_failed"
        if not states.allows(self.status, trigger):
            return False
        self._provider_reported(delivered=delivered, provider_id=provider_id, error=error,
                                status=self._to(trigger), at=now)
        return True

    @event("ProviderReported")
    def _provider_reported(self, delivered: bool, provider_id: str | None, error: str | None,
                           status: str, at: datetime) -> None:
        self.provider_id = provider_id or self.provider_id
        if error:
            self.last_error = error
        self.status, self.lease_until, self.updated_at = status, None, at

    def request_retry(self, by: str, now: datetime) -> None:
        """An operator sends an unknown or failed delivery again, with a fresh set of tries."""
        self._retry_requested(by=by, status=self._to("retry"), at=now)

    @event("RetryRequested")
    def _retry_requested(self, by: str, status: str, at: datetime) -> None:
        self.attempts_before_retry = self.attempts
        self.status, self.next_attempt_at, self.updated_at = status, at, at
