"""What offers record on a queue entry and on an opening (spec service §4.2, §4.3), with a
fixed clock: an entry holds one pending offer and cools down after a decline or an expiry;
an opening is offered, re-opened when its offers end unanswered, broadcast after a priority
window, and taken by the offer accepted first."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from slotqueue.aggregates.entry_offers import COOLDOWN
from slotqueue.aggregates.errors import InvalidInput, TransitionRefused
from slotqueue.aggregates.matcher import slot_key
from slotqueue.aggregates.opened_slot import ATTEMPT_FAILED, ATTEMPTING, GONE, OpenedSlot
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.aggregates.queue_policy import (
    ALREADY_OFFERED,
    OFFER_PENDING,
    Candidate,
    offer_check,
)
from slotqueue.aggregates.queue_policy import (
    COOLDOWN as COOLING,
)
from slotqueue.aggregates.slot_offers import OFFERED
from slotqueue.aggregates.timers import CANCELED, FIRED, SET

T0 = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
RUN = UUID(int=0xA)
OFFER_1, OFFER_2 = UUID(int=0x01), UUID(int=0x02)
ENTRY_1, ENTRY_2 = UUID(int=0xE1), UUID(int=0xE2)
LOCATION = UUID(int=0xAA)


def active_entry() -> QueueEntry:
    entry = QueueEntry(customer_id=UUID(int=1), sequence=1, at=T0)
    entry.require_deposit(T0, timedelta(minutes=120))
    entry.record_payment("pay-1", T0)
    entry.collect_events()
    return entry


def test_an_entry_holds_one_offer_at_a_time_and_no_attempt_beside_it() -> None:
    entry = active_entry()
    entry.hold_for_offer(OFFER_1, UUID(int=9), T0)
    assert entry.offer_id == OFFER_1
    with pytest.raises(TransitionRefused, match="holds offer"):
        entry.hold_for_offer(OFFER_2, UUID(int=8), T0)
    assert entry.release_offer(OFFER_2, "withdrawn", T0) is False
    assert entry.release_offer(OFFER_1, "accepted", T0) is True
    entry.reserve_attempt(UUID(int=9), T0)
    with pytest.raises(TransitionRefused, match="attempt"):
        entry.hold_for_offer(OFFER_2, UUID(int=8), T0)


@pytest.mark.parametrize("step", ["pause", "queued"])
def test_only_an_active_paid_entry_is_offered_an_opening(step: str) -> None:
    entry = active_entry() if step == "pause" else QueueEntry(
        customer_id=UUID(int=1), sequence=1, at=T0)
    if step == "pause":
        entry.pause(T0)
    entry.collect_events()
    with pytest.raises(TransitionRefused):
        entry.hold_for_offer(OFFER_1, UUID(int=9), T0)
    assert entry.collect_events() == []


def test_a_decline_or_an_expiry_starts_a_cooldown_that_its_timer_ends() -> None:
    entry = active_entry()
    entry.hold_for_offer(OFFER_1, UUID(int=9), T0)
    until = T0 + timedelta(minutes=60)
    assert entry.start_cooldown(OFFER_1, until, "declined", T0) is True
    assert entry.offer_id is None
    assert entry.cooldown_until == until
    assert entry.timers[COOLDOWN]["state"] == SET
    with pytest.raises(TransitionRefused, match="cools down"):
        entry.hold_for_offer(OFFER_2, UUID(int=8), T0)
    with pytest.raises(TransitionRefused, match="runs until"):
        entry.reactivate(until)
    entry.reactivate(until + timedelta(seconds=1))
    assert entry.cooldown_until is None
    assert entry.timers[COOLDOWN]["state"] == FIRED
    names = [type(e).__name__ for e in entry.collect_events()]
    assert names == ["OfferHeld", "OfferReleased", "CooldownStarted", "TimerSet",
                     "TimerFired", "Reactivated"]
    with pytest.raises(TransitionRefused, match="not cooling"):
        entry.reactivate(until + timedelta(hours=1))


def test_an_entry_that_left_the_queue_does_not_cool_down_and_its_cooldown_ends_with_it() -> None:
    entry = active_entry()
    entry.start_cooldown(OFFER_1, T0 + timedelta(hours=1), "expired", T0)
    entry.cancel(T0)
    assert entry.timers[COOLDOWN]["state"] == CANCELED
    assert entry.start_cooldown(OFFER_2, T0 + timedelta(hours=2), "expired", T0) is False


def test_offers_own_checks_come_in_order() -> None:
    base = Candidate(ENTRY_1, UUID(int=1), T0, "active", "paid", {LOCATION}, None)
    assert offer_check(base) is None
    assert offer_check(base, {ENTRY_1}) == ALREADY_OFFERED
    cooling = Candidate(ENTRY_1, UUID(int=1), T0, "active", "paid", {LOCATION}, None,
                        cooling_until=T0)
    assert offer_check(cooling, {ENTRY_1}) == COOLING
    held = Candidate(ENTRY_1, UUID(int=1), T0, "active", "paid", {LOCATION}, None,
                     offer_pending=True, cooling_until=T0)
    assert offer_check(held) == OFFER_PENDING


# --- the opening -------------------------------------------------------------------------------

def opened() -> OpenedSlot:
    key = slot_key(LOCATION, date(2026, 1, 7), "9:15")
    slot = OpenedSlot(slot_key=key, first_seen=T0, location_id=LOCATION, slot_date="2026-01-07",
                      slot_time="09:15:00", slot_datetime=T0 + timedelta(days=2), at=T0,
                      run_id=RUN)
    slot.collect_events()
    return slot


def offered(*pairs: tuple[UUID, UUID], policy: str = "offer") -> OpenedSlot:
    slot = opened()
    slot.decide_offers(RUN, T0, {}, policy, [
        {"offer_id": o, "entry_id": e, "customer_id": UUID(int=1), "rank": n}
        for n, (o, e) in enumerate(pairs, start=1)], [])
    return slot


def test_an_offer_decision_records_the_policy_and_whom_it_offered_and_takes_no_lock() -> None:
    slot = offered((OFFER_1, ENTRY_1), (OFFER_2, ENTRY_2), policy="broadcast")
    [decided] = slot.collect_events()
    assert (decided.outcome, decided.policy) == (OFFERED, "broadcast")
    assert decided.winner["entry_id"] == ENTRY_1
    assert decided.until is None
    assert slot.pending_offers == [OFFER_1, OFFER_2]
    assert slot.offered_entries == [ENTRY_1, ENTRY_2]
    assert slot.claimed_until is None


def test_an_offer_decision_must_offer_something() -> None:
    with pytest.raises(InvalidInput):
        opened().decide_offers(RUN, T0, {}, "offer", [], [])


def test_the_opening_is_re_opened_when_its_last_offer_ends_and_gone_once_unlisted() -> None:
    slot = offered((OFFER_1, ENTRY_1), (OFFER_2, ENTRY_2))
    assert slot.end_offer(OFFER_1, ENTRY_1, "declined", T0) == OFFERED
    assert slot.end_offer(OFFER_2, ENTRY_2, "expired", T0) is None
    assert slot.outcome is None
    assert slot.pending_offers == []
    with pytest.raises(TransitionRefused):  # not pending any more
        slot.end_offer(OFFER_2, ENTRY_2, "expired", T0)
    slot.decide_offers(RUN, T0, {}, "offer", [{"offer_id": UUID(int=3), "entry_id": UUID(int=5),
                                               "customer_id": UUID(int=1)}], [])
    slot.close(T0, T0)
    assert slot.end_offer(UUID(int=3), UUID(int=5), "withdrawn: slot_gone", T0) == GONE


def test_an_opening_is_never_offered_to_the_same_entry_twice() -> None:
    slot = offered((OFFER_1, ENTRY_1))
    slot.end_offer(OFFER_1, ENTRY_1, "declined", T0)
    with pytest.raises(TransitionRefused, match="already"):
        slot.decide_offers(RUN, T0, {}, "offer", [{"offer_id": OFFER_2, "entry_id": ENTRY_1}], [])


def test_a_priority_window_that_ends_unanswered_re_opens_the_opening_with_the_offer_kept() -> None:
    slot = offered((OFFER_1, ENTRY_1), policy="priority")
    slot.end_window(OFFER_1, T0)
    assert slot.outcome is None
    assert slot.pending_offers == [OFFER_1]
    assert slot.offer_policy == "priority"
    slot.decide_offers(RUN, T0, {}, "broadcast", [], [])  # nobody else: the offer stays
    assert slot.outcome == OFFERED
    assert slot.pending_offers == [OFFER_1]


def test_the_accepted_offer_becomes_the_attempt_and_ends_the_others() -> None:
    slot = offered((OFFER_1, ENTRY_1), (OFFER_2, ENTRY_2))
    slot.collect_events()
    attempt = slot.take_offer(OFFER_2, ENTRY_2, UUID(int=1), RUN, T0, "sim",
                              timedelta(seconds=120))
    [taken] = slot.collect_events()
    assert taken.withdrawn == [OFFER_1]
    assert slot.outcome == ATTEMPTING
    assert slot.attempt["attempt_id"] == attempt
    assert slot.claimed_until is not None
    with pytest.raises(TransitionRefused):
        slot.take_offer(OFFER_1, ENTRY_1, UUID(int=1), RUN, T0, "sim", timedelta(seconds=1))
    slot.record_answer(RUN, T0, "fail", "E", "no")
    assert slot.outcome == ATTEMPT_FAILED
    assert slot.pass_on(T0) is True
    assert slot.outcome is None
    assert slot.claimed_until is None


def test_an_unlisted_slot_cannot_be_taken_and_a_failure_there_passes_nothing_on() -> None:
    slot = offered((OFFER_1, ENTRY_1))
    slot.close(T0, T0)
    with pytest.raises(TransitionRefused, match="no longer listed"):
        slot.take_offer(OFFER_1, ENTRY_1, UUID(int=1), RUN, T0, "sim", timedelta(seconds=1))
    assert slot.pass_on(T0) is False
