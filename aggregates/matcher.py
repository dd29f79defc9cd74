"""Target-window matching (spec §4.3): is an opened slot inside a customer's approved windows?

Pure and total: presets, the selection and `now` are arguments; nothing here reads a clock or a
database. Presets and time parsing live in `aggregates.presets` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.presets import WEEKDAY_MODES, Presets, TimeBlock, parse_time_text

__all__ = [
    "DEFAULT_TIMEZONE",
    "WEEKDAY_MODES",
    "Presets",
    "Selection",
    "TimeBlock",
    "is_weekend",
    "local_slot_datetime",
    "matches",
    "parse_time_text",
    "slot_key",
    "validate_selection",
    "window_mismatch",
]

DEFAULT_TIMEZONE = "Pacific/Honolulu"


@dataclass(frozen=True)
class Selection:
    """A customer's chosen target windows (a row of `user_target_window_selections`)."""

    timezone: str
    date_horizon_key: str
    weekday_rule_key: str
    custom_weekdays: tuple[int, ...] = ()
    time_block_keys: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "date_horizon_key": self.date_horizon_key,
            "weekday_rule_key": self.weekday_rule_key,
            "custom_weekdays": list(self.custom_weekdays),
            "time_block_keys": list(self.time_block_keys),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Selection:
        missing = [k for k in ("date_horizon_key", "weekday_rule_key") if k not in data]
        if missing:
            raise InvalidInput(f"selection is missing {', '.join(missing)}")
        return cls(
            timezone=data.get("timezone", DEFAULT_TIMEZONE),
            date_horizon_key=data["date_horizon_key"],
            weekday_rule_key=data["weekday_rule_key"],
            custom_weekdays=tuple(data.get("custom_weekdays", ())),
            time_block_keys=tuple(data.get("time_block_keys", ())),
        )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (LookupError, ValueError, TypeError, OSError) as exc:
        raise InvalidInput(f"unknown timezone {name!r}") from exc


def _active(presets: Presets, preset_type: str, key: object, what: str) -> Any:
    found: Mapping[str, Any] = {
        "date_horizon": presets.horizons, "time_block": presets.time_blocks,
        "weekday_rule": presets.weekday_rules}[preset_type]
    if presets.is_broken(preset_type, key):
        raise InvalidInput(f"{what} {key!r} cannot be chosen now: its preset row is malformed")
    if not isinstance(key, str) or key not in found:
        raise InvalidInput(f"unknown {what} {key!r}")
    return found[key]


def is_weekend(slot_utc: datetime, timezone: str) -> bool:
    """Rule 1 of spec §4.3, the only place it is written: Saturday and Sunday never match."""
    return _aware(slot_utc, "slot").astimezone(_zone(timezone)).isoweekday() > 5


def validate_selection(selection: Selection, presets: Presets) -> Selection:
    """Refuses a selection naming unknown values; returns it normalised (sorted, deduplicated)."""
    _zone(selection.timezone)
    _active(presets, "date_horizon", selection.date_horizon_key, "date horizon")
    mode = _active(presets, "weekday_rule", selection.weekday_rule_key, "weekday rule")
    if not selection.time_block_keys:
        raise InvalidInput("no time block selected: choose at least one")
    for key in selection.time_block_keys:
        _active(presets, "time_block", key, "time block")
    for day in selection.custom_weekdays:
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 5:
            raise InvalidInput(f"custom weekday {day!r} is not Monday–Friday (1–5)")  # noqa: RUF001 - shown to people
    days = tuple(sorted(set(selection.custom_weekdays))) if mode == "custom" else ()
    if mode == "custom" and not days:
        raise InvalidInput(f"weekday rule {selection.weekday_rule_key!r} needs custom weekdays")
    return replace(
        selection,
        custom_weekdays=days,
        time_block_keys=tuple(sorted(set(selection.time_block_keys))),
    )


def _aware(moment: datetime, what: str) -> datetime:
    if moment.utcoffset() is None:
        raise InvalidInput(f"{what} {moment.isoformat()} has no timezone")
    return moment


def _names_active_presets(selection: Selection, presets: Presets) -> bool:
    return (
        selection.date_horizon_key in presets.horizons
        and selection.weekday_rule_key in presets.weekday_rules
        and all(key in presets.time_blocks for key in selection.time_block_keys)
    )


def _names_broken_preset(selection: Selection, presets: Presets) -> bool:
    return (presets.is_broken("date_horizon", selection.date_horizon_key)
            or presets.is_broken("weekday_rule", selection.weekday_rule_key)
            or any(presets.is_broken("time_block", k) for k in selection.time_block_keys))


def _rule_failure(
    local: datetime, local_now: datetime, selection: Selection, presets: Presets
) -> str | None:
    """Rules 2-4 for a weekday slot, once every key of the selection is known to be active."""
    days_ahead = presets.horizons[selection.date_horizon_key]
    if local < local_now or not 0 <= (local.date() - local_now.date()).days <= days_ahead:
        return "horizon"
    custom = presets.weekday_rules[selection.weekday_rule_key] == "custom"
    if custom and local.isoweekday() not in selection.custom_weekdays:
        return "weekday"
    blocks = [presets.time_blocks[key] for key in selection.time_block_keys]
    return None if any(block.contains(local.time()) for block in blocks) else "time_block"


def window_mismatch(
    slot_utc: datetime, selection: Selection, presets: Presets, now: datetime
) -> str | None:
    """None when the slot matches, else the first failing check (spec §4.3) as a short code."""
    try:
        zone = _zone(selection.timezone)
    except InvalidInput:
        return "unknown_preset"  # the timezone left the tz database: cannot be evaluated
    if is_weekend(slot_utc, selection.timezone):
        return "weekend"
    if _names_broken_preset(selection, presets):
        return "preset_unreadable"
    if not _names_active_presets(selection, presets):
        return "unknown_preset"
    local = slot_utc.astimezone(zone)
    return _rule_failure(local, _aware(now, "now").astimezone(zone), selection, presets)


def matches(slot_utc: datetime, selection: Selection, presets: Presets, now: datetime) -> bool:
    return window_mismatch(slot_utc, selection, presets, now) is None


def local_slot_datetime(date_: date, time_text: str, timezone: str) -> datetime:
    """The UTC instant of the DMV's local date and time text in `timezone`."""
    local = datetime.combine(date_, parse_time_text(time_text), tzinfo=_zone(timezone))
    return local.astimezone(UTC)


def slot_key(location_id: UUID | str, date_: date, time_text: str) -> str:
    """`location_id|YYYY-MM-DD|HH:MM:SS`, the slot's natural key (spec §4.4)."""
    try:
        location = location_id if isinstance(location_id, UUID) else UUID(location_id)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidInput(f"location id {location_id!r} is not a UUID") from exc
    return f"{location}|{date_:%Y-%m-%d}|{parse_time_text(time_text):%H:%M:%S}"
