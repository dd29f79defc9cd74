"""Operators and auditors over HTTP (spec service §2.4) on a real database: the queue a page at
a time with masked phones, an entry, the actions (each recording the key's name, also in the
CLI's audit), the audits (the same answer as `slotqueue audit`), openings and messages; errors
as problem+json naming the field; a customer token reads none of it."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from uuid import UUID

import pytest
from api_support import bearer, make_api
from dispatch_world import GRACE, World, next_weekday
from test_cli import ok_json, run

from slotqueue.adapters.messaging import Console
from slotqueue.bootstrap import delivery_worker

from dbsupport import event_count

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture
def world(service, db):
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


@pytest.fixture
def api(service):
    made = make_api(service)
    yield made
    made.deps.reads.close()


@pytest.fixture
def ops(api):
    return bearer(api.key("ops-alice", "operator"))


@pytest.fixture
def auditor(api):
    return bearer(api.key("audit-bob", "auditor"))


@pytest.fixture
def line(world):
    """Five customers: active, active, waiting for a deposit, queued, paused."""
    kapolei = world.location("Kapolei")
    made = [world.customer([kapolei], blocks=("afternoon", "early"), horizon="w4"),
            world.customer([kapolei]), world.customer([kapolei], paid=False),
            world.customer([kapolei], paid=False), world.customer([kapolei])]
    world.svc.app.require_deposit(made[2].queue_entry_id, world.now, GRACE)
    world.svc.app.pause(made[4].queue_entry_id, world.now)
    world.svc.catch_up()
    return made


def _problem(answer, status, field=None):
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if field is not None:
        assert field in [e["field"] for e in answer.json()["errors"]], answer.json()
    return answer.json()


def test_the_queue_is_listed_in_rank_order_a_page_at_a_time_with_masked_phones(
        api, auditor, line):
    seen, cursor = [], None
    while True:
        page = api.client.get("/v1/queue", headers=auditor,
                              params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        assert page.json()["total"] == 4
        seen += page.json()["entries"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert [e["rank"] for e in seen] == [1, 2, 3, 4]
    assert [e["queue_entry_id"] for e in seen] == [str(j.queue_entry_id) for j in line[:4]]
    first, due = seen[0], seen[2]
    assert first["phone"] == "+1 808 \u2022\u2022\u2022-0001"
    assert first["windows"] == "weekdays, within 4 weeks, early morning or afternoon"
    assert first["locations"] == ["Kapolei"]
    assert (due["status"], ISO_Z.match(due["deposit_due"]) is not None) == (
        "deposit_required", True)
    assert due["deposit_due_local"].endswith("HST")
    assert not re.search(r"555.?000\d", page.text)
    paused = api.client.get("/v1/queue", headers=auditor, params={"status": "paused"}).json()
    assert [(e["queue_entry_id"], e["rank"]) for e in paused["entries"]] == [
        (str(line[4].queue_entry_id), None)]


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "gone"}, "status"), ({"limit": 0}, "limit"), ({"limit": "many"}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"), ({"cursor": "\u00e9t\u00e9"}, "cursor")])
def test_a_bad_queue_parameter_is_a_422_naming_it(api, auditor, params, field):
    _problem(api.client.get("/v1/queue", headers=auditor, params=params), 422, field)


def test_an_entry_reads_with_rank_deposit_windows_and_locations(api, auditor, line):
    entry = api.client.get(f"/v1/entries/{line[0].queue_entry_id}", headers=auditor).json()
    assert (entry["status"], entry["deposit_status"], entry["rank"]) == ("active", "paid", 1)
    assert entry["phone"] == "+1 808 \u2022\u2022\u2022-0001"
    assert entry["payment_refs"] == ["pay-1"]
    assert entry["locations"][0]["name"] == "Kapolei"
    assert ISO_Z.match(entry["joined_at"])
    assert entry["joined_at_local"].endswith("HST")
    assert (entry["deposit_due"], entry["booking"]) == (None, None)


def test_operator_actions_answer_the_new_state_and_record_the_keys_name(
        api, ops, line, database_url):
    entry_id = line[0].queue_entry_id
    states = []
    for action in ("pause", "resume", "cancel", "refund"):
        answer = api.client.post(f"/v1/entries/{entry_id}/{action}", headers=ops)
        assert answer.status_code == 200, answer.text
        states.append((answer.json()["status"], answer.json()["deposit_status"],
                       answer.json()["rank"]))
    assert states == [("paused", "paid", None), ("active", "paid", 1),
                      ("canceled", "paid", None), ("canceled", "refunded", None)]
    assert answer.json()["refunded_payment_refs"] == ["pay-1"]
    audited = api.client.get(f"/v1/audit/entries/{entry_id}", headers=ops).json()
    by = {e["name"]: e["data"].get("by") for e in audited["events"]}
    assert {k: by[k] for k in ("Paused", "Resumed", "Canceled", "Refunded")} == dict.fromkeys(
        ("Paused", "Resumed", "Canceled", "Refunded"), "key:ops-alice")
    assert all(e["at_local"].endswith("HST") for e in audited["events"])
    cli = run(database_url, "audit", "--entry", str(entry_id))
    assert cli.returncode == 0, cli.stderr
    assert next(ln for ln in cli.stdout.splitlines() if "Paused" in ln).count("key:ops-alice")


def test_require_deposit_asks_now_with_the_settings_grace_and_queues_the_message(
        api, ops, auditor, line):
    entry_id = line[3].queue_entry_id
    asked = api.client.post(f"/v1/entries/{entry_id}/require-deposit", headers=ops).json()
    assert (asked["status"], asked["deposit_status"]) == ("deposit_required", "required")
    entry = api.deps.svc.app.entry(entry_id)
    assert entry.deposit_expires_at - entry.deposit_required_at == GRACE
    texts = api.client.get("/v1/messages", headers=auditor,
                           params={"type": "deposit_needed"}).json()  # no worker: none queued
    assert next(m["dedupe_key"] for m in texts["messages"]) == f"deposit_needed:{entry_id}"
    assert texts["messages"][0]["phone"] == "+1 808 \u2022\u2022\u2022-0004"
    assert texts["messages"][0]["text"]


def test_an_auditor_reads_but_may_not_act_and_nothing_is_recorded(api, auditor, line, db):
    before = event_count(db)
    refused = api.client.post(f"/v1/entries/{line[0].queue_entry_id}/pause", headers=auditor)
    _problem(refused, 403)
    assert event_count(db) == before
    assert api.deps.svc.app.entry(line[0].queue_entry_id).status == "active"


def test_an_action_the_lifecycle_refuses_is_a_409_and_records_nothing(api, ops, line, db):
    before = event_count(db)
    refused = api.client.post(f"/v1/entries/{line[4].queue_entry_id}/pause", headers=ops)
    assert "paused" in _problem(refused, 409)["detail"]
    nothing = api.client.post(f"/v1/entries/{line[3].queue_entry_id}/refund", headers=ops)
    assert "nothing to refund" in _problem(nothing, 409)["detail"]
    assert event_count(db) == before


def test_the_same_idempotency_key_gives_the_first_answer_once(api, ops, line, db):
    url = f"/v1/entries/{line[0].queue_entry_id}"
    key = {**ops, "Idempotency-Key": "pause-1"}
    first = api.client.post(f"{url}/pause", headers=key)
    before = event_count(db)
    again = api.client.post(f"{url}/pause", headers=key)
    assert (again.status_code, again.json()) == (200, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert event_count(db) == before
    _problem(api.client.post(f"{url}/resume", headers=key), 409)


@pytest.mark.parametrize(("path", "field"), [
    ("/v1/entries/not-a-uuid", "id"), ("/v1/audit/entries/12", "id"),
    ("/v1/audit/customers/x", "id"),
    ("/v1/audit/slots/nope/2026-12-16/10:45", "location_id"),
    (f"/v1/audit/slots/{'0' * 8}-0000-0000-0000-{'0' * 12}/2026-13-16/10:45", "date"),
    (f"/v1/audit/slots/{'0' * 8}-0000-0000-0000-{'0' * 12}/2026-12-16/ten", "time"),
    (f"/v1/audit/slots/{'0' * 8}-0000-0000-0000-{'0' * 12}/2026-12-16/25:00", "time"),
    ("/v1/audit/entries/00000000-0000-0000-0000-000000000000?as_of=yesterday", "as_of"),
    ("/v1/openings?since=soon", "since"), ("/v1/messages?status=lost", "status"),
    ("/v1/messages?type=postcard", "type"), ("/v1/messages?customer_id=7", "customer_id"),
])
def test_a_bad_value_is_a_422_naming_it(api, auditor, path, field):
    _problem(api.client.get(path, headers=auditor), 422, field)


def test_a_bad_id_in_an_action_is_a_422_before_anything_else(api, ops):
    _problem(api.client.post("/v1/entries/zzz/cancel", headers=ops), 422, "id")


@pytest.mark.parametrize("path", [
    "/v1/entries/{u}", "/v1/audit/entries/{u}", "/v1/audit/customers/{u}",
    "/v1/audit/slots/{u}/2026-12-16/10:45", "POST /v1/entries/{u}/cancel"])
def test_an_unknown_id_is_a_404(api, ops, path):
    method, _, url = path.rpartition(" ")
    unknown = "3f0c1a52-8d5e-4b7a-9c61-2e4f8a0b7d93"
    answer = api.client.request(method or "GET", url.format(u=unknown), headers=ops)
    _problem(answer, 404)


def test_a_customer_token_reads_no_entry_or_audit_not_even_its_own(api, world):
    world.location("Kapolei")
    ana, ben = api.join("808-555-0101", "+18085550101"), api.join("808-555-0102",
                                                                  "+18085550102")
    token = bearer(ana["customer_token"])
    for who in (ben, ana):
        for path in (f"/v1/entries/{who['queue_entry_id']}",
                     f"/v1/audit/entries/{who['queue_entry_id']}",
                     f"/v1/audit/customers/{who['customer_id']}"):
            answer = api.client.get(path, headers=token)
            assert "/v1/me" in _problem(answer, 403)["detail"], path
            assert "0102" not in answer.text
            assert api.client.get(path).status_code == 401
    assert api.client.post(f"/v1/entries/{ben['queue_entry_id']}/cancel",
                           headers=token).status_code == 403
    assert api.deps.svc.app.entry(ben["queue_entry_id"]).status == "queued"


@pytest.fixture
def decided(world):
    """Rank 1 (Kapolei, early mornings) wins an early Kapolei slot; the stub booker fails it.
    A midday slot goes to nobody."""
    kapolei = world.location("Kapolei")
    first = world.customer([kapolei], blocks=("early",))
    day = next_weekday(world.today, 2, weeks=1)
    world.open_slot(kapolei, day, "8:30")
    world.open_slot(kapolei, day, "12:00")
    world.dispatch("stub")
    return {"customer": first, "location": kapolei, "day": day}


def test_openings_list_decisions_newest_first_with_outcome_winner_rank_and_location(
        api, auditor, decided, world):
    listed = api.client.get("/v1/openings", headers=auditor).json()
    rows = {o["slot_time"]: o for o in listed["openings"]}
    assert (rows["08:30:00"]["outcome"], rows["08:30:00"]["winner_rank"],
            rows["08:30:00"]["winner_entry_id"]) == (
        "attempt_failed", 1, str(decided["customer"].queue_entry_id))
    assert (rows["12:00:00"]["outcome"], rows["12:00:00"]["winner_rank"]) == (
        "no_eligible_customer", None)
    assert {o["location"] for o in listed["openings"]} == {"Kapolei"}
    assert [o["decided_at"] for o in listed["openings"]] == sorted(
        (o["decided_at"] for o in listed["openings"]), reverse=True)
    first = api.client.get("/v1/openings", headers=auditor, params={"limit": 1}).json()
    rest = api.client.get("/v1/openings", headers=auditor,
                          params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert first["openings"] + rest["openings"] == listed["openings"]
    later = (world.now + timedelta(days=1)).isoformat()
    assert api.client.get("/v1/openings", headers=auditor,
                          params={"since": later}).json()["openings"] == []


def test_a_slot_audit_takes_hh_mm_or_hh_mm_ss_and_shows_the_decision(api, auditor, decided):
    base = f"/v1/audit/slots/{decided['location']}/{decided['day']}"
    short = api.client.get(f"{base}/8:30", headers=auditor)
    assert short.status_code == 200, short.text
    assert api.client.get(f"{base}/08:30:00", headers=auditor).json() == short.json()
    [slot] = short.json()["slots"]
    assert (slot["outcome"], slot["location"]) == ("attempt_failed", "Kapolei")
    assert slot["winner"]["entry_id"] == str(decided["customer"].queue_entry_id)
    assert slot["slot_datetime_local"].endswith("8:30 AM HST")
    assert [e["name"] for e in slot["events"]][:2] == ["SlotOpened", "Decided"]
    _problem(api.client.get(f"{base}/9:15", headers=auditor), 404)


def test_the_customer_audit_answers_what_slotqueue_audit_prints(
        api, auditor, decided, database_url):
    customer_id = decided["customer"].customer_id
    http = api.client.get(f"/v1/audit/customers/{customer_id}", headers=auditor).json()
    for event in http["events"]:
        assert event.pop("at_local").endswith("HST")
    for message in http["messages"]:  # local twins: HTTP only, like the events' at_local
        assert message.pop("queued_at_local").endswith("HST")
    assert http == ok_json(database_url, "audit", "--customer", str(customer_id))
    assert http["summary"]["won"] == 1
    assert http["state"]["phone"] == "+18085550001"  # the audit keeps the full number


def test_an_entry_audit_as_of_a_moment_shows_the_state_then(api, auditor, ops, line, world):
    entry_id = line[0].queue_entry_id
    api.client.post(f"/v1/entries/{entry_id}/pause", headers=ops)
    then = api.client.get(f"/v1/audit/entries/{entry_id}", headers=auditor,
                          params={"as_of": world.now.isoformat()}).json()
    assert then["state"]["status"] == "active"
    assert "Paused" not in [e["name"] for e in then["events"]]
    now = api.client.get(f"/v1/audit/entries/{entry_id}", headers=auditor).json()
    assert now["state"]["status"] == "paused"


def test_messages_filter_by_delivery_status_type_and_customer_newest_first(
        api, auditor, line, service, database_url):
    every = api.client.get("/v1/messages", headers=auditor).json()["messages"]
    assert every
    assert {(m["status"], len(m["deliveries"])) for m in every} == {(None, 0)}, "none queued"
    worker = delivery_worker(service.settings, database_url,
                             senders={"sms": Console("sms", io.StringIO())})
    worker.intake.step()  # queues one SMS per message; nothing sent yet
    service.catch_up()
    every = api.client.get("/v1/messages", headers=auditor).json()["messages"]
    assert {(m["status"], len(m["deliveries"])) for m in every} == {("queued", 1)}
    assert [m["sent_at"] for m in every] == sorted((m["sent_at"] for m in every), reverse=True)
    assert api.client.get("/v1/messages", headers=auditor,
                          params={"status": "queued"}).json()["messages"] == every
    assert api.client.get("/v1/messages", headers=auditor,
                          params={"status": "delivered"}).json()["messages"] == []
    assert worker.handle(UUID(every[0]["deliveries"][0]["delivery_id"])) == "sent"
    worker.app.close()
    service.catch_up()
    [sent] = api.client.get("/v1/messages", headers=auditor,
                            params={"status": "sent"}).json()["messages"]
    assert sent["message_id"] == every[0]["message_id"]
    assert sent["deliveries"][0]["attempts"] == 1
    every = api.client.get("/v1/messages", headers=auditor).json()["messages"]
    mine = api.client.get("/v1/messages", headers=auditor,
                          params={"customer_id": str(line[0].customer_id)}).json()["messages"]
    assert mine
    assert {m["customer_id"] for m in mine} == {str(line[0].customer_id)}
    assert not re.search(r"555.?000\d", json.dumps(every))
    first = api.client.get("/v1/messages", headers=auditor, params={"limit": 2}).json()
    rest = api.client.get("/v1/messages", headers=auditor,
                          params={"limit": 500, "cursor": first["next_cursor"]}).json()
    assert first["messages"] + rest["messages"] == every


def test_an_operator_retries_an_unknown_delivery_and_a_sent_one_is_refused(
        api, ops, auditor, line, service, database_url):
    worker = delivery_worker(service.settings, database_url,
                             senders={"sms": Console("sms", io.StringIO())})
    worker.intake.step()
    service.catch_up()
    first, second = [m for m in api.client.get("/v1/messages", headers=auditor).json()[
        "messages"] if m["message_type"] != "deposit_needed"][:2]  # no deadline to pass
    lost = UUID(first["deliveries"][0]["delivery_id"])
    now = service.clock.now()
    service.app.claim_delivery(lost, "dead-worker", timedelta(0), now)
    service.app.lose_track_of(lost, now)
    assert worker.handle(UUID(second["deliveries"][0]["delivery_id"])) == "sent"
    worker.app.close()
    answer = api.client.post(f"/v1/messages/{first['message_id']}/retry", headers=ops)
    assert answer.status_code == 200, answer.text
    assert answer.json()["retried"] == [{"delivery_id": str(lost), "channel": "sms",
                                         "status": "queued"}]
    events = list(service.app.repository.get(lost).collect_events()) or None
    assert events is None  # nothing pending: the retry was saved
    refused = api.client.post(f"/v1/messages/{second['message_id']}/retry", headers=ops)
    _problem(refused, 409)
    assert "sent" in refused.json()["detail"]
    _problem(api.client.post(f"/v1/messages/{UUID(int=7)}/retry", headers=ops), 404)
    _problem(api.client.post(f"/v1/messages/{first['message_id']}/retry", headers=auditor), 403)
