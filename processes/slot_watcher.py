"""Turns what the monitor lists into openings and closings (spec §4.4; rules in
`aggregates.slot_listing`): one `SlotOpened` per opening, one `Closed` when a slot stops being
listed, and the watermark, which never passes the database's now().

Each poll reads the rows bumped since the last one (one indexed query); every few seconds it
reads a safety margin further back, so a scrape committed late is not lost, and after a start
it reads every listed row, so the view knows how fresh each open slot is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from slotqueue.aggregates.errors import DomainError
from slotqueue.aggregates.opened_slot import OpenedSlot
from slotqueue.aggregates.slot_listing import (
    Period,
    Sighting,
    has_ended,
    merge,
    new_opening,
    scan_mark,
)
from slotqueue.aggregates.watermark import SLOT_OPENED, Watermark
from slotqueue.processes.queue_view import SlotState
from slotqueue.processes.writer import Writer

SAVE_BATCH = 100  # aggregates per save: larger saves deadlock psycopg's pipeline on a socket
SWEEP_EVERY = timedelta(seconds=5)
PERSIST_EVERY = timedelta(seconds=60)


@dataclass
class Watched:
    opened: list[OpenedSlot] = field(default_factory=list)
    closed: int = 0


class SlotWatcher:
    def __init__(self, writer: Writer, lookback: timedelta, margin: timedelta) -> None:
        self.writer, self.view = writer, writer.view
        self.lookback, self.margin = lookback, margin
        self._mark: datetime | None = None  # how far this process has read last_seen
        self._last_sweep: datetime | None = None
        self._persisted_at: datetime | None = None

    def since(self, now_guess: datetime | None) -> datetime:
        """Where the next poll starts reading `last_seen`."""
        position = self.view.scan_position or self.view.watch_start
        if self._mark is None:  # a start: every listed row, and what came while away
            base = position or now_guess
            assert base is not None
            return base - max(self.margin, self.lookback)
        sweep = self._last_sweep is None or (
            now_guess is not None and now_guess - self._last_sweep >= SWEEP_EVERY)
        return self._mark - self.margin if sweep else self._mark

    def observe(self, sightings: list[Sighting], read_up_to: datetime | None, since: datetime,
                now: datetime, run_id: UUID) -> Watched:
        if self._mark is None or since < self._mark:
            self._last_sweep = now
        if read_up_to is not None:
            self._mark = scan_mark(max(self._mark or read_up_to, read_up_to), now)
        elif self._mark is None:
            self._mark = scan_mark(since, now)
        opened = self._save(self._openings(merge(sightings), now, run_id), now, run_id)
        ended = [s for s in self.view.listed_slots()
                 if has_ended(Period(s.opening, True, s.last_seen), now, self.lookback)]
        return Watched(opened=[s for s in opened if s.outcome is None],
                       closed=self._close(ended, now))

    def _openings(self, seen: dict[str, Sighting], now: datetime,
                  run_id: UUID) -> list[OpenedSlot]:
        watch_start = self.view.watch_start or now
        opened = []
        for key, sighting in seen.items():
            state = self.view.slots.get(key)
            period = None
            if state is not None:
                if not state.closed:
                    state.last_seen = max(state.last_seen, sighting.last_seen)
                period = Period(state.opening, not state.closed, state.last_seen)
            begins = new_opening(period, sighting, now, self.lookback, watch_start)
            if begins is not None:
                opened.append(OpenedSlot(
                    slot_key=key, first_seen=sighting.first_seen,
                    location_id=sighting.location_id,
                    slot_date=sighting.slot_date.isoformat(),
                    slot_time=sighting.slot_time.isoformat(), slot_datetime=sighting.slot_utc,
                    at=now, run_id=run_id, opening=begins.opening, baseline=begins.baseline,
                    last_seen=sighting.last_seen))
        return opened

    def _watermark(self, now: datetime, run_id: UUID, force: bool) -> list[Watermark]:
        """The persisted watermark, when it has moved and is due (or rides along anyway)."""
        due = self._persisted_at is None or now - self._persisted_at >= PERSIST_EVERY
        if self._mark is None or not (force or due):
            return []
        watermark = self.writer.get(Watermark, Watermark.create_id(SLOT_OPENED))
        if not watermark.advance(self._mark, run_id, now):
            return []
        self._persisted_at = now
        return [watermark]

    def _save(self, opened: list[OpenedSlot], now: datetime,
              run_id: UUID) -> list[OpenedSlot]:
        """Saves the openings (and the watermark with them); returns those this run
        recorded. Another dispatcher may have recorded some first: theirs stand."""
        saved: list[OpenedSlot] = []
        for start in range(0, max(len(opened), 1), SAVE_BATCH):
            batch = opened[start:start + SAVE_BATCH]
            extra = self._watermark(now, run_id, force=bool(batch))
            if not batch and not extra:
                continue
            try:
                self.writer.save(*batch, *extra)
                saved += batch
            except IntegrityError:
                self.writer.forget([Watermark.create_id(SLOT_OPENED)])
                self.writer.refresh()
                saved += [s for s in map(self._again, batch) if s is not None]
        return saved

    def _again(self, slot: OpenedSlot) -> OpenedSlot | None:
        if slot.id in self.view.open_slots:
            return None
        fresh = slot.recreated()
        try:
            self.writer.save(fresh)
        except IntegrityError:
            self.writer.refresh()
            return None
        return fresh

    def _close(self, ended: list[SlotState], now: datetime) -> int:
        closed = []
        for state in ended:
            slot = self.writer.get(OpenedSlot, state.id)
            try:
                slot.close(now, state.last_seen)
                closed.append(slot)
            except DomainError:
                continue
        for start in range(0, len(closed), SAVE_BATCH):
            batch = closed[start:start + SAVE_BATCH]
            try:
                self.writer.save(*batch)
            except IntegrityError:
                self.writer.forget(s.id for s in batch)
                self.writer.refresh()
        return len(closed)
