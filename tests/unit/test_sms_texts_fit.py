"""Every text that reaches a phone, rendered with the longest realistic values, is GSM-7 and
fits two SMS segments (spec service §3): each message template of `projections.messages`, the
HELP answer and the verification code.

The longest values: a brand of 40 characters (the setting's most), a location name of 60 (the
real Honolulu names are far shorter) or with an okina and macrons, a Stripe Payment Link with
`client_reference_id` added (and a link as long as the setting allows), and local times of
the longest weekday and month, a two-digit day, `12:45 PM` and a five-character zone. An offer's
claim link is put in as the delivery worker does, with SLOTQUEUE_PUBLIC_URL as long as the
settings allow beside the brand.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import AggregateNotFoundError

from slotqueue.adapters.messaging import Outcome, Outgoing
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.offer import Offer
from slotqueue.aggregates.offer_tokens import LINK_PLACEHOLDER, TOKEN_LENGTH, offer_link
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.application.identity import IdentityCommands
from slotqueue.projections.messages import (
    BRAND_AND_LINK,
    BRAND_AND_PUBLIC_URL,
    HANDLERS,
    PLACE_LENGTH,
    Texts,
    help_text,
    message_writes,
)
from slotqueue.projections.sms_segments import GSM7, measure, not_gsm7

BRAND = "Hawaii DMV Appointment Queue by Kokua Co"  # 40 characters, the setting's most
assert len(BRAND) == 40
LINK = "https://buy.stripe.com/6oE8Ab3xY0aB1cD2eF3gH4iJ"  # a live link: 24 characters of id
TEST_LINK = "https://buy.stripe.com/test_6oE8Ab3xY0aB1cD2eF3gH4iJ?locale=en"
LOCATIONS = [  # the longest of the real ones (Dillingham, Kapolei, Kaneohe, Wahiawa, Waianae)
    "Dillingham",
    "Windward City Shopping Center Satellite City Hall (Kaneohe)",  # 59
    "W" * PLACE_LENGTH,
    "K\u0101ne\u02bbohe Satellite City Hall, Windward City Shopping Center",
    "Kapalama Hale Driver Licensing Center, 925 Dillingham Blvd, Honolulu",  # cut short
]
# The longest local times: Wednesday September 30 at 12:45 PM, in zones with 3, 4 and 5
# character abbreviations.
ZONES = ["Pacific/Honolulu", "America/Anchorage", "Asia/Kathmandu"]
CUSTOMER_ID = UUID("6f1c2a7e-93d4-4b1a-8c55-0e2f7d9b4a31")
LOCATION_ID = UUID("0b7e4d2c-5a61-4f38-9e07-c3d8a1b26f90")
PAYMENT_REFS = ("pi_3PqRsTuVwXyZaBcD1eFgHiJk", "pi_3PqRsTuVwXyZaBcD1eFgHiJl")


def _moment(zone: str) -> datetime:
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    return datetime(2026, 9, 30, 12, 45, tzinfo=ZoneInfo(zone))


def _offers(location: str, moment: datetime) -> list[Any]:
    """Every offer event that queues a message: made, reminded, withdrawn, failed; and the
    entry's cooldown after an expiry. The deadline is the day after it was made."""
    made_at = moment - timedelta(hours=23)

    def offer(n: int) -> Offer:
        return Offer.make(slot_id=UUID(int=n), entry_id=UUID(int=n), customer_id=CUSTOMER_ID,
                          slot_key="k", location_id=LOCATION_ID, location_name=location,
                          slot_datetime=moment, policy="offer", token_hash="h", now=made_at,
                          minutes=timedelta(hours=24), reminder=timedelta(minutes=10))

    reminded, taken, failed = offer(1), offer(2), offer(3)
    reminded.remind("h2", moment - timedelta(minutes=5))
    taken.withdraw("taken", made_at)
    failed.accept("link", made_at)
    failed.settle(False, made_at, "the DMV said no")
    cooled = QueueEntry(customer_id=CUSTOMER_ID, sequence=4, at=made_at)
    cooled.start_cooldown(reminded.id, moment, "expired", made_at)
    return [e for a in (reminded, taken, failed, cooled) for e in a.collect_events()]


def _events(location: str, moment: datetime) -> list[Any]:
    """Every event that queues a message, from real aggregates; the deposit is due and the
    slot is at `moment`."""
    asked = moment - timedelta(minutes=120)
    booked = QueueEntry(customer_id=CUSTOMER_ID, sequence=1, at=asked)
    booked.require_deposit(asked, timedelta(minutes=120))
    booked.record_payment(PAYMENT_REFS[0], asked)
    booked.record_payment(PAYMENT_REFS[1], asked)  # not expected: a refund
    booked.book(LOCATION_ID, moment, asked, location_name=location)
    booked.refund(asked)
    lapsed = QueueEntry(customer_id=CUSTOMER_ID, sequence=2, at=asked)
    lapsed.require_deposit(asked, timedelta(minutes=120))
    lapsed.lapse_deposit(moment + timedelta(minutes=1))
    canceled = QueueEntry(customer_id=CUSTOMER_ID, sequence=3, at=asked)
    canceled.cancel(asked)
    customer = Customer(phone="+18085550101", email="kai@example.com", at=asked)
    customer.open_entry(customer.next_entry_id(), asked)
    customer.prefer_locations([LOCATION_ID], [LOCATION_ID], asked)
    customer.note_opportunity_passed("2026-09-30", LOCATION_ID, asked)
    customer.retire_location(LOCATION_ID, location, asked)
    return [e for a in (booked, lapsed, canceled, customer) for e in a.collect_events()] + \
        _offers(location, moment)


def longest_public_url(brand: str) -> str:
    """SLOTQUEUE_PUBLIC_URL as long as the settings allow beside `brand`."""
    return "https://" + "q" * (BRAND_AND_PUBLIC_URL - measure(brand).units - len("https://"))


def _rendered(texts: Texts, location: str, zone: str) -> list[tuple[str, str]]:
    """(the name of the event that queued it, text) of every message, the claim link put in
    as the delivery worker does."""
    link = offer_link(longest_public_url(texts.brand), UUID(int=7), "x" * TOKEN_LENGTH)
    return [(type(event).__name__, write.row["meta_json"]["text"].replace(
                LINK_PLACEHOLDER, link))
            for event in _events(location, _moment(zone))
            for write in message_writes(event, texts)]


def _first(texts: Texts, location: str, zone: str, name: str) -> str:
    return next(text for found, text in _rendered(texts, location, zone) if found == name)


class _Codes(IdentityCommands):
    """Just enough of the application to send a code: no verification recorded yet."""

    def __init__(self) -> None:
        def missing(_: UUID) -> None:
            raise AggregateNotFoundError

        self.repository = SimpleNamespace(get=missing)
        self.sent: list[str] = []

    def save(self, *_: Any) -> None:
        return None

    def opted_out(self, _: str) -> bool:
        return False


def _verification_text(brand: str) -> str:
    codes = _Codes()

    def send(text: Outgoing) -> Outcome:
        codes.sent.append(text.body)
        return Outcome.sent()

    codes.send_code("808-555-0101", _moment(ZONES[0]), send, brand)
    return codes.sent[0]


def _all_texts(texts: Texts, location: str, zone: str) -> list[tuple[str, str]]:
    return [*_rendered(texts, location, zone), ("help", help_text(texts)),
            ("verification", _verification_text(texts.brand))]


def _assert_fits(name: str, text: str) -> None:
    size = measure(text)
    assert size.encoding == GSM7, (name, not_gsm7(text), text)
    assert size.segments <= 2, (name, size, text)


def test_every_handler_is_rendered_here():
    rendered = {name for name, _ in _rendered(Texts(), LOCATIONS[0], ZONES[0])}
    assert {cls.__name__ for cls in HANDLERS} == rendered


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("location", LOCATIONS)
@pytest.mark.parametrize("link", [LINK, TEST_LINK])
def test_every_text_is_gsm7_and_fits_two_segments_with_the_longest_values(
        link, location, zone):
    texts = Texts(brand=BRAND, payment_link_url=link, timezone=zone)
    for name, text in _all_texts(texts, location, zone):
        assert text.startswith(f"{BRAND}: "), (name, text)
        _assert_fits(name, text)


@pytest.mark.parametrize("brand_length", [1, 9, 40])
def test_a_link_as_long_as_the_settings_allow_still_fits_the_deposit_text(brand_length):
    brand = "B" * brand_length
    link = LINK + "?p=" + "x" * (BRAND_AND_LINK - brand_length - len(LINK) - 3)
    texts = Texts(brand=brand, payment_link_url=link, timezone="Asia/Kathmandu")
    deposit = _first(texts, LOCATIONS[0], texts.timezone, "DepositRequired")
    assert f"{link}&client_reference_id=" in deposit
    _assert_fits("DepositRequired", deposit)
    assert measure(deposit).units >= 300  # the bound is not loose either


def test_the_deposit_text_carries_the_real_link_and_the_local_deadline_with_its_zone():
    texts = Texts(brand=BRAND, payment_link_url=LINK)
    text = _first(texts, LOCATIONS[0], ZONES[0], "DepositRequired")
    entry = QueueEntry.create_id(CUSTOMER_ID, 1)
    assert text.endswith(f": {LINK}?client_reference_id={entry}")
    assert "by Wed Sep 30, 12:45 PM HST " in text


def test_the_booked_text_names_the_place_and_the_long_local_time_with_its_zone():
    texts = Texts(brand=BRAND, timezone="America/Anchorage")
    text = _first(texts, LOCATIONS[1], texts.timezone, "Booked")
    assert f"{LOCATIONS[1]}, Wednesday September 30 at 12:45 PM AKDT." in text


def test_the_opportunity_passed_text_carries_no_date_or_time():
    text = _first(Texts(brand=BRAND), LOCATIONS[0], ZONES[0], "OpportunityPassed")
    assert not any(word in text for word in ("Sep", "Wed", "30", "12:45", "HST", "AM", "PM"))


@pytest.mark.parametrize(("name", "shown"), [
    (LOCATIONS[3], "Kane'ohe Satellite City Hall, Windward City Shopping Center"),
    (LOCATIONS[4], "Kapalama Hale Driver Licensing Center, 925 Dillingham Blv..."),
    ("  Kapolei \u2014 \u201cHale\u201d  ", 'Kapolei - "Hale"'),
    (None, ""),
])
def test_a_location_name_reads_in_the_sms_alphabet_and_at_most_60_characters(name, shown):
    assert Texts.place(name) == shown
    assert len(shown) <= PLACE_LENGTH


def test_the_help_answer_says_who_texts_and_how_to_stop():
    text = help_text(Texts(brand="Aloha Slots"))
    assert text.startswith("Aloha Slots: ")
    assert "Reply STOP" in text
    assert "START" in text
    assert measure(help_text(Texts(brand=BRAND))).segments == 1


@pytest.mark.parametrize("brand_length", [1, 9, 40])
def test_an_offer_fits_with_a_public_url_as_long_as_the_settings_allow(brand_length):
    texts = Texts(brand="B" * brand_length, timezone="Asia/Kathmandu")
    for name in ("Made", "Reminded"):
        text = _first(texts, LOCATIONS[2], texts.timezone, name)
        assert f"{longest_public_url(texts.brand)}/v1/offers/" in text
        assert text.endswith(" Reply 1 to accept, 9 to decline.")
        _assert_fits(name, text)
    made = _first(texts, LOCATIONS[2], texts.timezone, "Made")
    assert measure(made).units >= 300  # the bound is not loose either


def test_an_offer_names_the_place_the_slot_and_its_deadline_in_local_time():
    texts = Texts(brand=BRAND)
    made = _first(texts, LOCATIONS[0], ZONES[0], "Made")
    assert "Dillingham, Wed Sep 30, 12:45 PM HST is yours if claimed by " in made
    assert "claimed by Wed Sep 30, 1:45 PM HST: " in made  # due on another day than made
    reminded = _first(texts, LOCATIONS[0], ZONES[0], "Reminded")
    assert reminded.startswith(f"{BRAND}: still yours until 1:45 PM HST: Dillingham, ")
    cooled = _first(texts, LOCATIONS[0], ZONES[0], "CooldownStarted")
    assert "offers resume after" in cooled
