"""Every route of the HTTP API, walked with no credentials, a customer token, an auditor key
and an operator key, answers 401, 403 or 2xx as the table below says (spec service §2).

The table is the list of who may call what. A route the app has that the table lacks fails
this test: that is the point. Whoever adds a route adds its row here (who may call it, the real
ids its path takes, a body that succeeds), so no route ever ships without a decision about who
may call it. Routes the spec names but nobody has built yet may be listed ahead; they are not
walked until the app has them.

The dashboard's routes (/dashboard/…) take no Authorization header: a caller signs in there
with its key first (a customer token cannot), then sends the session's cookie, and its CSRF
token with a POST. Their access kinds: DASHBOARD (an auditor's or operator's session) and
DASHBOARD_ACT (an operator's session and its CSRF token). Without a session a page sends the
browser to the sign-in form (303), which counts as 401 here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from api_support import Api, bearer, make_api
from dispatch_world import GRACE, World, next_weekday
from fastapi import APIRouter
from fastapi.routing import iter_route_contexts

from slotqueue.application.deliveries import messages_of
from slotqueue.settings import Settings

PUBLIC = "public"  # anyone, any credentials
SIGNED = "signed"  # a provider's signature, nothing else: 400/401/403 without one
CUSTOMER = "customer"  # a customer token
READER = "reader"  # an operator or an auditor key
OPERATOR = "operator"  # an operator key
DASHBOARD = "dashboard"  # a dashboard session of an auditor or operator key
DASHBOARD_ACT = "dashboard operator"  # an operator's dashboard session and its CSRF token
LINK = "link"  # an offer's claim link: its token, whatever else the caller holds
CALLERS = ("nobody", "customer", "auditor", "operator")
MAY = {PUBLIC: set(CALLERS), CUSTOMER: {"customer"}, READER: {"auditor", "operator"},
       OPERATOR: {"operator"}, DASHBOARD: {"auditor", "operator"},
       DASHBOARD_ACT: {"operator"}, LINK: set(CALLERS)}


@dataclass
class Walk:
    """Real ids to fill paths with, and subjects in the state a call needs."""

    api: Api
    world: World
    me: dict[str, Any]  # the customer caller's join answer
    me_phone: str
    slot: dict[str, str]
    phones: Any = field(default_factory=lambda: itertools.count(200))
    keys: dict[str, str] = field(default_factory=dict)  # caller → its secret

    @property
    def app(self) -> Any:
        return self.world.svc.app

    def entry(self, status: str) -> dict[str, str]:
        """A fresh entry of another customer: queued, paused, or canceled with a paid deposit
        (something to refund)."""
        now, phone = self.world.now, f"+1808555{next(self.phones):04d}"
        eid = self.app.join(phone, None, now).queue_entry_id
        if status == "paused":
            self.app.pause(eid, now)
        if status == "refundable":
            self.app.require_deposit(eid, now, GRACE)
            self.app.record_payment(eid, f"pay-{phone}", now)
            self.app.cancel(eid, now)
        self.world.svc.catch_up()
        return {"id": str(eid)}

    def my_entry(self, status: str) -> dict[str, str]:
        """The customer caller's open entry, queued or paused (a new one after a cancel)."""
        now, customer = self.world.now, self.app.customer(UUID(self.me["customer_id"]))
        eid = customer.open_entry_id or self.app.join(self.me_phone, None, now).queue_entry_id
        current = self.app.entry(eid).status
        if status == "paused" and current != "paused":
            self.app.pause(eid, now)
        if status == "queued" and current == "paused":
            self.app.resume(eid, now)
        self.world.svc.catch_up()
        return {}

    def lost_delivery(self) -> dict[str, str]:
        """A delivery a dead worker left `unknown` (something an operator may retry)."""
        now, eid = self.world.now, UUID(self.entry("queued")["id"])
        self.app.cancel(eid, now)
        self.world.svc.catch_up()
        row = self.world.db.execute(
            "SELECT id, customer_id, message_type, dedupe_key, meta_json FROM message_log "
            "WHERE dedupe_key = %s", (f"status:{eid}:canceled",)).fetchone()
        message = messages_of([dict(zip(("id", "customer_id", "message_type", "dedupe_key",
                                         "meta_json"), row, strict=True))])[0]
        [queued] = self.app.queue_deliveries(
            self.app.deliveries_for(message, "DMV Queue", "Pacific/Honolulu", now))
        self.app.claim_delivery(queued.id, "dead-worker", timedelta(0), now)
        self.app.lose_track_of(queued.id, now)
        return {"id": str(queued.id)}

    def phone(self) -> dict[str, str]:
        return {"phone": f"808-555-{next(self.phones):04d}"}

    def code(self) -> dict[str, str]:
        body = self.phone()
        assert self.api.client.post("/v1/verifications", json=body).status_code == 202
        return {**body, "code": self.api.last_code("+1" + body["phone"].replace("-", ""))}


Params = Callable[[Walk], dict[str, str]]


@dataclass(frozen=True)
class Rule:
    access: str
    params: Params = lambda _: {}  # path parameters, the subject made ready for the 2xx call
    body: Callable[[Walk], Any] | None = None  # a JSON body that succeeds (made per call)
    form: Callable[[Walk], dict[str, str]] | None = None  # a form that succeeds (dashboard)
    ok: tuple[int, ...] = ()  # statuses that count as success; empty: any 2xx
    query: str = ""  # after the path (a path parameter cannot carry it: `/accept` follows)


def _queued(w: Walk) -> dict[str, str]:
    return w.entry("queued")


def _no_such_offer(w: Walk) -> dict[str, str]:
    """An offer nobody was sent (with NO_LINK, a token nobody has): 404 to every caller, key
    or not (a key opens no offer; tests/integration/test_offer_links.py follows real links)."""
    return {"id": str(UUID(int=next(w.phones)))}


NO_LINK = "?token=not-a-token"


ROUTES: dict[tuple[str, str], Rule] = {
    ("GET", "/openapi.json"): Rule(PUBLIC),
    ("GET", "/docs"): Rule(PUBLIC),
    ("GET", "/docs/oauth2-redirect"): Rule(PUBLIC),
    ("GET", "/healthz"): Rule(PUBLIC),
    ("GET", "/readyz"): Rule(PUBLIC, ok=(200, 503)),  # 503: no dispatcher has run here
    ("GET", "/metrics"): Rule(PUBLIC),
    ("GET", "/v1/presets"): Rule(PUBLIC),
    ("GET", "/v1/locations"): Rule(PUBLIC),
    ("POST", "/v1/verifications"): Rule(PUBLIC, body=Walk.phone),
    ("POST", "/v1/customers"): Rule(PUBLIC, body=Walk.code),
    ("POST", "/v1/webhooks/stripe"): Rule(SIGNED),
    ("POST", "/v1/webhooks/twilio/status"): Rule(SIGNED),
    ("POST", "/v1/webhooks/twilio/inbound"): Rule(SIGNED),
    ("GET", "/v1/me"): Rule(CUSTOMER),
    ("PUT", "/v1/me/windows"): Rule(CUSTOMER, body=lambda _: {"horizon": "w4",
                                                             "blocks": ["early"]}),
    ("PUT", "/v1/me/locations"): Rule(CUSTOMER, body=lambda _: {"location_ids": ["Kapolei"]}),
    ("POST", "/v1/me/pause"): Rule(CUSTOMER, params=lambda w: w.my_entry("queued")),
    ("POST", "/v1/me/resume"): Rule(CUSTOMER, params=lambda w: w.my_entry("paused")),
    ("POST", "/v1/me/cancel"): Rule(CUSTOMER, params=lambda w: w.my_entry("queued")),
    ("GET", "/v1/me/history"): Rule(CUSTOMER),
    ("GET", "/v1/queue"): Rule(READER),
    ("GET", "/v1/entries/{id}"): Rule(READER, params=_queued),
    ("POST", "/v1/entries/{id}/pause"): Rule(OPERATOR, params=_queued),
    ("POST", "/v1/entries/{id}/resume"): Rule(OPERATOR, params=lambda w: w.entry("paused")),
    ("POST", "/v1/entries/{id}/cancel"): Rule(OPERATOR, params=_queued),
    ("POST", "/v1/entries/{id}/refund"): Rule(OPERATOR,
                                              params=lambda w: w.entry("refundable")),
    ("POST", "/v1/entries/{id}/require-deposit"): Rule(OPERATOR, params=_queued),
    ("POST", "/v1/entries/{id}/priority"): Rule(OPERATOR, params=_queued, body=lambda _: {
        "score": 5, "reason": "route walk"}),
    ("POST", "/v1/entries/{id}/book"): Rule(OPERATOR, params=_queued, body=lambda w: {
        "location_id": w.slot["location_id"], "date": w.slot["date"], "time": "09:45"}),
    ("POST", "/v1/entries/{id}/booking-mode"): Rule(OPERATOR, params=_queued,
                                                    body=lambda _: {"mode": "offer"}),
    ("GET", "/v1/offers/{id}"): Rule(LINK, params=_no_such_offer, ok=(404,),
                                     query=NO_LINK),
    ("POST", "/v1/offers/{id}/accept"): Rule(LINK, params=_no_such_offer, ok=(404,),
                                             query=NO_LINK),
    ("POST", "/v1/offers/{id}/decline"): Rule(LINK, params=_no_such_offer, ok=(404,),
                                              query=NO_LINK),
    ("GET", "/v1/audit/entries/{id}"): Rule(READER, params=_queued),
    ("GET", "/v1/audit/customers/{id}"): Rule(READER, params=lambda w: {
        "id": w.me["customer_id"]}),
    ("GET", "/v1/audit/slots/{location_id}/{date}/{time}"): Rule(READER,
                                                                 params=lambda w: w.slot),
    ("GET", "/v1/openings"): Rule(READER),
    ("GET", "/v1/messages"): Rule(READER),
    ("POST", "/v1/messages/{id}/retry"): Rule(OPERATOR, params=Walk.lost_delivery),
    ("GET", "/dashboard"): Rule(PUBLIC, ok=(303,)),  # to the queue (then to sign in)
    ("GET", "/dashboard/sign-in"): Rule(PUBLIC, ok=(200, 303)),  # signed in: to the queue
    ("POST", "/dashboard/sign-in"): Rule(PUBLIC, ok=(303,), form=lambda w: {
        "key": w.keys["operator"]}),
    ("POST", "/dashboard/sign-out"): Rule(DASHBOARD, ok=(303,)),
    ("GET", "/dashboard/static/{name}"): Rule(PUBLIC, params=lambda _: {
        "name": "dashboard.js"}),
    ("GET", "/dashboard/queue"): Rule(DASHBOARD),
    ("GET", "/dashboard/openings"): Rule(DASHBOARD),
    ("GET", "/dashboard/timers"): Rule(DASHBOARD),
    ("GET", "/dashboard/offers"): Rule(DASHBOARD),
    ("GET", "/dashboard/messages"): Rule(DASHBOARD),
    ("GET", "/dashboard/charts"): Rule(DASHBOARD),
    ("GET", "/dashboard/customers/{id}"): Rule(DASHBOARD, params=lambda w: {
        "id": w.me["customer_id"]}),
    ("GET", "/dashboard/events"): Rule(DASHBOARD, ok=(200, 503)),  # 503: no live stream here
    ("POST", "/dashboard/entries/{id}/pause"): Rule(DASHBOARD_ACT, params=_queued, ok=(303,)),
    ("POST", "/dashboard/entries/{id}/resume"): Rule(DASHBOARD_ACT, ok=(303,),
                                                     params=lambda w: w.entry("paused")),
    ("POST", "/dashboard/entries/{id}/cancel"): Rule(DASHBOARD_ACT, params=_queued, ok=(303,)),
    ("POST", "/dashboard/entries/{id}/priority"): Rule(DASHBOARD_ACT, params=_queued, ok=(303,),
                                                       form=lambda _: {"score": "5",
                                                                       "reason": "walk"}),
    ("POST", "/dashboard/entries/{id}/book"): Rule(DASHBOARD_ACT, params=_queued, ok=(303,),
                                                   form=lambda w: {
        "location_id": w.slot["location_id"], "date": w.slot["date"], "time": "10:45"}),
    ("POST", "/dashboard/messages/{id}/retry"): Rule(DASHBOARD_ACT, ok=(303,),
                                                     params=Walk.lost_delivery),
}


def expected(rule: Rule, caller: str) -> str:
    if rule.access == SIGNED:
        return "400/401/403"
    if caller in MAY[rule.access]:
        return "ok"
    if rule.access in (DASHBOARD, DASHBOARD_ACT) and caller == "customer":
        return "401"  # a customer token signs nobody in to the dashboard
    return "401" if caller == "nobody" else "403"


def answered(rule: Rule, status: int, location: str = "") -> str:
    if rule.access == SIGNED and status in (400, 401, 403):
        return "400/401/403"  # Stripe's refusals are 400, Twilio's 403
    if status == 303 and location.startswith("/dashboard/sign-in?next="):
        return "401"  # a page sends a browser without a session to the sign-in form
    if status in rule.ok or (not rule.ok and 200 <= status < 300):
        return "ok"
    return str(status)


def app_routes(api: Api) -> list[tuple[str, str]]:
    found = []
    for route in iter_route_contexts(api.client.app.routes):  # type: ignore[attr-defined]
        methods = sorted(set(route.methods or {"*"}) - {"HEAD"})
        found += [(method, route.path) for method in methods]
    return found


@pytest.fixture
def settings(database_url, monkeypatch):
    monkeypatch.setenv("SLOTQUEUE_STRIPE_WEBHOOK_SECRET", "whsec_route_walk")  # so 400, not 503
    monkeypatch.setenv("SLOTQUEUE_TWILIO_AUTH_TOKEN", "twilio_route_walk")  # so 403, not 503
    return Settings(database_url=database_url)


@pytest.fixture
def walk(service, db):
    api = make_api(service)
    world = World(service, db, db.execute("SELECT now()").fetchone()[0])
    kapolei = world.location("Kapolei")
    world.customer([kapolei], blocks=("early",))
    day = next_weekday(world.today, 2, weeks=1)
    world.open_slot(kapolei, day, "8:30")
    world.dispatch("stub")
    me = api.join("808-555-0199", "+18085550199")
    yield Walk(api, world, me, "+18085550199",
               {"location_id": str(kapolei), "date": day.isoformat(), "time": "08:30"})
    api.deps.reads.close()


def test_every_route_of_the_app_is_in_the_table(walk):
    missing = [route for route in app_routes(walk.api) if route not in ROUTES]
    assert not missing, (f"routes with no row in ROUTES (who may call them?): {missing}; "
                         "add one to tests/integration/test_api_routes.py")


def dashboard_session(api: Api, secret: str | None) -> dict[str, str]:
    """Signs in to the dashboard with `secret` (if it may): the cookie and CSRF headers."""
    client = api.client
    client.cookies.clear()
    if secret is None or client.post("/dashboard/sign-in", data={"key": secret},
                                     follow_redirects=False).status_code != 303:
        client.cookies.clear()
        return {}
    cookie = f"sq_dashboard={client.cookies.get('sq_dashboard')}"
    page = client.get("/dashboard/queue", headers={"Cookie": cookie}).text
    client.cookies.clear()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    return {"Cookie": cookie, "X-CSRF-Token": csrf.group(1) if csrf else ""}


def test_every_route_answers_each_caller_as_the_table_says(walk):
    api = walk.api
    walk.keys.update(customer=walk.me["customer_token"],
                     auditor=api.key("walk-auditor", "auditor"),
                     operator=api.key("walk-operator", "operator"))
    headers = {"nobody": {}, **{caller: bearer(secret) for caller, secret in walk.keys.items()}}
    wrong = []
    for method, path in app_routes(api):
        rule = ROUTES.get((method, path))
        if rule is None:
            continue  # the test above names it
        url = path.format(**rule.params(walk)) + rule.query
        for caller in CALLERS:
            body = rule.body(walk) if rule.body else None
            sent = dict(headers[caller])
            if path.startswith("/dashboard"):  # a session instead of the Authorization header
                sent = dashboard_session(api, walk.keys.get(caller))
            answer = api.client.request("GET" if method == "*" else method, url, headers=sent,
                                        json=body, data=rule.form(walk) if rule.form else None,
                                        follow_redirects=False)
            found = answered(rule, answer.status_code, answer.headers.get("location", ""))
            if found != expected(rule, caller):
                wrong.append(f"{method} {path} as {caller}: {answer.status_code}, expected "
                             f"{expected(rule, caller)} ({answer.text[:160]})")
    assert not wrong, "\n".join(wrong)


def test_a_route_added_without_a_row_is_caught(service):
    extra = APIRouter()
    extra.get("/v1/someone-elses-route")(lambda: {})
    api = make_api(service, (extra,))
    try:
        assert ("GET", "/v1/someone-elses-route") in app_routes(api)
        assert ("GET", "/v1/someone-elses-route") not in ROUTES
    finally:
        api.deps.reads.close()
