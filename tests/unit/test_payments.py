"""Payments as the payment system reports them: the Payment aggregate (each payment once, a
refund kept whatever the order) and a reported refund on the QueueEntry (a fact, never
refused; an open entry whose deposit went back is ended first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from slotqueue.aggregates.errors import TransitionRefused
from slotqueue.aggregates.payment import DEPOSIT_PAID, Payment
from slotqueue.aggregates.queue_entry import QueueEntry

CUSTOMER_ID = UUID("00000000-0000-4000-8000-000000000001")
ENTRY_ID = UUID("00000000-0000-4000-8000-000000000002")
T0 = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
GRACE = timedelta(minutes=120)


def _paid_entry() -> QueueEntry:
    entry = QueueEntry(customer_id=CUSTOMER_ID, sequence=1, at=T0)
    entry.require_deposit(T0, GRACE)
    assert entry.record_payment("pi_1", T0, 2500, "usd") is True
    return entry


def _names(entry: QueueEntry) -> list[str]:
    return [type(e).__name__ for e in entry.collect_events()]


def test_a_payment_is_recorded_once_with_its_amount():
    payment = Payment(payment_ref="pi_1", provider="stripe", at=T0)
    assert payment.complete(ENTRY_ID, str(ENTRY_ID), 2500, "usd", DEPOSIT_PAID, T0)
    assert not payment.complete(ENTRY_ID, str(ENTRY_ID), 2500, "usd", DEPOSIT_PAID, T0)
    _, completed = payment.collect_events()
    assert payment.id == Payment.create_id("pi_1")
    assert (completed.amount, completed.currency, completed.outcome) == (2500, "usd",
                                                                          DEPOSIT_PAID)


def test_refunds_add_up_and_a_full_one_is_recorded_once():
    payment = Payment(payment_ref="pi_1", provider="stripe", at=T0)
    assert payment.report_refund(500, False, T0)
    assert (payment.amount_refunded, payment.refunded) == (500, False)
    assert payment.report_refund(2500, True, T0)
    assert not payment.report_refund(2500, True, T0)
    assert (payment.amount_refunded, payment.refunded, payment.is_paid) == (2500, True, False)


def test_the_payment_events_carry_the_amount_and_older_ones_replay_without_it():
    entry = _paid_entry()
    joined, required, timer_set, paid, _timer_canceled = entry.collect_events()
    assert (paid.amount, paid.currency) == (2500, "usd")
    old = object.__new__(type(paid))  # as a DepositPaid recorded before the amount was
    old.__dict__.update({k: v for k, v in paid.__dict__.items()
                         if k not in ("amount", "currency")})
    replayed = old.mutate(timer_set.mutate(required.mutate(joined.mutate(None))))
    assert (replayed.status, replayed.deposit_payment_ref) == ("active", "pi_1")


def test_a_stray_payment_refunded_leaves_the_deposit_alone():
    entry = _paid_entry()
    assert entry.record_payment("pi_2", T0, 900, "usd") is False
    entry.collect_events()
    assert entry.record_refund("pi_2", T0, by="stripe") == "refunded"
    assert (entry.status, entry.deposit_status, entry.refunds_due) == ("active", "paid", [])
    assert _names(entry) == ["Refunded"]


def test_a_deposit_refunded_while_the_entry_is_open_ends_the_entry_first():
    entry = _paid_entry()
    entry.collect_events()
    assert entry.record_refund("pi_1", T0, by="stripe") == "canceled_and_refunded"
    assert (entry.status, entry.deposit_status) == ("canceled", "refunded")
    assert _names(entry) == ["Canceled", "Refunded"]


def test_a_deposit_refunded_after_the_entry_left_only_marks_it_refunded():
    entry = _paid_entry()
    entry.cancel(T0)
    entry.collect_events()
    assert entry.record_refund("pi_1", T0) == "refunded"
    assert _names(entry) == ["Refunded"]
    assert entry.record_refund("pi_1", T0) is None  # reported again: nothing new
    assert _names(entry) == []


def test_a_refund_the_operator_recorded_already_is_not_recorded_again():
    entry = _paid_entry()
    entry.cancel(T0)
    assert entry.refund(T0, by="ops") == ["pi_1"]
    entry.collect_events()
    assert entry.record_refund("pi_1", T0, by="stripe") is None
    assert _names(entry) == []


def test_a_refund_of_a_payment_the_entry_never_had_is_refused():
    with pytest.raises(TransitionRefused, match="no payment 'pi_9'"):
        _paid_entry().record_refund("pi_9", T0)
