"""The timer keeper's scheduling, without a database: a job that has to run again (its firing
answered `early`, or failed) runs again even when the thread that ran it is slow to finish; a
keeper that starts behind the event log does not fire again what the log shows ended."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from slotqueue.aggregates.timers import Timed
from slotqueue.processes.timer_keeper import TimerKeeper
from slotqueue.projections.timer_queries import Due


class QuietFeed:
    """An event log: these events after position 0, then nothing new."""

    def __init__(self, events: list[Any] | None = None) -> None:
        self.wake = threading.Event()
        self.events = list(enumerate(events or [], start=1))

    def start(self) -> QuietFeed:
        return self

    def stop(self) -> None:
        pass

    def changed(self) -> bool:
        return True

    def read(self, after: int, stop: int | None = None) -> list[Any]:
        return [(n, e) for n, e in self.events if n > after]


def test_a_firing_that_answers_early_is_tried_again_though_its_thread_is_slow_to_finish():
    """The database's clock is behind this host's: the first firing answers `early` and the
    job is scheduled 50 ms later. When the thread that ran it is held up for longer than that
    before it finishes (a busy machine), that next run must not be skipped as a second
    instance of a running job, which would drop the timer until the keeper restarts."""
    outcomes = iter(["early", "fired"])
    fired = threading.Event()
    calls: list[str] = []

    def fire(aggregate_id: Any, name: str) -> str:
        calls.append(outcome := next(outcomes, "moot"))
        if outcome == "fired":
            fired.set()
        return outcome

    due = Due(uuid4(), "deposit_lapse", "deposit_lapse",
              datetime.now(UTC) + timedelta(milliseconds=100))
    keeper = TimerKeeper(fire, QuietFeed(), lambda: [due], lambda: 0)  # type: ignore[arg-type]
    schedule = keeper.schedule

    def held_up_after_scheduling(*args: Any) -> None:
        schedule(*args)
        if calls:  # the job's own rescheduling, inside the running job
            time.sleep(0.4)

    keeper.schedule = held_up_after_scheduling  # type: ignore[method-assign]
    keeper.start()
    try:
        assert fired.wait(3), f"the timer was not fired again after {calls}"
    finally:
        keeper.stop()
    assert calls == ["early", "fired"]


class Held(Timed):
    """An aggregate with a timer, for its real events."""


def test_a_keeper_started_behind_the_log_does_not_fire_again_what_the_log_shows_ended():
    """After a restart the projection (so the keeper's start) may be behind the event log: it
    still shows timers set that have fired since, and the log from its position sets them
    and then fires or cancels them. None of those is due any more: the keeper fires only
    the one still set, and loads no aggregate for the others."""
    past = datetime.now(UTC) - timedelta(seconds=5)
    fired, canceled, open_ = Held(), Held(), Held()
    for held in (fired, canceled, open_):
        held.set_timer("t", "k", past, past)
    fired.fire_timer("t", past)
    canceled.cancel_timer("t", "paid", past)
    log = [*fired.collect_events(), *canceled.collect_events(), *open_.collect_events()]
    projected = [Due(fired.id, "t", "k", past)]  # the projection had only seen it set
    asked: list[Any] = []
    done = threading.Event()

    def fire(aggregate_id: Any, name: str) -> str:
        asked.append(aggregate_id)
        if aggregate_id == open_.id:
            done.set()
        return "fired" if aggregate_id == open_.id else "moot"

    keeper = TimerKeeper(fire, QuietFeed(log), lambda: projected, lambda: 0)  # type: ignore[arg-type]
    keeper.start()
    try:
        assert done.wait(3)
        time.sleep(0.3)  # anything else scheduled would have run by now
    finally:
        keeper.stop()
    assert asked == [open_.id]
