"""Phone numbers are masked in log lines; ids, times and other numbers are left alone."""

from __future__ import annotations

import pytest

from slotqueue.redact import mask_phones


@pytest.mark.parametrize(("text", "masked"), [
    ("phone +18085550101 joined", "phone +1 808 •••-0101 joined"),
    ("code sent to 808-555-0101.", "code sent to +1 808 •••-0101."),
    ("(808) 555-0101", "+1 808 •••-0101"),
    ("1-808-555-0101", "+1 808 •••-0101"),
    ("808.555.0101, then", "+1 808 •••-0101, then"),
    ("8085550101", "+1 808 •••-0101"),
    ('"+447911123456"', '"+44 •••-3456"'),
    ("Key (phone)=(+18085550101) already exists", "Key (phone)=(+1 808 •••-0101) already exists"),
    ("/v1/x/8085550101", "/v1/x/+1 808 •••-0101"),
])
def test_a_phone_number_in_a_line_is_masked(text, masked):
    assert mask_phones(text) == masked


@pytest.mark.parametrize("text", [
    "entry 0e9b6f2a-8d1c-4c3e-9b1a-123456789012",
    "at 2026-12-16T20:45:00.123Z",
    "ms 12345.678",
    "position 12345678901234",
    "ref x8085550101",
    "payment paid-8085550101",
    "value 8085550101.5",
])
def test_ids_times_and_other_numbers_are_left_alone(text):
    assert mask_phones(text) == text
