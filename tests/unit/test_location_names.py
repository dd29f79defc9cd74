"""What a person types for a location or a slot: names in any case, the start of a name, ids;
unknown and ambiguous names refused in one line that names them."""

from __future__ import annotations

from uuid import UUID

import pytest

from slotqueue.adapters.locations import Location, resolve
from slotqueue.aggregates.errors import InvalidInput
from slotqueue.scripts.audit_cmd import slot_key_of

KAPOLEI = Location(UUID("00000000-0000-4000-8000-00000000000a"), "Kapolei")
KANEOHE = Location(UUID("00000000-0000-4000-8000-00000000000b"), "Kaneohe")
KAPOLEI_HALE = Location(UUID("00000000-0000-4000-8000-00000000000c"), "Kapolei Hale")
KNOWN = [KANEOHE, KAPOLEI, KAPOLEI_HALE]


def test_names_are_matched_ignoring_case_and_spacing_in_the_order_given():
    assert resolve(["kaneohe", "  KAPOLEI "], KNOWN) == [KANEOHE.id, KAPOLEI.id]
    assert resolve(["kapolei  hale"], KNOWN) == [KAPOLEI_HALE.id]


def test_a_full_name_wins_over_a_longer_name_it_begins_and_a_unique_start_will_do():
    assert resolve(["Kapolei"], KNOWN) == [KAPOLEI.id]
    assert resolve(["Kane"], KNOWN) == [KANEOHE.id]


def test_ids_are_still_accepted_beside_names():
    assert resolve([str(KAPOLEI.id), "Kaneohe"], KNOWN) == [KAPOLEI.id, KANEOHE.id]


def test_unknown_and_ambiguous_names_are_refused_together_in_one_line_naming_them():
    with pytest.raises(InvalidInput) as refused:
        resolve(["Ka", "Hilo", "Kaneohe", "00000000-0000-4000-8000-0000000000ff"], KNOWN)
    message = str(refused.value)
    assert "\n" not in message
    assert "ambiguous location 'Ka' (Kaneohe, Kapolei, Kapolei Hale)" in message
    assert "unknown location 'Hilo'" in message
    assert "unknown location '00000000-0000-4000-8000-0000000000ff'" in message


@pytest.mark.parametrize("text", [
    "Kapolei 2026-12-16 10:45", "kapolei 2026-12-16 10:45:00", "Kapolei 2026-12-16 10:45 am",
    "Kapolei|2026-12-16|10:45", f"{KAPOLEI.id}|2026-12-16|10:45:00",
])
def test_a_slot_is_named_by_location_name_local_date_and_time_or_by_its_key(text):
    assert slot_key_of(text, KNOWN) == f"{KAPOLEI.id}|2026-12-16|10:45:00"


def test_afternoon_times_and_names_with_spaces_read_right():
    assert slot_key_of("Kapolei Hale 2026-12-16 2:15 PM", KNOWN) == (
        f"{KAPOLEI_HALE.id}|2026-12-16|14:15:00")
    assert slot_key_of("Kapolei 2026-12-16 12:00 pm", KNOWN).endswith("|12:00:00")


@pytest.mark.parametrize(("text", "named"), [
    ("Kapolei tomorrow 10:45", "'Kapolei tomorrow 10:45'"),
    ("Hilo 2026-12-16 10:45", "'Hilo'"),
    ("Kapolei 2026-13-16 10:45", "2026-13-16"),
])
def test_an_unreadable_slot_is_refused_naming_what_was_wrong(text, named):
    with pytest.raises(InvalidInput, match=named):
        slot_key_of(text, KNOWN)
