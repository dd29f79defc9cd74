"""Offer races on a real database (spec service §4.2, §4.3): separate applications, each with
its own connections, answer and fire timers at the same moment from threads; each race ends
with exactly one outcome and the losers are told what happened (the API's 409)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
from api_support import make_api
from dispatch_world import World, next_weekday

from slotqueue.aggregates.offer import Offer
from slotqueue.aggregates.offer_tokens import derive
from slotqueue.application.offers import LinkReplaced, OfferClosed
from slotqueue.bootstrap import Service, build
from slotqueue.settings import Settings

pytestmark = pytest.mark.integration
MINUTE = timedelta(minutes=1)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, booking_mode="offer", booker="sim",
                    priority_window="on", priority_window_minutes=10, broadcast_size=5)


@pytest.fixture
def world(service: Service, db: psycopg.Connection[Any]) -> World:
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


@pytest.fixture
def others(settings: Settings, database_url: str) -> Iterator[Callable[[int], list[Service]]]:
    """Applications of their own (as separate processes would have), closed afterwards."""
    made: list[Service] = []

    def make(count: int) -> list[Service]:
        made.extend(build(settings, database_url) for _ in range(count))
        return made[-count:]

    yield make
    for svc in made:
        svc.close()


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Runs the calls from threads released together; each one's result or exception."""
    go, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(n: int) -> None:
        go.wait()
        try:
            results[n] = calls[n]()
        except Exception as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def priority_offer(world: World, customers: int) -> tuple[list[Any], Offer]:
    kapolei = world.location(f"Kapolei {world.count}")
    joined = [world.customer([kapolei]) for _ in range(customers)]
    world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "8:30")
    world.db.execute("UPDATE slot_states SET last_seen = %s", (world.now,))
    assert world.dispatch(now=world.now).offers_made_count == 1
    offer_id = world.svc.app.entry(joined[0].queue_entry_id).offer_id
    return joined, world.svc.app.offer(offer_id)


def offer_events(world: World, offer_id: UUID) -> list[str]:
    return [type(e).__name__ for e in world.svc.app.events.get(offer_id)
            if type(e).__name__ not in ("TimerSet", "TimerCanceled", "TimerFired")]


def test_accept_racing_the_expiry_at_the_deadline_ends_one_way(world, others):
    seen = set()
    for _ in range(3):
        _, offer = priority_offer(world, 1)
        deadline = offer.expires_at
        mine, theirs = others(2)
        accepted, fired = at_once(
            lambda o=offer, s=mine, d=deadline: s.app.accept_offer(
                o.id, "link", d, world.booker("sim")),
            lambda o=offer, s=theirs, d=deadline: s.app.fire_timer(
                o.id, "expiry", d + timedelta(microseconds=1)))
        ended = world.svc.app.offer(offer.id)
        if isinstance(accepted, OfferClosed):
            assert (fired, ended.status, str(accepted)) == ("fired", "expired",
                                                             "this offer expired")
            assert "Accepted" not in offer_events(world, offer.id)
        else:
            assert (fired, ended.status, accepted.status) == ("moot", "booked", "booked")
            assert "Expired" not in offer_events(world, offer.id)
        seen.add(ended.status)
        assert world.svc.app.entry(offer.entry_id).offer_id is None
    assert seen <= {"expired", "booked"}


def test_five_broadcast_accepts_at_once_over_http_one_books_four_are_told_it_is_taken(
        world, others):
    joined, priority = priority_offer(world, 6)
    world.svc.fire_due_timers(world.now + 10 * MINUTE + timedelta(seconds=1))
    world.db.execute("UPDATE slot_states SET last_seen = %s", (world.now + 11 * MINUTE,))
    assert world.dispatch(now=world.now + 11 * MINUTE).offers_made_count == 5
    offers = [world.svc.app.offer(world.svc.app.entry(j.queue_entry_id).offer_id)
              for j in joined[1:]]
    assert {o.policy for o in offers} == {"broadcast"}
    apis = [make_api(svc) for svc in others(5)]
    secret = world.svc.app.link_secret()
    try:
        answers = at_once(*[
            lambda a=api, o=offer: a.client.post(
                f"/v1/offers/{o.id}/accept?token={derive(secret, o.id, 1)}",
                headers={"Accept": "application/json"})
            for api, offer in zip(apis, offers, strict=True)])
    finally:
        for api in apis:
            api.deps.reads.close()
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409, 409, 409, 409], [a.text for a in answers]
    [won] = [a.json() for a in answers if a.status_code == 200]
    assert won["status"] == "booked"
    for lost in (a.json() for a in answers if a.status_code == 409):
        assert lost["detail"] == "this opening was taken by someone who answered first"
    statuses = sorted(world.svc.app.offer(o.id).status for o in [priority, *offers])
    assert statuses == ["booked"] + ["withdrawn"] * 5
    world.svc.catch_up()
    assert world.rows("SELECT count(*) FROM booking_attempts") == [(1,)]
    told = world.rows("SELECT count(*) FROM message_log WHERE meta_json->>'what' = "
                      "'offer_withdrawn'")
    assert told == [(5,)]  # the priority customer too


def test_a_decline_racing_the_reminder_ends_one_way(world, others):
    seen = set()
    for _ in range(3):
        _joined, offer = priority_offer(world, 1)
        due = offer.expires_at - 10 * MINUTE + timedelta(seconds=1)
        old = derive(world.svc.app.link_secret(), offer.id, 1)
        mine, theirs = others(2)
        declined, fired = at_once(
            lambda o=offer, s=mine, t=old, d=due: s.app.decline_offer(o.id, "link", d, token=t),
            lambda o=offer, s=theirs, d=due: s.app.fire_timer(o.id, "reminder", d))
        ended = world.svc.app.offer(offer.id)
        world.svc.catch_up()
        reminders = world.rows("SELECT count(*) FROM message_log WHERE dedupe_key = %s",
                               f"offer:{offer.id}:2")
        if isinstance(declined, LinkReplaced):  # the reminder first: the old link is gone
            assert (fired, ended.status, ended.round, reminders) == ("fired", "pending", 2,
                                                                    [(1,)])
        else:
            assert (fired, ended.status, ended.round, reminders) == ("moot", "declined", 1,
                                                                    [(0,)])
        seen.add(ended.status)
        world.svc.app.withdraw_offer(offer.id, "slot_gone", due)  # clear for the next round
    assert seen <= {"pending", "declined"}
