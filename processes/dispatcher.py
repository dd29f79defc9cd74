"""One dispatcher run (spec §4.5): opened slots → deposits → a decision for every open slot.

Safe when runs repeat, overlap or die: every slot is claimed through its own aggregate's
version (the lock, with a TTL on database time), the intent to book is recorded before the
booking adapter is called, and a slot whose run died is finished by a later run, never retried.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import psycopg
from eventsourcing.persistence import IntegrityError

from slotqueue.adapters.booking import Booker
from slotqueue.adapters.presets import load_presets
from slotqueue.aggregates.errors import DomainError
from slotqueue.aggregates.opened_slot import OpenedSlot
from slotqueue.aggregates.watermark import Watermark
from slotqueue.application.queue import MAX_PER_SAVE
from slotqueue.bootstrap import SLOT_OPENED, Service
from slotqueue.processes import deposits, slot_watcher
from slotqueue.processes.queue_index import QueueIndex
from slotqueue.processes.slot_decision import SlotDecider, load_slot

log = logging.getLogger("slotqueue.dispatcher")

UNDECIDED_SQL = """
SELECT id FROM slotqueue.opened_slots
WHERE outcome IS NULL OR outcome = 'attempting'
ORDER BY first_seen, slot_key
"""


@dataclass
class Summary:
    dispatcher_run_id: UUID
    old_watermark: datetime | None = None
    new_watermark: datetime | None = None
    opened_slots_count: int = 0
    deposits_lapsed_count: int = 0
    deposit_required_set_count: int = 0
    slots_decided_count: int = 0
    booking_attempt_count: int = 0
    booking_success_count: int = 0
    interrupted_attempt_count: int = 0
    opportunity_passed_sent_count: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class DispatchRun:
    """One tick of the process manager; `now` defaults to the database's clock."""

    def __init__(self, svc: Service, booker: Booker, conn: psycopg.Connection[Any],
                 now: datetime) -> None:
        self.svc, self.app, self.booker, self.conn, self.now = svc, svc.app, booker, conn, now
        self.settings = svc.settings
        self.summary = Summary(dispatcher_run_id=uuid4())
        self.run_id = self.summary.dispatcher_run_id
        self.day = now.astimezone(ZoneInfo(self.settings.timezone)).date().isoformat()

    def run(self) -> Summary:
        watermark = self._watermark()
        self.summary.old_watermark = watermark.position
        rows = slot_watcher.fetch_opened(
            self.conn, watermark.position,
            timedelta(minutes=self.settings.slot_safety_margin_minutes),
            self.settings.dispatch_lookback_minutes)
        fresh = slot_watcher.record_opened(
            self.app, self.conn, rows, self.settings.timezone, self.run_id, self.now)
        self.summary.opened_slots_count = len(fresh)
        self._deposits()
        self.svc.catch_up()
        self._decide_open_slots(fresh)  # presets are read every run: SQL edits apply at once
        if rows:
            self._advance(watermark, max(row.first_seen for row in rows))
        self.summary.new_watermark = self._watermark().position
        self.svc.catch_up()
        return self.summary

    def _watermark(self) -> Watermark:
        watermark = self.app.repository.get(Watermark.create_id(SLOT_OPENED))
        assert isinstance(watermark, Watermark)
        return watermark

    def _advance(self, watermark: Watermark, to: datetime) -> None:
        for _ in range(5):
            try:
                if watermark.advance(to, self.run_id, self.now):
                    self.app.save(watermark)
                return
            except IntegrityError:
                watermark = self._watermark()  # another run moved it: move on from theirs

    def _deposits(self) -> None:
        self.svc.catch_up()
        self.summary.deposits_lapsed_count = deposits.lapse_overdue(self.app, self.conn, self.now)
        self.svc.catch_up()
        self.summary.deposit_required_set_count = deposits.require_front(
            self.app, self.conn, self.now, self.settings.deposit_rank_threshold,
            self.svc.deposit_grace)

    def _decide_open_slots(self, fresh: list[OpenedSlot]) -> None:
        """Claims every slot still without an outcome, oldest first, and decides each."""
        known = {slot.id: slot for slot in fresh}
        ids = [row[0] for row in self.conn.execute(UNDECIDED_SQL).fetchall()]
        if not ids:
            return
        decider = SlotDecider(
            self.app, self.booker, self.conn, QueueIndex.load(self.conn), load_presets(self.conn),
            self.run_id,
            self.now, self.day, self.settings.timezone, self.settings.opportunity_rank_threshold)
        for start in range(0, len(ids), MAX_PER_SAVE):
            slots = [known.get(i) or self._load_slot(i) for i in ids[start:start + MAX_PER_SAVE]]
            for slot in self._claim(slots, decider):
                decider.decide(slot)
                self.summary.slots_decided_count += 1
        decider.flush()
        tally = decider.tally
        self.summary.booking_attempt_count = tally.attempts
        self.summary.booking_success_count = tally.successes
        self.summary.opportunity_passed_sent_count = tally.nudges
        self.summary.errors += tally.errors

    def _claim(self, slots: list[OpenedSlot], decider: SlotDecider) -> list[OpenedSlot]:
        """Takes the lock of each slot that is free (one transaction for the lot; slot by
        slot when another run raced us), ending attempts whose run died on the way."""
        ttl = timedelta(seconds=self.settings.lock_ttl_seconds)
        claimed = []
        for slot in slots:
            try:
                if slot.attempt is not None and slot.is_stalled(self.now):
                    decider.interrupt(slot)
                    self.summary.interrupted_attempt_count += 1
                    continue
                slot.claim(self.run_id, self.now, ttl)
                claimed.append(slot)
            except (DomainError, IntegrityError):
                continue  # decided, or locked by a live run
        try:
            self.app.save(*claimed)
            return claimed
        except IntegrityError:
            return [s for s in (self._claim_one(s.id, ttl) for s in claimed) if s is not None]

    def _claim_one(self, slot_id: UUID, ttl: timedelta) -> OpenedSlot | None:
        slot = self._load_slot(slot_id)
        try:
            slot.claim(self.run_id, self.now, ttl)
            self.app.save(slot)
        except (DomainError, IntegrityError):
            return None
        return slot

    def _load_slot(self, slot_id: UUID) -> OpenedSlot:
        return load_slot(self.app, slot_id)


def dispatch_once(svc: Service, booker: Booker, now: datetime | None = None,
                  conn: psycopg.Connection[Any] | None = None) -> Summary:
    """Runs one dispatcher tick and logs its one-line summary."""
    if conn is None:
        with svc.connect(autocommit=True) as own:
            return dispatch_once(svc, booker, now, own)
    timeout = str(int(svc.settings.run_timeout_seconds * 1000))
    conn.execute("SELECT set_config('statement_timeout', %s, false)", (timeout,))
    moment = now or conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    summary = DispatchRun(svc, booker, conn, moment).run()
    log.info("dispatch run", extra={"fields": summary.as_dict()})
    return summary
