"""The QueueEntry aggregate against spec §4.1: every command from every state, with a fixed clock.

Entries are driven into each state through real commands; the expected outcomes are written out
from the spec table below, never read from `aggregates.lifecycle`, so a wrong rule fails here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from slotqueue.aggregates import lifecycle
from slotqueue.aggregates.errors import DomainError, InvalidInput, TransitionRefused
from slotqueue.aggregates.queue_entry import MAX_PAYMENT_REF, QueueEntry

CUSTOMER_ID = UUID("00000000-0000-4000-8000-000000000001")
LOCATION_ID = UUID("00000000-0000-4000-8000-0000000000aa")
T0 = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)  # Monday 10:00 in Honolulu
GRACE = timedelta(minutes=120)
DEADLINE = T0 + GRACE
LATER = DEADLINE + timedelta(hours=1)  # every matrix command runs at this instant
SLOT = datetime(2026, 1, 7, 19, 15, tzinfo=UTC)
DEPOSIT_REF = "pay-deposit-1"

Step = Callable[[QueueEntry], Any]


def _require(e: QueueEntry) -> None:
    e.require_deposit(T0, GRACE)


def _pay(e: QueueEntry) -> None:
    assert e.record_payment(DEPOSIT_REF, T0 + timedelta(minutes=30)) is True


def _lapse(e: QueueEntry) -> None:
    e.lapse_deposit(DEADLINE + timedelta(minutes=1))


def _book(e: QueueEntry) -> None:
    e.book(LOCATION_ID, SLOT, T0 + timedelta(minutes=40), location_name="Kapolei")


def _pause(e: QueueEntry) -> None:
    e.pause(T0 + timedelta(minutes=45))


def _cancel(e: QueueEntry) -> None:
    e.cancel(T0 + timedelta(minutes=50))


def _refund(e: QueueEntry) -> None:
    e.refund(T0 + timedelta(minutes=55))


# How each starting state is reached, and the (status, deposit_status) it must have.
SETUPS: dict[str, tuple[tuple[Step, ...], tuple[str, str]]] = {
    "queued": ((), ("queued", "none")),
    "deposit_required": ((_require,), ("deposit_required", "required")),
    "active": ((_require, _pay), ("active", "paid")),
    "booked": ((_require, _pay, _book), ("booked", "paid")),
    "paused_from_queued": ((_pause,), ("paused", "none")),
    "paused_from_active": ((_require, _pay, _pause), ("paused", "paid")),
    "expired": ((_require, _lapse), ("expired", "expired")),
    "canceled_from_queued": ((_cancel,), ("canceled", "none")),
    "canceled_from_deposit_required": ((_require, _cancel), ("canceled", "required")),
    "canceled_after_paying": ((_require, _pay, _cancel), ("canceled", "paid")),
    "canceled_while_paused": ((_require, _pay, _pause, _cancel), ("canceled", "paid")),
    "refunded_after_canceling": ((_require, _pay, _cancel, _refund), ("canceled", "refunded")),
    "refunded_after_booking": ((_require, _pay, _book, _refund), ("booked", "refunded")),
}

# Spec §4.1: what each command may do from each state; every command not listed is refused,
# except record_payment, which is never refused but records a payment needing a refund.
# A paid deposit is refunded only once the entry is final (lifecycle.py, decisions.md).
ALLOWED: dict[str, dict[str, tuple[str, str]]] = {
    "queued": {
        "require_deposit": ("deposit_required", "required"),
        "pause": ("paused", "none"),
        "cancel": ("canceled", "none"),
    },
    "deposit_required": {
        "record_payment": ("active", "paid"),
        "lapse_deposit": ("expired", "expired"),
        "cancel": ("canceled", "required"),
    },
    "active": {
        "book": ("booked", "paid"),
        "pause": ("paused", "paid"),
        "cancel": ("canceled", "paid"),
    },
    "booked": {"refund": ("booked", "refunded")},
    "paused_from_queued": {"resume": ("queued", "none"), "cancel": ("canceled", "none")},
    "paused_from_active": {"resume": ("active", "paid"), "cancel": ("canceled", "paid")},
    "expired": {},
    "canceled_from_queued": {},
    "canceled_from_deposit_required": {},
    "canceled_after_paying": {"refund": ("canceled", "refunded")},
    "canceled_while_paused": {"refund": ("canceled", "refunded")},
    "refunded_after_canceling": {},
    "refunded_after_booking": {},
}

MATRIX_REF = "pay-matrix-2"
COMMANDS: dict[str, Step] = {
    "require_deposit": lambda e: e.require_deposit(LATER, GRACE),
    "record_payment": lambda e: e.record_payment(MATRIX_REF, LATER),
    "lapse_deposit": lambda e: e.lapse_deposit(LATER),
    "book": lambda e: e.book(LOCATION_ID, SLOT, LATER),
    "pause": lambda e: e.pause(LATER),
    "resume": lambda e: e.resume(LATER),
    "cancel": lambda e: e.cancel(LATER),
    "refund": lambda e: e.refund(LATER),
}
EVENT_OF = {
    "require_deposit": "DepositRequired",
    "record_payment": "DepositPaid",
    "lapse_deposit": "DepositLapsed",
    "book": "Booked",
    "pause": "Paused",
    "resume": "Resumed",
    "cancel": "Canceled",
    "refund": "Refunded",
}


# The deposit's deadline is a timer: set with the request, cancelled by what makes it moot,
# fired by the lapse (aggregates/timers.py).
TIMERS_OF = {
    ("queued", "require_deposit"): ["TimerSet"],
    ("deposit_required", "record_payment"): ["TimerCanceled"],
    ("deposit_required", "lapse_deposit"): ["TimerFired"],
    ("deposit_required", "cancel"): ["TimerCanceled"],
}


def is_timer(event: Any) -> bool:
    return type(event).__name__ in ("TimerSet", "TimerFired", "TimerCanceled")


def build(state: str) -> QueueEntry:
    """An entry driven into `state` by real commands; its events are still pending."""
    entry = QueueEntry(customer_id=CUSTOMER_ID, sequence=1, at=T0)
    steps, _ = SETUPS[state]
    for step in steps:
        step(entry)
    return entry


def entry_in(state: str) -> QueueEntry:
    """An entry in `state` whose setup events have been collected already."""
    entry = build(state)
    entry.collect_events()
    return entry


def replay(events: Any) -> Any:
    state = None
    for event in events:
        state = event.mutate(state)
    return state


def assert_refused_without_trace(entry: QueueEntry, command: Step) -> DomainError:
    before = copy.deepcopy(vars(entry))
    with pytest.raises(TransitionRefused) as caught:
        command(entry)
    assert entry.collect_events() == []
    assert vars(entry) == before
    return caught.value


@pytest.mark.parametrize("state", SETUPS)
def test_each_starting_state_is_reached_through_real_commands(state: str) -> None:
    _, expected = SETUPS[state]
    entry = build(state)
    assert (entry.status, entry.deposit_status) == expected


MATRIX = [(state, command) for state in SETUPS for command in COMMANDS]


@pytest.mark.parametrize(("state", "command"), MATRIX)
def test_every_command_from_every_state_does_what_the_spec_table_says(
    state: str, command: str
) -> None:
    entry = entry_in(state)
    start = (entry.status, entry.deposit_status)
    expected = ALLOWED[state].get(command)

    if expected is not None:
        COMMANDS[command](entry)
        events = entry.collect_events()
        [event] = [e for e in events if not is_timer(e)]
        assert type(event).__name__ == EVENT_OF[command]
        assert [type(e).__name__ for e in events if is_timer(e)] == TIMERS_OF.get(
            (state, command), [])
        assert (entry.status, entry.deposit_status) == expected
        assert getattr(event, "status", expected[0]) == expected[0]
    elif command == "record_payment":
        assert COMMANDS[command](entry) is False
        [event] = entry.collect_events()
        assert type(event).__name__ == "PaymentNeedsRefund"
        assert (entry.status, entry.deposit_status) == start
        assert entry.refunds_due[-1] == MATRIX_REF
    else:
        refusal = assert_refused_without_trace(entry, COMMANDS[command])
        assert start[0] in str(refusal) or start[1] in str(refusal)


def test_require_deposit_starts_the_clock_of_the_grace_period() -> None:
    entry = entry_in("queued")
    entry.require_deposit(T0, GRACE)
    event, timer = entry.collect_events()
    assert (event.at, event.expires_at) == (T0, T0 + timedelta(minutes=120))
    assert (entry.deposit_required_at, entry.deposit_expires_at) == (T0, DEADLINE)
    assert (type(timer).__name__, timer.name, timer.due_at) == ("TimerSet", "deposit_lapse",
                                                                  DEADLINE)
    assert entry.timer_pending("deposit_lapse")


@pytest.mark.parametrize(
    "now", [T0, DEADLINE - timedelta(microseconds=1), DEADLINE], ids=["start", "just-before", "at"]
)
def test_a_deposit_cannot_lapse_until_its_deadline_has_strictly_passed(now: datetime) -> None:
    entry = entry_in("deposit_required")
    refusal = assert_refused_without_trace(entry, lambda e: e.lapse_deposit(now))
    assert str(DEADLINE) in str(refusal)


def test_a_deposit_lapses_the_moment_after_its_deadline() -> None:
    entry = entry_in("deposit_required")
    entry.lapse_deposit(DEADLINE + timedelta(microseconds=1))
    fired, event = entry.collect_events()
    assert (type(fired).__name__, fired.name, fired.due_at) == ("TimerFired", "deposit_lapse",
                                                                DEADLINE)
    assert type(event).__name__ == "DepositLapsed"
    assert not entry.timer_pending("deposit_lapse")
    assert (entry.status, entry.deposit_status) == ("expired", "expired")


def test_a_payment_after_the_deadline_wins_when_the_lapse_is_not_recorded_yet() -> None:
    entry = entry_in("deposit_required")
    assert entry.record_payment(DEPOSIT_REF, LATER) is True
    assert (entry.status, entry.deposit_status, entry.deposit_paid_at) == ("active", "paid", LATER)
    entry.collect_events()
    assert_refused_without_trace(entry, lambda e: e.lapse_deposit(LATER))


@pytest.mark.parametrize("via", ["queued", "active"])
def test_pause_and_resume_twice_return_to_the_same_place(via: str) -> None:
    entry = entry_in(via)
    deposit = entry.deposit_status
    for _ in range(2):
        entry.pause(LATER)
        assert (entry.status, entry.deposit_status, entry.paused_from) == ("paused", deposit, via)
        entry.resume(LATER)
        assert (entry.status, entry.deposit_status, entry.paused_from) == (via, deposit, None)
    assert [type(e).__name__ for e in entry.collect_events()] == ["Paused", "Resumed"] * 2


def test_booking_records_the_location_and_the_slot() -> None:
    entry = entry_in("active")
    entry.book(LOCATION_ID, SLOT, LATER, location_name="Kapolei")
    [event] = entry.collect_events()
    assert (event.location_id, event.slot_datetime, event.location_name) == (
        LOCATION_ID, SLOT, "Kapolei",
    )
    assert (entry.booked_location_id, entry.booked_slot_datetime, entry.booked_at) == (
        LOCATION_ID, SLOT, LATER,
    )


@pytest.mark.parametrize(("state", "is_open"), [
    ("queued", True), ("deposit_required", True), ("active", True), ("paused_from_active", True),
    ("booked", False), ("expired", False), ("canceled_after_paying", False),
])
def test_an_entry_is_open_until_it_reaches_a_final_status(state: str, is_open: bool) -> None:
    assert entry_in(state).is_open is is_open


# --- refunds -------------------------------------------------------------------------------

def test_a_paid_deposit_is_not_refunded_while_the_entry_is_still_open() -> None:
    entry = entry_in("active")
    refusal = assert_refused_without_trace(entry, lambda e: e.refund(LATER))
    assert str(refusal) == "cannot refund the deposit: entry is active; cancel it first"


@pytest.mark.parametrize("state", ["queued", "expired", "refunded_after_canceling"])
def test_a_refund_with_nothing_to_refund_is_refused(state: str) -> None:
    entry = entry_in(state)
    refusal = assert_refused_without_trace(entry, lambda e: e.refund(LATER))
    assert str(refusal) == f"nothing to refund: deposit is {entry.deposit_status}"


def test_an_open_entry_refunds_a_stray_payment_and_keeps_its_deposit() -> None:
    entry = entry_in("active")
    assert entry.record_payment("pay-stray", LATER) is False
    entry.collect_events()
    assert entry.refund(LATER) == ["pay-stray"]
    [event] = entry.collect_events()
    assert (event.payment_refs, event.deposit_status) == (["pay-stray"], "paid")
    assert (entry.status, entry.deposit_status, entry.refunds_due) == ("active", "paid", [])


def test_a_final_entry_refunds_its_deposit_and_every_stray_payment_at_once() -> None:
    entry = entry_in("canceled_after_paying")
    assert entry.record_payment("pay-late", LATER) is False
    assert entry.refund(LATER) == [DEPOSIT_REF, "pay-late"]
    assert (entry.status, entry.deposit_status, entry.refunds_due) == ("canceled", "refunded", [])
    entry.collect_events()
    assert_refused_without_trace(entry, lambda e: e.refund(LATER))


def test_a_stray_payment_on_an_expired_entry_can_be_refunded() -> None:
    entry = entry_in("expired")
    assert entry.record_payment("pay-too-late", LATER) is False
    assert entry.refund(LATER) == ["pay-too-late"]
    assert entry.deposit_status == "expired"


def test_the_deposit_refund_names_the_deposit_payment_even_after_an_earlier_stray_refund() -> None:
    entry = entry_in("queued")
    assert entry.record_payment("pay-early", T0) is False
    assert entry.refund(T0) == ["pay-early"]
    _require(entry)
    _pay(entry)
    _cancel(entry)
    assert entry.refund(LATER) == [DEPOSIT_REF]


# --- payment idempotency -------------------------------------------------------------------

@pytest.mark.parametrize(("state", "answer"), [
    ("deposit_required", True),
    ("queued", False),
    ("active", False),
    ("canceled_after_paying", False),
])
def test_the_same_payment_twice_records_nothing_and_gives_the_first_answer(
    state: str, answer: bool
) -> None:
    entry = entry_in(state)
    assert entry.record_payment("pay-x", LATER) is answer
    [_] = [e for e in entry.collect_events() if not is_timer(e)]
    after_first = copy.deepcopy(vars(entry))
    assert entry.record_payment("pay-x", LATER + timedelta(minutes=5)) is answer
    assert entry.record_payment("  pay-x  ", LATER) is answer
    assert entry.collect_events() == []
    assert vars(entry) == after_first


def test_the_deposit_payment_repeated_after_its_refund_is_still_a_no_op() -> None:
    entry = entry_in("refunded_after_canceling")
    assert entry.record_payment(DEPOSIT_REF, LATER) is True
    assert entry.collect_events() == []


def test_a_stray_payment_repeated_after_its_refund_still_answers_false() -> None:
    entry = entry_in("queued")
    assert entry.record_payment("pay-stray", LATER) is False
    entry.refund(LATER)
    entry.collect_events()
    assert entry.record_payment("pay-stray", LATER) is False
    assert entry.collect_events() == []


@pytest.mark.parametrize("ref", ["", "   ", "\t\n", "x" * (MAX_PAYMENT_REF + 1)])
def test_a_blank_or_over_long_payment_reference_is_refused_naming_it(ref: str) -> None:
    entry = entry_in("deposit_required")
    before = copy.deepcopy(vars(entry))
    with pytest.raises(InvalidInput) as caught:
        entry.record_payment(ref, LATER)
    assert repr(ref) in str(caught.value)
    assert entry.collect_events() == []
    assert vars(entry) == before


def test_a_payment_reference_of_the_maximum_length_is_accepted() -> None:
    entry = entry_in("deposit_required")
    assert entry.record_payment("x" * MAX_PAYMENT_REF, LATER) is True


# --- replay and identity -------------------------------------------------------------------

@pytest.mark.parametrize("state", SETUPS)
def test_replaying_the_events_rebuilds_the_same_entry(state: str) -> None:
    entry = build(state)
    events = entry.collect_events()
    assert vars(replay(events)) == vars(entry)


def test_replay_never_consults_the_lifecycle_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = build("canceled_while_paused")
    entry.record_payment("pay-stray", LATER)
    events = entry.collect_events()

    def refuse(*_: object, **__: object) -> str:
        raise AssertionError("replay asked the rule tables")

    monkeypatch.setattr(lifecycle, "next_status", refuse)
    monkeypatch.setattr(lifecycle, "next_deposit_status", refuse)
    assert vars(replay(events)) == vars(entry)


def test_the_entry_id_follows_from_its_customer_and_sequence() -> None:
    entry_id = QueueEntry.create_id(CUSTOMER_ID, 1)
    assert entry_id == UUID("5c8b8717-1f5b-539b-8e6b-ebdde44c67a4")  # pinned: ids are stored
    assert QueueEntry.create_id(CUSTOMER_ID, 1) == entry_id
    assert QueueEntry(customer_id=CUSTOMER_ID, sequence=1, at=T0).id == entry_id
    assert QueueEntry.create_id(CUSTOMER_ID, 2) != entry_id
    assert QueueEntry.create_id(UUID(int=2), 1) != entry_id


# --- one booking attempt at a time ---------------------------------------------------------

SLOT_A = UUID("00000000-0000-4000-8000-0000000005a1")
SLOT_B = UUID("00000000-0000-4000-8000-0000000005a2")


def held(paused: bool = False) -> QueueEntry:
    """An active entry holding an attempt at SLOT_A (then paused, if asked)."""
    entry = entry_in("active")
    entry.reserve_attempt(SLOT_A, LATER)
    if paused:
        entry.pause(LATER)
    entry.collect_events()
    return entry


@pytest.mark.parametrize("state", SETUPS)
def test_only_an_active_paid_entry_can_be_held_for_an_attempt(state: str) -> None:
    entry = entry_in(state)
    if state != "active":
        assert_refused_without_trace(entry, lambda e: e.reserve_attempt(SLOT_A, LATER))
        return
    entry.reserve_attempt(SLOT_A, LATER)
    [reserved] = entry.collect_events()
    assert (type(reserved).__name__, reserved.slot_id, reserved.at) == (
        "AttemptReserved", SLOT_A, LATER)
    assert (entry.status, entry.deposit_status, entry.attempt_slot_id) == (
        "active", "paid", SLOT_A)


@pytest.mark.parametrize("slot_id", [SLOT_A, SLOT_B], ids=["same-slot", "another-slot"])
def test_an_entry_already_held_cannot_be_held_again(slot_id: UUID) -> None:
    refusal = assert_refused_without_trace(held(), lambda e: e.reserve_attempt(slot_id, LATER))
    assert str(SLOT_A) in str(refusal)


def test_releasing_the_attempt_frees_the_entry_and_keeps_it_active() -> None:
    entry = held()
    entry.release_attempt(SLOT_A, LATER, "fail")
    [released] = entry.collect_events()
    assert (type(released).__name__, released.slot_id, released.result) == (
        "AttemptReleased", SLOT_A, "fail")
    assert (entry.status, entry.deposit_status, entry.attempt_slot_id) == (
        "active", "paid", None)
    entry.reserve_attempt(SLOT_B, LATER)
    assert entry.attempt_slot_id == SLOT_B


@pytest.mark.parametrize("entry_of", [held, lambda: entry_in("active")],
                         ids=["held-for-another-slot", "not-held"])
def test_releasing_an_attempt_the_entry_does_not_hold_records_nothing(
    entry_of: Callable[[], QueueEntry],
) -> None:
    entry = entry_of()
    before = copy.deepcopy(vars(entry))
    entry.release_attempt(SLOT_B, LATER, "fail")
    assert entry.collect_events() == []
    assert vars(entry) == before


def test_booking_ends_the_hold() -> None:
    entry = held()
    entry.book(LOCATION_ID, SLOT, LATER, location_name="Kapolei")
    [booked] = entry.collect_events()
    assert type(booked).__name__ == "Booked"
    assert (entry.status, entry.deposit_status, entry.attempt_slot_id) == (
        "booked", "paid", None)


@pytest.mark.parametrize(("command", "expected"), [
    ("pause", ("paused", "paid")),
    ("cancel", ("canceled", "paid")),
])
def test_pausing_or_canceling_a_held_entry_follows_the_table_and_keeps_the_hold(
    command: str, expected: tuple[str, str]
) -> None:
    entry = held()
    COMMANDS[command](entry)
    [event] = entry.collect_events()
    assert type(event).__name__ == EVENT_OF[command]
    assert (entry.status, entry.deposit_status, entry.attempt_slot_id) == (*expected, SLOT_A)
    entry.release_attempt(SLOT_A, LATER, "fail")
    assert (entry.status, entry.attempt_slot_id) == (expected[0], None)


def test_a_held_entry_paused_and_resumed_is_still_held() -> None:
    entry = held(paused=True)
    entry.resume(LATER)
    assert (entry.status, entry.attempt_slot_id) == ("active", SLOT_A)
    entry.collect_events()
    assert_refused_without_trace(entry, lambda e: e.reserve_attempt(SLOT_B, LATER))


def test_a_held_entry_that_was_paused_cannot_be_booked() -> None:
    assert_refused_without_trace(held(paused=True), lambda e: e.book(LOCATION_ID, SLOT, LATER))


def test_replaying_holds_and_releases_rebuilds_the_same_entry() -> None:
    entry = build("active")
    entry.reserve_attempt(SLOT_A, LATER)
    entry.release_attempt(SLOT_A, LATER, "skipped")
    entry.reserve_attempt(SLOT_B, LATER)
    entry.book(LOCATION_ID, SLOT, LATER)
    assert vars(replay(entry.collect_events())) == vars(entry)
