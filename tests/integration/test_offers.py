"""Offers on a real database with a fake clock (spec service §4.2, §4.3): the winner of an
opening in offer mode gets an offer instead of a booking; accepting books it through the
booking adapter, declining or letting it expire cools the customer down and passes the opening
on; the reminder goes once; the priority window ends in a broadcast. Nothing sleeps: time
moves by `fire_due_timers(now)` and `dispatch(now=)`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from dispatch_world import World, next_weekday

from slotqueue.aggregates.offer import Offer
from slotqueue.aggregates.offer_tokens import LINK_PLACEHOLDER, derive, matches
from slotqueue.application.offers import OfferClosed
from slotqueue.settings import Settings

pytestmark = pytest.mark.integration
MINUTE = timedelta(minutes=1)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, booking_mode="offer", booker="sim")


@pytest.fixture
def world(service, db) -> World:
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


def offers_of(world: World, slot_key: str | None = None) -> list[tuple[Any, ...]]:
    world.svc.catch_up()
    sql = ("SELECT o.customer_id, o.policy, o.status, o.round FROM slotqueue.offers o "
           "ORDER BY o.made_at, o.customer_id")
    return world.rows(sql)


def opening(world: World) -> tuple[UUID, str]:
    kapolei = world.location("Kapolei")
    return kapolei, world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "8:30")


def the_offer(world: World, customer_id: UUID) -> Offer:
    [(offer_id,)] = world.rows("SELECT id FROM slotqueue.offers WHERE customer_id = %s "
                               "ORDER BY made_at DESC LIMIT 1", customer_id)
    return world.svc.app.offer(offer_id)


def test_the_winner_is_offered_the_slot_and_accepting_books_it(world):
    kapolei = world.location("Kapolei")
    first, second = world.customer([kapolei]), world.customer([kapolei])
    world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "8:30")
    summary = world.dispatch()
    assert (summary.offers_made_count, summary.booking_attempt_count) == (1, 0)
    assert offers_of(world) == [(first.customer_id, "offer", "pending", 1)]
    assert world.rows("SELECT outcome FROM slotqueue.opened_slots") == [("offered",)]
    [(text,)] = world.rows("SELECT meta_json->>'text' FROM message_log "
                           "WHERE message_type = 'offer'")
    assert LINK_PLACEHOLDER in text
    assert "token" not in text
    offer = the_offer(world, first.customer_id)
    assert matches(derive(world.svc.app.link_secret(), offer.id, 1), offer.token_hash)
    assert world.svc.app.entry(first.queue_entry_id).offer_id == offer.id
    assert world.dispatch().offers_made_count == 0  # one offer at a time: nobody else
    answer = world.svc.app.accept_offer(offer.id, "link", world.now + MINUTE,
                                        world.booker("sim"))
    assert (answer.status, answer.result.result) == ("booked", "success")
    assert world.svc.app.entry(first.queue_entry_id).status == "booked"
    world.svc.catch_up()
    assert world.rows("SELECT outcome FROM slotqueue.opened_slots") == [("booked",)]
    assert world.rows("SELECT result, customer_id FROM booking_attempts") == [
        ("success", first.customer_id)]
    keys = {k for (k,) in world.rows("SELECT dedupe_key FROM message_log")}
    assert f"booked:{first.queue_entry_id}" in keys
    assert world.svc.app.entry(second.queue_entry_id).offer_id is None
    with pytest.raises(OfferClosed, match="booked"):
        world.svc.app.accept_offer(offer.id, "link", world.now + MINUTE, world.booker("sim"))


def test_a_decline_cools_the_customer_down_and_the_slot_passes_to_the_next(world):
    kapolei = world.location("Kapolei")
    first, second = world.customer([kapolei]), world.customer([kapolei])
    world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "8:30")
    world.dispatch()
    offer = the_offer(world, first.customer_id)
    world.svc.app.decline_offer(offer.id, "sms", world.now + MINUTE)
    entry = world.svc.app.entry(first.queue_entry_id)
    assert entry.cooldown_until == world.now + MINUTE + timedelta(minutes=60)
    assert world.dispatch(now=world.now + 2 * MINUTE).offers_made_count == 1
    assert offers_of(world) == [(first.customer_id, "offer", "declined", 1),
                                (second.customer_id, "offer", "pending", 1)]
    # the cooldown's end reactivates the first: a timer, fired by the clock moving on
    fired = world.svc.fire_due_timers(world.now + timedelta(minutes=62))
    assert fired[("offer_cooldown", "fired")] == 1
    assert world.svc.app.entry(first.queue_entry_id).cooldown_until is None
