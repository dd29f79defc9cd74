"""The fallback broadcast survives a restart (spec service §4.1, §4.3, issue 11: the peer
pattern to beat). A waitlist that keeps the end of a priority window only in process memory
(`setTimeout`) loses it when the process goes: the priority customer keeps the slot to
themselves until their offer expires and nobody else hears of it. Here the window's end is a
recorded timer: the keeper that knew of it stops before it is due, a new keeper started after
it is due fires it, and the next dispatcher run broadcasts the opening.

Real time, as the keeper runs on the clock: the window is a fraction of a minute."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from dispatch_world import World, next_weekday
from test_timers import keepers, wait_for

from slotqueue.bootstrap import Service
from slotqueue.processes.timer_keeper import job_id
from slotqueue.settings import Settings

__all__ = ["keepers"]  # test_timers' fixture: keepers started and stopped with the test
pytestmark = pytest.mark.integration
WINDOW_MINUTES = 0.03  # 1.8 s


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, booking_mode="offer", booker="sim",
                    priority_window="on", priority_window_minutes=WINDOW_MINUTES,
                    broadcast_size=2)


def window_timer(svc: Service, db: psycopg.Connection[Any], offer_id: Any) -> str:
    svc.catch_up()
    row = db.execute("SELECT status FROM slotqueue.timers WHERE aggregate_id = %s AND name = "
                     "'priority_window'", (offer_id,)).fetchone()
    return str(row[0]) if row else "none"


def test_a_restart_between_setting_and_firing_the_window_does_not_lose_the_broadcast(
        service: Service, db: psycopg.Connection[Any], keepers: Callable[[], Any]) -> None:
    world = World(service, db, db.execute("SELECT now()").fetchone()[0])
    kapolei = world.location("Kapolei")
    joined = [world.customer([kapolei]) for _ in range(3)]
    world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "8:30")
    first = keepers()
    assert world.dispatch().offers_made_count == 1
    offer = service.app.offer(service.app.entry(joined[0].queue_entry_id).offer_id)
    due = offer.timers["priority_window"]["due_at"]
    wait_for(lambda: first.part.scheduler.get_job(job_id(offer.id, "priority_window")))
    first.stop()  # the process goes before the window ends
    wait_for(lambda: service.clock.now() > due + timedelta(milliseconds=300))
    assert window_timer(service, db, offer.id) == "set"  # nobody fired it meanwhile
    assert all(service.app.entry(j.queue_entry_id).offer_id is None for j in joined[1:])
    second = keepers()  # the restart
    wait_for(lambda: window_timer(service, db, offer.id) == "fired", seconds=5)
    assert second.part.counts == {"fired": 1}
    summary = world.dispatch()  # (its own firing of due timers finds none left)
    assert summary.offers_made_count == 2  # the broadcast, to the next two
    for other in joined[1:]:
        got = service.app.offer(service.app.entry(other.queue_entry_id).offer_id)
        assert got.policy == "broadcast"
    assert service.app.offer(offer.id).pending  # and the priority offer stays open too
