"""The lifecycle rule tables against spec §4.1, written out here, not read from the machines."""

from __future__ import annotations

import pytest

from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.errors import DomainError, TransitionRefused

TRIGGERS = (
    "require_deposit", "pay_deposit", "lapse_deposit", "book", "pause", "resume", "cancel",
    "refund", "set_priority", "book_by_operator",
)

# Spec §4.1, status column. A refund leaves the status unchanged and is taken only once the
# entry has left the queue (decisions.md: a deposit goes back once the entry is final).
# `resume` is listed under the fact it needs; see the resume tests below.
STATUS_TABLE: dict[tuple[str, str], str] = {
    ("queued", "require_deposit"): "deposit_required",
    ("deposit_required", "pay_deposit"): "active",
    ("deposit_required", "lapse_deposit"): "expired",
    ("active", "book"): "booked",
    ("queued", "pause"): "paused",
    ("active", "pause"): "paused",
    ("queued", "cancel"): "canceled",
    ("deposit_required", "cancel"): "canceled",
    ("active", "cancel"): "canceled",
    ("paused", "cancel"): "canceled",
    ("booked", "refund"): "booked",
    ("expired", "refund"): "expired",
    ("canceled", "refund"): "canceled",
    # Operators' overrides (service §4.4, §4.5): a priority changes no status and is taken by
    # any open entry; an operator books any open entry (the dispatcher's `book` stays
    # active-only).
    ("queued", "set_priority"): "queued",
    ("deposit_required", "set_priority"): "deposit_required",
    ("active", "set_priority"): "active",
    ("paused", "set_priority"): "paused",
    ("queued", "book_by_operator"): "booked",
    ("deposit_required", "book_by_operator"): "booked",
    ("active", "book_by_operator"): "booked",
    ("paused", "book_by_operator"): "booked",
}

# Spec §4.1, deposit_status column. Pause, resume and cancel leave the deposit alone.
DEPOSIT_TABLE: dict[tuple[str, str], str] = {
    ("none", "require_deposit"): "required",
    # an imported entry the earlier implementation kept queued after its deposit lapsed
    ("expired", "require_deposit"): "required",
    ("required", "pay_deposit"): "paid",
    ("required", "lapse_deposit"): "expired",
    ("paid", "book"): "paid",
    ("paid", "refund"): "refunded",
}
# An operator's booking leaves the deposit as it is: a paid one stays paid (the booking
# consumes it, as the dispatcher's does), one still required can only become a stray payment.
DEPOSIT_IGNORES = ("pause", "resume", "cancel", "set_priority", "book_by_operator")

# What the help text offers in each status.
HELP_TEXT = {
    "queued": ["book_by_operator", "cancel", "pause", "require_deposit", "set_priority"],
    "deposit_required": ["book_by_operator", "cancel", "lapse_deposit", "pay_deposit",
                         "set_priority"],
    "active": ["book", "book_by_operator", "cancel", "pause", "set_priority"],
    "booked": ["refund"],
    "paused": ["book_by_operator", "cancel", "resume", "set_priority"],
    "expired": ["refund"],
    "canceled": ["refund"],
}


def test_the_constants_name_the_states_of_the_spec() -> None:
    assert set(lc.STATUSES) == {
        "queued", "deposit_required", "active", "booked", "paused", "expired", "canceled",
    }
    assert set(lc.DEPOSIT_STATUSES) == {"none", "required", "paid", "expired", "refunded"}
    assert {"booked", "expired", "canceled"} == lc.FINAL
    assert set(lc.OPEN) == set(lc.STATUSES) - lc.FINAL


STATUS_CASES = [
    (status, trigger) for status in lc.STATUSES for trigger in TRIGGERS if trigger != "resume"
]


@pytest.mark.parametrize(("status", "trigger"), STATUS_CASES)
def test_every_status_transition_of_the_spec_is_allowed_and_every_other_refused(
    status: str, trigger: str
) -> None:
    expected = STATUS_TABLE.get((status, trigger))
    if expected is None:
        with pytest.raises(TransitionRefused, match=f"entry is {status}$"):
            lc.next_status(status, trigger)
    else:
        assert lc.next_status(status, trigger) == expected


@pytest.mark.parametrize(
    ("paused_from", "expected"), [("queued", "queued"), ("active", "active")]
)
def test_resume_returns_to_the_status_the_entry_was_paused_from(
    paused_from: str, expected: str
) -> None:
    assert lc.next_status("paused", "resume", **{f"paused_from_{paused_from}": True}) == expected


@pytest.mark.parametrize("status", lc.STATUSES)
def test_resume_without_knowing_where_the_entry_came_from_is_refused(status: str) -> None:
    with pytest.raises(TransitionRefused, match=f"cannot resume: entry is {status}"):
        lc.next_status(status, "resume")


@pytest.mark.parametrize("status", [s for s in lc.STATUSES if s != "paused"])
def test_resume_is_refused_outside_paused_whatever_the_facts(status: str) -> None:
    for fact in ("paused_from_queued", "paused_from_active"):
        with pytest.raises(TransitionRefused):
            lc.next_status(status, "resume", **{fact: True})


DEPOSIT_CASES = [
    (deposit, trigger)
    for deposit in lc.DEPOSIT_STATUSES
    for trigger in TRIGGERS
    if trigger not in DEPOSIT_IGNORES
]


@pytest.mark.parametrize(("deposit", "trigger"), DEPOSIT_CASES)
def test_every_deposit_transition_of_the_spec_is_allowed_and_every_other_refused(
    deposit: str, trigger: str
) -> None:
    expected = DEPOSIT_TABLE.get((deposit, trigger))
    if expected is None:
        with pytest.raises(TransitionRefused, match=f"deposit is {deposit}$"):
            lc.next_deposit_status(deposit, trigger)
    else:
        assert lc.next_deposit_status(deposit, trigger) == expected


@pytest.mark.parametrize("deposit", lc.DEPOSIT_STATUSES)
@pytest.mark.parametrize("trigger", DEPOSIT_IGNORES)
def test_pause_resume_cancel_and_the_overrides_leave_the_deposit_unchanged(
        deposit: str, trigger: str) -> None:
    assert lc.next_deposit_status(deposit, trigger) == deposit


@pytest.mark.parametrize(("status", "triggers"), HELP_TEXT.items())
def test_allowed_triggers_list_the_commands_the_help_text_offers(
    status: str, triggers: list[str]
) -> None:
    assert lc.allowed_triggers(status) == triggers


def test_a_refusal_is_a_domain_error_whose_message_reads_as_a_sentence() -> None:
    with pytest.raises(DomainError) as caught:
        lc.next_status("booked", "lapse_deposit")
    assert str(caught.value) == "cannot lapse deposit: entry is booked"


def test_an_unknown_trigger_is_refused_rather_than_guessed() -> None:
    with pytest.raises(TransitionRefused, match="cannot teleport: entry is queued"):
        lc.next_status("queued", "teleport")
