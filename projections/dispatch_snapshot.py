"""The dispatcher's view as of a position of the `queue_tables` projection: read once, in one
repeatable-read snapshot, when a dispatcher starts; from there it follows the event store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.matcher import Selection
from slotqueue.aggregates.opened_slot import ATTEMPTING, OFFERED


@dataclass(slots=True)
class EntryState:
    id: UUID
    customer_id: UUID
    joined_at: datetime
    status: str = lc.QUEUED
    deposit_status: str = lc.NONE
    deposit_expires_at: datetime | None = None
    held_by: UUID | None = None
    priority: int = 0  # the operator's score (service §4.4)
    offer_id: UUID | None = None  # the pending offer it holds (service §4.2)
    cooldown_until: datetime | None = None  # cooling down after an offer, until reactivated


@dataclass(slots=True)
class CustomerState:
    id: UUID
    selection: Selection | None = None
    location_ids: frozenset[UUID] = frozenset()
    nudged_day: str | None = None
    booking_mode: str | None = None  # an operator's, for this customer (service §4.2)


@dataclass(slots=True)
class SlotState:
    """One opening as the dispatcher tracks it."""

    id: UUID
    key: str
    opening: int
    location_id: UUID
    slot_utc: datetime
    first_seen: datetime
    last_seen: datetime
    outcome: str | None = None
    closed: bool = False
    claimed_until: datetime | None = None
    attempt_run: UUID | None = None
    winner_entry: UUID | None = None
    pending_offers: set[UUID] = field(default_factory=set)  # offers of it still open

    @property
    def undecided(self) -> bool:
        return self.outcome is None and not self.closed

    @property
    def settled(self) -> bool:
        """Nothing more to do about it: decided, no attempt under way, no offer pending."""
        return self.outcome not in (None, ATTEMPTING, OFFERED) and not self.pending_offers


@dataclass
class Snapshot:
    """The dispatcher's view as of a position of the event store."""

    position: int
    watch_start: datetime | None = None
    scan_position: datetime | None = None
    entries: list[EntryState] = field(default_factory=list)
    customers: list[CustomerState] = field(default_factory=list)
    slots: list[SlotState] = field(default_factory=list)


POSITION_SQL = """
SELECT coalesce(max(notification_id), 0) FROM slotqueue.queue_tables_tracking
WHERE application_name = %s
"""
ENTRIES_SQL = """
SELECT q.id, q.customer_id, q.created_at, q.status, q.deposit_status, q.deposit_expires_at,
       (SELECT s.id FROM slotqueue.opened_slots s
        WHERE s.winner_entry_id = q.id AND s.outcome = 'attempting' LIMIT 1),
       coalesce(p.score, 0),
       (SELECT o.id FROM slotqueue.offers o
        WHERE o.queue_entry_id = q.id AND o.status = 'pending' LIMIT 1),
       (SELECT t.due_at FROM slotqueue.timers t WHERE t.aggregate_id = q.id
        AND t.name = 'cooldown' AND t.status = 'set')
FROM queue_entries q LEFT JOIN slotqueue.entry_priorities p ON p.queue_entry_id = q.id
WHERE q.status <> ALL(%s)
"""
SELECTIONS_SQL = """
SELECT customer_id, timezone, date_horizon_key, weekday_rule_key, custom_weekdays,
       time_block_keys FROM user_target_window_selections
"""
# Every chosen location, those the monitor has since deleted too (user_location_preferences
# loses them by its cascading foreign key): the dispatcher's RetiredLocations finds them here
# and retires them (telling a customer still in line).
LOCATIONS_SQL = """
SELECT customer_id, array_agg(location_id) FROM slotqueue.customer_locations GROUP BY customer_id
"""
# Openings still to settle or still listed, and the latest opening of every slot not yet past
# (a slot that reappears is numbered on from it).
SLOTS_SQL = """
SELECT id, slot_key, opening, location_id, slot_datetime_utc, first_seen,
       coalesce(last_seen, opened_at), outcome, closed_at IS NOT NULL, claimed_until,
       winner_entry_id
FROM slotqueue.opened_slots
WHERE closed_at IS NULL OR outcome IS NULL OR outcome IN ('attempting', 'offered')
   OR id IN (SELECT slot_id FROM slotqueue.offers WHERE status = 'pending')
   OR id IN (SELECT DISTINCT ON (slot_key) id FROM slotqueue.opened_slots
             WHERE slot_date >= current_date - 1
             ORDER BY slot_key, opening DESC, first_seen DESC)
"""
SCAN_SQL = "SELECT last_processed_at FROM queue_watermarks WHERE key = %s"
MODES_SQL = "SELECT customer_id, mode FROM slotqueue.customer_booking_modes"
PENDING_OFFERS_SQL = "SELECT slot_id, id FROM slotqueue.offers WHERE status = 'pending'"


def _customers(conn: psycopg.Connection[Any]) -> list[CustomerState]:
    """Customers' choices; equal choices share one Selection and one location set (a queue of
    100k holds far fewer distinct choices than customers)."""
    found: dict[Any, CustomerState] = {}
    selections: dict[tuple[Any, ...], Selection] = {}
    places: dict[tuple[Any, ...], frozenset[UUID]] = {}
    for customer_id, tz, horizon, rule, days, blocks in conn.execute(SELECTIONS_SQL):
        key = (tz, horizon, rule, tuple(days or ()), tuple(blocks or ()))
        found[customer_id] = CustomerState(customer_id, selections.setdefault(
            key, Selection(*key)))
    for customer_id, locations in conn.execute(LOCATIONS_SQL):
        where = tuple(sorted(locations))
        found.setdefault(customer_id, CustomerState(customer_id)).location_ids = (
            places.setdefault(where, frozenset(where)))
    for customer_id, mode in conn.execute(MODES_SQL):
        found.setdefault(customer_id, CustomerState(customer_id)).booking_mode = mode
    return list(found.values())


def load_snapshot(conn: psycopg.Connection[Any], app_name: str, watch_key: str,
                  watch_start: datetime | None) -> Snapshot:
    """Reads the projected tables at one position; the caller follows the event log on."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        position = conn.execute(POSITION_SQL, (app_name,)).fetchone()[0]  # type: ignore[index]
        entries = [EntryState(*row) for row in conn.execute(ENTRIES_SQL, (list(lc.FINAL),))]
        slots = [SlotState(id=r[0], key=r[1], opening=r[2], location_id=r[3], slot_utc=r[4],
                           first_seen=r[5], last_seen=r[6], outcome=r[7], closed=r[8],
                           claimed_until=r[9], winner_entry=r[10])
                 for r in conn.execute(SLOTS_SQL)]
        by_id = {slot.id: slot for slot in slots}
        for slot_id, offer_id in conn.execute(PENDING_OFFERS_SQL):
            if slot_id in by_id:
                by_id[slot_id].pending_offers.add(offer_id)
        scanned = conn.execute(SCAN_SQL, (watch_key,)).fetchone()
        return Snapshot(position=position, watch_start=watch_start,
                        scan_position=scanned[0] if scanned else watch_start,
                        entries=entries, customers=_customers(conn), slots=slots)
