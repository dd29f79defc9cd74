"""Turns opened rows of `slot_states` into exactly one `SlotOpened` event each (spec §4.4)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError

from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.matcher import local_slot_datetime, parse_time_text, slot_key
from slotqueue.aggregates.opened_slot import OpenedSlot
from slotqueue.application.queue import MAX_PER_SAVE, SlotQueue

log = logging.getLogger(__name__)
BATCH = MAX_PER_SAVE


@dataclass(frozen=True)
class SlotRow:
    location_id: UUID
    date: date
    time_text: str
    first_seen: datetime
    last_seen: datetime


def fetch_opened(
    conn: psycopg.Connection[Any], watermark: datetime, margin: timedelta, lookback_minutes: int
) -> list[SlotRow]:
    """Rows first seen after the watermark (less a safety margin for late commits) and still
    listed within the lookback, by database time, oldest first."""
    rows = conn.execute(
        "SELECT location_id, date, time, first_seen, last_seen "
        "FROM fetch_opened_slots_since(%s, %s)",
        (watermark - margin, lookback_minutes),
    ).fetchall()
    return [SlotRow(*row) for row in rows]


def _opened(row: SlotRow, timezone: str, run_id: UUID, now: datetime) -> OpenedSlot | None:
    try:
        key = slot_key(row.location_id, row.date, row.time_text)
        when = local_slot_datetime(row.date, row.time_text, timezone)
    except InvalidInput as exc:
        log.warning("skipping unreadable slot_states row %s: %s", row, exc)
        return None
    return OpenedSlot(
        slot_key=key, first_seen=row.first_seen, location_id=row.location_id,
        slot_date=row.date.isoformat(), slot_time=parse_time_text(row.time_text).isoformat(),
        slot_datetime=when, at=now, run_id=run_id,
    )


def _existing(conn: psycopg.Connection[Any], ids: Sequence[UUID]) -> set[UUID]:
    rows = conn.execute(
        "SELECT originator_id FROM slotqueue.queue_events "
        "WHERE originator_id = ANY(%s) AND originator_version = 1", (list(ids),))
    return {row[0] for row in rows}


def record_opened(
    app: SlotQueue, conn: psycopg.Connection[Any], rows: Sequence[SlotRow], timezone: str,
    run_id: UUID, now: datetime,
) -> list[OpenedSlot]:
    """Saves a SlotOpened for each row not seen before; returns the new slots, as saved."""
    slots = [s for s in (_opened(r, timezone, run_id, now) for r in rows) if s is not None]
    known = _existing(conn, [s.id for s in slots])
    fresh = [s for s in slots if s.id not in known]
    created: list[OpenedSlot] = []
    for start in range(0, len(fresh), BATCH):
        batch = fresh[start:start + BATCH]
        try:
            app.save(*batch)
            created += batch
        except IntegrityError:  # another run recorded some of them: go one by one
            created += [s for s in _rebuilt(batch, run_id, now) if _save_one(app, s)]
    return created


def _rebuilt(batch: Sequence[OpenedSlot], run_id: UUID, now: datetime) -> list[OpenedSlot]:
    """Fresh aggregates for a batch whose save failed (save() drained their events)."""
    return [OpenedSlot(
        slot_key=s.slot_key, first_seen=s.first_seen, location_id=s.location_id,
        slot_date=s.slot_date, slot_time=s.slot_time, slot_datetime=s.slot_datetime,
        at=now, run_id=run_id) for s in batch]


def _save_one(app: SlotQueue, slot: OpenedSlot) -> bool:
    try:
        app.save(slot)
    except IntegrityError:
        return False
    return True
