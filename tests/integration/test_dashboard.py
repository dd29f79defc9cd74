"""The dashboard's routes in-process (FastAPI's test client) on a real database: sign-in and
its cookie, sign-out, every page as an operator and as an auditor, actions with and without
the CSRF token, an auditor's action refused, the notices actions leave."""

from __future__ import annotations

import re

import pytest
from api_support import make_api
from dispatch_world import World, next_weekday

from slotqueue.projections.wording import mask_phone


@pytest.fixture
def api(service):
    made = make_api(service)
    yield made
    made.deps.reads.close()


@pytest.fixture
def world(service, db):
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


def sign_in(api, name: str, role: str) -> str:
    """Signs the test client in; the page's CSRF token."""
    key = api.key(name, role)
    answer = api.client.post("/dashboard/sign-in", data={"key": key},
                             follow_redirects=False)
    assert answer.status_code == 303, answer.text
    page = api.client.get("/dashboard/queue")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_every_page_answers_a_signed_in_operator(api, world):
    kapolei = world.location("Kapolei")
    joined = world.customer([kapolei])
    world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "8:30")
    world.dispatch("stub")
    sign_in(api, "ops-smoke", "operator")
    for path in ("/dashboard/queue", "/dashboard/openings", "/dashboard/timers",
                 "/dashboard/offers", "/dashboard/messages", "/dashboard/charts",
                 f"/dashboard/customers/{joined.customer_id}"):
        answer = api.client.get(path)
        assert answer.status_code == 200, (path, answer.text[:2000])


def test_the_offers_page_lists_a_pending_offer_by_masked_phone_and_location(api, world):
    kapolei = world.location("Kapolei")
    joined = world.customer([kapolei])
    world.svc.app.set_booking_mode(joined.queue_entry_id, "offer", world.now, "test")
    world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "8:30")
    assert world.dispatch("stub").offers_made_count == 1
    sign_in(api, "ops-offers", "operator")
    page = api.client.get("/dashboard/offers").text
    [row] = re.findall(r'<tr data-offer="[^"]+">(.*?)</tr>', page, re.S)
    phone = world.rows("SELECT phone FROM customers WHERE id = %s", joined.customer_id)[0][0]
    assert phone not in page
    assert mask_phone(phone) in row
    assert "Kapolei" in row
    assert "s-pending" in row
    assert "1 pending" in page


def test_a_customer_token_or_a_wrong_key_signs_nobody_in(api):
    token = api.join("808-555-0142", "+18085550142")["customer_token"]
    for secret in (token, "not-a-key"):
        answer = api.client.post("/dashboard/sign-in", data={"key": secret},
                                 follow_redirects=False)
        assert answer.status_code == 401
        assert "sq_dashboard" not in answer.headers.get("set-cookie", "")
    page = api.client.get("/dashboard/queue", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/dashboard/sign-in?next=")


def test_signing_out_ends_the_session_and_revoking_the_key_ends_it_too(api, service):
    csrf = sign_in(api, "ops-out", "operator")
    cookie = api.client.cookies.get("sq_dashboard")
    out = api.client.post("/dashboard/sign-out", data={"csrf_token": csrf},
                          follow_redirects=False)
    assert out.status_code == 303
    again = api.client.get("/dashboard/queue", headers={"Cookie": f"sq_dashboard={cookie}"},
                           follow_redirects=False)
    assert again.status_code == 303
    sign_in(api, "ops-revoked", "operator")
    service.app.revoke_api_key("ops-revoked", service.clock.now(), "test")
    service.catch_up()
    assert api.client.get("/dashboard/queue", follow_redirects=False).status_code == 303


def test_an_action_needs_the_csrf_token_and_an_operator(api, world):
    kapolei = world.location("Kapolei")
    entry = world.customer([kapolei]).queue_entry_id
    path = f"/dashboard/entries/{entry}/pause"
    csrf = sign_in(api, "audit-1", "auditor")
    assert api.client.post(path, data={"csrf_token": csrf}).status_code == 403
    csrf = sign_in(api, "ops-1", "operator")
    assert api.client.post(path, data={}).status_code == 403
    assert api.client.post(path, data={"csrf_token": "x" + csrf}).status_code == 403
    assert world.svc.app.entry(entry).status == "active"
    done = api.client.post(path, data={"csrf_token": csrf, "back": "https://evil.example/"},
                           follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/dashboard/queue"  # never off the dashboard
    assert world.svc.app.entry(entry).status == "paused"
    page = api.client.get("/dashboard/queue").text
    assert f"Entry {entry} paused by key:ops-1." in page
    refused = api.client.post(path, data={"csrf_token": csrf}, follow_redirects=True).text
    assert "Refused:" in refused  # pausing a paused entry: the lifecycle's own words
