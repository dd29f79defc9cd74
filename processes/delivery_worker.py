"""The delivery worker (spec service §3): an intake thread that follows the event log, and a
few sender threads that take due deliveries, decide whether each should go now (its purpose,
the phone's STOP, quiet hours), claim it, call the provider and record what it said.

A delivery still `sending` when its lease ends (its worker died mid-send) becomes `unknown`:
the provider may have it, so it is never sent again unless an operator asks.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from slotqueue.adapters.messaging import TRANSIENT, Outcome, Outgoing, Sender
from slotqueue.aggregates.delivery import Delivery
from slotqueue.aggregates.delivery_policy import QuietHours
from slotqueue.aggregates.delivery_states import QUEUED, SENDING
from slotqueue.aggregates.offer import offer_of_message
from slotqueue.aggregates.offer_tokens import LINK_PLACEHOLDER
from slotqueue.processes.delivery_intake import DeliveryIntake
from slotqueue.processes.due_queue import DueQueue
from slotqueue.projections.delivery_tables import masked

log = logging.getLogger("slotqueue.deliveries")
RESWEEP = timedelta(seconds=30)  # how often pending deliveries are read again from the table


@dataclass(frozen=True)
class DeliveryRules:
    max_attempts: int = 5
    timeout_seconds: float = 10.0  # one provider request
    quiet: QuietHours = field(default_factory=QuietHours)
    callback_url: Callable[[UUID], str | None] = lambda _: None
    # An offer's claim link, (offer id, round) → URL with its token (service §4.2); derived
    # here, just before the provider is called, so no record holds a token.
    offer_link: Callable[[UUID, int], str] | None = None

    def body(self, d: Delivery) -> str:
        """The text as it goes out: an offer's link put in place of its placeholder."""
        named = offer_of_message(d.dedupe_key)
        if named is None or LINK_PLACEHOLDER not in d.body or self.offer_link is None:
            return d.body
        return d.body.replace(LINK_PLACEHOLDER, self.offer_link(*named))

    @property
    def lease(self) -> timedelta:
        """How long a claim lasts: a request's timeout twice over, and some."""
        return timedelta(seconds=2 * self.timeout_seconds + 5)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:6]}"


class DeliveryWorker:
    def __init__(self, app: Any, intake: DeliveryIntake, senders: Mapping[str, Sender],
                 rules: DeliveryRules, pending: Callable[[], list[tuple[UUID, datetime]]],
                 threads: int = 4, name: str | None = None) -> None:
        self.app, self.intake, self.senders, self.rules = app, intake, senders, rules
        self.due: DueQueue = intake.due
        self.pending = pending  # (id, when) of queued and sending deliveries, from the table
        self.name = name or worker_name()
        self.threads = threads
        self.counts: dict[str, int] = {}  # outcomes this worker recorded, by status
        self._stop = threading.Event()
        self._running: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> DeliveryWorker:
        self.intake.feed.start()
        self._resweep()
        targets = [("delivery-intake", self._intake_loop)] + [
            (f"delivery-send-{n}", self._send_loop) for n in range(self.threads)]
        for thread_name, target in targets:
            thread = threading.Thread(target=target, name=thread_name, daemon=True)
            thread.start()
            self._running.append(thread)
        log.info("delivery worker started", extra={"fields": {
            "worker": self.name, "senders": {k: s.name for k, s in self.senders.items()},
            "threads": self.threads}})
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Lets the sends under way finish (bounded by a request's timeout), then stops."""
        self._stop.set()
        self.due.wake_all()
        self.intake.feed.wake.set()
        limit = timeout if timeout is not None else self.rules.timeout_seconds + 5
        for thread in self._running:
            thread.join(limit)
        self.intake.feed.stop()
        for sender in self.senders.values():
            sender.close()

    def _resweep(self) -> None:
        for delivery_id, when in self.pending():
            self.due.push(delivery_id, when)
        self._swept = datetime.now(UTC)

    def _intake_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.intake.feed.changed():
                    self.intake.step()
                if datetime.now(UTC) - self._swept > RESWEEP:
                    self._resweep()
            except Exception:  # the database went away: read again after a pause
                log.exception("delivery intake failed; retrying")
                self._stop.wait(1.0)
            self.intake.feed.wake.wait(0.5)
            self.intake.feed.wake.clear()

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            delivery_id = self.due.pop(timeout=0.5)
            if delivery_id is None or self._stop.is_set():
                if delivery_id is not None:
                    self.due.push(delivery_id, datetime.now(UTC))
                continue
            try:
                self.handle(delivery_id)
            except Exception:
                log.exception("delivery failed to process; trying again in 5 s",
                              extra={"fields": {"delivery_id": str(delivery_id)}})
                self.due.push(delivery_id, datetime.now(UTC) + timedelta(seconds=5))

    def handle(self, delivery_id: UUID) -> str | None:
        """Looks at one delivery that fell due; returns the status it recorded, if any."""
        now = self.app.clock.now()
        d: Delivery = self.app.delivery(delivery_id)
        if d.status == SENDING:
            return self._overdue(d, now)
        return self._queued(d, now) if d.status == QUEUED else None

    def _overdue(self, d: Delivery, now: datetime) -> str | None:
        """The crash rule, once the claim's lease has ended."""
        if d.lease_until is not None and d.lease_until > now:
            self._later(d.id, d.lease_until, now)
            return None
        return self._counted("unknown", self.app.lose_track_of(d.id, now))

    def _queued(self, d: Delivery, now: datetime) -> str | None:
        if d.next_attempt_at is not None and d.next_attempt_at > now:
            self._later(d.id, d.next_attempt_at, now)
            return None
        reason = self.app.why_not_send(d, now)
        if reason is not None:
            return self._counted("suppressed", self.app.suppress_delivery(d.id, reason, now))
        until = self.rules.quiet.until(now, d.timezone or "UTC") if d.quiet else None
        if until is not None:
            if self.app.hold_delivery(d.id, until, "quiet hours", now):
                self._later(d.id, until, now)
            return None
        return self._send(d.id, now)

    def _send(self, delivery_id: UUID, now: datetime) -> str | None:
        claimed = self.app.claim_delivery(delivery_id, self.name, self.rules.lease, now)
        if claimed is None:
            return None  # another worker's
        d, attempt = claimed
        sender = self.senders.get(d.channel)
        if sender is None:
            outcome = Outcome(TRANSIENT, error=f"no provider for {d.channel}")
        else:
            outcome = _guarded(sender, Outgoing(
                channel=d.channel, to=d.to, kind=d.message_type, body=self.rules.body(d),
                subject=d.subject, delivery_id=delivery_id,
                callback_url=self.rules.callback_url(delivery_id)))
        status = self.app.settle_delivery(delivery_id, attempt, outcome,
                                          self.rules.max_attempts, self.app.clock.now())
        log.info("delivery", extra={"fields": {
            "delivery_id": str(delivery_id), "type": d.message_type, "channel": d.channel,
            "to": masked(d.channel, d.to), "attempt": attempt, "outcome": outcome.kind,
            "status": status, "provider_id": outcome.provider_id, "error": outcome.error}})
        return self._counted(status or "", status is not None)

    def _later(self, delivery_id: UUID, when: datetime, now: datetime) -> None:
        """Pushes back by the time left on the database's clock (this host's may differ)."""
        self.due.push(delivery_id, datetime.now(UTC) + max(when - now, timedelta(0)))

    def _counted(self, status: str, recorded: bool) -> str | None:
        if not recorded:
            return None
        with self._lock:
            self.counts[status] = self.counts.get(status, 0) + 1
        return status


def _guarded(sender: Sender, message: Outgoing) -> Outcome:
    """A provider adapter that raises instead of answering: nothing was sent that we know
    of, but the request may have gone out, so the delivery is not retried alone."""
    try:
        return sender.send(message)
    except Exception as exc:  # an adapter's bug must not leave the delivery `sending`
        log.exception("provider %s raised", sender.name)
        return Outcome("unknown", error=f"the {sender.name} adapter failed: "
                       f"{type(exc).__name__}")
