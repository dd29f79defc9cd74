"""Builds queues and slot_states rows for the dispatcher tests, on a real database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

from slotqueue.adapters.booking import Booker, BookingResult, make_booker
from slotqueue.adapters.presets import load_presets
from slotqueue.aggregates.matcher import Selection, slot_key
from slotqueue.application.queue import Joined
from slotqueue.bootstrap import Service
from slotqueue.processes.dispatcher import Summary

HONOLULU = ZoneInfo("Pacific/Honolulu")
GRACE = timedelta(minutes=120)


def next_weekday(today: date, iso_weekday: int, weeks: int = 0) -> date:
    """The first `iso_weekday` (1 = Monday) strictly after `today`, `weeks` later."""
    ahead = (iso_weekday - today.isoweekday() - 1) % 7 + 1
    return today + timedelta(days=ahead + 7 * weeks)


class CountingBooker:
    """Wraps a real adapter and counts its calls (the adapter itself is not faked)."""

    def __init__(self, inner: Booker) -> None:
        self.inner, self.name, self.calls = inner, inner.name, 0

    def book_slot(self, customer_id: UUID, location_id: UUID, slot_datetime_utc: datetime,
                  attempt_id: UUID) -> BookingResult:
        self.calls += 1
        return self.inner.book_slot(customer_id, location_id, slot_datetime_utc, attempt_id)


@dataclass
class World:
    svc: Service
    db: psycopg.Connection[Any]
    now: datetime  # the database's clock when the world was made
    count: int = 0

    @property
    def today(self) -> date:
        return self.now.astimezone(HONOLULU).date()

    def location(self, name: str) -> UUID:
        row = self.db.execute("INSERT INTO locations (name) VALUES (%s) RETURNING id", (name,))
        return row.fetchone()[0]  # type: ignore[index]

    def customer(self, locations: list[UUID], blocks: tuple[str, ...] = ("early",),
                 paid: bool = True, horizon: str = "w8") -> Joined:
        """Joins in order: each customer ranks behind the ones made before."""
        self.count += 1
        joined_at = self.now - timedelta(hours=3) + timedelta(seconds=self.count)
        joined = self.svc.app.join(f"+1808555{self.count:04d}", None, joined_at)
        self.svc.app.select_windows(joined.customer_id, Selection(
            timezone="Pacific/Honolulu", date_horizon_key=horizon,
            weekday_rule_key="any_weekday", custom_weekdays=(), time_block_keys=blocks),
            load_presets(self.db), joined_at)
        all_locations = [r[0] for r in self.db.execute("SELECT id FROM locations")]
        self.svc.app.prefer_locations(joined.customer_id, locations, all_locations, joined_at)
        if paid:
            self.svc.app.require_deposit(joined.queue_entry_id, joined_at, GRACE)
            self.svc.app.record_payment(joined.queue_entry_id, f"pay-{self.count}", joined_at)
        return joined

    def open_slot(self, location_id: UUID, day: date, time_text: str,
                  first_seen_ago: timedelta = timedelta(0),
                  last_seen_ago: timedelta = timedelta(0)) -> str:
        self.db.execute(
            "INSERT INTO slot_states (location_id, date, time, first_seen, last_seen) "
            "VALUES (%s, %s, %s, now() - %s, now() - %s)",
            (location_id, day, time_text, first_seen_ago, last_seen_ago))
        return slot_key(location_id, day, time_text)

    def booker(self, name: str) -> Booker:
        return make_booker(name, self.svc.url, "Pacific/Honolulu", 3)

    def dispatch(self, booker: str | Booker = "sim", now: datetime | None = None) -> Summary:
        adapter = booker if not isinstance(booker, str) else self.booker(booker)
        return self.svc.dispatch_once(adapter, now=now)

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.db.execute(query, params).fetchall()
