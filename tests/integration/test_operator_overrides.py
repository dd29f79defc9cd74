"""Operators' overrides on a real database (service §4.4, §4.5): a priority score reorders the
queue for every reader (the listing, the CLI, ranks, the dispatcher's own view, who is asked
for a deposit, who wins an opening and who is nudged), and an operator's direct booking books
a caller with the same `booked` message and decides the slot's opening so no dispatcher run
attempts it — refused while a run's attempt is under way. Both are repeat-safe, refuse bad
input as problem+json, record who and why for the audits, and rebuild exactly."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID, uuid4

import pytest
from api_support import bearer, make_api
from booking_worker import SECRET, booking_worker
from dispatch_world import World, next_weekday
from test_cli import ok_json, run

from slotqueue.adapters.http_booker import HttpBooker
from slotqueue.aggregates.matcher import local_slot_datetime, slot_key
from slotqueue.aggregates.opened_slot import OpenedSlot
from slotqueue.bootstrap import build
from slotqueue.projections import maintenance
from slotqueue.projections.customer_audit import customer_openings
from slotqueue.projections.queries import rank_of
from slotqueue.projections.slot_audit import slot_journal
from slotqueue.projections.wording import local_time
from slotqueue.settings import Settings

from dbsupport import event_count, snapshot

TZ = "Pacific/Honolulu"


@pytest.fixture
def settings(database_url):
    return Settings(database_url=database_url, deposit_rank_threshold=2)


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


def _raise(api: Any, ops: dict[str, str], entry_id: Any, score: int, reason: str = "called",
           **headers: str) -> Any:
    return api.client.post(f"/v1/entries/{entry_id}/priority", headers={**ops, **headers},
                           json={"score": score, "reason": reason})


def _book(api: Any, ops: dict[str, str], entry_id: Any, location: Any, day: Any, at: str,
          **headers: str) -> Any:
    return api.client.post(f"/v1/entries/{entry_id}/book", headers={**ops, **headers},
                           json={"location_id": str(location), "date": str(day), "time": at})


def _status(world: World, joined: Any) -> tuple[str, str]:
    entry = world.svc.app.entry(joined.queue_entry_id)
    return entry.status, entry.deposit_status


# --- priority ------------------------------------------------------------------------------

def test_a_priority_reorders_the_queue_for_every_reader(world, api, ops, database_url):
    kapolei = world.location("Kapolei")
    line = [world.customer([kapolei], paid=n % 2 == 0) for n in range(4)]
    caller = api.join("808-555-0777", "+18085550777")  # joined last, over HTTP
    for who in (line[1].queue_entry_id, caller["queue_entry_id"]):
        assert _raise(api, ops, who, 5).status_code == 200
    expected = [line[1].queue_entry_id, UUID(caller["queue_entry_id"]), line[0].queue_entry_id,
                line[2].queue_entry_id, line[3].queue_entry_id]

    listed = api.client.get("/v1/queue", headers=ops).json()["entries"]
    assert [(UUID(e["queue_entry_id"]), e["rank"], e["priority"]) for e in listed] == [
        (eid, rank, 5 if rank <= 2 else 0) for rank, eid in enumerate(expected, start=1)]
    paged, cursor = [], None
    while True:  # a page at a time, the cursor carrying the score
        page = api.client.get("/v1/queue", headers=ops,
                              params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        paged += [UUID(e["queue_entry_id"]) for e in page.json()["entries"]]
        if (cursor := page.json()["next_cursor"]) is None:
            break
    assert paged == expected
    cli = ok_json(database_url, "queue")["entries"]
    assert [UUID(e["queue_entry_id"]) for e in cli] == expected
    assert [rank_of(world.db, eid) for eid in expected] == [1, 2, 3, 4, 5]
    me = api.client.get("/v1/me", headers=bearer(caller["customer_token"])).json()
    assert me["entry"]["rank"] == 2
    shown = api.client.get(f"/v1/entries/{line[0].queue_entry_id}", headers=ops).json()
    assert (shown["rank"], shown["priority"], shown["priority_reason"]) == (3, 0, None)
    with world.svc.connect(autocommit=True) as conn:  # the dispatcher's view, from the tables
        dispatcher = world.svc.dispatcher(conn)
        try:
            assert [dispatcher.view.rank(eid) for eid in expected] == [1, 2, 3, 4, 5]
        finally:
            dispatcher.close()


def test_a_running_dispatchers_view_follows_priority_changes(world):
    kapolei = world.location("Kapolei")
    line = [world.customer([kapolei]) for _ in range(4)]
    app = world.svc.app
    app.set_priority(line[2].queue_entry_id, 3, "before the dispatcher started", world.now,
                     "key:ops")
    world.svc.catch_up()
    with world.svc.connect(autocommit=True) as conn:
        dispatcher = world.svc.dispatcher(conn)
        try:
            view, ids = dispatcher.view, [j.queue_entry_id for j in line]
            app.set_priority(ids[3], 9, "while it runs", world.now, "key:ops")
            app.set_priority(ids[2], 0, "taken off", world.now, "key:ops")
            dispatcher.writer.refresh()
            world.svc.catch_up()
            assert [view.rank(i) for i in ids] == [rank_of(world.db, i) for i in ids] == [
                2, 3, 4, 1]
            assert next(view.heads(kapolei)).candidate.entry_id == ids[3]
        finally:
            dispatcher.close()


def test_a_higher_score_wins_an_opening_over_an_earlier_joiner(world, api, ops):
    kapolei = world.location("Kapolei")
    earlier, later = world.customer([kapolei]), world.customer([kapolei])
    assert _raise(api, ops, later.queue_entry_id, 1, "phoned in").status_code == 200
    key = world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "8:30")
    summary = world.dispatch("sim")
    assert (summary.booking_attempt_count, summary.booking_success_count) == (1, 1)
    assert (_status(world, later), _status(world, earlier)) == (("booked", "paid"),
                                                                ("active", "paid"))
    assert world.rows("SELECT winner_entry_id, winner_rank, winner_priority "
                      "FROM slotqueue.opened_slots") == [(later.queue_entry_id, 1, 1)]
    [journal] = slot_journal(world.svc.app, world.db, key)
    assert (journal["winner"]["priority"], journal["ahead"]) == (1, [])
    [lost] = customer_openings(world.svc.app, world.db,
                               world.svc.app.customer(earlier.customer_id))["openings"]
    assert (lost["winner"], lost["failed"], lost["passed_over"]) == (
        "ahead", "behind_winner", False)


def test_nudges_and_deposits_follow_the_priority_order(world, api, ops):
    kapolei = world.location("Kapolei")
    misfit = world.customer([kapolei], blocks=("afternoon",))  # joined first, wrong times
    winner = world.customer([kapolei])
    unpaid = [world.customer([kapolei], paid=False) for _ in range(3)]
    assert _raise(api, ops, winner.queue_entry_id, 2).status_code == 200
    assert _raise(api, ops, unpaid[2].queue_entry_id, 1).status_code == 200
    world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "8:30")
    world.dispatch("off")
    # ranks then: winner, unpaid[2], misfit, unpaid[0], unpaid[1]; deposits for ranks 1..2
    assert [_status(world, u)[0] for u in unpaid] == ["queued", "queued", "deposit_required"]
    assert world.rows("SELECT winner_entry_id FROM slotqueue.opened_slots") == [
        (winner.queue_entry_id,)]
    assert world.rows("SELECT customer_id FROM message_log "
                      "WHERE message_type = 'opportunity_passed'") == []  # behind the winner
    assert misfit  # ahead of the winner in join order, it would have been nudged


def test_a_priority_change_shows_who_and_why_in_every_audit(world, api, ops, database_url):
    caller = api.join("808-555-0778", "+18085550778")
    entry_id = caller["queue_entry_id"]
    assert _raise(api, ops, entry_id, 7, "phoned in, elderly").status_code == 200
    assert _raise(api, ops, entry_id, 0, "seen in person").status_code == 200
    audited = api.client.get(f"/v1/audit/entries/{entry_id}", headers=ops).json()["events"]
    changes = [e for e in audited if e["name"] == "PriorityChanged"]
    assert [(e["data"]["score"], e["data"]["previous_score"], e["data"]["reason"],
             e["data"]["by"]) for e in changes] == [
        (7, 0, "phoned in, elderly", "key:ops-alice"), (0, 7, "seen in person", "key:ops-alice")]
    assert changes[0]["what"] == ("priority set to 7 (was 0) by key:ops-alice: phoned in, "
                                  "elderly")
    cli = run(database_url, "audit", "--entry", entry_id)
    assert "priority set to 0 (was 7) by key:ops-alice: seen in person" in cli.stdout
    history = api.client.get("/v1/me/history", headers=bearer(caller["customer_token"]))
    said = [e["what"] for e in history.json()["events"]]
    assert "Our staff gave your place in line priority 7 (higher goes first)." in said
    assert ("Our staff took the priority off your place: you are in join order again."
            in said)
    assert "elderly" not in history.text  # an operator's note
    assert "ops-alice" not in history.text  # and their key's name are for operators


def test_the_cli_sets_a_priority_as_cli_user(world, database_url, monkeypatch):
    joined = world.svc.app.join("+18085550779", None)
    monkeypatch.setenv("USER", "kai")
    shown = ok_json(database_url, "priority", str(joined.queue_entry_id), "--score", "4",
                    "--reason", "walk-in")
    assert (shown["priority"], shown["rank"]) == (4, 1)
    [changed] = [e for e in world.svc.app.events.get(joined.queue_entry_id)
                 if type(e).__name__ == "PriorityChanged"]
    assert (changed.by, changed.reason) == ("cli:kai", "walk-in")


# --- convert to booking --------------------------------------------------------------------

def _tracked_opening(world: World, location: UUID, day: Any, at: str) -> OpenedSlot:
    """An opening the slot watcher recorded that no run has decided yet (the moment a
    caller's booking can race the dispatcher)."""
    key = world.open_slot(location, day, at)
    opening = OpenedSlot(slot_key=key, first_seen=world.now, location_id=location,
                         slot_date=day.isoformat(), slot_time=key.split("|")[2],
                         slot_datetime=local_slot_datetime(day, at, TZ), at=world.now,
                         run_id=uuid4(), opening=1, last_seen=world.now)
    world.svc.app.save(opening)
    return opening


def test_an_operator_books_a_caller_and_no_dispatcher_run_attempts_that_slot(world, api, ops):
    kapolei = world.location("Kapolei")
    eligible = world.customer([kapolei])  # would win the opening
    caller = world.customer([kapolei], paid=False)
    day = next_weekday(world.today, 3, weeks=1)
    opening = _tracked_opening(world, kapolei, day, "9:00")
    answer = _book(api, ops, caller.queue_entry_id, "kapolei", day, "09:00")
    assert answer.status_code == 200, answer.text
    booked = answer.json()
    slot_utc = local_slot_datetime(day, "09:00", TZ)
    assert (booked["status"], booked["deposit_status"], booked["booking"]["location"]) == (
        "booked", "none", "Kapolei")
    assert booked["opening"] == {"slot_id": str(opening.id), "previous_outcome": None}
    [(text,)] = world.rows("SELECT meta_json->>'text' FROM message_log WHERE dedupe_key = %s",
                           f"booked:{caller.queue_entry_id}")
    assert text == (f"DMV Queue: booked! Kapolei, {local_time(slot_utc, TZ, long=True)}. Bring "
                    "your ID and documents and arrive 10 minutes early. Reply HELP for help.")
    summary = world.dispatch("sim")
    assert (summary.booking_attempt_count, _status(world, eligible)) == (0, ("active", "paid"))
    assert world.rows("SELECT outcome, winner_entry_id, decided_at IS NOT NULL FROM "
                      "slotqueue.opened_slots") == [("booked_by_operator",
                                                     caller.queue_entry_id, True)]
    assert world.rows("SELECT count(*) FROM booking_attempts") == [(0,)]  # no adapter call
    [journal] = slot_journal(world.svc.app, world.db, opening.slot_key)
    assert [e["name"] for e in journal["events"]] == ["SlotOpened", "BookedByOperator"]
    assert journal["events"][1]["data"]["by"] == "key:ops-alice"
    [seen] = customer_openings(world.svc.app, world.db,
                               world.svc.app.customer(eligible.customer_id))["openings"]
    assert (seen["failed"], seen["passed_over"]) == ("booked_by_operator", False)
    entry_audit = api.client.get(f"/v1/audit/entries/{caller.queue_entry_id}",
                                 headers=ops).json()["events"]
    [words] = [e["what"] for e in entry_audit if e["name"] == "Booked"]
    assert words.startswith("booked directly by key:ops-alice (convert to booking): Kapolei")


def test_the_cli_books_an_active_entry_and_its_paid_deposit_stays_paid(world, database_url):
    kapolei = world.location("Kapolei")
    paid = world.customer([kapolei])
    day = next_weekday(world.today, 4, weeks=2)
    shown = ok_json(database_url, "book", str(paid.queue_entry_id), "--location", "Kap",
                    "--date", day.isoformat(), "--time", "14:15")
    assert (shown["status"], shown["deposit_status"], shown["opening_id"]) == (
        "booked", "paid", None)  # the monitor has not listed that slot: no opening to decide
    [booked] = [e for e in world.svc.app.events.get(paid.queue_entry_id)
                if type(e).__name__ == "Booked"]
    assert booked.by.startswith("cli:")
    assert booked.slot_datetime == local_slot_datetime(day, "14:15", TZ)


def test_a_caller_booked_directly_who_joins_again_sees_the_new_place(world, api, ops):
    kapolei = world.location("Kapolei")
    first = api.join("808-555-0782", "+18085550782")
    day = next_weekday(world.today, 5, weeks=1)
    assert _book(api, ops, first["queue_entry_id"], kapolei, day, "8:15").status_code == 200
    again = api.join("808-555-0782", "+18085550782")
    assert again["queue_entry_id"] != first["queue_entry_id"]
    me = api.client.get("/v1/me", headers=bearer(again["customer_token"])).json()
    assert (me["entry"]["queue_entry_id"], me["entry"]["status"], me["entry"]["rank"]) == (
        again["queue_entry_id"], "queued", 1)  # the latest entry, not the booked one
    history = api.client.get("/v1/me/history", headers=bearer(again["customer_token"]))
    assert any(e["what"].startswith("Our staff booked you: Kapolei, ")
               for e in history.json()["events"])


def test_a_direct_booking_is_refused_while_a_dispatchers_attempt_is_under_way(
        world, api, ops, settings, database_url):
    kapolei = world.location("Kapolei")
    world.customer([kapolei])
    caller = world.customer([kapolei], paid=False)
    day = next_weekday(world.today, 3, weeks=1)
    world.open_slot(kapolei, day, "9:00")
    other = build(settings, database_url)  # the dispatcher's own process, as under `run`
    with booking_worker("hang") as worker:
        booker = HttpBooker(worker.url, SECRET, 5.0, pause=lambda _: None)
        runner = threading.Thread(target=other.dispatch_once, args=(booker,))
        runner.start()
        deadline = time.monotonic() + 30
        while not worker.seen and time.monotonic() < deadline:  # the attempt reached the DMV
            time.sleep(0.01)
        before = (event_count(world.db), _status(world, caller))
        refused = _book(api, ops, caller.queue_entry_id, kapolei, day, "09:00")
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "attempting to book it under its lock" in refused.json()["detail"]
        assert (event_count(world.db), _status(world, caller)) == before  # nothing recorded
        worker.release.set()
        runner.join(60)
    other.close()
    world.svc.catch_up()
    [(outcome,)] = world.rows("SELECT outcome FROM slotqueue.opened_slots")
    assert outcome == "attempt_failed"  # the worker never answered
    answer = _book(api, ops, caller.queue_entry_id, kapolei, day, "09:00")
    assert answer.json()["opening"]["previous_outcome"] == "attempt_failed"


# --- both: repeat-safe, bad input, rebuild -----------------------------------------------

def test_both_are_repeat_safe_with_an_idempotency_key(world, api, ops):
    kapolei = world.location("Kapolei")
    first, second = world.customer([kapolei]), world.customer([kapolei], paid=False)
    day = next_weekday(world.today, 2, weeks=2)
    for call in (lambda h: _raise(api, ops, second.queue_entry_id, 3, **h),
                 lambda h: _book(api, ops, first.queue_entry_id, kapolei, day, "10:00", **h)):
        before = event_count(world.db)
        once = call({"Idempotency-Key": f"k-{before}"})
        recorded = event_count(world.db)
        again = call({"Idempotency-Key": f"k-{before}"})
        assert (once.status_code, again.status_code) == (200, 200)
        assert once.json() == again.json()
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert event_count(world.db) == recorded > before
    other = _raise(api, ops, second.queue_entry_id, 4, **{"Idempotency-Key": "k-x"})
    reused = _raise(api, ops, second.queue_entry_id, 5, **{"Idempotency-Key": "k-x"})
    assert (other.status_code, reused.status_code) == (200, 409)


def _problem(answer: Any, status: int, field: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        assert [e["field"] for e in answer.json()["errors"]] == [field]


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"score": 101, "reason": "x"}, 422, "score"), ({"score": -1, "reason": "x"}, 422, "score"),
    ({"score": 2.5, "reason": "x"}, 422, "score"), ({"score": "5", "reason": "x"}, 422, "score"),
    ({"score": 5, "reason": ""}, 422, "reason"), ({"score": 5, "reason": "   "}, 422, "reason"),
    ({"score": 5}, 422, "reason"), ({"score": 5, "reason": "x", "by": "me"}, 422, "by")])
def test_a_bad_priority_is_a_problem_naming_the_field_and_records_nothing(
        world, api, ops, body, status, field):
    joined = world.svc.app.join("+18085550780", None)
    before = event_count(world.db)
    answer = api.client.post(f"/v1/entries/{joined.queue_entry_id}/priority", headers=ops,
                             json=body)
    _problem(answer, status, field)
    assert event_count(world.db) == before


@pytest.mark.parametrize(("change", "status", "field"), [
    ({"date": "2026-02-30"}, 422, "date"), ({"date": "soon"}, 422, "date"),
    ({"date": "2020-01-06"}, 422, "date"), ({"time": "25:00"}, 422, "time"),
    ({"time": "9am"}, 422, "time"), ({"location_id": "Atlantis"}, 404, None),
    ({"location_id": str(uuid4())}, 404, None), ({"entry": str(uuid4())}, 404, None),
    ({"entry": "canceled"}, 409, None), ({"location_id": ""}, 422, "location_id")])
def test_a_bad_booking_is_a_problem_and_records_nothing(world, api, ops, change, status, field):
    kapolei = world.location("Kapolei")
    joined = world.svc.app.join("+18085550781", None)
    if change.get("entry") == "canceled":
        world.svc.app.cancel(joined.queue_entry_id, world.now)
    body = {"location_id": str(kapolei), "time": "09:00",
            "date": str(next_weekday(world.today, 2, weeks=1)), **change}
    entry = body.pop("entry", None)
    entry = joined.queue_entry_id if entry in (None, "canceled") else entry
    before = event_count(world.db)
    _problem(api.client.post(f"/v1/entries/{entry}/book", headers=ops, json=body), status,
             field)
    assert event_count(world.db) == before


def test_rebuild_reproduces_the_tables_after_priorities_and_direct_bookings(world, api, ops):
    kapolei = world.location("Kapolei")
    line = [world.customer([kapolei]) for _ in range(3)]
    day = next_weekday(world.today, 3, weeks=1)
    _tracked_opening(world, kapolei, day, "9:00")
    assert _raise(api, ops, line[2].queue_entry_id, 6).status_code == 200
    assert _raise(api, ops, line[1].queue_entry_id, 6).status_code == 200
    assert _raise(api, ops, line[1].queue_entry_id, 0, "back").status_code == 200
    assert _book(api, ops, line[0].queue_entry_id, kapolei, day, "09:00").status_code == 200
    world.open_slot(kapolei, day, "10:00")
    world.dispatch("sim")  # line[2] wins the next opening on its score
    world.svc.catch_up()
    assert maintenance.verify(world.svc.app, world.svc.view, texts=world.svc.texts) == []
    before = snapshot(world.db)
    assert before["entry_priorities"]
    maintenance.rebuild(world.svc.app, world.svc.view, texts=world.svc.texts)
    assert snapshot(world.db) == before
    assert slot_key(kapolei, day, "9:00") in {r[0] for r in world.rows(
        "SELECT slot_key FROM slotqueue.opened_slots WHERE outcome = 'booked_by_operator'")}
