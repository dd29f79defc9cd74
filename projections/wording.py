"""How slotqueue's facts read: times for people and for machines, masked phones, windows in
words. Pure functions; the CLI's views and the message texts both use them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from slotqueue.aggregates import lifecycle as lc

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MASK = "\u2022\u2022\u2022"  # three bullets
Labels = Mapping[tuple[str, str], tuple[int, str]]  # (preset_type, key) -> (sort_order, label)


def utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC with `Z`, for machines (JSON, logs): 2026-12-16T20:45:00Z."""
    if moment.utcoffset() is None:
        return moment.isoformat()  # naive: nothing honest to convert
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def deposit_deadline(status: str, deposit_status: str, expires_at: datetime | None
                     ) -> datetime | None:
    """The deposit's deadline while it applies (the entry waits for its deposit); after a
    payment, a lapse or a cancel it is history, not something to act on."""
    waiting = status == lc.DEPOSIT_REQUIRED and deposit_status == lc.REQUIRED
    return expires_at if waiting else None


def local_time(moment: datetime, timezone: str, *, long: bool = False) -> str:
    """Local time with its zone, for people: `Tue Dec 16, 10:45 AM HST` (long: `Tuesday
    December 16 at 10:45 AM HST`)."""
    local = moment.astimezone(ZoneInfo(timezone))
    hour = f"{local.hour % 12 or 12}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"
    if long:
        return f"{local:%A %B} {local.day} at {hour} {local:%Z}"
    return f"{local:%a %b} {local.day}, {hour} {local:%Z}"


def mask_phone(phone: str | None) -> str:
    """`+18085550101` → `+1 808 •••-0101`: enough to tell customers apart, never the number."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 10 and not (phone or "").lstrip().startswith("+"):
        digits = "1" + digits  # read as a US number, as `join` reads it
    if len(digits) < 7:
        return MASK
    if len(digits) == 11 and digits.startswith("1"):  # North America: +1 area code
        return f"+1 {digits[1:4]} {MASK}-{digits[-4:]}"
    return f"+{_country_code(digits)} {MASK}-{digits[-4:]}"


def mask_email(address: str | None) -> str:
    """`kai.lee@example.com` → `k•••@example.com`: the domain and the first letter only."""
    local, at, domain = (address or "").rpartition("@")
    if not at or not local:
        return MASK
    return f"{local[0]}{MASK}@{domain}"


def _country_code(digits: str) -> str:
    import phonenumbers  # noqa: PLC0415 - only for numbers outside North America

    try:
        return str(phonenumbers.parse("+" + digits).country_code)
    except phonenumbers.NumberParseException:
        return MASK


def one_of(words: Sequence[str]) -> str:
    """`a`, `a or b`, `a, b or c`."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} or {words[-1]}"


def _label(labels: Labels, preset_type: str, key: str) -> str:
    return labels.get((preset_type, key), (0, key))[1].strip().lower() or key


def windows_in_words(selection: Mapping[str, Any] | None, labels: Labels,
                     home_timezone: str | None = None) -> str:
    """`weekdays, within 4 weeks, early morning or afternoon`, from the presets' labels (a
    preset no longer in the table reads as its key)."""
    if not selection:
        return "no windows chosen"
    custom = [int(d) for d in selection.get("custom_weekdays") or ()]
    days = one_of([DAYS[d - 1] for d in sorted(custom) if 1 <= d <= 7]) if custom else "weekdays"
    horizon = _label(labels, "date_horizon", str(selection.get("date_horizon_key")))
    blocks = sorted(selection.get("time_block_keys") or (),
                    key=lambda k: (labels.get(("time_block", k), (0, k))[0], k))
    words = f"{days}, {horizon}, {one_of([_label(labels, 'time_block', k) for k in blocks])}"
    zone = selection.get("timezone")
    return words if not zone or zone == home_timezone else f"{words} ({zone} time)"



CHECKS = {  # the codes of queue_policy.first_failed_check and the audit, as people read them
    "not_active": "not active then (paused, or no deposit asked or paid yet)",
    "deposit_not_paid": "deposit not paid",
    "location": "not one of your locations then",
    "window:none_chosen": "no days and times chosen",
    "window:weekend": "a weekend",
    "window:horizon": "outside your date range",
    "window:weekday": "not one of your weekdays",
    "window:time_block": "outside your times of day",
    "window:unknown_preset": "your windows name an option no longer offered",
    "window:preset_unreadable": "your windows name an option that could not be read",
    "weekend": "a weekend: never booked",
    "behind_winner": "someone ahead of you took it",
    "booked_by_operator": "our staff booked it directly for a customer who called",
    "passed_every_check": "you passed every check but were not chosen (held for another "
                          "attempt?)",
}


def action_in_words(name: str, data: Mapping[str, Any], timezone: str) -> str | None:
    """An operator's override as an auditor reads it (`slotqueue audit`, `GET /v1/audit/…`):
    who did what and why; None for other events."""
    who = data.get("by") or "an operator"
    if name == "PriorityChanged":
        return (f"priority set to {data.get('score')} (was {data.get('previous_score')}) by "
                f"{who}: {data.get('reason')}")
    if name == "Booked" and data.get("by"):
        where = data.get("location_name") or data.get("location_id")
        return (f"booked directly by {who} (convert to booking): {where}, "
                f"{local_time(data['slot_datetime'], timezone)}")
    if name == "BookedByOperator":
        return (f"booked directly by {who} for queue entry {data.get('entry_id')}; the "
                f"opening was {data.get('previous_outcome') or 'undecided'}")
    return None


def check_in_words(code: str | None) -> str:
    return "-" if code is None else CHECKS.get(code, code)
