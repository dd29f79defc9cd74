"""The Customer aggregate and contact normalisation: identity, email, windows and locations."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from slotqueue.aggregates.contact import normalise_email, normalise_phone
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.matcher import Presets, Selection
from slotqueue.aggregates.queue_entry import QueueEntry

PHONE = "+18085550101"
T0 = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
KAPOLEI = UUID("00000000-0000-4000-8000-0000000000a1")
WAIPAHU = UUID("00000000-0000-4000-8000-0000000000a2")
KAILUA = UUID("00000000-0000-4000-8000-0000000000a3")
UNKNOWN = UUID("00000000-0000-4000-8000-0000000000ff")
KNOWN = (KAPOLEI, WAIPAHU, KAILUA)
PRESETS = Presets.from_rows([
    ("date_horizon", "soonest", {"days_ahead": 365}),
    ("time_block", "early", {"start": "08:00", "end": "09:45"}),
    ("time_block", "late", {"start": "10:00", "end": "11:45"}),
    ("weekday_rule", "any_weekday", {"mode": "any"}),
    ("weekday_rule", "custom_weekdays", {"mode": "custom"}),
])


def customer(email: str | None = "kai@example.com") -> Customer:
    """A registered customer whose Registered event has been collected already."""
    registered = Customer(phone=PHONE, email=email, at=T0)
    registered.collect_events()
    return registered


def assert_refused_without_trace(
    subject: Customer, command: Callable[[Customer], object], named: str
) -> None:
    before = copy.deepcopy(vars(subject))
    with pytest.raises(InvalidInput) as caught:
        command(subject)
    assert named in str(caught.value)
    assert subject.collect_events() == []
    assert vars(subject) == before


# --- phone and email -----------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "808-555-0101", "(808) 555-0101", "+1 808 555 0101", "+18085550101", "1-808-555-0101",
    "  808.555.0101  ",
])
def test_every_way_of_writing_a_honolulu_number_becomes_the_same_e164_phone(raw: str) -> None:
    assert normalise_phone(raw) == PHONE


@pytest.mark.parametrize("raw", ["12345", "", "   ", "abc", "4" * 40, "808-555-010"])
def test_a_phone_that_is_no_number_is_refused_naming_it(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_phone(raw)
    assert repr(raw) in str(caught.value)


@pytest.mark.parametrize(("raw", "expected"), [
    ("kai@example.com", "kai@example.com"),
    ("Kai@Example.COM", "Kai@example.com"),
    ("  kai@Mail.Example.org ", "kai@mail.example.org"),
    (None, None),
])
def test_an_email_is_optional_and_its_domain_is_lower_cased(
    raw: str | None, expected: str | None
) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize("raw", ["not-an-email", "a@", "", "   ", "@example.com", "a@localhost"])
def test_an_invalid_email_is_refused_naming_it(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_email(raw)
    assert repr(raw) in str(caught.value)


def test_an_over_long_email_is_refused_before_parsing() -> None:
    raw = "a" * 250 + "@example.com"
    with pytest.raises(InvalidInput, match="invalid email"):
        normalise_email(raw)


# --- identity ------------------------------------------------------------------------------

def test_the_customer_id_follows_from_the_phone() -> None:
    customer_id = Customer.create_id(PHONE)
    assert customer_id == UUID("424ea2c7-b475-5e3b-934e-274560e00c27")  # pinned: ids are stored
    assert Customer.create_id(PHONE) == customer_id
    assert Customer(phone=PHONE, email=None, at=T0).id == customer_id
    assert Customer.create_id("+18085550102") != customer_id


def test_the_next_entry_id_is_the_id_of_the_entry_with_the_next_sequence() -> None:
    kai = customer()
    for sequence in (1, 2, 3):
        entry = QueueEntry(customer_id=kai.id, sequence=kai.entries_opened + 1, at=T0)
        assert kai.next_entry_id() == entry.id
        assert sequence == entry.sequence
        kai.open_entry(entry.id, T0)
        assert (kai.entries_opened, kai.open_entry_id) == (sequence, entry.id)
    assert kai.entry_ids() == [QueueEntry.create_id(kai.id, n) for n in (1, 2, 3)]
    assert [type(e).__name__ for e in kai.collect_events()] == ["EntryOpened"] * 3


@pytest.mark.parametrize("wrong", ["already opened", "skips a sequence", "unrelated"])
def test_opening_an_entry_with_any_other_id_is_refused_naming_it(wrong: str) -> None:
    kai = customer()
    first = kai.next_entry_id()
    kai.open_entry(first, T0)
    kai.collect_events()
    entry_id = {
        "already opened": first,
        "skips a sequence": QueueEntry.create_id(kai.id, 3),
        "unrelated": UNKNOWN,
    }[wrong]
    assert_refused_without_trace(kai, lambda c: c.open_entry(entry_id, T0), str(entry_id))


def test_replaying_the_events_rebuilds_the_same_customer() -> None:
    kai = Customer(phone=PHONE, email=None, at=T0)
    kai.open_entry(kai.next_entry_id(), T0)
    kai.change_email("kai@example.com", T0)
    kai.prefer_locations([WAIPAHU, KAPOLEI], KNOWN, T0)
    kai.select_windows(Selection("Pacific/Honolulu", "soonest", "any_weekday", (), ("late",)),
                       PRESETS, T0)
    state = None
    for event in kai.collect_events():
        state = event.mutate(state)
    assert vars(state) == vars(kai)


# --- email changes -------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["kai@example.com", "kai@EXAMPLE.com", " kai@example.com ", None])
def test_changing_the_email_to_the_same_address_or_to_none_records_nothing(
    raw: str | None,
) -> None:
    kai = customer()
    kai.change_email(raw, T0)
    assert kai.collect_events() == []
    assert kai.email == "kai@example.com"


def test_changing_the_email_records_the_normalised_address() -> None:
    kai = customer(email=None)
    kai.change_email("Kai@Example.COM", T0)
    [event] = kai.collect_events()
    assert (type(event).__name__, event.email, kai.email) == (
        "EmailChanged", "Kai@example.com", "Kai@example.com",
    )


def test_changing_the_email_to_an_invalid_one_is_refused_naming_it() -> None:
    assert_refused_without_trace(
        customer(), lambda c: c.change_email("not-an-email", T0), "'not-an-email'"
    )


# --- preferred locations -------------------------------------------------------------------

def test_preferred_locations_are_recorded_once_each_in_the_order_given() -> None:
    kai = customer()
    kai.prefer_locations([WAIPAHU, KAPOLEI, WAIPAHU, KAPOLEI], KNOWN, T0)
    [event] = kai.collect_events()
    assert event.location_ids == [WAIPAHU, KAPOLEI]
    assert kai.location_ids == [WAIPAHU, KAPOLEI]


def test_preferring_locations_again_replaces_the_previous_choice() -> None:
    kai = customer()
    kai.prefer_locations([WAIPAHU, KAPOLEI], KNOWN, T0)
    kai.prefer_locations(iter([KAILUA]), KNOWN, T0)
    assert kai.location_ids == [KAILUA]


def test_preferring_no_location_is_refused() -> None:
    kai = customer()
    kai.prefer_locations([KAPOLEI], KNOWN, T0)
    kai.collect_events()
    assert_refused_without_trace(kai, lambda c: c.prefer_locations([], KNOWN, T0), "no locations")


def test_preferring_an_unknown_location_is_refused_naming_it() -> None:
    assert_refused_without_trace(
        customer(), lambda c: c.prefer_locations([KAPOLEI, UNKNOWN], KNOWN, T0), str(UNKNOWN)
    )


# --- target windows ------------------------------------------------------------------------

def test_selecting_windows_records_the_selection_sorted_and_deduplicated() -> None:
    kai = customer()
    chosen = Selection("Pacific/Honolulu", "soonest", "custom_weekdays", (3, 1, 3),
                       ("late", "early", "late"))
    kai.select_windows(chosen, PRESETS, T0)
    [event] = kai.collect_events()
    expected = {
        "timezone": "Pacific/Honolulu",
        "date_horizon_key": "soonest",
        "weekday_rule_key": "custom_weekdays",
        "custom_weekdays": [1, 3],
        "time_block_keys": ["early", "late"],
    }
    assert event.selection == expected
    assert kai.selection == expected
    assert Selection.from_json(kai.selection) == Selection(
        "Pacific/Honolulu", "soonest", "custom_weekdays", (1, 3), ("early", "late")
    )


@pytest.mark.parametrize(("selection", "named"), [
    (Selection("Pacific/Honolulu", "w52", "any_weekday", (), ("early",)), "'w52'"),
    (Selection("Pacific/Honolulu", "soonest", "any_weekday", (), ()), "no time block"),
    (Selection("Pacific/Honolulu", "soonest", "custom_weekdays", (6,), ("early",)), "6"),
    (Selection("Mars/Olympus", "soonest", "any_weekday", (), ("early",)), "'Mars/Olympus'"),
])
def test_an_invalid_selection_is_refused_and_records_nothing(
    selection: Selection, named: str
) -> None:
    kai = customer()
    kai.select_windows(Selection("Pacific/Honolulu", "soonest", "any_weekday", (), ("late",)),
                       PRESETS, T0)
    kai.collect_events()
    assert_refused_without_trace(kai, lambda c: c.select_windows(selection, PRESETS, T0), named)


# --- opportunity nudges --------------------------------------------------------------------

SLOT_1 = UUID("00000000-0000-4000-8000-0000000005a1")
SLOT_2 = UUID("00000000-0000-4000-8000-0000000005a2")


def test_the_first_nudge_of_a_day_is_recorded() -> None:
    kai = customer()
    assert kai.note_opportunity_passed("2026-01-05", SLOT_1, T0) is True
    [nudged] = kai.collect_events()
    assert (type(nudged).__name__, nudged.day, nudged.slot_id, nudged.at) == (
        "OpportunityPassed", "2026-01-05", SLOT_1, T0)


def test_a_second_nudge_on_the_same_day_records_nothing() -> None:
    kai = customer()
    kai.note_opportunity_passed("2026-01-05", SLOT_1, T0)
    kai.collect_events()
    before = copy.deepcopy(vars(kai))
    assert kai.note_opportunity_passed("2026-01-05", SLOT_2, T0 + timedelta(hours=3)) is False
    assert kai.collect_events() == []
    assert vars(kai) == before


def test_the_next_day_brings_one_more_nudge() -> None:
    kai = customer()
    answers = [
        kai.note_opportunity_passed("2026-01-05", SLOT_1, T0),
        kai.note_opportunity_passed("2026-01-06", SLOT_2, T0 + timedelta(days=1)),
        kai.note_opportunity_passed("2026-01-06", SLOT_1, T0 + timedelta(days=1, hours=1)),
    ]
    assert answers == [True, True, False]
    assert [e.day for e in kai.collect_events()] == ["2026-01-05", "2026-01-06"]


def test_a_late_nudge_for_the_day_before_does_not_reopen_today() -> None:
    kai = customer()
    kai.note_opportunity_passed("2026-01-06", SLOT_1, T0 + timedelta(days=1))
    kai.note_opportunity_passed("2026-01-05", SLOT_2, T0 + timedelta(days=1))
    kai.note_opportunity_passed("2026-01-06", SLOT_2, T0 + timedelta(days=1, hours=1))
    assert [e.day for e in kai.collect_events()].count("2026-01-06") == 1


def test_replaying_nudges_rebuilds_the_same_customer() -> None:
    kai = Customer(phone=PHONE, email=None, at=T0)
    kai.note_opportunity_passed("2026-01-05", SLOT_1, T0)
    kai.note_opportunity_passed("2026-01-06", SLOT_2, T0 + timedelta(days=1))
    state = None
    for event in kai.collect_events():
        state = event.mutate(state)
    assert vars(state) == vars(kai)
