"""`audit --customer` on a real database: a summary first, then the openings that mattered (at
the customer's locations, or won by someone behind them), "passed over" only where somebody
behind got the slot; quick for a long history."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from dispatch_world import World, next_weekday
from test_cli import ok_json, run

from slotqueue.projections import slot_audit
from slotqueue.projections.customer_audit import customer_openings


@pytest.fixture
def world(service, db):
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


@pytest.fixture
def story(world):
    """Rank 1 wants Kapolei afternoons; rank 2 takes early mornings at Kapolei and Kaneohe. At
    Kapolei: an early slot (rank 2 wins it), a midday one (nobody), a Saturday, an afternoon
    (rank 1 wins it); at Kaneohe, 20 early slots (rank 2 wins them all). The stub booker fails
    every attempt, so rank 2 stays active and keeps winning."""
    kapolei, kaneohe = world.location("Kapolei"), world.location("Kaneohe")
    first = world.customer([kapolei], blocks=("afternoon",))
    second = world.customer([kapolei, kaneohe], blocks=("early",))
    day = next_weekday(world.today, 2, weeks=1)
    keys = {"early": world.open_slot(kapolei, day, "8:30"),
            "midday": world.open_slot(kapolei, day, "12:00"),
            "saturday": world.open_slot(kapolei, next_weekday(world.today, 6), "9:00"),
            "afternoon": world.open_slot(kapolei, day, "14:00")}
    for n in range(20):
        world.open_slot(kaneohe, day + timedelta(days=7 * (n // 8)), f"{8 + n % 8 // 4}:"
                        f"{15 * (n % 4):02d}")
    world.dispatch("stub")
    return {"first": first, "second": second, "keys": keys}


def _openings(world, joined, limit=50):
    return customer_openings(world.svc.app, world.db, world.svc.app.customer(joined.customer_id),
                             limit)


def test_a_rank_one_customer_sees_the_opening_that_mattered_first_not_hundreds_elsewhere(
        world, story):
    found = _openings(world, story["first"], limit=3)
    assert found["summary"] == {
        "queued_since": found["summary"]["queued_since"],
        "openings_at_your_locations": 4, "won": 1, "went_to_someone_ahead": 0,
        "went_to_someone_behind": 1, "went_to_nobody": 2, "won_elsewhere_by_someone_behind": 20,
        "first_failed_checks": {"window:time_block": 2, "weekend": 1}}
    keys = story["keys"]
    assert [(o["slot_key"], o["winner"], o["passed_over"], o["failed"])
            for o in found["openings"]] == [
        (keys["early"], "behind", True, "window:time_block"),
        (keys["afternoon"], "you", False, None),
        (keys["midday"], None, False, "window:time_block")]
    assert found["openings"][0]["location"] == "Kapolei"
    assert found["openings"][0]["winner_rank"] == 2


def test_passed_over_means_somebody_behind_got_the_slot(world, story):
    passed = slot_audit.passed_over(world.svc.app, world.db,
                                    world.svc.app.customer(story["first"].customer_id))
    assert len(passed) == 21  # Kapolei's early slot and the 20 at Kaneohe
    assert {o["winner"] for o in passed} == {"behind"}
    assert story["keys"]["early"] in {o["slot_key"] for o in passed}
    assert not {story["keys"]["midday"], story["keys"]["saturday"]} & {
        o["slot_key"] for o in passed}  # went to nobody: nobody was passed over
    elsewhere = [o for o in passed if not o["at_your_locations"]]
    assert {o["failed"] for o in elsewhere} == {"location"}


def test_an_opening_someone_ahead_won_is_counted_but_passes_nobody_over(world, story):
    found = _openings(world, story["second"])
    summary = found["summary"]
    assert (summary["openings_at_your_locations"], summary["won"],
            summary["went_to_someone_ahead"], summary["went_to_someone_behind"],
            summary["went_to_nobody"]) == (24, 21, 1, 0, 2)
    assert summary["first_failed_checks"] == {"behind_winner": 1, "window:time_block": 1,
                                              "weekend": 1}
    [ahead] = [o for o in found["openings"] if o["winner"] == "ahead"]
    assert (ahead["slot_key"], ahead["passed_over"], ahead["failed"]) == (
        story["keys"]["afternoon"], False, "behind_winner")
    assert slot_audit.passed_over(world.svc.app, world.db,
                                  world.svc.app.customer(story["second"].customer_id)) == []


def test_the_command_takes_a_phone_and_prints_the_summary_first(world, story, database_url):
    shown = ok_json(database_url, "audit", "--customer", "808-555-0001", "--limit", "2")
    assert shown["state"]["customer_id"] == str(story["first"].customer_id)
    assert shown["summary"]["openings_at_your_locations"] == 4
    assert [o["slot_key"] for o in shown["openings"]] == [
        story["keys"]["early"], story["keys"]["afternoon"]]
    assert [o["slot_key"] for o in shown["passed_over"]] == [story["keys"]["early"]]
    assert len(shown["events"]) > 5
    text = run(database_url, "audit", "--customer", "+1 808 555 0001").stdout.splitlines()
    assert text[0].startswith(f"customer {story['first'].customer_id} (+1 808 ")
    assert "queued since" in text[0]
    assert text[1].startswith("openings at your locations while you queued: 4 (won 1,")
    assert text[2] == "openings elsewhere won by someone behind you: 20"
    assert text[3].startswith("first failed check at your locations: outside your times of "
                              "day 2, a weekend: never booked 1")
    assert text[4] == "openings that matter most (24 of 24):"
    assert text[5].startswith("  PASSED OVER Kapolei, ")
    assert "won by someone behind you (rank 2) [attempt_failed]; you: outside your times of day" \
        in text[5]
    assert "history:" in text
    before = ok_json(database_url, "audit", "--customer", "808-555-0001", "--as-of",
                     shown["summary"]["queued_since"])
    assert before["summary"]["openings_at_your_locations"] == 0
    assert before["openings"] == []


def test_an_unknown_phone_is_refused_in_one_line(world, database_url):
    done = run(database_url, "audit", "--customer", "808-555-0999")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["error: no customer joined with phone "
                                                "'808-555-0999'"]


def test_a_long_history_is_judged_with_one_read_of_the_decisions(world):
    """300 openings at the customer's location, each won by someone behind while their windows
    did not match: the audit judges them all against the recorded preset rules."""
    kapolei = world.location("Kapolei")
    first = world.customer([kapolei], blocks=("afternoon",))
    world.customer([kapolei], blocks=("early", "late"))
    for week in range(10):
        day = next_weekday(world.today, 1, weeks=week % 4)
        for minute in range(30):
            world.open_slot(kapolei, day + timedelta(days=week // 4),
                            f"{8 + minute // 8}:{minute % 8 * 5 + (week // 4) * 2:02d}")
    world.dispatch("stub")
    started = time.perf_counter()
    found = _openings(world, first)
    took = time.perf_counter() - started
    assert found["summary"]["went_to_someone_behind"] == 300
    assert found["summary"]["first_failed_checks"] == {"window:time_block": 300}
    assert len(found["openings"]) == 50
    assert took < 2.0, took
