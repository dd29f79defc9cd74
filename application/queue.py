"""The event-sourced application: the commands of spec §4.1 over Customer and QueueEntry.

Commands load, decide and save; a lost optimistic-concurrency race is retried from fresh
state. Every command takes `now`; entry points read it from the injected clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from slotqueue.aggregates.contact import normalise_email, normalise_phone
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.errors import NotFound
from slotqueue.aggregates.matcher import Presets, Selection
from slotqueue.aggregates.phone_claim import PhoneClaim
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.application.clock import Clock, FixedClock
from slotqueue.application.deliveries import DeliveryCommands
from slotqueue.application.identity import IdentityCommands
from slotqueue.application.offers import OfferCommands
from slotqueue.application.operator_actions import OperatorCommands
from slotqueue.application.payments import PaymentCommands
from slotqueue.application.timers import TimerCommands

A = TypeVar("A", Customer, QueueEntry)
CONFLICT_RETRIES = 8
# One save of ~1,000 events over a Unix socket deadlocks in psycopg's pipeline mode (seen with
# the embedded server); bulk writers save at most this many aggregates per transaction.
MAX_PER_SAVE = 100


@dataclass(frozen=True)
class Joined:
    customer_id: UUID
    queue_entry_id: UUID
    new_entry: bool


class SlotQueue(IdentityCommands, PaymentCommands, DeliveryCommands, TimerCommands,
                OfferCommands, OperatorCommands, Application[UUID]):
    """Commands load, decide, save; a lost optimistic-concurrency race is retried."""

    name = "queue"
    clock: Clock = FixedClock(datetime.min.replace(tzinfo=UTC))  # the composition root's
    # A customer who keeps winning slots whose attempts fail gathers two events per attempt;
    # a snapshot every 50 events keeps loading the entry cheap.
    snapshotting_intervals: ClassVar[dict[type[Aggregate], int]] = {QueueEntry: 200, Customer: 200}

    def _load(self, kind: type[A], aggregate_id: UUID) -> A:
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            aggregate = None
        if not isinstance(aggregate, kind):
            label = "queue entry" if kind is QueueEntry else "customer"
            raise NotFound(f"unknown {label} {aggregate_id}")
        return aggregate

    def _retrying(self, attempt: Callable[[], Any]) -> Any:
        for _ in range(CONFLICT_RETRIES):
            try:
                return attempt()
            except IntegrityError:
                continue  # another writer got there first: reload and decide again
        return attempt()

    def _change(self, kind: type[A], aggregate_id: UUID, command: Callable[[A], Any]) -> Any:
        def attempt() -> Any:
            aggregate = self._load(kind, aggregate_id)
            result = command(aggregate)
            self.save(aggregate)
            return result

        return self._retrying(attempt)

    def save_in_batches(self, aggregates: list[Any]) -> None:
        """Saves many aggregates, MAX_PER_SAVE per transaction (each batch all or nothing)."""
        for start in range(0, len(aggregates), MAX_PER_SAVE):
            self.save(*aggregates[start:start + MAX_PER_SAVE])

    def join(self, phone: str, email: str | None, now: datetime | None = None) -> Joined:
        """A customer with an open entry gets that entry back, not a second one. Without
        `now`, the join time is the clock's ordered time: ranks follow recording order."""
        e164, address = normalise_phone(phone), normalise_email(email)
        if now is not None:
            return self._retrying(lambda: self._join(e164, address, now))

        def ordered() -> Joined:
            with self.clock.ordered() as at:
                return self._join(e164, address, at)

        return self._retrying(ordered)

    def customer_for_phone(self, phone: str) -> Customer | None:
        """The customer this E.164 phone belongs to: an imported one claims it; any other's
        id is derived from it."""
        try:
            claim = self.repository.get(PhoneClaim.create_id(phone))
            return self._load(Customer, claim.customer_id)
        except AggregateNotFoundError:
            pass
        try:
            return self._load(Customer, Customer.create_id(phone))
        except NotFound:
            return None

    def _join(self, phone: str, email: str | None, now: datetime) -> Joined:
        customer = self.customer_for_phone(phone)
        if customer is None:
            customer = Customer(phone=phone, email=email, at=now)
        else:
            customer.change_email(email, now)
        if customer.open_entry_id is not None:
            entry = self._load(QueueEntry, customer.open_entry_id)
            if entry.is_open:
                self.save(customer)
                return Joined(customer.id, entry.id, new_entry=False)
        entry = QueueEntry(customer_id=customer.id, sequence=customer.entries_opened + 1, at=now)
        customer.open_entry(entry.id, now)
        self.save(customer, entry)
        return Joined(customer.id, entry.id, new_entry=True)

    def select_windows(
        self, customer_id: UUID, selection: Selection, presets: Presets, now: datetime,
        by: str | None = None,
    ) -> None:
        self._change(Customer, customer_id,
                     lambda c: c.select_windows(selection, presets, now, by))

    def prefer_locations(
        self, customer_id: UUID, location_ids: Iterable[UUID], known: Iterable[UUID],
        now: datetime, by: str | None = None,
    ) -> None:
        ids, known_ids = list(location_ids), list(known)
        self._change(Customer, customer_id,
                     lambda c: c.prefer_locations(ids, known_ids, now, by))

    def require_deposit(self, entry_id: UUID, now: datetime, grace: timedelta,
                        by: str | None = None) -> None:
        self._change(QueueEntry, entry_id, lambda e: e.require_deposit(now, grace, by))

    def record_payment(self, entry_id: UUID, payment_ref: str, now: datetime) -> bool:
        """True when the deposit is paid; False when the payment must be refunded."""
        return bool(
            self._change(QueueEntry, entry_id, lambda e: e.record_payment(payment_ref, now))
        )

    def lapse_deposit(self, entry_id: UUID, now: datetime) -> None:
        self._change(QueueEntry, entry_id, lambda e: e.lapse_deposit(now))

    def pause(self, entry_id: UUID, now: datetime, by: str | None = None) -> None:
        self._change(QueueEntry, entry_id, lambda e: e.pause(now, by))

    def resume(self, entry_id: UUID, now: datetime, by: str | None = None) -> None:
        self._change(QueueEntry, entry_id, lambda e: e.resume(now, by))

    def cancel(self, entry_id: UUID, now: datetime, by: str | None = None) -> None:
        self._change(QueueEntry, entry_id, lambda e: e.cancel(now, by))

    def refund(self, entry_id: UUID, now: datetime, by: str | None = None) -> list[str]:
        return list(self._change(QueueEntry, entry_id, lambda e: e.refund(now, by)))

    def entry(self, entry_id: UUID) -> QueueEntry:
        return self._load(QueueEntry, entry_id)

    def customer(self, customer_id: UUID) -> Customer:
        return self._load(Customer, customer_id)
