"""Locations the monitor removed leave the choices of the customers who made them (issue 8):
each gets `Customer.LocationRetired` (the events keep the old choice; a customer still in line
is told).
Checked when a dispatcher starts and then once a minute: one small query."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.customer import Customer
from slotqueue.processes.writer import Writer

EVERY = timedelta(minutes=1)


class RetiredLocations:
    def __init__(self, writer: Writer, listed: Callable[[], set[UUID]],
                 name: Callable[[UUID], str]) -> None:
        self.writer, self.listed, self.name = writer, listed, name
        self._checked: datetime | None = None

    def check(self, now: datetime) -> int:
        """Retires every chosen location the monitor no longer lists; returns how many
        customers' choices changed. Does nothing until a minute has passed since the last."""
        if self._checked is not None and now - self._checked < EVERY:
            return 0
        self._checked = now
        listed = self.listed()
        done = 0
        for state in list(self.writer.view.customers.values()):
            for location_id in sorted(state.location_ids - listed):
                done += self._retire(state.id, location_id, now)
        return done

    def _retire(self, customer_id: UUID, location_id: UUID, now: datetime) -> int:
        for _ in range(5):
            customer = self.writer.get(Customer, customer_id)
            entry = self.writer.view.entries.get(customer.open_entry_id)
            in_line = entry is not None and entry.status not in lc.FINAL
            if not customer.retire_location(location_id, self.name(location_id), now, in_line):
                return 0
            try:
                self.writer.save(customer)
                return 1
            except IntegrityError:
                self.writer.forget([customer_id])
                self.writer.refresh()
        return 0
