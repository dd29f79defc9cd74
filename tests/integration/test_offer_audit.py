"""What auditors and customers see of offers (spec service §4.1 to §4.3, issue 11): `slotqueue
audit --slot` and `GET /v1/audit/slots/...` show each offer decision's policy (priority, then
the broadcast after the window ended), whom it offered the slot to and why others were passed
by, every offer with its timers set, fired or cancelled; `GET /v1/me` shows a pending offer
with its deadline and never its link or token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from api_support import bearer
from dispatch_world import World, next_weekday
from test_cli import ok_json, run
from test_offer_links import api, world

from slotqueue.aggregates.offer_tokens import derive
from slotqueue.projections.wording import local_time
from slotqueue.settings import Settings

__all__ = ["api", "world"]  # fixtures of test_offer_links: the world and the API on it
pytestmark = pytest.mark.integration
MINUTE = timedelta(minutes=1)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, booking_mode="offer", booker="sim",
                    priority_window="on", priority_window_minutes=10, broadcast_size=2)


def window_then_broadcast(world: World) -> tuple[Any, list[Any], Any]:
    """Four in line, the first at another location (passed by); the second has the window
    alone, then the next two get the broadcast."""
    kapolei, elsewhere = world.location("Kapolei"), world.location("Waipahu")
    joined = [world.customer([elsewhere])] + [world.customer([kapolei]) for _ in range(3)]
    day = next_weekday(world.today, 2, weeks=1)
    world.open_slot(kapolei, day, "8:30")
    assert world.dispatch(now=world.now).offers_made_count == 1
    world.svc.fire_due_timers(world.now + 10 * MINUTE + timedelta(seconds=1))
    world.db.execute("UPDATE slot_states SET last_seen = %s", (world.now + 11 * MINUTE,))
    assert world.dispatch(now=world.now + 11 * MINUTE).offers_made_count == 2
    world.svc.catch_up()
    return kapolei, joined, day


def test_the_slot_audit_shows_the_policies_the_offers_and_their_timers(world, api,
                                                                       database_url):
    kapolei, joined, day = window_then_broadcast(world)
    [slot] = ok_json(database_url, "audit", "--slot", f"Kapolei {day} 08:30")["slots"]
    steps = [(p["event"], p.get("policy")) for p in slot["policies"]]
    assert steps == [("decided", "priority"), ("priority_window_ended", None),
                     ("decided", "broadcast")]
    offered = [(c["queue_entry_id"], c["reason"]) for c in slot["policies"][0]["customers"]]
    assert offered == [(str(joined[1].queue_entry_id), "offered")]
    broadcast = [c["queue_entry_id"] for c in slot["policies"][2]["customers"]]
    assert broadcast == [str(j.queue_entry_id) for j in joined[2:]]
    assert [(a["queue_entry_id"], a["failed"]) for a in slot["ahead"]] == [
        (str(joined[0].queue_entry_id), "location"),  # why each ahead was passed by
        (str(joined[1].queue_entry_id), "offer_pending")]
    offers = {o["queue_entry_id"]: o for o in slot["offers"]}
    priority = offers[str(joined[1].queue_entry_id)]
    assert (priority["policy"], priority["status"]) == ("priority", "pending")
    assert {t["name"]: t["status"] for t in priority["timers"]} == {
        "expiry": "set", "reminder": "set", "priority_window": "fired"}
    assert {offers[str(j.queue_entry_id)]["policy"] for j in joined[2:]} == {"broadcast"}
    text = run(database_url, "audit", "--slot", f"Kapolei {day} 08:30").stdout
    for words in ("policy priority", "policy broadcast", "priority window of offer",
                  "timer priority_window", "fired", "(priority) to entry"):
        assert words in text, text
    secret = world.svc.app.link_secret()
    for offer in slot["offers"]:
        for round_ in (1, 2):
            assert derive(secret, offer["offer_id"], round_) not in text
    auditor = api.key("aud-1", "auditor")
    answer = api.client.get(f"/v1/audit/slots/{kapolei}/{day}/08:30", headers=bearer(auditor))
    assert answer.status_code == 200, answer.text
    [shown] = answer.json()["slots"]
    assert [p["event"] for p in shown["policies"]] == [p["event"] for p in slot["policies"]]
    assert sorted(o["offer_id"] for o in shown["offers"]) == sorted(
        o["offer_id"] for o in slot["offers"])


def test_me_shows_the_pending_offer_with_its_deadline_and_no_link(world, api):
    _, joined, _ = window_then_broadcast(world)
    phone = world.svc.app.customer(joined[1].customer_id).phone
    token = api.join(phone, phone)["customer_token"]
    me = api.client.get("/v1/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    pending = me.json()["pending_offer"]
    offer = world.svc.app.offer(world.svc.app.entry(joined[1].queue_entry_id).offer_id)
    assert pending["offer_id"] == str(offer.id)
    assert (pending["policy"], pending["location"]) == ("priority", "Kapolei")
    assert pending["expires_at"].startswith(offer.expires_at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert pending["expires_at_local"] == local_time(offer.expires_at, world.svc.settings
                                                     .timezone)
    for round_ in (1, 2):
        assert derive(world.svc.app.link_secret(), offer.id, round_) not in me.text
    assert "token" not in str(pending)
    assert "/v1/offers" not in me.text
    world.svc.app.decline_offer(offer.id, "link", world.svc.clock.now())
    world.svc.catch_up()
    assert api.client.get("/v1/me", headers=bearer(token)).json()["pending_offer"] is None
