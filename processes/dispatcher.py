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

from slotqueue.aggregates.eligibility import is_weekend
from slotqueue.aggregates.errors import DomainError
from slotqueue.aggregates.opened_slot import ATTEMPTING, NO_ELIGIBLE, WEEKEND, OpenedSlot
from slotqueue.aggregates.watermark import Watermark
from slotqueue.bootstrap import SLOT_OPENED, Service
from slotqueue.processes import deposits, slot_watcher
from slotqueue.processes.booking import Booker, BookingResult
from slotqueue.processes.queue_index import QueueIndex, Ranked
from slotqueue.reference_data import load_presets

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
        self._index: QueueIndex | None = None

    def run(self) -> Summary:
        watermark = self._watermark()
        self.summary.old_watermark = watermark.position
        rows = slot_watcher.fetch_opened(
            self.conn, watermark.position,
            timedelta(minutes=self.settings.slot_safety_margin_minutes),
            self.settings.dispatch_lookback_minutes)
        self.summary.opened_slots_count = slot_watcher.record_opened(
            self.app, self.conn, rows, self.settings.timezone, self.run_id, self.now)
        self._deposits()
        self.svc.catch_up()
        self.presets = load_presets(self.conn)  # read every run: SQL edits apply at once
        for (slot_id,) in self.conn.execute(UNDECIDED_SQL).fetchall():
            self._slot(slot_id)
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

    @property
    def index(self) -> QueueIndex:
        if self._index is None:
            self._index = QueueIndex.load(self.conn)
        return self._index

    def _slot(self, slot_id: UUID) -> None:
        slot = self._load_slot(slot_id)
        try:
            if slot.attempt is not None and slot.is_stalled(self.now):
                self._interrupt(slot)
                return
            slot.claim(self.run_id, self.now, timedelta(seconds=self.settings.lock_ttl_seconds))
            self.app.save(slot)
        except (DomainError, IntegrityError):
            return  # decided, or locked by a live run
        self._decide(slot_id)
        self.summary.slots_decided_count += 1

    def _interrupt(self, slot: OpenedSlot) -> None:
        """A run died mid-attempt: end the attempt as failed and free the customer."""
        slot.interrupt(self.run_id, self.now)
        entry = self.app.entry(slot.winner["entry_id"]) if slot.winner else None
        if entry is not None:
            entry.release_attempt(slot.id, self.now, "fail")
        self.app.save(slot, *([entry] if entry is not None else []))
        self.summary.interrupted_attempt_count += 1

    def _decide(self, slot_id: UUID) -> None:
        presets = self.presets.to_json()
        for _ in range(50):
            slot = self._load_slot(slot_id)
            if slot.claimed_by != self.run_id or slot.outcome is not None:
                return  # our lock ran out and another run took the slot over
            if is_weekend(slot.slot_datetime, self.settings.timezone):
                slot.decide(self.run_id, self.now, WEEKEND, presets)
                self.app.save(slot)
                return
            choice = self.index.choose(slot.location_id, slot.slot_datetime, self.presets,
                                       self.now, self.settings.opportunity_rank_threshold)
            passed = [item.candidate.customer_id for item in choice.passed_over]
            if choice.winner is None:
                slot.decide(self.run_id, self.now, NO_ELIGIBLE, presets, passed_over=passed)
                self.app.save(slot)
                self._nudge(passed, slot.id)
                return
            if self._reserve(slot, choice.winner, presets, passed):
                self._nudge(passed, slot.id)
                self._attempt(slot, choice.winner.candidate.entry_id)
                return
        raise RuntimeError(f"no stable decision for slot {slot_id} after 50 tries")

    def _reserve(self, slot: OpenedSlot, winner: Ranked, presets: dict[str, Any],
                 passed: list[UUID]) -> bool:
        """Records the decision and the intent to book, and holds the customer's entry, in
        one transaction; False when the entry is no longer free (try the next customer)."""
        c = winner.candidate
        entry = self.app.entry(c.entry_id)
        try:
            entry.reserve_attempt(slot.id, self.now)
        except DomainError:
            self.index.remove(c.entry_id)  # booked, paused or busy elsewhere since the index
            return False
        slot.decide(self.run_id, self.now, ATTEMPTING, presets, passed_over=passed, winner={
            "entry_id": c.entry_id, "customer_id": c.customer_id, "rank": winner.rank,
            "joined_at": c.joined_at})
        slot.start_attempt(self.run_id, self.now, self.booker.name)
        try:
            self.app.save(slot, entry)  # the intent is on record before the adapter is called
        except IntegrityError:
            return False  # the entry changed under us: look again
        return True

    def _attempt(self, slot: OpenedSlot, entry_id: UUID) -> None:
        self.summary.booking_attempt_count += 1
        result = self.booker.book_slot(slot.winner["customer_id"] if slot.winner else None,
                                       slot.location_id, slot.slot_datetime)
        if self._record(slot.id, entry_id, result):
            self.index.remove(entry_id)
            self.summary.booking_success_count += 1

    def _record(self, slot_id: UUID, entry_id: UUID, result: BookingResult) -> bool:
        """Records the attempt's result with the entry's booking (or its release) in one
        transaction. On failure the customer stays active and the slot is not passed on."""
        name = self._location_name(self._load_slot(slot_id).location_id)
        for _ in range(8):
            slot, entry = self._load_slot(slot_id), self.app.entry(entry_id)
            slot.finish_attempt(self.run_id, self.now, result.result, result.error_code,
                                result.error_message)
            booked = False
            if result.result == "success":
                try:
                    entry.book(slot.location_id, slot.slot_datetime, self.now, name)
                    booked = True
                except DomainError as exc:  # booked at the DMV, but the entry moved on
                    self.summary.errors.append(f"{slot.slot_key}: booked, but {exc}")
            if not booked:
                entry.release_attempt(slot_id, self.now, result.result)
            try:
                self.app.save(slot, entry)
                return booked
            except IntegrityError:
                continue  # the entry changed under us (a pause, a payment): record again
        raise RuntimeError(f"could not record the booking result for slot {slot_id}")

    def _load_slot(self, slot_id: UUID) -> OpenedSlot:
        slot = self.app.repository.get(slot_id)
        assert isinstance(slot, OpenedSlot)
        return slot

    def _location_name(self, location_id: UUID) -> str:
        row = self.conn.execute("SELECT name FROM locations WHERE id = %s", (location_id,))
        found = row.fetchone()
        return str(found[0]) if found else ""

    def _nudge(self, customer_ids: list[UUID], slot_id: UUID) -> None:
        for customer_id in customer_ids:
            for _ in range(5):
                customer = self.app.customer(customer_id)
                if not customer.note_opportunity_passed(self.day, slot_id, self.now):
                    break
                try:
                    self.app.save(customer)
                    self.summary.opportunity_passed_sent_count += 1
                    break
                except IntegrityError:
                    continue


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
