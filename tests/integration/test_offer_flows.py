"""Offers over time on a real database with a fake clock (spec service §4.1 to §4.3): the reminder
goes once with a new token, expiry cools the customer down until a timer reactivates them,
the opening passes to the next eligible customer while it is listed and is withdrawn when it
is not; with SLOTQUEUE_PRIORITY_WINDOW=on the first customer has the opening alone, then it is
broadcast and the first acceptance wins while the others are withdrawn and told. Nothing
sleeps: `fire_due_timers(now)` and `dispatch(now=)` move the clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from dispatch_world import World, next_weekday

from slotqueue.aggregates.offer import Offer
from slotqueue.aggregates.offer_tokens import derive, matches
from slotqueue.application.offers import LinkReplaced, OfferClosed
from slotqueue.settings import Settings

pytestmark = pytest.mark.integration
MINUTE = timedelta(minutes=1)


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    changes = getattr(request, "param", {})
    return Settings(database_url=database_url, booking_mode="offer", booker="sim", **changes)


WINDOW = pytest.mark.parametrize("settings", [{
    "priority_window": "on", "priority_window_minutes": 10, "broadcast_size": 3}],
    indirect=True, ids=["window"])


@pytest.fixture
def world(service: Any, db: Any) -> World:
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


def queue(world: World, customers: int) -> tuple[UUID, list[Any]]:
    kapolei = world.location("Kapolei")
    return kapolei, [world.customer([kapolei]) for _ in range(customers)]


def open_at(world: World, location: UUID) -> str:
    return world.open_slot(location, next_weekday(world.today, 2, weeks=1), "8:30")


def dispatch_at(world: World, at: datetime) -> Any:
    """A dispatcher run at `at`, the monitor still seeing every listed slot then (a slot
    last seen longer than the lookback ago is no longer listed)."""
    world.db.execute("UPDATE slot_states SET last_seen = %s", (at,))
    return world.dispatch(now=at)


def held(world: World, joined: Any) -> Offer | None:
    offer_id = world.svc.app.entry(joined.queue_entry_id).offer_id
    return None if offer_id is None else world.svc.app.offer(offer_id)


def texts(world: World, customer_id: UUID) -> list[str]:
    world.svc.catch_up()
    return [k for (k,) in world.rows("SELECT dedupe_key FROM message_log WHERE customer_id = %s "
                                     "ORDER BY sent_at, dedupe_key", customer_id)]


def timer_status(world: World, offer_id: UUID) -> dict[str, str]:
    world.svc.catch_up()
    return dict(world.rows("SELECT name, status FROM slotqueue.timers WHERE aggregate_id = %s",
                           offer_id))


def test_the_reminder_goes_once_with_a_new_token_even_when_the_timer_job_runs_twice(world):
    kapolei, [first] = queue(world, 1)
    open_at(world, kapolei)
    dispatch_at(world, world.now)
    offer = held(world, first)
    assert offer is not None
    assert offer.expires_at == world.now + 30 * MINUTE
    at = world.now + 21 * MINUTE  # the reminder is due at 20 minutes
    assert world.svc.fire_due_timers(at) == {("offer_reminder", "fired"): 1}
    assert world.svc.fire_due_timers(at) == {}  # the job again: nothing left to fire
    assert world.svc.app.fire_timer(offer.id, "reminder", at) == "moot"
    offer = world.svc.app.offer(offer.id)
    assert offer.round == 2
    secret = world.svc.app.link_secret()
    assert matches(derive(secret, offer.id, 2), offer.token_hash)
    with pytest.raises(LinkReplaced):
        world.svc.app.offer_by_token(offer.id, derive(secret, offer.id, 1))
    assert [k for k in texts(world, first.customer_id) if k.startswith("offer:")] == [
        f"offer:{offer.id}:1", f"offer:{offer.id}:2"]
    assert timer_status(world, offer.id) == {"reminder": "fired", "expiry": "set"}


def test_an_expiry_cools_down_and_passes_the_opening_on_and_the_cooldown_ends(world):
    kapolei, [first, second] = queue(world, 2)
    open_at(world, kapolei)
    dispatch_at(world, world.now)
    offer = held(world, first)
    assert offer is not None
    assert held(world, second) is None
    late = offer.expires_at + timedelta(seconds=1)
    fired = world.svc.fire_due_timers(late)
    assert fired == {("offer_reminder", "fired"): 1, ("offer_expiry", "fired"): 1}
    assert world.svc.app.offer(offer.id).status == "expired"
    entry = world.svc.app.entry(first.queue_entry_id)
    assert (entry.offer_id, entry.cooldown_until) == (None, late + 60 * MINUTE)
    assert f"status:{first.queue_entry_id}:offer_expired:{offer.id}" in texts(
        world, first.customer_id)
    with pytest.raises(OfferClosed, match="expired"):
        world.svc.app.accept_offer(offer.id, "link", late, world.booker("sim"))
    # the opening, still listed, goes to the next customer; the first is not offered it again
    assert dispatch_at(world, late + MINUTE).offers_made_count == 1
    second_offer = held(world, second)
    assert second_offer is not None
    assert second_offer.slot_id == offer.slot_id
    # the cooldown ends by its timer: the first customer may be offered openings again
    assert world.svc.fire_due_timers(late + 59 * MINUTE).get(("offer_cooldown", "fired")) is None
    fired = world.svc.fire_due_timers(late + 61 * MINUTE)
    assert fired[("offer_cooldown", "fired")] == 1
    assert world.svc.app.entry(first.queue_entry_id).cooldown_until is None


def test_a_customer_cooling_down_is_passed_by_for_a_new_opening_until_reactivated(world):
    kapolei, [first, second] = queue(world, 2)
    open_at(world, kapolei)
    dispatch_at(world, world.now)
    offer = held(world, first)
    world.svc.app.decline_offer(offer.id, "link", world.now + MINUTE)
    dispatch_at(world, world.now + 2 * MINUTE)  # the opening passes to the second
    assert held(world, second) is not None
    world.open_slot(kapolei, next_weekday(world.today, 3, weeks=1), "8:30")
    assert dispatch_at(world, world.now + 3 * MINUTE).offers_made_count == 0  # first cools
    world.svc.fire_due_timers(world.now + 62 * MINUTE)
    world.open_slot(kapolei, next_weekday(world.today, 4, weeks=1), "8:30")
    assert dispatch_at(world, world.now + 63 * MINUTE).offers_made_count == 1
    again = held(world, first)
    assert again is not None
    assert again.slot_id != offer.slot_id


def test_an_unlisted_opening_withdraws_its_offer_and_the_customer_is_told(world):
    kapolei, [first] = queue(world, 1)
    key = open_at(world, kapolei)
    dispatch_at(world, world.now)
    offer = held(world, first)
    assert offer is not None
    location, day, time_text = key.split("|")
    assert dispatch_at(world, world.now + 4 * MINUTE).offers_withdrawn_count == 0  # listed
    world.db.execute("DELETE FROM slot_states WHERE location_id = %s AND date = %s "
                     "AND time = %s", (location, day, time_text))
    world.dispatch(now=world.now + 8 * MINUTE)  # unseen for longer than the lookback (3)
    offer = world.svc.app.offer(offer.id)
    assert (offer.status, offer.reason) == ("withdrawn", "slot_gone")
    entry = world.svc.app.entry(first.queue_entry_id)
    assert (entry.offer_id, entry.cooldown_until, entry.status) == (None, None, "active")
    assert any("offer_withdrawn" in k for k in texts(world, first.customer_id))
    assert timer_status(world, offer.id) == {"reminder": "canceled", "expiry": "canceled"}
    world.svc.catch_up()
    assert world.rows("SELECT outcome FROM slotqueue.opened_slots") == [("gone",)]


# --- the priority window, then a broadcast (spec service §4.3) ------------------------------

def decided_policies(world: World, slot_id: UUID) -> list[tuple[str, str | None]]:
    return [(type(e).__name__, getattr(e, "policy", None))
            for e in world.svc.app.events.get(slot_id)
            if type(e).__name__ in ("Decided", "WindowEnded", "OfferTaken")]


@WINDOW
def test_priority_window_then_broadcast_first_accept_wins_the_others_are_told(
        world: World) -> None:
    kapolei, joined = queue(world, 5)
    open_at(world, kapolei)
    now: datetime = world.now
    assert dispatch_at(world, now).offers_made_count == 1
    priority = held(world, joined[0])
    assert priority is not None
    assert priority.policy == "priority"
    assert timer_status(world, priority.id) == {"reminder": "set", "expiry": "set",
                                                "priority_window": "set"}
    assert all(held(world, j) is None for j in joined[1:])
    assert dispatch_at(world, now + 5 * MINUTE).offers_made_count == 0  # the window is theirs
    fired = world.svc.fire_due_timers(now + 10 * MINUTE + timedelta(seconds=1))
    assert fired == {("offer_priority_window", "fired"): 1}
    assert dispatch_at(world, now + 11 * MINUTE).offers_made_count == 3  # broadcast size
    broadcast = [held(world, j) for j in joined[1:4]]
    assert all(o is not None and o.policy == "broadcast" for o in broadcast)
    assert held(world, joined[4]) is None
    assert world.svc.app.offer(priority.id).pending  # the priority offer stays open
    winner = broadcast[1]
    assert winner is not None
    answer = world.svc.app.accept_offer(winner.id, "link", now + 12 * MINUTE,
                                        world.booker("sim"))
    assert answer.status == "booked"
    losers = [priority, broadcast[0], broadcast[2]]
    for loser in losers:
        assert loser is not None
        ended = world.svc.app.offer(loser.id)
        assert (ended.status, ended.reason) == ("withdrawn", "taken")
        with pytest.raises(OfferClosed, match="taken by someone who answered first"):
            world.svc.app.accept_offer(loser.id, "link", now + 13 * MINUTE,
                                       world.booker("sim"))
        assert any(k.endswith(f":offer_withdrawn:{loser.id}") or
                   ("offer_withdrawn" in k and str(loser.id) in k)
                   for k in texts(world, loser.customer_id)), texts(world, loser.customer_id)
    assert decided_policies(world, priority.slot_id) == [
        ("Decided", "priority"), ("WindowEnded", None), ("Decided", "broadcast"),
        ("OfferTaken", None)]
