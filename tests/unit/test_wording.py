"""How facts read: times for people and machines, masked phones, windows in words, deadlines,
and the log lines' time stamps."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest

from slotqueue.logs import ConsoleFormatter, JsonFormatter
from slotqueue.projections.wording import (
    check_in_words,
    deposit_deadline,
    local_time,
    mask_phone,
    one_of,
    utc_iso,
    windows_in_words,
)

AT = datetime(2025, 12, 16, 20, 45, tzinfo=UTC)  # Tuesday 10:45 in Honolulu
LABELS = {
    ("date_horizon", "w4"): (2, "Within 4 Weeks"),
    ("date_horizon", "soonest"): (1, "Soonest Available"),
    ("time_block", "early"): (1, "Early Morning"),
    ("time_block", "late"): (2, "Late Morning"),
    ("time_block", "afternoon"): (4, "Afternoon"),
    ("weekday_rule", "any_weekday"): (1, "Any Weekday"),
}


def _selection(**changes):
    return {"timezone": "Pacific/Honolulu", "date_horizon_key": "w4",
            "weekday_rule_key": "any_weekday", "custom_weekdays": [],
            "time_block_keys": ["afternoon", "early"], **changes}


def test_machines_read_utc_with_z_whatever_the_offset_given():
    assert utc_iso(AT) == "2025-12-16T20:45:00Z"
    assert utc_iso(AT.astimezone(timezone(timedelta(hours=-10)))) == "2025-12-16T20:45:00Z"
    assert utc_iso(AT.replace(microsecond=5)) == "2025-12-16T20:45:00.000005Z"


def test_people_read_local_time_with_the_zone_and_no_leading_zeros():
    assert local_time(AT, "Pacific/Honolulu") == "Tue Dec 16, 10:45 AM HST"
    assert local_time(AT - timedelta(hours=2), "Pacific/Honolulu") == "Tue Dec 16, 8:45 AM HST"
    assert local_time(AT + timedelta(hours=3), "Pacific/Honolulu") == "Tue Dec 16, 1:45 PM HST"
    assert (local_time(AT, "Pacific/Honolulu", long=True)
            == "Tuesday December 16 at 10:45 AM HST")
    assert local_time(AT, "America/Los_Angeles") == "Tue Dec 16, 12:45 PM PST"


@pytest.mark.parametrize(("phone", "shown"), [
    ("+18085550101", "+1 808 \u2022\u2022\u2022-0101"),
    ("808-555-0101", "+1 808 \u2022\u2022\u2022-0101"),  # an imported row, say
    ("+442079460123", "+44 \u2022\u2022\u2022-0123"),
    ("12345", "\u2022\u2022\u2022"),
    (None, "\u2022\u2022\u2022"),
])
def test_a_masked_phone_tells_customers_apart_without_showing_the_number(phone, shown):
    assert mask_phone(phone) == shown


def test_a_number_without_a_country_code_reads_as_north_american_as_phones_are_parsed():
    assert mask_phone("(808) 555-0101") == "+1 808 \u2022\u2022\u2022-0101"
    assert "555" not in mask_phone("+18085550101")


def test_windows_read_as_words_from_the_presets_labels_in_their_sort_order():
    assert (windows_in_words(_selection(), LABELS, "Pacific/Honolulu")
            == "weekdays, within 4 weeks, early morning or afternoon")
    three = _selection(time_block_keys=["late", "afternoon", "early"])
    assert windows_in_words(three, LABELS, "Pacific/Honolulu").endswith(
        "early morning, late morning or afternoon")


def test_custom_weekdays_are_named_and_unknown_presets_read_as_their_keys():
    chosen = _selection(weekday_rule_key="custom_weekdays", custom_weekdays=[5, 1, 3],
                        date_horizon_key="w9", time_block_keys=["brunch"])
    assert windows_in_words(chosen, LABELS, "Pacific/Honolulu") == "Mon, Wed or Fri, w9, brunch"


def test_windows_in_another_timezone_say_so_and_no_selection_says_none():
    tokyo = _selection(timezone="Asia/Tokyo", time_block_keys=["early"])
    assert (windows_in_words(tokyo, LABELS, "Pacific/Honolulu")
            == "weekdays, within 4 weeks, early morning (Asia/Tokyo time)")
    assert windows_in_words(None, LABELS) == "no windows chosen"


def test_one_of_lists_choices_as_a_person_would():
    assert [one_of([]), one_of(["a"]), one_of(["a", "b"]), one_of(["a", "b", "c"])] == [
        "", "a", "a or b", "a, b or c"]


@pytest.mark.parametrize(("status", "deposit_status", "shown"), [
    ("deposit_required", "required", True),
    ("active", "paid", False),         # paid
    ("expired", "expired", False),     # lapsed
    ("canceled", "required", False),   # canceled while it was due
    ("queued", "none", False),
])
def test_a_deposit_deadline_shows_only_while_the_deposit_is_due(status, deposit_status, shown):
    assert (deposit_deadline(status, deposit_status, AT) == AT) is shown


def test_check_codes_read_as_words_and_unknown_codes_as_themselves():
    assert check_in_words("window:time_block") == "outside your times of day"
    assert check_in_words("something_new") == "something_new"
    assert check_in_words(None) == "-"


def _record(**fields) -> logging.LogRecord:
    record = logging.LogRecord("slotqueue.run", logging.INFO, __file__, 1, "tick", None, None)
    record.created = AT.timestamp()
    record.fields = fields  # type: ignore[attr-defined]
    return record


def test_both_log_formats_stamp_lines_in_utc_with_z():
    line = json.loads(JsonFormatter().format(_record(watermark=AT)))
    assert line["ts"] == "2025-12-16T20:45:00.000Z"
    assert line["watermark"] == "2025-12-16T20:45:00Z"
    console = ConsoleFormatter().format(_record(watermark=AT, run=1))
    assert console == "2025-12-16T20:45:00.000Z info    tick watermark=2025-12-16T20:45:00Z run=1"
