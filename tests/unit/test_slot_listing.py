"""When a slot is listed and when a listing is an opening (issue 7), as tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

import pytest

from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.slot_listing import (
    NewOpening,
    Period,
    Sighting,
    has_ended,
    is_listed,
    merge,
    new_opening,
    read_row,
    scan_mark,
)

KAPOLEI = UUID("00000000-0000-4000-8000-0000000000a1")
NOW = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)  # Monday 10:00 in Honolulu
TODAY = date(2026, 1, 5)
LOOKBACK = timedelta(minutes=3)
WATCH_START = NOW - timedelta(hours=1)
MIN = timedelta(minutes=1)


def seen(time_text: str = "08:00", first: timedelta = MIN, last: timedelta = timedelta(0),
         day: str = "2026-01-07") -> Sighting:
    return read_row(KAPOLEI, day, time_text, NOW - first, NOW - last, TODAY,
                    "Pacific/Honolulu")


@pytest.mark.parametrize("spelling", ["8:00", "08:00", "08:00:00"])
def test_every_spelling_of_a_time_is_one_slot_key(spelling: str) -> None:
    sighting = seen(spelling)
    assert sighting.key == f"{KAPOLEI}|2026-01-07|08:00:00"
    assert (sighting.slot_time, sighting.slot_utc) == (
        time(8, 0), datetime(2026, 1, 7, 18, 0, tzinfo=UTC))


@pytest.mark.parametrize(("day", "time_text", "first", "last", "why"), [
    ("infinity", "08:00", NOW, NOW, "not a calendar date"),
    ("9999-12-31", "08:00", NOW, NOW, "too far"),
    ("1970-01-01", "08:00", NOW, NOW, "too far"),
    ("2026-01-07", "25:99", NOW, NOW, "25:99"),
    ("2026-01-07", "noon", NOW, NOW, "noon"),
    ("2026-01-07", "08:00", None, NOW, "finite"),  # -infinity reads as NULL
    ("2026-01-07", "08:00", NOW, None, "finite"),
])
def test_a_row_that_cannot_be_a_slot_is_refused_naming_the_value(
    day: str, time_text: str, first: datetime | None, last: datetime | None, why: str
) -> None:
    with pytest.raises(InvalidInput, match=why):
        read_row(KAPOLEI, day, time_text, first, last, TODAY, "Pacific/Honolulu")


def test_spellings_merge_to_the_earliest_first_seen_and_the_freshest_last_seen() -> None:
    merged = merge([seen("8:00", first=5 * MIN, last=2 * MIN), seen("08:00:00", first=MIN),
                    seen("09:00")])
    assert len(merged) == 2
    slot = merged[f"{KAPOLEI}|2026-01-07|08:00:00"]
    assert (slot.first_seen, slot.last_seen) == (NOW - 5 * MIN, NOW)


@pytest.mark.parametrize(("last_seen_ago", "listed"), [
    (timedelta(0), True), (LOOKBACK - timedelta(microseconds=1), True), (LOOKBACK, False),
    (-timedelta(hours=2), True),  # a monitor host whose clock runs ahead
])
def test_a_slot_is_listed_while_its_freshest_scrape_is_within_the_lookback(
    last_seen_ago: timedelta, listed: bool
) -> None:
    assert is_listed(NOW - last_seen_ago, NOW, LOOKBACK) is listed


OPEN = Period(opening=1, open=True, last_seen=NOW - MIN)
ENDED = Period(opening=1, open=False, last_seen=NOW - 10 * MIN)

# (story, what is known, the sighting, the opening it begins)
OPENINGS: list[tuple[str, Period | None, Sighting, NewOpening | None]] = [
    ("a slot nobody knew", None, seen(), NewOpening(1, baseline=False)),
    ("listed since before the watch began", None, seen(first=2 * timedelta(hours=1)),
     NewOpening(1, baseline=True)),
    ("seen once, long ago, not listed now", None, seen(last=10 * MIN), None),
    ("still open: a late scrape lowered first_seen", OPEN, seen(first=timedelta(hours=5)), None),
    ("still open: another spelling", OPEN, seen("8:00"), None),
    ("ended, and listed again", ENDED, seen(), NewOpening(2, baseline=False)),
    ("ended, and the same old scrape read again", ENDED, seen(last=10 * MIN), None),
    ("ended, an older scrape committed late", ENDED, seen(last=11 * MIN), None),
]


@pytest.mark.parametrize(("period", "sighting", "expected"), [o[1:] for o in OPENINGS],
                         ids=[o[0] for o in OPENINGS])
def test_an_opening_begins_only_when_a_slot_nobody_knew_or_one_that_ended_is_listed(
    period: Period | None, sighting: Sighting, expected: NewOpening | None
) -> None:
    assert new_opening(period, sighting, NOW, LOOKBACK, WATCH_START) == expected


@pytest.mark.parametrize(("period", "ended"), [
    (Period(1, True, NOW - 2 * MIN), False),  # one scrape missed it: still within the lookback
    (Period(1, True, NOW - LOOKBACK), True),
    (Period(1, False, NOW - 10 * MIN), False),  # ended already
])
def test_an_opening_ends_when_its_slot_is_no_longer_listed(period: Period, ended: bool) -> None:
    assert has_ended(period, NOW, LOOKBACK) is ended


@pytest.mark.parametrize(("read_up_to", "mark"), [
    (NOW - MIN, NOW - MIN), (NOW + timedelta(hours=2), NOW)])
def test_the_scan_never_marks_a_position_past_the_databases_now(
    read_up_to: datetime, mark: datetime
) -> None:
    assert scan_mark(read_up_to, NOW) == mark
