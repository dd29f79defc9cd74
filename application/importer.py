"""Makes the rows an earlier implementation left into events (issue 8): every customer and
entry keeps its id and times (so its rank), a phone that is a real number is claimed for its
customer so `join` finds it, and history rows become `LegacyRow`s, so the projections own
every row and a rebuild writes them again exactly. Saved a customer at a time, each with its
entries; running it again imports only what is left.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from slotqueue.adapters.legacy_tables import LegacyCustomer
from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.contact import normalise_phone
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.legacy_row import LegacyRow
from slotqueue.aggregates.phone_claim import PhoneClaim
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.application.queue import MAX_PER_SAVE, SlotQueue


@dataclass
class Imported:
    customers: int = 0
    entries: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        counts = ", ".join(f"{n} {table} rows" for table, n in sorted(self.rows.items()))
        head = f"imported {self.customers} customers and {self.entries} queue entries"
        return [head + (f", {counts}" if counts else ""), *self.notes]


def _exists(app: SlotQueue, aggregate_id: UUID) -> bool:
    try:
        app.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return False
    return True


def _claim(app: SlotQueue, legacy: LegacyCustomer, now: datetime, claimed: set[str],
           notes: list[str]) -> PhoneClaim | None:
    try:
        phone = normalise_phone(legacy.phone)
    except InvalidInput:
        notes.append(f"customer {legacy.id}: phone {legacy.phone!r} is not a phone number; "
                     "kept as it was, and a join cannot find this customer by phone")
        return None
    taken = (phone in claimed or _exists(app, PhoneClaim.create_id(phone))
             or _exists(app, Customer.create_id(phone)))
    if taken:
        notes.append(f"customer {legacy.id}: phone {phone} belongs to another customer "
                     "already; a join with it finds the other one")
        return None
    claimed.add(phone)
    return PhoneClaim(phone=phone, customer_id=legacy.id, at=now)


def _entries(legacy: LegacyCustomer) -> list[QueueEntry]:
    return [QueueEntry.imported(
        row["id"], customer_id=legacy.id, sequence=n, at=row["created_at"],
        status=row["status"], deposit_status=row["deposit_status"],
        deposit_required_at=row["deposit_required_at"], deposit_paid_at=row["deposit_paid_at"],
        deposit_expires_at=row["deposit_expires_at"], booked_at=row["booked_at"],
        booked_location_id=row["booked_location_id"],
        booked_slot_datetime=row["booked_slot_datetime"])
        for n, row in enumerate(legacy.entries, start=1)]


def _customer(legacy: LegacyCustomer, entries: list[QueueEntry]) -> Customer:
    open_entries = [e.id for e in entries if e.status not in lc.FINAL]
    return Customer.imported(
        legacy.id, phone=legacy.phone, email=legacy.email, at=legacy.created_at,
        selection=legacy.selection, selected_at=legacy.selected_at, locations=legacy.locations,
        entry_ids=[e.id for e in entries], open_entry_id=open_entries[-1] if open_entries
        else None)


def import_customers(app: SlotQueue, found: Iterable[LegacyCustomer], now: datetime,
                     report: Imported) -> None:
    pending: list[Aggregate] = []
    claimed: set[str] = set()
    for legacy in found:
        entries = _entries(legacy)
        if sum(e.status not in lc.FINAL for e in entries) > 1:
            report.notes.append(f"customer {legacy.id} has {len(entries)} open entries; the "
                                "latest is the one a join returns")
        claim = _claim(app, legacy, now, claimed, report.notes)
        unit: list[Aggregate] = [_customer(legacy, entries), *entries,
                                 *([claim] if claim else [])]
        if len(pending) + len(unit) > MAX_PER_SAVE:
            app.save(*pending)
            pending = []
        pending += unit
        report.customers += 1
        report.entries += len(entries)
    if pending:
        app.save(*pending)


def import_history(app: SlotQueue, rows: Iterable[tuple[str, str, dict[str, Any]]],
                   report: Imported) -> None:
    batch: list[Aggregate] = []
    for table, key, row in rows:
        batch.append(LegacyRow(table=table, key=key, row=row))
        report.rows[table] = report.rows.get(table, 0) + 1
        if len(batch) >= MAX_PER_SAVE:
            app.save(*batch)
            batch = []
    if batch:
        app.save(*batch)
