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


def _decide(outcome: str) -> Step:
    return lambda s: s.decide(RUN_A, T0, outcome, PRESETS.to_json(), [UUID(int=7)])


def _attempt(s: OpenedSlot) -> None:
    s.decide_winner(RUN_A, T0, PRESETS.to_json(), WINNER, [UUID(int=7)], "stub", TTL)


def _old_claim(s: OpenedSlot) -> None:
    """How journals recorded before issue 7 took the lock: an event of its own."""
    s._claimed(run_id=RUN_A, at=T0, until=LOCK_END, slot_key=s.slot_key)


def _finish(result: str) -> Step:
    return lambda s: s.record_answer(RUN_A, T0 + timedelta(seconds=5), result, "E1", "said no")


STATES: dict[str, tuple[Step, ...]] = {
    "opened": (),
    "claimed_before_issue_7": (_old_claim,),
    "weekend": (_decide("weekend"),),
    "no_eligible": (_decide("no_eligible_customer"),),
    "attempting": (_attempt,),
    "booked": (_attempt, _finish("success")),
    "attempt_failed": (_attempt, _finish("fail")),
    "skipped": (_attempt, _finish("skipped")),
    "interrupted": (_attempt, lambda s: s.interrupt(RUN_B, AFTER_LOCK)),
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


# --- the decision and the lock ---------------------------------------------------------------

@pytest.mark.parametrize("outcome", ["weekend", "no_eligible_customer"])
def test_a_decision_without_a_winner_is_the_final_outcome_and_takes_no_lock(outcome: str) -> None:
    slot = slot_in("opened")
    slot.decide(RUN_A, T0, outcome, PRESETS.to_json(), passed_over=[CUSTOMER_ID])
    [decided] = slot.collect_events()
    assert (decided.outcome, decided.winner, decided.passed_over) == (outcome, None, [CUSTOMER_ID])
    assert (decided.presets, decided.until) == (PRESETS.to_json(), None)
    assert (slot.outcome, slot.decided, slot.decided_at, slot.claimed_until) == (
        outcome, True, T0, None)


def test_a_winner_is_decided_with_the_intent_to_book_under_the_slots_lock() -> None:
    slot = slot_in("opened")
    attempt_id = slot.decide_winner(RUN_A, T0, PRESETS.to_json(), WINNER, [], "stub", TTL)
    [decided] = slot.collect_events()
    assert (type(decided).__name__, decided.outcome, decided.winner) == (
        "Decided", "attempting", WINNER)
    assert (decided.attempt_id, decided.booker, decided.until) == (attempt_id, "stub", LOCK_END)
    assert (slot.outcome, slot.decided, slot.claimed_by, slot.claimed_until) == (
        "attempting", False, RUN_A, LOCK_END)
    assert slot.attempt == {"attempt_id": attempt_id, "run_id": RUN_A, "started_at": T0}
    assert attempt_id == build("opened").decide_winner(RUN_B, T0, {}, WINNER, [], "off", TTL)
    assert attempt_id != slot.id


@pytest.mark.parametrize("state", ["attempting", *FINAL])
def test_a_slot_is_decided_once_even_after_its_lock_ran_out(state: str) -> None:
    later = LOCK_END + timedelta(days=1)
    slot = slot_in(state)
    assert_refused_without_trace(slot, lambda s: s.decide(RUN_B, later, "weekend", {}))
    assert_refused_without_trace(
        slot, lambda s: s.decide_winner(RUN_B, later, {}, WINNER, [], "stub", TTL))


@pytest.mark.parametrize(("now", "allowed"), [
    (T0, False), (LOCK_END, False), (AFTER_LOCK, True),
], ids=["same-instant", "at-the-end", "just-after"])
def test_a_lock_taken_before_issue_7_keeps_other_runs_out_until_it_runs_out(
    now: datetime, allowed: bool
) -> None:
    slot = slot_in("claimed_before_issue_7")
    if not allowed:
        assert_refused_without_trace(slot, lambda s: s.decide(RUN_B, now, "weekend", {}))
        return
    slot.decide(RUN_B, now, "weekend", {})
    assert slot.outcome == "weekend"


@pytest.mark.parametrize(("outcome", "winner"), [
    ("attempting", None), ("booked", None), ("bogus", None),
], ids=["attempting-without-a-winner", "a-result-is-no-decision", "unknown"])
def test_a_decision_that_does_not_fit_is_refused_by_name(outcome: str, winner: Any) -> None:
    slot = slot_in("opened")
    with pytest.raises(InvalidInput, match=outcome):
        slot.decide(RUN_A, T0, outcome, PRESETS.to_json())
    with pytest.raises(InvalidInput, match="no queue entry"):
        slot.decide_winner(RUN_A, T0, {}, {}, [], "stub", TTL)
    assert slot.collect_events() == []


# --- the answer ----------------------------------------------------------------------------

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


@pytest.mark.parametrize("state", ["opened", *(s for s in FINAL if s != "interrupted")])
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
    ("opened", "gone"), ("claimed_before_issue_7", "gone"), ("attempting", "attempting"),
    ("booked", "booked"), ("no_eligible", "no_eligible_customer")])
def test_an_opening_ends_when_its_slot_stops_being_listed(state: str, outcome: str) -> None:
    slot = slot_in(state)
    slot.close(AFTER_LOCK, T0)
    [closed] = slot.collect_events()
    assert (type(closed).__name__, closed.last_seen, closed.undecided) == (
        "Closed", T0, state in ("opened", "claimed_before_issue_7"))
    assert (slot.closed_at, slot.outcome) == (AFTER_LOCK, outcome)
    assert_refused_without_trace(slot, lambda s: s.close(AFTER_LOCK, T0))


def test_a_slot_listed_before_watching_began_is_recorded_but_never_decided() -> None:
    slot = OpenedSlot(
        slot_key=KEY, first_seen=FIRST_SEEN, location_id=LOCATION_ID, slot_date="2026-01-07",
        slot_time="09:15:00", slot_datetime=SLOT_UTC, at=T0, run_id=RUN_A, opening=1,
        baseline=True)
    slot.collect_events()
    assert slot.outcome == "listed_before_watch"
    assert_refused_without_trace(slot, _decide("no_eligible_customer"))


# --- stalled runs --------------------------------------------------------------------------

@pytest.mark.parametrize(("state", "now", "stalled"), [
    ("opened", AFTER_LOCK, False),
    ("claimed_before_issue_7", LOCK_END, False),
    ("claimed_before_issue_7", AFTER_LOCK, True),
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


@pytest.mark.parametrize("state", ["opened", "claimed_before_issue_7", *FINAL])
def test_only_a_started_and_unfinished_attempt_can_be_interrupted(state: str) -> None:
    assert_refused_without_trace(slot_in(state), lambda s: s.interrupt(RUN_B, AFTER_LOCK))


def test_an_attempt_whose_lock_is_still_live_cannot_be_interrupted() -> None:
    assert_refused_without_trace(slot_in("attempting"), lambda s: s.interrupt(RUN_B, LOCK_END))


# --- replay --------------------------------------------------------------------------------

def test_a_journal_recorded_before_issue_7_replays_with_its_claim_and_attempt() -> None:
    slot = build("claimed_before_issue_7")
    slot._decided(run_id=RUN_A, at=T0, outcome="attempting", presets={}, winner=WINNER,
                  passed_over=[], slot_key=KEY)
    slot._attempt_started(attempt_id=UUID(int=9), run_id=RUN_A, at=T0, booker="stub")
    replayed = replay(slot.collect_events())
    assert vars(replayed) == vars(slot)
    assert (replayed.claimed_until, replayed.attempt["attempt_id"]) == (LOCK_END, UUID(int=9))
    replayed.record_answer(RUN_A, T0, "success")
    assert replayed.outcome == "booked"


@pytest.mark.parametrize("state", STATES)
def test_replaying_the_events_rebuilds_the_same_slot(state: str) -> None:
    slot = build(state)
    assert vars(replay(slot.collect_events())) == vars(slot)
