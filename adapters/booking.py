"""Booking adapters (spec §4.7), chosen by SLOTQUEUE_BOOKER: stub, off, sim, http (the
operator's own booking worker, `adapters/http_booker.py`).

Every call carries the attempt's id, recorded before the call: an adapter that talks to a real
booking system passes it on as the idempotency key, so a repeated call cannot book twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg


@dataclass(frozen=True)
class BookingResult:
    result: str  # success | fail | skipped
    error_code: str | None = None
    error_message: str | None = None


class Booker(Protocol):
    name: str

    def book_slot(
        self, customer_id: UUID, location_id: UUID, slot_datetime_utc: datetime,
        attempt_id: UUID,
    ) -> BookingResult: ...


class StubBooker:
    """The owner's MVP default: no DMV integration yet, so every attempt fails, visibly."""

    name = "stub"

    def book_slot(self, customer_id: UUID, location_id: UUID, slot_datetime_utc: datetime,
                  attempt_id: UUID) -> BookingResult:
        return BookingResult("fail", "stub_booker",
                             "no DMV booking integration yet (SLOTQUEUE_BOOKER=stub)")


class OffBooker:
    """Shadow mode: every decision is made and journaled, nothing is booked."""

    name = "off"

    def book_slot(self, customer_id: UUID, location_id: UUID, slot_datetime_utc: datetime,
                  attempt_id: UUID) -> BookingResult:
        return BookingResult("skipped", "booking_off", "shadow mode (SLOTQUEUE_BOOKER=off)")


class SimBooker:
    """For demos and tests: succeeds while the slot's row in slot_states is still fresh."""

    name = "sim"

    def __init__(self, url: str, timezone: str, lookback_minutes: float) -> None:
        self.url, self.zone, self.lookback = url, ZoneInfo(timezone), lookback_minutes
        self._local = threading.local()  # one connection per dispatching thread

    def _conn(self) -> psycopg.Connection[Any]:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = psycopg.connect(self.url, autocommit=True,
                                                      connect_timeout=5)
        return conn

    def book_slot(self, customer_id: UUID, location_id: UUID, slot_datetime_utc: datetime,
                  attempt_id: UUID) -> BookingResult:
        local = slot_datetime_utc.astimezone(self.zone)
        try:
            row = self._query(location_id, local)
        except psycopg.OperationalError:
            self._local.conn = None
            row = self._query(location_id, local)
        if row and row[0]:
            return BookingResult("success")
        return BookingResult("fail", "slot_gone",
                             f"slot {local:%Y-%m-%d %H:%M} is no longer listed by the DMV")

    def _query(self, location_id: UUID, local: datetime) -> Any:
        # Matched by the spellings the monitor uses, never by casting `time`: one row that
        # is not a time must not fail the booking of every other slot of the day.
        spellings = [f"{local:%H:%M:%S}", f"{local:%H:%M}", f"{local.hour}:{local:%M}"]
        return self._conn().execute(
            "SELECT max(last_seen) > now() - make_interval(secs => %s) FROM slot_states "
            "WHERE location_id = %s AND date = %s AND time = ANY(%s)",
            (self.lookback * 60, location_id, local.date(), spellings),
        ).fetchone()


def make_booker(name: str, url: str, timezone: str, lookback_minutes: float, *,
                worker_url: str | None = None, worker_secret: str | None = None,
                worker_timeout: float = 10.0) -> Booker:
    if name == "sim":
        return SimBooker(url, timezone, lookback_minutes)
    if name == "http":
        from slotqueue.adapters.http_booker import HttpBooker  # noqa: PLC0415 - it imports us

        if not worker_url or not worker_secret:
            raise ValueError("the http booker needs SLOTQUEUE_BOOKER_URL and "
                             "SLOTQUEUE_BOOKER_SECRET")
        return HttpBooker(worker_url, worker_secret, worker_timeout)
    return OffBooker() if name == "off" else StubBooker()
