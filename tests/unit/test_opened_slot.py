"""The OpenedSlot journal (spec §4.4, §4.5; decisions.md "The dispatcher"), with a fixed clock.

Slots are driven into each state through real commands. Run A opens, claims and decides; run B
is a second, overlapping run. The lock's TTL is the spec's default, 120 s.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from slotqueue.aggregates.errors import InvalidInput, TransitionRefused
from slotqueue.aggregates.matcher import Presets, slot_key
from slotqueue.aggregates.opened_slot import OpenedSlot, legacy_id

RUN_A = UUID("00000000-0000-4000-8000-00000000000a")
RUN_B = UUID("00000000-0000-4000-8000-00000000000b")
LOCATION_ID = UUID("00000000-0000-4000-8000-0000000000aa")
ENTRY_ID = UUID("00000000-0000-4000-8000-0000000000e1")
CUSTOMER_ID = UUID("00000000-0000-4000-8000-0000000000c1")
T0 = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)  # Monday 10:00 in Honolulu
FIRST_SEEN = T0 - timedelta(minutes=2)
TTL = timedelta(seconds=120)
LOCK_END = T0 + TTL
AFTER_LOCK = LOCK_END + timedelta(microseconds=1)
KEY = slot_key(LOCATION_ID, date(2026, 1, 7), "9:15")
SLOT_UTC = datetime(2026, 1, 7, 19, 15, tzinfo=UTC)  # Wednesday 09:15 in Honolulu
PRESETS = Presets.from_rows([("time_block", "early", {"start": "08:00", "end": "09:45"})])
WINNER = {"entry_id": ENTRY_ID, "customer_id": CUSTOMER_ID, "rank": 3,
          "joined_at": T0 - timedelta(days=9)}

Step = Callable[[OpenedSlot], Any]


def _claim(s: OpenedSlot) -> None:
    s.claim(RUN_A, T0, TTL)


def _decide(outcome: str, winner: dict[str, Any] | None = None) -> Step:
    return lambda s: s.decide(RUN_A, T0, outcome, PRESETS.to_json(), winner, [UUID(int=7)])


def _start(s: OpenedSlot) -> None:
    s.start_attempt(RUN_A, T0, "stub")


def _finish(result: str) -> Step:
    return lambda s: s.record_answer(RUN_A, T0 + timedelta(seconds=5), result, "E1", "said no")


_ATTEMPTING = (_claim, _decide("attempting", WINNER), _start)
STATES: dict[str, tuple[Step, ...]] = {
    "opened": (),
    "claimed": (_claim,),
    "weekend": (_claim, _decide("weekend")),
    "no_eligible": (_claim, _decide("no_eligible_customer")),
    "winner_chosen": (_claim, _decide("attempting", WINNER)),
    "attempting": _ATTEMPTING,
    "booked": (*_ATTEMPTING, _finish("success")),
    "attempt_failed": (*_ATTEMPTING, _finish("fail")),
    "skipped": (*_ATTEMPTING, _finish("skipped")),
    "interrupted": (*_ATTEMPTING, lambda s: s.interrupt(RUN_B, AFTER_LOCK)),
}
FINAL = ("weekend", "no_eligible", "booked", "attempt_failed", "skipped", "interrupted")


def build(state: str) -> OpenedSlot:
    """A slot driven into `state` by real commands; its events are still pending."""
    slot = OpenedSlot(
        slot_key=KEY, first_seen=FIRST_SEEN, location_id=LOCATION_ID, slot_date="2026-01-07",
        slot_time="09:15:00", slot_datetime=SLOT_UTC, at=T0, run_id=RUN_A, opening=1,
    )
    for step in STATES[state]:
        step(slot)
    return slot


def slot_in(state: str) -> OpenedSlot:
    slot = build(state)
    slot.collect_events()
    return slot


def replay(events: Any) -> Any:
    state = None
    for event in events:
        state = event.mutate(state)
    return state


def assert_refused_without_trace(slot: OpenedSlot, command: Step) -> None:
    before = copy.deepcopy(vars(slot))
    with pytest.raises(TransitionRefused):
        command(slot)
    assert slot.collect_events() == []
    assert vars(slot) == before


# --- identity ------------------------------------------------------------------------------

def test_an_openings_id_follows_from_its_slot_key_and_number() -> None:
    slot_id = OpenedSlot.create_id(KEY, 1)
    assert slot_id == UUID("874b85f7-b789-5d27-8af1-cd669f3160db")  # pinned: ids are stored
    assert build("opened").id == slot_id
    assert OpenedSlot.create_id(KEY, 2) != slot_id
    assert OpenedSlot.create_id(KEY.replace("09:15", "09:30"), 1) != slot_id


def test_openings_recorded_before_issue_7_keep_their_ids_from_key_and_first_seen() -> None:
    assert legacy_id(KEY, FIRST_SEEN) == UUID("ca6e9ad1-a1f3-525a-8ea1-9390b6c97d3a")
    in_honolulu = FIRST_SEEN.astimezone(ZoneInfo("Pacific/Honolulu"))
    assert legacy_id(KEY, in_honolulu) == legacy_id(KEY, FIRST_SEEN)


def test_opening_a_slot_records_the_row_and_no_lock_or_outcome() -> None:
    slot = build("opened")
    [opened] = slot.collect_events()
    assert type(opened).__name__ == "SlotOpened"
    assert (opened.slot_key, opened.first_seen, opened.slot_datetime, opened.run_id) == (
        KEY, FIRST_SEEN, SLOT_UTC, RUN_A)
    assert (slot.claimed_by, slot.outcome, slot.decided) == (None, None, False)


# --- the lock ------------------------------------------------------------------------------

def test_a_claim_locks_the_slot_until_now_plus_the_ttl() -> None:
    slot = slot_in("opened")
    slot.claim(RUN_A, T0, TTL)
    [claimed] = slot.collect_events()
    assert (type(claimed).__name__, claimed.run_id, claimed.until) == ("Claimed", RUN_A, LOCK_END)
    assert (slot.claimed_by, slot.claimed_until) == (RUN_A, LOCK_END)


@pytest.mark.parametrize(("now", "allowed"), [
    (T0, False), (LOCK_END - timedelta(microseconds=1), False), (LOCK_END, False),
    (AFTER_LOCK, True), (LOCK_END + timedelta(hours=1), True),
], ids=["same-instant", "just-before-the-end", "at-the-end", "just-after", "an-hour-later"])
def test_another_run_may_claim_only_once_the_lock_has_run_out(now: datetime, allowed: bool) -> None:
    slot = slot_in("claimed")
    if not allowed:
        assert_refused_without_trace(slot, lambda s: s.claim(RUN_B, now, TTL))
        return
    slot.claim(RUN_B, now, TTL)
    [claimed] = slot.collect_events()
    assert (claimed.run_id, slot.claimed_by, slot.claimed_until) == (RUN_B, RUN_B, now + TTL)


@pytest.mark.parametrize("state", ["winner_chosen", "attempting", *FINAL])
def test_a_decided_slot_is_never_claimed_again_even_after_its_lock_ran_out(state: str) -> None:
    later = LOCK_END + timedelta(days=1)
    assert_refused_without_trace(slot_in(state), lambda s: s.claim(RUN_B, later, TTL))


# --- the decision --------------------------------------------------------------------------

@pytest.mark.parametrize(("state", "run"), [
    ("opened", RUN_A), ("claimed", RUN_B), ("weekend", RUN_A), ("winner_chosen", RUN_A),
], ids=["unclaimed", "another-run", "decided-already", "winner-chosen-already"])
def test_only_the_run_holding_the_lock_decides_and_only_once(state: str, run: UUID) -> None:
    assert_refused_without_trace(
        slot_in(state), lambda s: s.decide(run, T0, "weekend", PRESETS.to_json()))


def test_a_run_whose_lock_was_taken_over_can_no_longer_decide() -> None:
    slot = slot_in("claimed")
    slot.claim(RUN_B, AFTER_LOCK, TTL)
    slot.collect_events()
    assert_refused_without_trace(
        slot, lambda s: s.decide(RUN_A, AFTER_LOCK, "no_eligible_customer", PRESETS.to_json()))


@pytest.mark.parametrize("outcome", ["weekend", "no_eligible_customer"])
def test_a_decision_without_a_winner_is_the_final_outcome(outcome: str) -> None:
    slot = slot_in("claimed")
    slot.decide(RUN_A, T0, outcome, PRESETS.to_json(), passed_over=[CUSTOMER_ID])
    [decided] = slot.collect_events()
    assert (decided.outcome, decided.winner, decided.passed_over) == (outcome, None, [CUSTOMER_ID])
    assert decided.presets == PRESETS.to_json()
    assert (slot.outcome, slot.decided, slot.decided_at) == (outcome, True, T0)


def test_a_decision_with_a_winner_stays_attempting_until_the_attempt_finishes() -> None:
    slot = slot_in("claimed")
    slot.decide(RUN_A, T0, "attempting", PRESETS.to_json(), WINNER)
    [decided] = slot.collect_events()
    assert (decided.outcome, decided.winner) == ("attempting", WINNER)
    assert (slot.outcome, slot.decided, slot.winner) == ("attempting", False, WINNER)


# --- the attempt ---------------------------------------------------------------------------

@pytest.mark.parametrize(("state", "run"), [
    ("claimed", RUN_A), ("weekend", RUN_A), ("no_eligible", RUN_A), ("winner_chosen", RUN_B),
    ("attempting", RUN_A), ("booked", RUN_A),
], ids=["undecided", "weekend", "no-eligible", "not-the-holder", "started-already", "finished"])
def test_an_attempt_starts_only_after_a_winner_was_chosen_and_only_once(
    state: str, run: UUID
) -> None:
    assert_refused_without_trace(slot_in(state), lambda s: s.start_attempt(run, T0, "stub"))


def test_starting_the_attempt_records_the_intent_under_an_id_of_the_slot() -> None:
    slot = slot_in("winner_chosen")
    attempt_id = slot.start_attempt(RUN_A, T0, "stub")
    [started] = slot.collect_events()
    assert (started.attempt_id, started.run_id, started.booker) == (attempt_id, RUN_A, "stub")
    assert slot.outcome == "attempting"
    assert attempt_id == build("winner_chosen").start_attempt(RUN_A, T0, "off")
    assert attempt_id != slot.id


@pytest.mark.parametrize(("result", "outcome"), [
    ("success", "booked"), ("fail", "attempt_failed"), ("skipped", "skipped"),
])
def test_each_booking_result_ends_the_slot_with_its_outcome(result: str, outcome: str) -> None:
    slot = slot_in("attempting")
    slot.record_answer(RUN_A, T0 + timedelta(seconds=5), result, "E1", "said no")
    [finished] = slot.collect_events()
    assert (finished.result, finished.outcome, finished.error_code) == (result, outcome, "E1")
    assert (slot.outcome, slot.decided) == (outcome, True)


def test_the_finished_attempt_describes_itself_for_the_projections() -> None:
    slot = slot_in("attempting")
    attempt_id = slot.attempt["attempt_id"] if slot.attempt else None
    slot.record_answer(RUN_A, T0 + timedelta(seconds=5), "success")
    [finished] = slot.collect_events()
    assert (finished.attempt_id, finished.attempt_run_id, finished.started_at) == (
        attempt_id, RUN_A, T0)
    assert (finished.customer_id, finished.entry_id, finished.location_id) == (
        CUSTOMER_ID, ENTRY_ID, LOCATION_ID)
    assert (finished.slot_key, finished.slot_date, finished.slot_time, finished.slot_datetime) == (
        KEY, "2026-01-07", "09:15:00", SLOT_UTC)
    assert (finished.error_code, finished.error_message) == (None, None)


@pytest.mark.parametrize("state", ["claimed", "winner_chosen",
                                   *(s for s in FINAL if s != "interrupted")])
def test_an_attempt_cannot_finish_before_it_started_or_twice(state: str) -> None:
    assert_refused_without_trace(
        slot_in(state), lambda s: s.record_answer(RUN_A, T0, "success"))


def test_an_answer_from_another_run_than_the_attempting_one_is_refused() -> None:
    assert_refused_without_trace(
        slot_in("attempting"), lambda s: s.record_answer(RUN_B, T0, "success"))


# --- answers that come late, conflicts, and the end of an opening ---------------------------

@pytest.mark.parametrize(("result", "outcome"), [
    ("success", "booked"), ("fail", "attempt_failed"), ("skipped", "skipped")])
def test_an_answer_after_the_attempt_was_interrupted_is_recorded_not_lost(
    result: str, outcome: str
) -> None:
    slot = slot_in("interrupted")
    slot.record_answer(RUN_A, AFTER_LOCK + timedelta(seconds=3), result)
    [late] = slot.collect_events()
    assert (type(late).__name__, late.result, late.outcome) == (
        "AttemptAnsweredLate", result, outcome)
    assert late.attempt_id == slot.attempt["attempt_id"] if slot.attempt else False
    assert slot.outcome == outcome
    assert_refused_without_trace(slot, lambda s: s.record_answer(RUN_A, AFTER_LOCK, "fail"))


def test_a_confirmed_booking_the_entry_could_not_take_ends_as_a_conflict() -> None:
    slot = slot_in("attempting")
    slot.record_answer(RUN_A, T0, "success", conflict="entry is canceled")
    [finished] = slot.collect_events()
    assert (finished.outcome, finished.conflict) == ("booked_conflict", "entry is canceled")


@pytest.mark.parametrize(("state", "outcome"), [
    ("opened", "gone"), ("claimed", "gone"), ("attempting", "attempting"),
    ("booked", "booked"), ("no_eligible", "no_eligible_customer")])
def test_an_opening_ends_when_its_slot_stops_being_listed(state: str, outcome: str) -> None:
    slot = slot_in(state)
    slot.close(AFTER_LOCK, T0)
    [closed] = slot.collect_events()
    assert (type(closed).__name__, closed.last_seen, closed.undecided) == (
        "Closed", T0, state in ("opened", "claimed"))
    assert (slot.closed_at, slot.outcome) == (AFTER_LOCK, outcome)
    assert_refused_without_trace(slot, lambda s: s.close(AFTER_LOCK, T0))


def test_a_slot_listed_before_watching_began_is_recorded_but_never_decided() -> None:
    slot = OpenedSlot(
        slot_key=KEY, first_seen=FIRST_SEEN, location_id=LOCATION_ID, slot_date="2026-01-07",
        slot_time="09:15:00", slot_datetime=SLOT_UTC, at=T0, run_id=RUN_A, opening=1,
        baseline=True)
    slot.collect_events()
    assert slot.outcome == "listed_before_watch"
    assert_refused_without_trace(slot, _claim)


# --- stalled runs --------------------------------------------------------------------------

@pytest.mark.parametrize(("state", "now", "stalled"), [
    ("opened", AFTER_LOCK, False),
    ("claimed", LOCK_END, False),
    ("claimed", AFTER_LOCK, True),
    ("winner_chosen", AFTER_LOCK, True),
    ("attempting", LOCK_END, False),
    ("attempting", AFTER_LOCK, True),
    *[(state, LOCK_END + timedelta(days=1), False) for state in FINAL],
])
def test_a_slot_is_stalled_when_its_lock_ran_out_before_an_outcome(
    state: str, now: datetime, stalled: bool
) -> None:
    assert slot_in(state).is_stalled(now) is stalled


def test_interrupting_a_dead_runs_attempt_ends_it_as_a_failure_to_check() -> None:
    slot = slot_in("attempting")
    slot.interrupt(RUN_B, AFTER_LOCK)
    [finished] = slot.collect_events()
    assert (finished.result, finished.error_code, finished.at) == (
        "fail", "attempt_interrupted", AFTER_LOCK)
    assert (finished.run_id, finished.attempt_run_id) == (RUN_B, RUN_A)
    assert "check with the DMV" in str(finished.error_message)
    assert (slot.outcome, slot.decided, slot.is_stalled(AFTER_LOCK)) == (
        "attempt_failed", True, False)


@pytest.mark.parametrize("state", ["claimed", "winner_chosen", *FINAL])
def test_only_a_started_and_unfinished_attempt_can_be_interrupted(state: str) -> None:
    assert_refused_without_trace(slot_in(state), lambda s: s.interrupt(RUN_B, AFTER_LOCK))


def test_an_attempt_whose_lock_is_still_live_cannot_be_interrupted() -> None:
    assert_refused_without_trace(slot_in("attempting"), lambda s: s.interrupt(RUN_B, LOCK_END))


# --- replay --------------------------------------------------------------------------------

def test_a_slot_claimed_again_after_a_stalled_claim_replays_the_same() -> None:
    slot = build("claimed")
    slot.claim(RUN_B, AFTER_LOCK, TTL)
    slot.decide(RUN_B, AFTER_LOCK, "no_eligible_customer", {})
    assert vars(replay(slot.collect_events())) == vars(slot)


@pytest.mark.parametrize("state", STATES)
def test_replaying_the_events_rebuilds_the_same_slot(state: str) -> None:
    slot = build(state)
    assert vars(replay(slot.collect_events())) == vars(slot)


@pytest.mark.parametrize(("outcome", "winner"), [
    ("no_eligible_customer", WINNER), ("attempting", None), ("booked", None), ("bogus", None),
], ids=["no-eligible-with-a-winner", "attempting-without-one", "a-result-is-no-decision",
        "unknown"])
def test_a_decision_that_does_not_fit_its_winner_is_refused_by_name(outcome, winner) -> None:
    slot = slot_in("claimed")
    slot.collect_events()
    with pytest.raises(InvalidInput, match=outcome):
        slot.decide(RUN_A, T0, outcome, PRESETS.to_json(), winner)
    assert slot.collect_events() == []
