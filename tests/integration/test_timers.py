"""Durable timers on a real database (spec service §4.1): the deposit's deadline is a timer set
with the request, cancelled by the payment, fired once by the lapse, whoever fires it and
however often; the timer keeper fires it in time and loses none across a restart, unlike a
timer kept only in a process's memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.aggregates.timers import Timed
from slotqueue.bootstrap import Service, timer_keeper
from slotqueue.settings import Settings

from dbsupport import at_once

pytestmark = pytest.mark.integration
GRACE = timedelta(minutes=120)


def timer_row(service: Service, db: psycopg.Connection[Any], entry: UUID) -> tuple[Any, ...]:
    service.catch_up()
    row = db.execute("SELECT name, kind, status, due_at, reason FROM slotqueue.timers "
                     "WHERE aggregate_id = %s", (entry,)).fetchone()
    assert row is not None
    return tuple(row)


def asked(service: Service, phone: str, grace: timedelta = GRACE) -> tuple[UUID, Any]:
    now = service.clock.now()
    entry = service.app.join(phone, None, now).queue_entry_id
    service.app.require_deposit(entry, now, grace)
    return entry, now


def timer_events(service: Service, entry: UUID) -> list[str]:
    return [type(e).__name__ for e in service.app.repository.event_store.get(entry)
            if isinstance(e, Timed.TimerSet | Timed.TimerFired | Timed.TimerCanceled)]


def test_the_deposit_deadline_is_a_timer_that_the_lapse_fires_once(
        service: Service, db: psycopg.Connection[Any]) -> None:
    entry, now = asked(service, "808-555-0301")
    assert timer_row(service, db, entry)[:4] == ("deposit_lapse", "deposit_lapse", "set",
                                                 now + GRACE)
    assert service.fire_due_timers(now + GRACE) == {}  # due, not yet past
    later = now + GRACE + timedelta(seconds=1)
    assert service.fire_due_timers(later) == {("deposit_lapse", "fired"): 1}
    assert service.app.entry(entry).status == "expired"
    assert service.app.fire_timer(entry, "deposit_lapse", later) == "moot"
    assert service.fire_due_timers(later + timedelta(hours=1)) == {}
    assert timer_row(service, db, entry)[2] == "fired"
    assert timer_events(service, entry) == ["TimerSet", "TimerFired"]


def test_a_payment_cancels_the_deadline_so_it_never_fires(
        service: Service, db: psycopg.Connection[Any]) -> None:
    entry, now = asked(service, "808-555-0302")
    service.app.record_payment(entry, "pi_1", now + timedelta(minutes=5))
    assert timer_row(service, db, entry)[2:] == ("canceled", now + GRACE, "deposit paid")
    assert service.fire_due_timers(now + GRACE * 2) == {}
    assert service.app.entry(entry).status == "active"


def test_eight_firings_at_once_record_one(settings: Settings, database_url: str,
                                          service: Service) -> None:
    entry, now = asked(service, "808-555-0303")
    later = now + GRACE + timedelta(seconds=1)
    go = threading.Barrier(8)

    def fire(svc: Service) -> str:
        go.wait()  # all eight load the entry and save at once
        return str(svc.app.fire_timer(entry, "deposit_lapse", later))

    outcomes = at_once(settings, database_url, 8, fire)
    assert sorted(outcomes) == ["fired"] + ["moot"] * 7
    assert timer_events(service, entry) == ["TimerSet", "TimerFired"]


def test_a_deposit_asked_before_timers_existed_lapses_by_its_own_deadline(
        service: Service, db: psycopg.Connection[Any]) -> None:
    now = service.clock.now()
    customer = service.app.join("808-555-0304", None, now).customer_id
    entry = QueueEntry.imported(
        UUID(int=304), customer_id=customer, sequence=9, at=now, status="deposit_required",
        deposit_status="required", deposit_required_at=now, deposit_paid_at=None,
        deposit_expires_at=now + timedelta(minutes=1), booked_at=None, booked_location_id=None,
        booked_slot_datetime=None)
    service.app.save(entry)
    assert service.fire_due_timers(now + timedelta(minutes=2)) == {("deposit_lapse", "fired"): 1}
    assert service.app.entry(entry.id).status == "expired"


class Stray(Timed):
    """An aggregate with a timer of a kind nothing fires: its firing is refused."""


def test_a_timer_whose_firing_is_refused_is_cancelled_and_reported_moot_not_fired(
        service: Service, db: psycopg.Connection[Any]) -> None:
    """The keeper's log and the metrics count what the application answers: a timer that
    was cancelled when it fell due (its effect refused) did not fire."""
    now = service.clock.now()
    stray = Stray()
    stray.set_timer("t", "no_such_kind", now - timedelta(seconds=1), now)
    service.app.save(stray)
    assert service.app.fire_timer(stray.id, "t", now) == "moot"
    assert timer_events(service, stray.id) == ["TimerSet", "TimerCanceled"]
    service.catch_up()
    row = db.execute("SELECT status, reason FROM slotqueue.timers WHERE aggregate_id = %s",
                     (stray.id,)).fetchone()
    assert row == ("canceled", "moot when it fell due: no effect for timers of kind "
                               "'no_such_kind'")


@pytest.fixture
def keepers(settings: Settings, database_url: str) -> Iterator[Callable[[], Any]]:
    running: list[Any] = []

    def start() -> Any:
        keeper = timer_keeper(settings, database_url).start()
        running.append(keeper)
        return keeper

    yield start
    for keeper in running:
        keeper.stop()


def wait_for(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.02)
    raise AssertionError(f"not within {seconds} s")


def test_the_keeper_fires_a_timer_when_it_falls_due(
        service: Service, keepers: Callable[[], Any]) -> None:
    keeper = keepers()
    entry, _ = asked(service, "808-555-0305", grace=timedelta(seconds=1))
    wait_for(lambda: service.app.entry(entry).status == "expired", seconds=5)
    assert keeper.part.counts == {"fired": 1}
    assert keeper.part.fired[0] < 1.0, "late by less than a second"


def test_a_timer_set_while_no_keeper_runs_fires_after_a_restart(
        service: Service, keepers: Callable[[], Any]) -> None:
    """The peer pattern to beat: a timer kept only in a process's memory (setTimeout) is gone
    when the process goes. Here the first keeper stops before the deadline; a new one, started
    after it, finds the timer in the events and fires it."""
    first = keepers()
    entry, _ = asked(service, "808-555-0306", grace=timedelta(seconds=1.5))
    wait_for(first.part.scheduler.get_jobs)  # the keeper knows of it
    first.stop()
    time.sleep(2.0)  # the deadline passes with nobody watching
    assert service.app.entry(entry).status == "deposit_required"
    keepers()
    wait_for(lambda: service.app.entry(entry).status == "expired", seconds=5)
    assert timer_events(service, entry) == ["TimerSet", "TimerFired"]


def test_two_keepers_fire_each_timer_once(
        service: Service, keepers: Callable[[], Any]) -> None:
    first, second = keepers(), keepers()
    entries = [asked(service, f"808-555-{n:04d}", grace=timedelta(seconds=1))[0]
               for n in range(310, 320)]
    wait_for(lambda: all(service.app.entry(e).status == "expired" for e in entries))
    time.sleep(0.3)
    assert first.part.counts.get("fired", 0) + second.part.counts.get("fired", 0) == 10
    assert all(timer_events(service, e) == ["TimerSet", "TimerFired"] for e in entries)
