"""An offer's claim link and SMS replies over HTTP on a real database (spec service §3, §4.2):
the link shows the offer as a page or as JSON, its buttons accept (booked through the sim
booker) or decline; a wrong token and an unknown offer are the same 404, a token the reminder
replaced is 403, a closed offer is 409 saying what became of it, none a 500, every refusal
problem+json (a page for a browser); tokens reach no log line. Signed Twilio replies 1 and 9
answer the phone's pending offer."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from api_support import Api, make_api
from dispatch_world import World, next_weekday
from fake_twilio import FROM, SID, TOKEN
from twilio.request_validator import RequestValidator

from slotqueue.aggregates.offer import Offer
from slotqueue.aggregates.offer_tokens import derive
from slotqueue.settings import Settings

pytestmark = pytest.mark.integration
PUBLIC = "https://queue.example"
JSON = {"Accept": "application/json"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
PROBLEM = "application/problem+json"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, booking_mode="offer", booker="sim",
                    twilio_auth_token=TOKEN, public_url=PUBLIC)


@pytest.fixture
def world(service: Any, db: Any) -> World:
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


@pytest.fixture
def api(service: Any) -> Iterator[Api]:
    made = make_api(service)
    yield made
    made.deps.reads.close()


def offered(world: World, customers: int = 2) -> tuple[list[Any], Offer]:
    """Customers at one location, an opening there, a dispatcher run: the first holds the
    offer."""
    kapolei = world.location("Kapolei")
    joined = [world.customer([kapolei]) for _ in range(customers)]
    world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "8:30")
    assert world.dispatch().offers_made_count == 1
    offer_id = world.svc.app.entry(joined[0].queue_entry_id).offer_id
    return joined, world.svc.app.offer(offer_id)


def token(world: World, offer: Offer, round_: int = 1) -> str:
    return derive(world.svc.app.link_secret(), offer.id, round_)


def link(offer_id: UUID, tok: str, action: str = "") -> str:
    return f"/v1/offers/{offer_id}{action}?token={tok}"


def assert_problem(answer: Any, status: int, *says: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    body = answer.json()
    for words in says:
        assert words in body["detail"]
    return body


def test_the_link_shows_a_page_with_buttons_that_post_and_json_on_request(world, api):
    _, offer = offered(world)
    tok = token(world, offer)
    page = api.client.get(link(offer.id, tok), headers=BROWSER)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    actions = re.findall(r'<form method="post" action="([^"]+)"', page.text)
    assert actions == [link(offer.id, tok, "/accept"), link(offer.id, tok, "/decline")]
    assert "Kapolei" in page.text
    assert "<script" not in page.text
    shown = api.client.get(link(offer.id, tok), headers=JSON)
    assert shown.status_code == 200
    body = shown.json()
    assert (body["offer_id"], body["status"], body["policy"], body["location"]) == (
        str(offer.id), "pending", "offer", "Kapolei")
    assert body["expires_at"].startswith(offer.expires_at.strftime("%Y-%m-%dT%H:%M"))
    assert tok not in shown.text


def test_accepting_by_the_link_books_through_the_sim_booker(world, api, caplog):
    joined, offer = offered(world)
    tok = token(world, offer)
    caplog.set_level(logging.DEBUG)
    answer = api.client.post(link(offer.id, tok, "/accept"), headers=JSON)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["result"]) == ("booked", "success")
    assert world.svc.app.entry(joined[0].queue_entry_id).status == "booked"
    assert world.rows("SELECT result, customer_id FROM booking_attempts") == [
        ("success", joined[0].customer_id)]
    again = api.client.post(link(offer.id, tok, "/accept"), headers=JSON)
    assert_problem(again, 409, "you accepted this offer and it is booked")
    # the service's log lines (httpx's are the test client's own: serve silences them)
    logged = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records
                       if r.name != "httpx")
    assert "offer accepted" in logged
    assert "/v1/offers/{id}/accept" in logged
    assert tok not in logged


def test_a_browser_that_accepts_gets_a_page_saying_booked(world, api):
    _, offer = offered(world)
    answer = api.client.post(link(offer.id, token(world, offer), "/accept"), headers=BROWSER)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "<h1>Booked</h1>" in answer.text


def test_declining_by_the_link_cools_down_and_the_next_customer_is_offered_it(world, api):
    joined, offer = offered(world)
    answer = api.client.post(link(offer.id, token(world, offer), "/decline"), headers=JSON)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["result"]) == ("declined", "declined")
    assert world.svc.app.entry(joined[0].queue_entry_id).cooldown_until is not None
    assert world.dispatch().offers_made_count == 1
    assert world.svc.app.entry(joined[1].queue_entry_id).offer_id is not None


def test_a_wrong_token_and_an_unknown_offer_are_the_same_404_for_every_route(world, api):
    _, offer = offered(world)
    wrong = token(world, offer)[::-1]
    for action, method in (("", "get"), ("/accept", "post"), ("/decline", "post")):
        call = getattr(api.client, method)
        mine = assert_problem(call(link(offer.id, wrong, action), headers=JSON), 404)
        theirs = assert_problem(call(link(uuid4(), wrong, action), headers=JSON), 404)
        assert mine == theirs
    page = api.client.get(link(offer.id, wrong), headers=BROWSER)
    assert (page.status_code, "This link does not work" in page.text) == (404, True)
    assert world.svc.app.offer(offer.id).pending  # nothing recorded


def test_a_token_the_reminder_replaced_is_403_and_the_new_one_works(world, api):
    _, offer = offered(world)
    old = token(world, offer)
    fired = world.svc.fire_due_timers(offer.expires_at - timedelta(minutes=9))
    assert fired == {("offer_reminder", "fired"): 1}
    for action, method in (("", "get"), ("/accept", "post"), ("/decline", "post")):
        refused = getattr(api.client, method)(link(offer.id, old, action), headers=JSON)
        assert_problem(refused, 403, "replaced")
    page = api.client.get(link(offer.id, old), headers=BROWSER)
    assert (page.status_code, "This link was replaced" in page.text) == (403, True)
    new = token(world, offer, 2)
    answer = api.client.post(link(offer.id, new, "/accept"), headers=JSON)
    assert answer.json()["status"] == "booked"


def test_an_expired_offer_is_409_saying_so_on_the_link_and_the_page(world, api):
    _, offer = offered(world)
    world.svc.fire_due_timers(offer.expires_at + timedelta(seconds=1))
    tok = token(world, offer, 2)  # the reminder fired first, with the expiry
    assert_problem(api.client.post(link(offer.id, tok, "/accept"), headers=JSON), 409,
                   "this offer expired")
    assert_problem(api.client.post(link(offer.id, tok, "/decline"), headers=JSON), 409,
                   "this offer expired")
    shown = api.client.get(link(offer.id, tok), headers=JSON).json()
    assert (shown["status"], shown["what_happened"]) == ("expired", "this offer expired")
    page = api.client.post(link(offer.id, tok, "/accept"), headers=BROWSER)
    assert (page.status_code, "This offer is closed" in page.text) == (409, True)


def test_bad_ids_and_tokens_are_refused_cleanly_never_500(world, api):
    _, offer = offered(world)
    for path in ("/v1/offers/not-a-uuid?token=x", f"/v1/offers/{offer.id}",
                 f"/v1/offers/{offer.id}?token=", f"/v1/offers/{offer.id}?token={'x' * 101}",
                 f"/v1/offers/{offer.id}/accept", f"/v1/offers/{offer.id}/decline?token=%00"):
        method = api.client.post if path.count("/") > 3 else api.client.get
        answer = method(path, headers=JSON)
        assert 400 <= answer.status_code < 500, (path, answer.status_code)
        assert answer.headers["content-type"].startswith(PROBLEM), path
    assert world.svc.app.offer(offer.id).pending


# --- SMS replies (spec service §3: 1 accepts, 9 declines) ------------------------------------

def inbound(api: Api, body: str, phone: str) -> str | None:
    params = {"From": phone, "To": FROM, "Body": body, "MessageSid": "SM" + uuid4().hex,
              "AccountSid": SID}
    path = "/v1/webhooks/twilio/inbound"
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, params)
    answer = api.client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200, answer.text
    found = re.search(r"<Message>(.*)</Message>", answer.text, re.S)
    return None if found is None else found.group(1)


def phone_of(world: World, customer_id: UUID) -> str:
    return world.svc.app.customer(customer_id).phone  # type: ignore[no-any-return]


def test_a_reply_of_1_accepts_the_phones_pending_offer_and_books_it(world, api):
    joined, offer = offered(world)
    said = inbound(api, " 1 ", phone_of(world, joined[0].customer_id))
    assert said is not None
    assert "accepted" in said
    assert world.svc.app.offer(offer.id).status == "booked"
    assert world.rows("SELECT message_type FROM message_log WHERE dedupe_key = %s",
                      f"booked:{joined[0].queue_entry_id}") == [("booked",)]
    assert world.svc.app.offer(offer.id).via == "sms"
    assert world.svc.app.entry(joined[0].queue_entry_id).status == "booked"


def test_a_reply_of_9_declines_the_phones_pending_offer(world, api):
    joined, offer = offered(world)
    said = inbound(api, "9", phone_of(world, joined[0].customer_id))
    assert said is not None
    assert "declined" in said
    assert world.svc.app.offer(offer.id).status == "declined"
    assert world.svc.app.entry(joined[0].queue_entry_id).cooldown_until is not None


def test_a_phone_with_no_offer_is_told_so_and_nothing_is_recorded(world, api):
    joined, offer = offered(world)
    second = phone_of(world, joined[1].customer_id)
    for body in ("1", "9"):
        assert "no open offer" in (inbound(api, body, second) or "")
    assert "no open offer" in (inbound(api, "1", "+18085559876") or "")
    assert world.svc.app.offer(offer.id).pending
