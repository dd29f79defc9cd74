"""The offer lifecycle (spec service §4.2, §4.3) with a fixed clock: every transition the rule
table allows happens through a real command, and every other command is refused with nothing
recorded. Timers: set with the offer, fired by what they cause, cancelled by an answer."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from slotqueue.aggregates import offer_states as states
from slotqueue.aggregates.errors import InvalidInput, TransitionRefused
from slotqueue.aggregates.offer import (
    BROADCAST,
    EXPIRY,
    OFFER,
    PRIORITY,
    PRIORITY_WINDOW,
    REMINDER,
    Offer,
)
from slotqueue.aggregates.offer_tokens import derive, digest, link_length, matches, offer_link
from slotqueue.aggregates.timers import CANCELED, FIRED

T0 = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
MINUTES, REMIND, WINDOW = timedelta(minutes=30), timedelta(minutes=10), timedelta(minutes=10)
SLOT_ID, ENTRY_ID = UUID(int=1), UUID(int=2)
SECRET = b"s" * 32


def make(policy: str = OFFER, now: datetime = T0, minutes: timedelta = MINUTES,
         reminder: timedelta = REMIND) -> Offer:
    offer_id = Offer.create_id(SLOT_ID, ENTRY_ID)
    return Offer.make(
        slot_id=SLOT_ID, entry_id=ENTRY_ID, customer_id=UUID(int=3), slot_key="k",
        location_id=UUID(int=4), location_name="Kapolei", slot_datetime=T0 + timedelta(days=2),
        policy=policy, token_hash=digest(derive(SECRET, offer_id, 1)), now=now, minutes=minutes,
        reminder=reminder, window=WINDOW if policy == PRIORITY else None)


DURING = T0 + timedelta(minutes=5)
AFTER = T0 + MINUTES + timedelta(seconds=1)
Step = Callable[[Offer], Any]


def _remind(o: Offer) -> None:
    o.remind(digest(derive(SECRET, o.id, 2)), T0 + timedelta(minutes=20, seconds=1))


COMMANDS: dict[str, Step] = {
    "remind": _remind,
    "end_window": lambda o: o.end_window(T0 + WINDOW + timedelta(seconds=1)),
    "accept": lambda o: o.accept("link", DURING),
    "decline": lambda o: o.decline("sms", DURING),
    "expire": lambda o: o.expire(AFTER),
    "withdraw": lambda o: o.withdraw("taken", DURING),
    "book": lambda o: o.settle(True, DURING),
    "fail": lambda o: o.settle(False, DURING, "the DMV said no"),
}
# Each state, reached through commands, and whether its policy is priority.
STATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "pending": (OFFER, ()),
    "pending, reminded": (OFFER, ("remind",)),
    "pending, priority": (PRIORITY, ()),
    "accepted": (OFFER, ("accept",)),
    "booked": (OFFER, ("accept", "book")),
    "failed": (OFFER, ("accept", "fail")),
    "declined": (OFFER, ("decline",)),
    "expired": (OFFER, ("expire",)),
    "withdrawn": (OFFER, ("withdraw",)),
}
ALLOWED = {  # (state, command) -> the status after it
    ("pending", "remind"): "pending", ("pending", "accept"): "accepted",
    ("pending", "decline"): "declined", ("pending", "expire"): "expired",
    ("pending", "withdraw"): "withdrawn",
    ("pending, reminded", "accept"): "accepted", ("pending, reminded", "decline"): "declined",
    ("pending, reminded", "expire"): "expired", ("pending, reminded", "withdraw"): "withdrawn",
    ("pending, priority", "remind"): "pending", ("pending, priority", "end_window"): "pending",
    ("pending, priority", "accept"): "accepted", ("pending, priority", "decline"): "declined",
    ("pending, priority", "expire"): "expired", ("pending, priority", "withdraw"): "withdrawn",
    ("accepted", "book"): "booked", ("accepted", "fail"): "failed",
}


def reached(state: str) -> Offer:
    policy, steps = STATES[state]
    offer = make(policy)
    for step in steps:
        COMMANDS[step](offer)
    offer.collect_events()
    return offer


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("state", sorted(STATES))
def test_every_allowed_transition_happens_and_every_other_is_refused_with_nothing_recorded(
        state: str, command: str) -> None:
    offer = reached(state)
    before = copy.deepcopy(vars(offer))
    if (state, command) in ALLOWED:
        COMMANDS[command](offer)
        assert offer.status == ALLOWED[(state, command)]
        assert offer.collect_events()
    else:
        with pytest.raises(TransitionRefused):
            COMMANDS[command](offer)
        assert offer.collect_events() == []
        assert vars(offer) == before


def test_the_table_lists_every_state_and_trigger_the_tests_walk() -> None:
    assert set(states.STATUSES) == {s.split(",")[0] for s in STATES}
    assert set(states.TRIGGERS) == set(COMMANDS)


def test_an_offer_is_made_with_its_expiry_and_reminder_timers() -> None:
    offer = make()
    assert [type(e).__name__ for e in offer.collect_events()] == ["Made", "TimerSet", "TimerSet"]
    assert offer.timers[EXPIRY]["due_at"] == T0 + MINUTES
    assert offer.timers[REMINDER]["due_at"] == T0 + MINUTES - REMIND
    assert offer.round == 1
    assert offer.status == "pending"


def test_no_reminder_is_set_when_its_moment_has_passed_already() -> None:
    offer = make(minutes=timedelta(minutes=5))
    assert set(offer.timers) == {EXPIRY}


def test_a_priority_offer_has_a_window_timer_and_no_other_policy_has_one() -> None:
    assert make(PRIORITY).timers[PRIORITY_WINDOW]["due_at"] == T0 + WINDOW
    assert PRIORITY_WINDOW not in make(BROADCAST).timers
    with pytest.raises(InvalidInput):
        Offer.make(slot_id=SLOT_ID, entry_id=ENTRY_ID, customer_id=UUID(int=3), slot_key="k",
                   location_id=UUID(int=4), location_name="", slot_datetime=T0,
                   policy="lottery", token_hash="x", now=T0, minutes=MINUTES, reminder=REMIND)


def test_the_reminder_fires_its_timer_and_rotates_the_token_once() -> None:
    offer = reached("pending")
    first = derive(SECRET, offer.id, 1)
    assert matches(first, offer.token_hash)
    _remind(offer)
    second = derive(SECRET, offer.id, 2)
    assert offer.round == 2
    assert second != first
    assert matches(second, offer.token_hash)
    assert not matches(first, offer.token_hash)
    assert offer.timers[REMINDER]["state"] == FIRED
    assert [type(e).__name__ for e in offer.collect_events()] == ["TimerFired", "Reminded"]
    with pytest.raises(TransitionRefused, match="reminded already"):
        _remind(offer)
    assert offer.collect_events() == []


@pytest.mark.parametrize("command", ["accept", "decline", "withdraw"])
def test_an_answer_or_a_withdrawal_cancels_every_timer_still_set(command: str) -> None:
    offer = reached("pending, priority")
    COMMANDS[command](offer)
    assert {t["state"] for t in offer.timers.values()} == {CANCELED}


def test_the_expiry_fires_its_timer_and_cancels_the_reminder() -> None:
    offer = reached("pending")
    offer.expire(AFTER)
    assert offer.timers[EXPIRY]["state"] == FIRED
    assert offer.timers[REMINDER]["state"] == CANCELED


def test_an_offer_does_not_expire_before_its_deadline_nor_is_answered_after_it() -> None:
    offer = reached("pending")
    with pytest.raises(TransitionRefused, match="runs until"):
        offer.expire(T0 + MINUTES)
    with pytest.raises(TransitionRefused, match="expired at"):
        offer.accept("link", AFTER)
    assert offer.collect_events() == []
    assert offer.pending
    offer.accept("sms", T0 + MINUTES)  # at the deadline itself: still in time
    assert offer.status == "accepted"
    assert offer.via == "sms"


def test_an_answer_names_how_it_came() -> None:
    with pytest.raises(InvalidInput):
        reached("pending").accept("pigeon", DURING)


def test_offer_ids_follow_the_opening_and_the_entry() -> None:
    assert Offer.create_id(SLOT_ID, ENTRY_ID) == make().id
    assert Offer.create_id(SLOT_ID, UUID(int=9)) != make().id


def test_a_token_is_short_url_safe_and_checked_in_constant_time_against_its_digest() -> None:
    token = derive(SECRET, UUID(int=5), 1)
    assert len(token) == 22
    assert token.replace("-", "").replace("_", "").isalnum()
    assert derive(b"other" * 8, UUID(int=5), 1) != token
    assert not matches(None, digest(token))
    assert not matches(token, None)
    assert not matches("x" * 1000, digest("x" * 1000))  # absurd lengths are refused first
    link = offer_link("https://q.example.com/", UUID(int=5), token)
    assert link == f"https://q.example.com/v1/offers/{UUID(int=5)}?token={token}"
    assert link_length("https://q.example.com") == len(link)
