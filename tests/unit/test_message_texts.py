"""Message texts: the brand, the real payment link (or honest words without one), local times
with the zone, no placeholder, and at most two GSM-7 SMS segments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.projections.messages import Texts, message_writes
from slotqueue.projections.sms_segments import GSM7, measure

CUSTOMER_ID = UUID("00000000-0000-4000-8000-000000000001")
LOCATION_ID = UUID("00000000-0000-4000-8000-0000000000aa")
T0 = datetime(2025, 12, 15, 18, 0, tzinfo=UTC)  # Monday 8:00 in Honolulu
SLOT = datetime(2025, 12, 16, 20, 45, tzinfo=UTC)  # Tuesday 10:45 in Honolulu
LINK = "https://buy.stripe.com/test_6oE8Ab3xY0aB1cD2eF"
LONG_BRAND = "Hawaii DMV Appointment Helper Service"  # near the setting's 40 characters


def _events() -> list[Any]:
    """Every event that queues a message, from real aggregates."""
    booked = QueueEntry(customer_id=CUSTOMER_ID, sequence=1, at=T0)
    booked.require_deposit(T0, timedelta(minutes=120))
    booked.record_payment("pay-1", T0 + timedelta(minutes=5))
    booked.record_payment("pay-2", T0 + timedelta(minutes=6))  # not expected: a refund
    booked.book(LOCATION_ID, SLOT, T0 + timedelta(minutes=10), location_name="Kapolei")
    booked.refund(T0 + timedelta(minutes=20))
    lapsed = QueueEntry(customer_id=CUSTOMER_ID, sequence=2, at=T0)
    lapsed.require_deposit(T0, timedelta(minutes=120))
    lapsed.lapse_deposit(T0 + timedelta(minutes=121))
    canceled = QueueEntry(customer_id=CUSTOMER_ID, sequence=3, at=T0)
    canceled.cancel(T0)
    customer = Customer(phone="+18085550101", email=None, at=T0)
    customer.open_entry(customer.next_entry_id(), T0)
    customer.prefer_locations([LOCATION_ID], [LOCATION_ID], T0)
    customer.note_opportunity_passed("2025-12-15", LOCATION_ID, T0)
    customer.retire_location(LOCATION_ID, "Kapolei Hale", T0)
    return [e for a in (booked, lapsed, canceled, customer) for e in a.collect_events()]


def _texts(texts: Texts) -> dict[str, str]:
    """Each message's text by `<dedupe key>|<event name>`."""
    return {f"{write.row['dedupe_key']}|{type(event).__name__}": write.row["meta_json"]["text"]
            for event in _events() for write in message_writes(event, texts)}


def _text(texts: Texts, prefix: str) -> str:
    [found] = [t for k, t in _texts(texts).items() if k.startswith(prefix)]
    return found


def test_every_message_kind_is_rendered():
    assert {k.split("|")[1] for k in _texts(Texts())} == {
        "DepositRequired", "DepositPaid", "PaymentNeedsRefund", "Booked", "Refunded",
        "DepositLapsed", "Canceled", "OpportunityPassed", "LocationRetired"}


@pytest.mark.parametrize("texts", [
    Texts(), Texts(brand=LONG_BRAND, payment_link_url=LINK + "?prefilled_email=a%40b.co"),
], ids=["defaults", "long brand and link"])
def test_every_text_names_the_brand_has_no_placeholder_and_fits_two_sms_segments(texts):
    for key, text in _texts(texts).items():
        assert text.startswith(texts.brand + ": "), key
        assert "slotqueue" not in text.lower(), key
        assert not {"{", "}"} & set(text), key
        assert measure(text).encoding == GSM7, key
        assert measure(text).segments <= 2, (key, len(text))


def test_the_deposit_text_carries_the_link_with_the_entry_as_client_reference():
    entry_id = QueueEntry.create_id(CUSTOMER_ID, 1)
    text = _text(Texts(payment_link_url=LINK), f"deposit_needed:{entry_id}")
    assert text.endswith(f": {LINK}?client_reference_id={entry_id}")
    assert "Mon Dec 15, 10:00 AM HST" in text


def test_a_link_with_a_query_string_keeps_it_and_an_old_reference_is_replaced():
    texts = Texts(payment_link_url=LINK + "?prefilled_email=a%40b.co&client_reference_id=x#top")
    assert texts.payment_link("e-1") == (
        LINK + "?prefilled_email=a%40b.co&client_reference_id=e-1#top")


def test_without_a_link_the_deposit_text_says_how_payment_will_happen():
    text = _text(Texts(), f"deposit_needed:{QueueEntry.create_id(CUSTOMER_ID, 1)}")
    assert "http" not in text
    assert text.endswith("We will contact you with how to pay.")
    assert Texts().payment_link("e-1") is None


def test_times_are_local_with_the_zone_of_the_texts():
    booked = _text(Texts(), "booked:")
    assert "Kapolei, Tuesday December 16 at 10:45 AM HST" in booked
    tokyo = _text(Texts(timezone="Asia/Tokyo"), "booked:")
    assert "Wednesday December 17 at 5:45 AM JST" in tokyo
