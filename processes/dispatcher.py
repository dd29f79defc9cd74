"""One dispatcher tick (spec §4.5): openings and closings → deposits → a decision for every
opening, soonest slot first → attempts whose run died are ended.

The dispatcher decides from its own view, loaded once and advanced from the event store's
notifications; a tick that finds nothing costs one indexed query on `slot_states` and no log
line. Safe when ticks of several processes overlap or die: every write goes through an
aggregate's version, and the intent to book is recorded before the booking adapter is called.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from slotqueue.adapters.booking import Booker
from slotqueue.adapters.monitor import MonitorReader
from slotqueue.aggregates.matcher import Presets
from slotqueue.processes import deposits
from slotqueue.processes.offer_decision import OfferPolicy
from slotqueue.processes.offer_sweep import withdraw_moot_offers
from slotqueue.processes.retired_locations import RetiredLocations
from slotqueue.processes.slot_decision import Rules, SlotDecider
from slotqueue.processes.slot_watcher import SlotWatcher
from slotqueue.processes.writer import Writer

log = logging.getLogger("slotqueue.dispatcher")


@dataclass(frozen=True)
class DispatchPolicy:
    """The settings a tick decides with (spec §4.5 constants)."""

    deposit_rank: int = 10
    opportunity_rank: int = 20
    deposit_grace: timedelta = timedelta(minutes=120)
    lock_ttl: timedelta = timedelta(seconds=120)
    lookback: timedelta = timedelta(minutes=3)
    margin: timedelta = timedelta(minutes=10)
    timezone: str = "Pacific/Honolulu"
    offers: OfferPolicy = field(default_factory=OfferPolicy)  # service §4.2, §4.3


@dataclass
class Summary:
    dispatcher_run_id: UUID
    old_watermark: datetime | None = None
    new_watermark: datetime | None = None
    opened_slots_count: int = 0
    closed_slots_count: int = 0
    locations_retired_count: int = 0
    deposits_lapsed_count: int = 0
    deposit_required_set_count: int = 0
    slots_decided_count: int = 0
    booking_attempt_count: int = 0
    booking_success_count: int = 0
    interrupted_attempt_count: int = 0
    opportunity_passed_sent_count: int = 0
    offers_made_count: int = 0
    offers_withdrawn_count: int = 0  # their slot went away, or their customer left
    errors: list[str] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=dict)  # openings by recorded outcome
    seconds: float = 0.0  # how long the run took

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def eventful(self) -> bool:
        """Whether the tick recorded anything worth a log line."""
        return any((self.opened_slots_count, self.closed_slots_count,
                    self.locations_retired_count,
                    self.deposits_lapsed_count, self.deposit_required_set_count,
                    self.slots_decided_count, self.interrupted_attempt_count,
                    self.offers_withdrawn_count, self.errors))


class Dispatcher:
    def __init__(self, writer: Writer, monitor: MonitorReader, booker: Booker,
                 presets: Callable[[], Presets], policy: DispatchPolicy) -> None:
        self.writer, self.view, self.monitor, self.booker = writer, writer.view, monitor, booker
        self.presets, self.policy = presets, policy
        self.watcher = SlotWatcher(writer, policy.lookback, policy.margin)
        self.retired = RetiredLocations(writer, monitor.locations, monitor.location_name)
        self._last_now: datetime | None = None

    def close(self) -> None:
        self.writer.feed.stop()

    def tick(self, now: datetime | None = None) -> Summary:
        """One run at `now`: the database's clock, read with the monitor's rows, unless a
        caller (a test) moves time itself; then the rows it writes follow its clock."""
        started = time.perf_counter()
        summary = Summary(dispatcher_run_id=uuid4())
        summary.old_watermark = self.view.scan_position
        since = self.watcher.since(self._last_now)
        poll = self.monitor.poll(since)
        self._last_now = poll.now
        now = now or poll.now
        self.writer.refresh_if_changed()
        watched = self.watcher.observe(poll.sightings, poll.read_up_to, since, now,
                                       summary.dispatcher_run_id)
        summary.opened_slots_count, summary.closed_slots_count = (
            len(watched.opened), watched.closed)
        summary.locations_retired_count = self.retired.check(poll.now)
        self._deposits(summary, now)
        summary.offers_withdrawn_count = withdraw_moot_offers(self.writer, now)
        self._decide(summary, now)
        summary.new_watermark = self.view.scan_position
        self.view.prune()
        summary.seconds = round(time.perf_counter() - started, 6)
        if summary.eventful:
            log.info("dispatch run", extra={"fields": summary.as_dict()})
        return summary

    def _deposits(self, summary: Summary, now: datetime) -> None:
        summary.deposit_required_set_count = deposits.require_front(
            self.writer, now, self.policy.deposit_rank, self.policy.deposit_grace)

    def _decide(self, summary: Summary, now: datetime) -> None:
        undecided = [s for s in self.view.undecided_slots() if s.outcome is None]
        stalled = [s for s in self.view.attempting_slots()
                   if s.claimed_until is not None and now > s.claimed_until]
        if not undecided and not stalled:
            return
        rules = Rules(self.presets(), self.policy.timezone, self.policy.opportunity_rank,
                      self.policy.lock_ttl, self.monitor.location_name, self.policy.offers)
        decider = SlotDecider(self.writer, self.booker, rules, summary.dispatcher_run_id, now)
        for state in stalled:
            decider.interrupt(state)
        # Soonest slot first (slot time, then location name): a customer who matches several
        # openings of one run gets the earliest.
        undecided.sort(key=lambda s: (s.slot_utc, self.monitor.location_name(s.location_id),
                                      s.key))
        for state in undecided:
            decider.decide(state)
        decider.flush()
        tally = decider.tally
        summary.slots_decided_count = len(tally.decided)
        summary.booking_attempt_count = tally.attempts
        summary.booking_success_count = tally.successes
        summary.interrupted_attempt_count = tally.interrupted
        summary.opportunity_passed_sent_count = len(tally.nudged)
        summary.offers_made_count = tally.offers
        summary.decisions = dict(tally.outcomes)
        summary.errors += tally.conflicts
