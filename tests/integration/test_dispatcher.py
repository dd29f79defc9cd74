"""The dispatcher on a real database: deposits, eligibility, bookings, nudges, the journal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dispatch_world import GRACE, CountingBooker, World, next_weekday

from slotqueue.adapters.booking import StubBooker
from slotqueue.projections import maintenance, slot_audit
from slotqueue.projections.customer_audit import customer_openings

from dbsupport import event_count, snapshot


@pytest.fixture
def world(service, db):
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


def _status(world, joined):
    entry = world.svc.app.entry(joined.queue_entry_id)
    return entry.status, entry.deposit_status


def test_the_front_ten_are_asked_for_deposits_and_a_lapse_frees_the_rank(world):
    kapolei = world.location("Kapolei")
    queue = [world.customer([kapolei], paid=False) for _ in range(12)]
    summary = world.dispatch()
    assert summary.deposit_required_set_count == 10
    assert [_status(world, j)[0] for j in queue] == ["deposit_required"] * 10 + ["queued"] * 2
    assert world.dispatch().deposit_required_set_count == 0  # never asked twice
    world.svc.app.record_payment(queue[0].queue_entry_id, "pay-first", world.now)
    later = world.now + GRACE + timedelta(minutes=1)
    summary = world.dispatch(now=later)
    assert summary.deposits_lapsed_count == 9
    assert summary.deposit_required_set_count == 2  # ranks 2 and 3 now: the old 11th and 12th
    assert [_status(world, j) for j in (queue[0], queue[1], queue[10], queue[11])] == [
        ("active", "paid"), ("expired", "expired"),
        ("deposit_required", "required"), ("deposit_required", "required")]
    keys = {k for (k,) in world.rows("SELECT dedupe_key FROM message_log")}
    assert f"status:{queue[1].queue_entry_id}:deposit_lapsed" in keys
    assert sum(k.startswith("deposit_needed:") for k in keys) == 12


def test_the_first_eligible_customer_in_rank_order_gets_the_slot(world):
    kapolei, kaneohe = world.location("Kapolei"), world.location("Kaneohe")
    elsewhere = world.customer([kaneohe])                        # rank 1: location
    unpaid = world.customer([kapolei], paid=False)                # rank 2: not active
    afternoon = world.customer([kapolei], blocks=("afternoon",))  # rank 3: window only
    winner = world.customer([kapolei], blocks=("early", "late"))  # rank 4
    behind = world.customer([kapolei])                            # rank 5: behind the winner
    key = world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "8:30")
    summary = world.dispatch()
    assert (summary.opened_slots_count, summary.booking_attempt_count,
            summary.booking_success_count) == (1, 1, 1)
    assert _status(world, winner) == ("booked", "paid")
    assert _status(world, behind) == ("active", "paid")
    assert world.rows("SELECT outcome, winner_rank FROM slotqueue.opened_slots") == [
        ("booked", 4)]
    assert world.rows("SELECT result, customer_id FROM booking_attempts") == [
        ("success", winner.customer_id)]
    nudged = world.rows("SELECT customer_id FROM message_log WHERE message_type = "
                        "'opportunity_passed'")
    assert nudged == [(afternoon.customer_id,)]
    [journal] = slot_audit.slot_journal(world.svc.app, world.db, key)
    assert [(a["rank"], a["customer_id"], a["failed"]) for a in journal["ahead"]] == [
        (1, elsewhere.customer_id, "location"), (2, unpaid.customer_id, "not_active"),
        (3, afternoon.customer_id, "window:time_block")]
    assert journal["winner"]["rank"] == 4
    assert [e["name"] for e in journal["events"]] == [
        "SlotOpened", "Decided", "AttemptFinished"]
    assert slot_audit.passed_over(world.svc.app, world.db,
                                  world.svc.app.customer(behind.customer_id)) == []
    [lost] = customer_openings(world.svc.app, world.db,
                               world.svc.app.customer(behind.customer_id))["openings"]
    assert (lost["slot_key"], lost["winner"], lost["failed"]) == (key, "ahead", "behind_winner")
    why = slot_audit.passed_over(world.svc.app, world.db,
                                 world.svc.app.customer(afternoon.customer_id))
    assert [w["failed"] for w in why] == ["window:time_block"]


def test_weekend_slots_book_nobody_and_nudge_nobody(world):
    kapolei = world.location("Kapolei")
    world.customer([kapolei], blocks=("early", "late", "midday", "afternoon"))
    world.open_slot(kapolei, next_weekday(world.today, 6), "09:00")
    world.open_slot(kapolei, next_weekday(world.today, 7), "09:00")
    summary = world.dispatch()
    assert (summary.opened_slots_count, summary.booking_attempt_count,
            summary.opportunity_passed_sent_count) == (2, 0, 0)
    assert world.rows("SELECT DISTINCT outcome FROM slotqueue.opened_slots") == [("weekend",)]


def test_rows_no_longer_seen_within_the_lookback_are_ignored(world):
    kapolei = world.location("Kapolei")
    world.customer([kapolei])
    day = next_weekday(world.today, 1, weeks=1)
    world.open_slot(kapolei, day, "08:30", first_seen_ago=timedelta(minutes=1),
                    last_seen_ago=timedelta(minutes=4))
    summary = world.dispatch()
    assert (summary.opened_slots_count, summary.booking_attempt_count) == (0, 0)


def test_a_row_committed_late_with_an_older_first_seen_is_not_lost(world):
    kapolei = world.location("Kapolei")
    world.customer([kapolei], blocks=("early", "late"))
    day = next_weekday(world.today, 1, weeks=1)
    world.open_slot(kapolei, day, "08:00")
    assert world.dispatch().opened_slots_count == 1
    # committed after that run, though the monitor saw it 2 minutes before the watermark
    world.open_slot(kapolei, day, "10:00", first_seen_ago=timedelta(minutes=2))
    # listed since before slotqueue began watching (the seed watermark, 10 minutes before the
    # migration): recorded, never decided
    world.open_slot(kapolei, day, "10:15", first_seen_ago=timedelta(minutes=30))
    assert world.dispatch().opened_slots_count == 1
    assert world.rows("SELECT slot_time = '10:15', outcome FROM slotqueue.opened_slots "
                      "WHERE outcome <> 'booked' ORDER BY 1") == [
        (False, "no_eligible_customer"), (True, "listed_before_watch")]


def test_a_failed_attempt_keeps_the_customer_active_and_the_slot_is_not_passed_on(world):
    kapolei = world.location("Kapolei")
    first, second = world.customer([kapolei]), world.customer([kapolei])
    world.open_slot(kapolei, next_weekday(world.today, 3, weeks=1), "09:00")
    booker = CountingBooker(StubBooker())
    summary = world.dispatch(booker)
    assert (summary.booking_attempt_count, summary.booking_success_count, booker.calls) == (
        1, 0, 1)
    assert _status(world, first) == ("active", "paid")
    assert _status(world, second) == ("active", "paid")
    assert world.rows("SELECT result, error_code, customer_id FROM booking_attempts") == [
        ("fail", "stub_booker", first.customer_id)]
    assert world.rows("SELECT outcome FROM slotqueue.opened_slots") == [("attempt_failed",)]
    world.dispatch(booker)
    assert booker.calls == 1


def test_nudges_go_to_rank_20_and_ahead_of_the_winner_once_per_honolulu_day(world):
    kapolei = world.location("Kapolei")
    misfits = [world.customer([kapolei], blocks=("afternoon",)) for _ in range(21)]
    winner = world.customer([kapolei], blocks=("early",))
    day = next_weekday(world.today, 1, weeks=1)
    world.open_slot(kapolei, day, "08:00")
    summary = world.dispatch("off")
    assert summary.opportunity_passed_sent_count == 20
    nudged = {c for (c,) in world.rows("SELECT customer_id FROM message_log "
                                       "WHERE message_type = 'opportunity_passed'")}
    assert nudged == {m.customer_id for m in misfits[:20]}
    assert _status(world, winner) == ("active", "paid")  # shadow mode books nobody
    world.open_slot(kapolei, day + timedelta(days=1), "08:00")
    assert world.dispatch("off").opportunity_passed_sent_count == 0  # same Honolulu day
    tomorrow = world.now + timedelta(days=1)
    world.open_slot(kapolei, day + timedelta(days=2), "08:00", first_seen_ago=-timedelta(days=1),
                    last_seen_ago=-timedelta(days=1))
    assert world.dispatch("off", now=tomorrow).opportunity_passed_sent_count == 20
    texts = [t for (t,) in world.rows("SELECT meta_json->>'text' FROM message_log "
                                      "WHERE message_type = 'opportunity_passed'")]
    assert all(day.isoformat() not in t and "08:00" not in t and "8:00" not in t for t in texts)


def test_a_preset_edited_with_sql_changes_the_next_runs_match(world):
    kapolei = world.location("Kapolei")
    early = world.customer([kapolei], blocks=("early",))
    day = next_weekday(world.today, 4, weeks=1)
    world.open_slot(kapolei, day, "10:00")
    assert world.dispatch().booking_attempt_count == 0
    world.db.execute("UPDATE target_window_presets SET rules_json = "
                     "'{\"start\": \"08:00\", \"end\": \"10:30\"}' WHERE key = 'early'")
    world.open_slot(kapolei, day + timedelta(days=7), "10:00")
    assert world.dispatch().booking_success_count == 1
    assert _status(world, early) == ("booked", "paid")
    decided = [e for e in world.svc.app.events.get(world.rows(
        "SELECT id FROM slotqueue.opened_slots WHERE outcome = 'booked'")[0][0])
        if type(e).__name__ == "Decided"]
    assert decided[0].presets["time_block"]["early"]["end"] == "10:30"


def test_repeated_runs_change_nothing(world):
    kapolei = world.location("Kapolei")
    for blocks in (("early",), ("afternoon",), ("late",)):
        world.customer([kapolei], blocks=blocks)
    world.customer([kapolei], paid=False)
    for n, time_text in enumerate(("08:15", "14:00", "12:00")):
        world.open_slot(kapolei, next_weekday(world.today, 1 + n, weeks=1), time_text)
    world.dispatch()
    before, events = snapshot(world.db), event_count(world.db)
    for _ in range(3):
        summary = world.dispatch()
        assert (summary.opened_slots_count, summary.booking_attempt_count,
                summary.deposit_required_set_count) == (0, 0, 0)
    assert (snapshot(world.db), event_count(world.db)) == (before, events)
    assert maintenance.verify(world.svc.app, world.svc.view) == []


class Crash(BaseException):
    """The process dies inside the booking adapter's call."""


class CrashingBooker:
    name = "sim"

    def book_slot(self, *args):
        raise Crash


def test_an_attempt_interrupted_by_a_crash_is_finished_not_repeated(world):
    kapolei = world.location("Kapolei")
    customer = world.customer([kapolei])
    world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "09:00")
    with pytest.raises(Crash):
        world.dispatch(CrashingBooker())
    world.svc.catch_up()
    assert world.rows("SELECT outcome FROM slotqueue.opened_slots") == [("attempting",)]
    booker = CountingBooker(StubBooker())
    world.dispatch(booker)  # the lock is still held: nobody touches the slot
    assert world.rows("SELECT outcome FROM slotqueue.opened_slots") == [("attempting",)]
    summary = world.dispatch(booker, now=world.now + timedelta(seconds=121))
    assert (summary.interrupted_attempt_count, booker.calls) == (1, 0)
    assert world.rows("SELECT result, error_code FROM booking_attempts") == [
        ("fail", "attempt_interrupted")]
    assert _status(world, customer) == ("active", "paid")
