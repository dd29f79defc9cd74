"""Target-window matching (spec §4.3), table-driven; every time is built in Honolulu."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, time
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.matcher import (
    Presets,
    Selection,
    TimeBlock,
    local_slot_datetime,
    matches,
    slot_key,
    validate_selection,
    window_mismatch,
)

HNL = ZoneInfo("Pacific/Honolulu")

# Equal to the seed rows of the migration; the code under test knows none of these values.
SEED_ROWS = [
    ("date_horizon", "soonest", {"days_ahead": 365}),
    ("date_horizon", "w4", {"days_ahead": 28}),
    ("date_horizon", "w8", {"days_ahead": 56}),
    ("date_horizon", "w12", {"days_ahead": 84}),
    ("time_block", "early", {"start": "08:00", "end": "09:45"}),
    ("time_block", "late", {"start": "10:00", "end": "11:45"}),
    ("time_block", "midday", {"start": "12:00", "end": "13:45"}),
    ("time_block", "afternoon", {"start": "14:00", "end": "15:45"}),
    ("weekday_rule", "any_weekday", {"mode": "any"}),
    ("weekday_rule", "custom_weekdays", {"mode": "custom"}),
]
PRESETS = Presets.from_rows(SEED_ROWS)
ALL_BLOCKS = ("early", "late", "midday", "afternoon")


def hnl(text: str) -> datetime:
    """A Honolulu wall-clock time, as the aware UTC datetime the matcher receives."""
    return datetime.fromisoformat(text).replace(tzinfo=HNL).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def sel(
    horizon: str = "soonest",
    blocks: tuple[str, ...] = ALL_BLOCKS,
    days: tuple[int, ...] = (),
) -> Selection:
    rule = "custom_weekdays" if days else "any_weekday"
    return Selection("Pacific/Honolulu", horizon, rule, days, blocks)


# Monday 2026-11-23, 06:00 in Honolulu (16:00 UTC, the same date).
MONDAY_DAWN = hnl("2026-11-23 06:00")
# Tuesday 2026-11-24, 14:30 in Honolulu, already Wednesday 2026-11-25 00:30 in UTC.
TUESDAY_AFTERNOON = hnl("2026-11-24 14:30")

MISMATCH_CASES = [
    # rule 1: weekends
    pytest.param(
        hnl("2026-11-28 10:00"),
        sel(),
        MONDAY_DAWN,
        "weekend",
        id="saturday never matches even with everything selected",
    ),
    pytest.param(
        hnl("2026-11-29 10:00"),
        sel(),
        MONDAY_DAWN,
        "weekend",
        id="sunday never matches even with everything selected",
    ),
    pytest.param(
        hnl("2026-11-28 10:00"),
        sel(days=(1, 2, 3, 4, 5)),
        MONDAY_DAWN,
        "weekend",
        id="saturday never matches with every custom weekday chosen",
    ),
    pytest.param(
        hnl("2026-11-29 10:00"),
        sel(days=(6, 7)),
        MONDAY_DAWN,
        "weekend",
        id="sunday never matches even if days 6 and 7 slipped in",
    ),
    pytest.param(
        hnl("2026-11-28 10:00"),
        sel(horizon="gone"),
        MONDAY_DAWN,
        "weekend",
        id="a weekend is reported before an inactive preset",
    ),
    # rule 2: horizon, in Honolulu days
    pytest.param(
        hnl("2026-11-24 15:00"),
        sel("w4"),
        TUESDAY_AFTERNOON,
        None,
        id="a slot later today in honolulu matches although utc is tomorrow",
    ),
    pytest.param(
        hnl("2026-11-24 10:00"),
        sel("w4"),
        TUESDAY_AFTERNOON,
        "horizon",
        id="a slot earlier today has passed and never matches",
    ),
    pytest.param(
        hnl("2026-11-23 15:00"),
        sel("w4"),
        TUESDAY_AFTERNOON,
        "horizon",
        id="a slot yesterday in honolulu never matches",
    ),
    pytest.param(
        hnl("2026-12-22 08:00"),
        sel("w4"),
        TUESDAY_AFTERNOON,
        None,
        id="a slot on today plus days ahead matches",
    ),
    pytest.param(
        hnl("2026-12-23 08:00"),
        sel("w4"),
        TUESDAY_AFTERNOON,
        "horizon",
        id="today plus days ahead plus one is outside in honolulu",
    ),
    pytest.param(
        hnl("2027-11-24 08:00"),
        sel(),
        TUESDAY_AFTERNOON,
        None,
        id="soonest available reaches today plus 365",
    ),
    pytest.param(
        hnl("2027-11-25 08:00"),
        sel(),
        TUESDAY_AFTERNOON,
        "horizon",
        id="soonest available stops after today plus 365",
    ),
    # rule 3: weekdays
    pytest.param(
        hnl("2026-11-25 08:00"),
        sel(days=(3,)),
        MONDAY_DAWN,
        None,
        id="a chosen custom weekday matches",
    ),
    pytest.param(
        hnl("2026-11-26 08:00"),
        sel(days=(1, 3, 5)),
        MONDAY_DAWN,
        "weekday",
        id="a weekday not among the custom days does not match",
    ),
    # rule 4: time blocks, bounds inclusive, seconds count
    pytest.param(
        hnl("2026-11-24 08:00"),
        sel(blocks=("early",)),
        MONDAY_DAWN,
        None,
        id="the start of a block is inside it",
    ),
    pytest.param(
        hnl("2026-11-24 09:45"),
        sel(blocks=("early",)),
        MONDAY_DAWN,
        None,
        id="the end of a block is inside it",
    ),
    pytest.param(
        hnl("2026-11-24 07:59:59"),
        sel(blocks=("early",)),
        MONDAY_DAWN,
        "time_block",
        id="one second before a block starts is outside it",
    ),
    pytest.param(
        hnl("2026-11-24 08:07"),
        sel(blocks=("early",)),
        MONDAY_DAWN,
        None,
        id="08:07 off the grid is inside early",
    ),
    pytest.param(
        hnl("2026-11-24 09:44:59"),
        sel(blocks=("early",)),
        MONDAY_DAWN,
        None,
        id="09:44:59 is inside early",
    ),
    pytest.param(
        hnl("2026-11-24 09:45:01"),
        sel(blocks=("early",)),
        MONDAY_DAWN,
        "time_block",
        id="09:45:01 is outside early",
    ),
    pytest.param(
        hnl("2026-11-24 09:45:30"),
        sel(blocks=("early",)),
        MONDAY_DAWN,
        "time_block",
        id="09:45:30 is outside early because seconds count",
    ),
    pytest.param(
        hnl("2026-11-24 09:50"),
        sel(),
        MONDAY_DAWN,
        "time_block",
        id="09:50 between two blocks matches none",
    ),
    pytest.param(
        hnl("2026-11-24 12:00"),
        sel(blocks=("early", "late")),
        MONDAY_DAWN,
        "time_block",
        id="a time inside an unselected block does not match",
    ),
    # inactive presets: the customer chose them, an operator deactivated them since
    pytest.param(
        hnl("2026-11-24 08:00"),
        sel(horizon="gone"),
        MONDAY_DAWN,
        "unknown_preset",
        id="a deactivated horizon is an unknown preset, not a crash",
    ),
    pytest.param(
        hnl("2026-11-24 08:00"),
        sel(blocks=("early", "gone")),
        MONDAY_DAWN,
        "unknown_preset",
        id="one deactivated block among the chosen ones is an unknown preset",
    ),
    # the UTC date is not the Honolulu date
    pytest.param(
        utc("2026-11-24 09:30"),
        sel(),
        MONDAY_DAWN,
        "time_block",
        id="2026-11-24 09:30 utc is monday 23:30 in honolulu",
    ),
    pytest.param(
        utc("2026-11-24 09:30"),
        sel(days=(1,)),
        MONDAY_DAWN,
        "time_block",
        id="that slot counts as monday for custom days",
    ),
    pytest.param(
        utc("2026-11-24 09:30"),
        sel(days=(2,)),
        MONDAY_DAWN,
        "weekday",
        id="that slot is not tuesday for custom days",
    ),
    pytest.param(
        utc("2026-11-28 01:00"),
        sel(days=(5,)),
        MONDAY_DAWN,
        None,
        id="utc saturday 01:00 is friday 15:00 in honolulu and matches friday",
    ),
    pytest.param(
        utc("2026-11-28 01:00"),
        sel(days=(4,)),
        MONDAY_DAWN,
        "weekday",
        id="a utc saturday that is friday in honolulu needs friday chosen",
    ),
    pytest.param(
        utc("2026-11-30 01:00"),
        sel(),
        MONDAY_DAWN,
        "weekend",
        id="utc monday 01:00 is sunday in honolulu so never matches",
    ),
]


@pytest.mark.parametrize(("slot", "selection", "now", "expected"), MISMATCH_CASES)
def test_window_mismatch_names_the_first_failing_check(
    slot: datetime, selection: Selection, now: datetime, expected: str | None
) -> None:
    assert window_mismatch(slot, selection, PRESETS, now) == expected
    assert matches(slot, selection, PRESETS, now) is (expected is None)


DMV_GRID = [time(8 + q // 4, 15 * (q % 4)) for q in range(32)]


@pytest.mark.parametrize("grid_time", DMV_GRID, ids=lambda t: f"{t:%H:%M}")
def test_every_dmv_grid_time_matches_some_seed_block(grid_time: time) -> None:
    slot = datetime.combine(date(2026, 11, 24), grid_time, tzinfo=HNL).astimezone(UTC)
    single = [matches(slot, sel(blocks=(key,)), PRESETS, MONDAY_DAWN) for key in ALL_BLOCKS]
    assert any(single)
    assert matches(slot, sel(), PRESETS, MONDAY_DAWN)


def test_the_dmv_grid_has_32_times_from_0800_to_1545() -> None:
    assert (len(DMV_GRID), DMV_GRID[0], DMV_GRID[-1]) == (32, time(8), time(15, 45))


@pytest.mark.parametrize("text", ["8:00", "08:00", "08:00:00"])
def test_local_slot_datetime_accepts_every_time_spelling_the_dmv_uses(text: str) -> None:
    assert local_slot_datetime(date(2026, 11, 23), text, "Pacific/Honolulu") == utc(
        "2026-11-23 18:00"
    )


def test_local_slot_datetime_of_a_late_evening_is_the_next_utc_day() -> None:
    assert local_slot_datetime(date(2026, 11, 23), "23:30:00", "Pacific/Honolulu") == utc(
        "2026-11-24 09:30"
    )


@pytest.mark.parametrize(
    "text",
    ["25:00", "8", "08:00:00:00", "", "08:60", "8:5", " 08:00", "ab:cd", "08:00:60"],
    ids=lambda t: f"time text {t!r} is refused",
)
def test_bad_time_texts_are_refused_naming_the_text(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        local_slot_datetime(date(2026, 11, 23), text, "Pacific/Honolulu")
    assert repr(text) in str(refused.value)


def test_local_slot_datetime_refuses_an_unknown_timezone_by_name() -> None:
    with pytest.raises(InvalidInput, match="Mars/Olympus"):
        local_slot_datetime(date(2026, 11, 23), "08:00", "Mars/Olympus")


LOCATION = UUID("6f1c2a9e-3b7d-4c55-9a0e-2d8f4b6c1e70")


@pytest.mark.parametrize(
    ("location", "text"),
    [
        pytest.param(LOCATION, "8:00", id="a uuid and H:MM give the normal form"),
        pytest.param(str(LOCATION), "08:00:00", id="a uuid string and HH:MM:SS give it too"),
        pytest.param(str(LOCATION).upper(), "08:00", id="an upper case uuid string gives it too"),
    ],
)
def test_slot_key_is_normalised(location: UUID | str, text: str) -> None:
    assert slot_key(location, date(2026, 11, 23), text) == f"{LOCATION}|2026-11-23|08:00:00"


def test_slot_key_refuses_a_location_that_is_not_a_uuid() -> None:
    with pytest.raises(InvalidInput, match="'kapolei'"):
        slot_key("kapolei", date(2026, 11, 23), "08:00")


VALID = Selection("Pacific/Honolulu", "w4", "custom_weekdays", (1, 3), ("early",))
REFUSALS = [
    pytest.param({"timezone": "Mars/Olympus"}, "'Mars/Olympus'", id="an unknown timezone"),
    pytest.param({"timezone": ""}, "''", id="an empty timezone"),
    pytest.param({"date_horizon_key": "w3"}, "'w3'", id="an unknown horizon"),
    pytest.param({"weekday_rule_key": "weekends"}, "'weekends'", id="an unknown weekday rule"),
    pytest.param(
        {"time_block_keys": ("early", "brunch")},
        "unknown time block 'brunch'",
        id="an unknown time block",
    ),
    pytest.param({"time_block_keys": ()}, "no time block", id="no time block at all"),
    pytest.param(
        {"custom_weekdays": (1, 6)},
        "custom weekday 6 is not Monday–Friday (1–5)",  # noqa: RUF001
        id="saturday as a custom weekday",
    ),
    pytest.param({"custom_weekdays": (7,)}, "custom weekday 7", id="sunday as a custom weekday"),
    pytest.param({"custom_weekdays": (0,)}, "custom weekday 0", id="day zero"),
    pytest.param(
        {"custom_weekdays": ()},
        "'custom_weekdays' needs custom weekdays",
        id="custom mode without weekdays",
    ),
    pytest.param(
        {"weekday_rule_key": "any_weekday", "custom_weekdays": (6,)},
        "custom weekday 6",
        id="a weekend day even with any weekday",
    ),
]


@pytest.mark.parametrize(("change", "named"), REFUSALS)
def test_validate_selection_refuses_naming_the_bad_value(change: dict, named: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_selection(replace(VALID, **change), PRESETS)
    assert named in str(refused.value)


def test_validate_selection_refuses_a_preset_that_is_no_longer_active() -> None:
    without_w4 = Presets.from_rows(row for row in SEED_ROWS if row[1] != "w4")
    with pytest.raises(InvalidInput, match="'w4'"):
        validate_selection(VALID, without_w4)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(
            Selection("Pacific/Honolulu", "w4", "custom_weekdays", (5, 1, 5), ("late", "early")),
            Selection("Pacific/Honolulu", "w4", "custom_weekdays", (1, 5), ("early", "late")),
            id="custom days and blocks are sorted and deduplicated",
        ),
        pytest.param(
            Selection("Pacific/Honolulu", "w4", "any_weekday", (2, 3), ("early", "early")),
            Selection("Pacific/Honolulu", "w4", "any_weekday", (), ("early",)),
            id="any weekday drops the custom days",
        ),
    ],
)
def test_validate_selection_normalises(given: Selection, expected: Selection) -> None:
    assert validate_selection(given, PRESETS) == expected


@pytest.mark.parametrize(
    ("row", "named"),
    [
        pytest.param(
            ("date_horizon", "w4", {"days_ahead": "28"}),
            ["date_horizon", "'w4'", "'28'"],
            id="days ahead as text",
        ),
        pytest.param(
            ("date_horizon", "w4", {"days_ahead": -1}), ["'w4'", "-1"], id="negative days ahead"
        ),
        pytest.param(
            ("date_horizon", "w4", {"days_ahead": True}),
            ["'w4'", "True"],
            id="days ahead as a boolean",
        ),
        pytest.param(
            ("date_horizon", "w4", {"days": 28}), ["'w4'", "None"], id="days ahead missing"
        ),
        pytest.param(
            ("time_block", "early", {"start": "8h", "end": "09:45"}),
            ["time_block", "'early'", "'8h'"],
            id="a start that is not a time",
        ),
        pytest.param(
            ("time_block", "early", {"start": "08:00"}),
            ["'early'", "None"],
            id="a block without an end",
        ),
        pytest.param(
            ("time_block", "early", {"start": "10:00", "end": "09:45"}),
            ["'early'", "after end"],
            id="a block ending before it starts",
        ),
        pytest.param(
            ("weekday_rule", "any_weekday", {"mode": "sometimes"}),
            ["weekday_rule", "'any_weekday'", "'sometimes'"],
            id="an unknown mode",
        ),
        pytest.param(
            ("time_block", "early", ["08:00", "09:45"]),
            ["'early'", "not a JSON object"],
            id="rules that are not an object",
        ),
        pytest.param(("holiday", "xmas", {}), ["'holiday'", "'xmas'"], id="an unknown preset type"),
    ],
)
def test_presets_refuse_malformed_rules_naming_type_key_and_value(
    row: tuple, named: list[str]
) -> None:
    with pytest.raises(InvalidInput) as refused:
        Presets.from_rows([row])
    for text in named:
        assert text in str(refused.value)


def test_presets_refuse_the_same_key_twice() -> None:
    with pytest.raises(InvalidInput, match="'early'"):
        Presets.from_rows([*SEED_ROWS, ("time_block", "early", {"start": "08:00", "end": "09:00"})])


def test_presets_parse_the_seed_rows() -> None:
    assert PRESETS.horizons == {"soonest": 365, "w4": 28, "w8": 56, "w12": 84}
    assert PRESETS.time_blocks["early"] == TimeBlock(time(8), time(9, 45))
    assert PRESETS.weekday_rules == {"any_weekday": "any", "custom_weekdays": "custom"}


def test_presets_round_trip_through_json_as_the_table_spells_them() -> None:
    data = json.loads(json.dumps(PRESETS.to_json()))
    assert data["time_block"]["early"] == {"start": "08:00", "end": "09:45"}
    assert Presets.from_json(data) == PRESETS


def test_a_block_with_seconds_keeps_them_through_json() -> None:
    presets = Presets.from_rows([("time_block", "odd", {"start": "08:00:30", "end": "9:00"})])
    assert presets.to_json()["time_block"]["odd"] == {"start": "08:00:30", "end": "09:00"}
    assert Presets.from_json(presets.to_json()) == presets


@pytest.mark.parametrize(
    "selection",
    [
        pytest.param(VALID, id="a custom selection round trips"),
        pytest.param(sel(), id="an any weekday selection round trips"),
    ],
)
def test_selection_round_trips_through_json(selection: Selection) -> None:
    data = json.loads(json.dumps(selection.to_json()))
    assert data["custom_weekdays"] == list(selection.custom_weekdays)
    assert Selection.from_json(data) == selection


def test_selection_from_json_refuses_a_missing_key_by_name() -> None:
    with pytest.raises(InvalidInput, match="date_horizon_key"):
        Selection.from_json({"weekday_rule_key": "any_weekday"})


def test_a_naive_slot_datetime_is_refused_rather_than_guessed() -> None:
    with pytest.raises(InvalidInput, match="no timezone"):
        window_mismatch(datetime(2026, 11, 24, 8), sel(), PRESETS, MONDAY_DAWN)
