"""The slot an operator names when booking a customer directly (service §4.5, convert to
booking): a location, the DMV's local date and a time, checked and turned into the slot's key
and UTC instant. Pure: the clock and the timezone are arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.matcher import local_slot_datetime, slot_key
from slotqueue.aggregates.presets import parse_time_text
from slotqueue.aggregates.slot_listing import READABLE_DAYS


@dataclass(frozen=True)
class OperatorSlot:
    location_id: UUID
    key: str  # `location_id|YYYY-MM-DD|HH:MM:SS`, as the monitor's openings are keyed
    slot_utc: datetime


def _day(value: date | str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise InvalidInput(f"invalid date {value!r}: expected YYYY-MM-DD",
                           field="date") from None


def operator_slot(location_id: UUID, day: date | str, time_text: str, timezone: str,
                  now: datetime) -> OperatorSlot:
    """The slot at `location_id` on `day` (local) at `time_text` (`HH:MM`; `H:MM` and
    `HH:MM:SS` too): still to come, and no further ahead than a real DMV slot can be."""
    when = _day(day)
    text = time_text.strip() if isinstance(time_text, str) else ""
    try:
        parse_time_text(text)
    except InvalidInput:
        raise InvalidInput(f"invalid time {time_text!r}: expected HH:MM (24-hour, local time)",
                           field="time") from None
    today = now.astimezone(ZoneInfo(timezone)).date()
    if (when - today).days > READABLE_DAYS:
        raise InvalidInput(f"invalid date {when.isoformat()}: too far ahead to be a DMV slot",
                           field="date")
    if when < today:
        raise InvalidInput(f"invalid date: the slot {when.isoformat()} {text} has already "
                           "passed", field="date")
    slot_utc = local_slot_datetime(when, text, timezone)
    if slot_utc <= now:
        raise InvalidInput(f"invalid time: the slot {when.isoformat()} {text} has already "
                           "passed", field="time")
    return OperatorSlot(location_id, slot_key(location_id, when, text), slot_utc)
