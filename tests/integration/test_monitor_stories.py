"""Issue 7 §1 as stories on a real database: what real monitors, clocks and databases do, and
the promise that holds anyway — one slot, one booking, nothing lost.

Each story runs the dispatcher the two ways it runs in production: a new process per run
(`dispatch --once`, cron) and one long-lived dispatcher that keeps its view (`slotqueue run`).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from dispatch_world import World, next_weekday

from slotqueue.adapters.booking import BookingResult, SimBooker, StubBooker
from slotqueue.aggregates.matcher import Selection
from slotqueue.projections import maintenance, slot_audit

MINUTE = timedelta(minutes=1)  # the lookback is 3 minutes


class Dispatch:
    """Runs the dispatcher as a fresh process would, or as one long-lived `run` does."""

    def __init__(self, world: World, warm: bool) -> None:
        self.world, self.warm = world, warm
        self._conn = world.svc.connect(autocommit=True) if warm else None
        self._dispatcher = None

    def __call__(self, booker="sim", now=None):
        adapter = booker if not isinstance(booker, str) else self.world.booker(booker)
        if not self.warm:
            return self.world.svc.dispatch_once(adapter, now=now)
        if self._dispatcher is None:
            self._dispatcher = self.world.svc.dispatcher(self._conn, adapter)
        self._dispatcher.booker = adapter
        summary = self._dispatcher.tick(now)
        self.world.svc.catch_up()
        return summary

    def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.close()
        if self._conn is not None:
            self._conn.close()


@pytest.fixture
def world(service, db):
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


@pytest.fixture(params=["new process per run", "one long-lived dispatcher"])
def dispatch(request, world):
    runner = Dispatch(world, warm=request.param != "new process per run")
    yield runner
    runner.close()


def openings(world, key=None):
    query = ("SELECT opening, outcome, closed_at IS NOT NULL FROM slotqueue.opened_slots "
             + ("WHERE slot_key = %s " if key else "") + "ORDER BY opening, opened_at")
    return world.rows(query, *([key] if key else []))


def status(world, joined):
    entry = world.svc.app.entry(joined.queue_entry_id)
    return entry.status, entry.deposit_status


def scrape(world, key_time, at):
    """The monitor saw the slot again at `at`: last_seen moves to that scrape's time."""
    world.db.execute("UPDATE slot_states SET last_seen = %s WHERE time = %s", (at, key_time))


# --- one slot, one booking ------------------------------------------------------------------

def test_a_late_scrape_lowering_first_seen_is_the_same_opening_not_a_second_booking(
        world, dispatch):
    kapolei = world.location("Kapolei")
    first, second = world.customer([kapolei]), world.customer([kapolei])
    day = next_weekday(world.today, 2, weeks=1)
    key = world.open_slot(kapolei, day, "08:30")
    assert dispatch().booking_success_count == 1
    # A scrape committed late saw the slot earlier: the monitor keeps least(old, new).
    world.db.execute("UPDATE slot_states SET first_seen = first_seen - interval '6 minutes', "
                     "last_seen = now()")
    summary = dispatch()
    assert (summary.opened_slots_count, summary.booking_attempt_count) == (0, 0)
    assert openings(world, key) == [(1, "booked", False)]
    assert (status(world, first), status(world, second)) == (
        ("booked", "paid"), ("active", "paid"))


def test_two_spellings_of_one_time_are_one_slot_and_one_booking(world, dispatch):
    kapolei = world.location("Kapolei")
    first, second = world.customer([kapolei]), world.customer([kapolei])
    day = next_weekday(world.today, 3, weeks=1)
    key = world.open_slot(kapolei, day, "8:00")
    assert dispatch().booking_success_count == 1
    assert world.open_slot(kapolei, day, "08:00:00") == key  # the monitor spells it anew
    world.open_slot(kapolei, day, "08:00")
    summary = dispatch()
    assert (summary.opened_slots_count, summary.booking_attempt_count) == (0, 0)
    assert openings(world, key) == [(1, "booked", False)]
    assert status(world, second) == ("active", "paid")
    assert world.rows("SELECT count(*) FROM booking_attempts") == [(1,)]
    assert first.customer_id == world.rows("SELECT customer_id FROM booking_attempts")[0][0]


def test_spellings_seen_in_one_run_open_the_slot_once(world, dispatch):
    kapolei = world.location("Kapolei")
    world.customer([kapolei])
    day = next_weekday(world.today, 4, weeks=1)
    key = world.open_slot(kapolei, day, "9:45")
    world.open_slot(kapolei, day, "09:45:00")
    assert dispatch().opened_slots_count == 1
    assert openings(world, key) == [(1, "booked", False)]


# --- reopened slots -------------------------------------------------------------------------

def test_a_slot_missing_from_one_scrape_but_seen_within_the_lookback_is_not_reopened(
        world, dispatch):
    kapolei = world.location("Kapolei")
    world.customer([kapolei], blocks=("afternoon",))  # nobody can take an 08:15 slot
    key = world.open_slot(kapolei, next_weekday(world.today, 1, weeks=1), "08:15")
    t0 = world.now
    assert dispatch(now=t0).opened_slots_count == 1
    assert dispatch(now=t0 + 2 * MINUTE).closed_slots_count == 0  # a scrape missed it
    scrape(world, "08:15", at=t0 + 2.5 * MINUTE)  # the next one saw it: 2.5 min < 3 min
    summary = dispatch(now=t0 + 4 * MINUTE)
    assert (summary.opened_slots_count, summary.closed_slots_count) == (0, 0)
    assert openings(world, key) == [(1, "no_eligible_customer", False)]


def test_a_slot_that_disappears_and_comes_back_is_a_new_opening_decided_again(world, dispatch):
    kapolei = world.location("Kapolei")
    world.customer([kapolei], blocks=("afternoon",))
    key = world.open_slot(kapolei, next_weekday(world.today, 1, weeks=1), "08:15")
    t0 = world.now
    dispatch(now=t0)
    # no scrape has seen it for longer than the lookback
    assert dispatch(now=t0 + 4 * MINUTE).closed_slots_count == 1
    assert openings(world, key) == [(1, "no_eligible_customer", True)]
    late = world.customer([kapolei], blocks=("early",))
    scrape(world, "08:15", at=t0 + 5 * MINUTE)  # someone gave it back
    summary = dispatch(now=t0 + 5 * MINUTE)
    assert (summary.opened_slots_count, summary.booking_success_count) == (1, 1)
    assert openings(world, key) == [(1, "no_eligible_customer", True), (2, "booked", False)]
    assert status(world, late) == ("booked", "paid")


def test_a_slot_this_service_booked_that_comes_back_goes_to_the_next_customer(world, dispatch):
    kapolei = world.location("Kapolei")
    first, second = world.customer([kapolei]), world.customer([kapolei])
    key = world.open_slot(kapolei, next_weekday(world.today, 2, weeks=2), "09:30")
    t0 = world.now
    assert dispatch(now=t0).booking_success_count == 1
    # booked: the DMV stops listing it
    assert dispatch(now=t0 + 4 * MINUTE).closed_slots_count == 1
    scrape(world, "09:30", at=t0 + 6 * MINUTE)  # the customer cancelled at the DMV
    assert dispatch(now=t0 + 6 * MINUTE).booking_success_count == 1
    assert openings(world, key) == [(1, "booked", True), (2, "booked", False)]
    assert (status(world, first), status(world, second)) == (
        ("booked", "paid"), ("booked", "paid"))
    assert maintenance.verify(world.svc.app, world.svc.view) == []


def test_an_opening_that_ends_before_anyone_could_book_it_books_nobody_later(world, dispatch):
    kapolei = world.location("Kapolei")
    customer = world.customer([kapolei])
    world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "08:45")
    t0 = world.now
    dispatch(StubBooker(), now=t0)  # the booking fails; the customer stays active
    assert dispatch(now=t0 + 4 * MINUTE).closed_slots_count == 1
    assert dispatch(now=t0 + 5 * MINUTE).booking_attempt_count == 0
    assert status(world, customer) == ("active", "paid")
    assert world.rows("SELECT count(*) FROM booking_attempts") == [(1,)]


# --- the watermark and a monitor host whose clock runs ahead ----------------------------------

def test_a_row_stamped_hours_ahead_does_not_hide_the_openings_after_it(world, dispatch):
    kapolei = world.location("Kapolei")
    world.customer([kapolei], blocks=("early", "late"))
    later = world.customer([kapolei], blocks=("early", "late"))
    day = next_weekday(world.today, 1, weeks=1)
    world.db.execute(
        "INSERT INTO slot_states (location_id, date, time, first_seen, last_seen) "
        "VALUES (%s, %s, '08:00', now() + interval '2 hours', now() + interval '2 hours')",
        (kapolei, day))
    assert dispatch().opened_slots_count == 1
    [(watermark, db_now)] = world.rows(
        "SELECT last_processed_at, now() FROM queue_watermarks WHERE key = 'slot_opened'")
    assert watermark <= db_now
    world.open_slot(kapolei, day, "10:00")  # a normal scrape after the skewed one
    summary = dispatch()
    assert (summary.opened_slots_count, summary.booking_success_count) == (1, 1)
    assert status(world, later) == ("booked", "paid")


# --- a booking the adapter confirmed is never lost --------------------------------------------

class SlowBooker:
    """A booking system that answers only when told, with what it is told."""

    name = "sim"

    def __init__(self, answer: BookingResult) -> None:
        self.answer, self.called, self.go = answer, threading.Event(), threading.Event()

    def book_slot(self, *args):
        self.called.set()
        assert self.go.wait(60)
        return self.answer


def _attempt_in_background(world, booker):
    results: list[object] = []

    def attempt() -> None:
        try:
            results.append(world.svc.dispatch_once(booker))
        except Exception as exc:
            results.append(exc)
            booker.called.set()

    thread = threading.Thread(target=attempt)
    thread.start()
    # the run must be inside the booking adapter before the test goes on (a loaded machine
    # can take a while to get there: waiting is bounded, going on early is not allowed)
    assert booker.called.wait(120), "the background run never called the booking adapter"
    assert not results, results
    return thread, results


def test_a_success_that_comes_after_the_lock_ran_out_is_recorded_as_a_booking(world):
    kapolei = world.location("Kapolei")
    customer = world.customer([kapolei])
    key = world.open_slot(kapolei, next_weekday(world.today, 3, weeks=1), "09:15")
    slow = SlowBooker(BookingResult("success"))
    thread, _ = _attempt_in_background(world, slow)
    later = world.now + timedelta(seconds=121)  # past the 120 s lock
    assert world.dispatch(StubBooker(), now=later).interrupted_attempt_count == 1
    assert status(world, customer) == ("active", "paid")
    slow.go.set()
    thread.join(60)
    world.svc.catch_up()
    assert status(world, customer) == ("booked", "paid")
    assert openings(world, key) == [(1, "booked", False)]
    assert world.rows("SELECT result, error_code FROM booking_attempts") == [("success", None)]
    names = [type(e).__name__ for e in world.svc.app.events.get(
        world.rows("SELECT id FROM slotqueue.opened_slots")[0][0])]
    assert names[-2:] == ["AttemptFinished", "AttemptAnsweredLate"]
    assert maintenance.verify(world.svc.app, world.svc.view) == []


def test_a_late_success_for_a_customer_booked_meanwhile_is_a_conflict_an_operator_sees(world):
    kapolei = world.location("Kapolei")
    customer = world.customer([kapolei], blocks=("early", "late"))
    day = next_weekday(world.today, 3, weeks=1)
    first_key = world.open_slot(kapolei, day, "08:15")
    slow = SlowBooker(BookingResult("success"))
    thread, _ = _attempt_in_background(world, slow)
    later = world.now + timedelta(seconds=121)
    world.open_slot(kapolei, day, "10:30")
    summary = world.dispatch("sim", now=later)  # ends the stalled attempt, books the other
    assert (summary.interrupted_attempt_count, summary.booking_success_count) == (1, 1)
    slow.go.set()
    thread.join(60)
    world.svc.catch_up()
    assert status(world, customer) == ("booked", "paid")  # into the 10:30 slot
    assert openings(world, first_key) == [(1, "booked_conflict", False)]
    [(entry_id, reason)] = world.rows(
        "SELECT queue_entry_id, reason FROM slotqueue.booking_conflicts")
    assert entry_id == customer.queue_entry_id
    assert "booked" in reason
    assert world.rows("SELECT result FROM booking_attempts ORDER BY attempt_at") == [
        ("success",), ("success",)]
    assert maintenance.verify(world.svc.app, world.svc.view) == []


def test_a_success_for_an_entry_canceled_during_the_attempt_is_a_recorded_conflict(world):
    kapolei = world.location("Kapolei")
    customer = world.customer([kapolei])
    world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "09:00")
    slow = SlowBooker(BookingResult("success"))
    thread, results = _attempt_in_background(world, slow)
    world.svc.app.cancel(customer.queue_entry_id, world.now)
    slow.go.set()
    thread.join(60)
    [error] = results[0].errors
    assert "booked, but" in error
    world.svc.catch_up()
    assert status(world, customer)[0] == "canceled"
    assert world.rows("SELECT outcome FROM slotqueue.opened_slots") == [("booked_conflict",)]
    assert world.rows("SELECT reason FROM slotqueue.booking_conflicts") == [
        ("cannot book: entry is canceled",)]


# --- decide against current facts -------------------------------------------------------------

class NarrowingBooker:
    """While the first booking is under way, another customer narrows their windows."""

    name = "sim"

    def __init__(self, world: World, customer_id, blocks) -> None:
        self.world, self.customer_id, self.blocks, self.calls = world, customer_id, blocks, 0
        self.inner = SimBooker(world.svc.url, "Pacific/Honolulu", 3)

    def book_slot(self, *args):
        self.calls += 1
        if self.calls == 1:
            presets = slot_audit_presets(self.world)
            self.world.svc.app.select_windows(self.customer_id, Selection(
                "Pacific/Honolulu", "w8", "any_weekday", (), self.blocks), presets,
                self.world.now)
        return self.inner.book_slot(*args)


def slot_audit_presets(world):
    from slotqueue.adapters.presets import load_presets  # noqa: PLC0415
    return load_presets(world.db)


def test_a_customer_who_narrows_their_windows_during_a_run_is_not_booked_outside_them(
        world, dispatch):
    kapolei, kaneohe = world.location("Kapolei"), world.location("Kaneohe")
    # rank 1: passed over at Kapolei (late only), would take the Kaneohe 10:00 slot
    narrower = world.customer([kapolei, kaneohe], blocks=("late",))
    winner = world.customer([kapolei], blocks=("early",))  # rank 2: takes the Kapolei slot
    day = next_weekday(world.today, 2, weeks=1)
    world.open_slot(kapolei, day, "08:00")  # decided first: the soonest
    second = world.open_slot(kaneohe, day, "10:00")
    booker = NarrowingBooker(world, narrower.customer_id, ("afternoon",))
    summary = dispatch(booker)
    assert summary.booking_success_count == 1
    assert status(world, winner) == ("booked", "paid")
    assert status(world, narrower) == ("active", "paid")
    assert openings(world, second) == [(1, "no_eligible_customer", False)]
    assert world.rows("SELECT count(*) FROM booking_attempts WHERE customer_id = %s",
                      narrower.customer_id) == [(0,)]


# --- one bad row or preset never stops the service ----------------------------------------------

BAD_ROWS = [("infinity", "08:00", "now()", "now()"),
            ("9999-12-31", "08:00", "now()", "now()"),
            ("{day}", "25:99", "now()", "now()"),
            ("{day}", "noon", "now()", "now()"),
            ("{day}", "08:30", "'-infinity'", "'infinity'")]


def test_unreadable_monitor_rows_are_skipped_with_one_warning_each(world, dispatch, caplog):
    kapolei = world.location("Kapolei")
    world.customer([kapolei], blocks=("early", "late"))
    day = next_weekday(world.today, 1, weeks=1)
    for date_text, time_text, first_seen, last_seen in BAD_ROWS:
        world.db.execute(
            "INSERT INTO slot_states (location_id, date, time, first_seen, last_seen) "
            f"VALUES (%s, %s, %s, {first_seen}, {last_seen})",
            (kapolei, date_text.format(day=day), time_text))
    world.open_slot(kapolei, day, "09:00")
    with caplog.at_level(logging.WARNING, logger="slotqueue.monitor"):
        summary = dispatch()
        assert (summary.opened_slots_count, summary.booking_success_count) == (1, 1)
        dispatch()
    warnings = [r for r in caplog.records if "unreadable slot_states row" in r.getMessage()]
    per_process = 1 if dispatch.warm else 2
    assert len(warnings) == len(BAD_ROWS) * per_process
    reasons = " ".join(str(r.fields["reason"]) for r in warnings)  # type: ignore[attr-defined]
    assert "too far" in reasons
    assert "25:99" in reasons


def test_a_malformed_preset_makes_only_the_customers_who_chose_it_ineligible(
        world, dispatch, caplog):
    kapolei = world.location("Kapolei")
    chose_late = world.customer([kapolei], blocks=("early", "late"))  # rank 1
    early_only = world.customer([kapolei], blocks=("early",))  # rank 2
    world.db.execute("UPDATE target_window_presets SET rules_json = '{\"start\": \"soon\"}' "
                     "WHERE key = 'late'")
    key = world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "08:15")
    with caplog.at_level(logging.WARNING, logger="slotqueue.presets"):
        assert dispatch().booking_success_count == 1
    assert (status(world, chose_late), status(world, early_only)) == (
        ("active", "paid"), ("booked", "paid"))
    assert any("malformed active preset" in r.getMessage() for r in caplog.records)
    [journal] = slot_audit.slot_journal(world.svc.app, world.db, key)
    assert [(a["customer_id"], a["failed"]) for a in journal["ahead"]] == [
        (chose_late.customer_id, "window:preset_unreadable")]


# --- soonest slot first -------------------------------------------------------------------------

def test_openings_found_in_one_run_are_decided_soonest_slot_first(world, dispatch):
    aiea, kapolei = world.location("Aiea"), world.location("Kapolei")
    customer = world.customer([aiea, kapolei], blocks=("early", "late"))
    day = next_weekday(world.today, 1, weeks=1)
    world.open_slot(aiea, day + timedelta(days=1), "08:00")  # a later day
    world.open_slot(kapolei, day, "10:00")  # a later time
    same_time_later_name = world.open_slot(kapolei, day, "08:00")
    soonest = world.open_slot(aiea, day, "08:00")  # same time: Aiea's name sorts first
    dispatch()
    [(booked_key,)] = world.rows("SELECT slot_key FROM slotqueue.opened_slots "
                                 "WHERE outcome = 'booked'")
    assert booked_key == soonest != same_time_later_name
    assert status(world, customer) == ("booked", "paid")


# --- one clock ----------------------------------------------------------------------------------

needs_faketime = pytest.mark.skipif(shutil.which("faketime") is None,
                                    reason="faketime is not installed (.ci/run installs it)")


def _cli_at(offset: str, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A slotqueue command on a host whose clock is `offset` off (libfaketime)."""
    import os  # noqa: PLC0415
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLOTQUEUE_")}
    env.update(DATABASE_URL=url, CI="true", SLOTQUEUE_LOG_FORMAT="json")
    return subprocess.run(["faketime", "-f", offset, sys.executable, "-m", "slotqueue", *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


@needs_faketime
def test_a_command_on_a_host_whose_clock_is_off_keeps_the_queue_order_and_the_deadlines(
        world, database_url):
    import json  # noqa: PLC0415
    ahead = _cli_at("+3h", database_url, "join", "--phone", "808-555-0190", "--json")
    behind = _cli_at("-3h", database_url, "join", "--phone", "808-555-0191", "--json")
    assert ahead.returncode == behind.returncode == 0, ahead.stderr + behind.stderr
    first, second = json.loads(ahead.stdout), json.loads(behind.stdout)
    rows = world.rows("SELECT id, created_at, now() - created_at FROM queue_entries "
                      "ORDER BY created_at, id")
    assert [str(r[0]) for r in rows] == [first["queue_entry_id"], second["queue_entry_id"]]
    assert all(timedelta(0) <= r[2] < timedelta(minutes=5) for r in rows)
    asked = _cli_at("-3h", database_url, "require-deposit", first["queue_entry_id"], "--json")
    assert asked.returncode == 0, asked.stderr
    [(expires_in,)] = world.rows("SELECT deposit_expires_at - now() FROM queue_entries "
                                 "WHERE deposit_status = 'required'")
    assert timedelta(minutes=115) < expires_in <= timedelta(minutes=120)
    ran = _cli_at("+3h", database_url, "dispatch", "--once", "--json")  # no early lapse
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["deposits_lapsed_count"] == 0
