"""Preset reference data (`target_window_presets`): parsing its rules and its JSON form.

No time-block value is written in code; every one comes from the table's rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from types import MappingProxyType
from typing import Any

from slotqueue.aggregates.errors import InvalidInput

WEEKDAY_MODES = ("any", "custom")
_TIME_TEXT = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")


def parse_time_text(text: object) -> time:
    """The DMV's time text ("HH:MM:SS", "HH:MM" or "H:MM") as a time; refuses anything else."""
    found = _TIME_TEXT.fullmatch(text) if isinstance(text, str) else None
    hour, minute, second = (int(g or 0) for g in found.groups()) if found else (99, 0, 0)
    if hour > 23 or minute > 59 or second > 59:
        raise InvalidInput(f"time {text!r} is not HH:MM:SS, HH:MM or H:MM")
    return time(hour, minute, second)


@dataclass(frozen=True)
class TimeBlock:
    """Local times from `start` to `end`, both bounds inclusive."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        return self.start <= moment <= self.end


def _days_ahead(rules: Mapping[str, Any]) -> int:
    days = rules.get("days_ahead")
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise InvalidInput(f"days_ahead {days!r} is not a whole number of days >= 0")
    return days


def _time_block(rules: Mapping[str, Any]) -> TimeBlock:
    start, end = parse_time_text(rules.get("start")), parse_time_text(rules.get("end"))
    if start > end:
        raise InvalidInput(f"start {start} is after end {end}")
    return TimeBlock(start, end)


def _weekday_mode(rules: Mapping[str, Any]) -> str:
    mode = rules.get("mode")
    if mode not in WEEKDAY_MODES:
        raise InvalidInput(f"mode {mode!r} is not 'any' or 'custom'")
    return str(mode)


_RULE_PARSERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "date_horizon": _days_ahead,
    "time_block": _time_block,
    "weekday_rule": _weekday_mode,
}


def _parse_rules(preset_type: str, key: str, rules: Any) -> Any:
    try:
        if not isinstance(rules, Mapping):
            raise InvalidInput("it is not a JSON object")
        return _RULE_PARSERS[preset_type](rules)
    except InvalidInput as exc:
        shown = json.dumps(rules, default=str)
        raise InvalidInput(f"{preset_type} preset {key!r}: bad rules_json {shown}: {exc}") from exc


def _hhmm(moment: time) -> str:
    return moment.strftime("%H:%M:%S" if moment.second else "%H:%M")


Rows = Iterable[tuple[str, str, Any]]
@dataclass(frozen=True)
class Presets:
    """The ACTIVE rows of `target_window_presets`, parsed. `broken` holds the active rows
    whose rules could not be read, (preset_type, key) -> why: a selection naming one of them
    matches nothing until an operator mends the row, and nobody else is affected."""

    horizons: Mapping[str, int]  # date_horizon key -> days_ahead
    time_blocks: Mapping[str, TimeBlock]  # time_block key -> block
    weekday_rules: Mapping[str, str]  # weekday_rule key -> "any" | "custom"
    broken: Mapping[tuple[str, str], str] = field(
        default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_rows(cls, rows: Rows) -> Presets:
        """Builds presets from (preset_type, key, rules_json); refuses malformed rules."""
        presets = cls.tolerant(rows)
        if presets.broken:
            raise InvalidInput(next(iter(presets.broken.values())))
        return presets

    @classmethod
    def tolerant(cls, rows: Rows) -> Presets:
        """Like `from_rows`, but a malformed row is set aside in `broken` instead of refused."""
        parsed: dict[str, dict[str, Any]] = {preset_type: {} for preset_type in _RULE_PARSERS}
        broken: dict[tuple[str, str], str] = {}
        for preset_type, key, rules in rows:
            if preset_type not in parsed:
                broken[(preset_type, key)] = f"unknown preset_type {preset_type!r} (key {key!r})"
            elif key in parsed[preset_type] or (preset_type, key) in broken:
                broken[(preset_type, key)] = f"{preset_type} preset {key!r} appears twice"
                parsed[preset_type].pop(key, None)
            else:
                try:
                    parsed[preset_type][key] = _parse_rules(preset_type, key, rules)
                except InvalidInput as exc:
                    broken[(preset_type, key)] = str(exc)
        return cls(
            horizons=MappingProxyType(parsed["date_horizon"]),
            time_blocks=MappingProxyType(parsed["time_block"]),
            weekday_rules=MappingProxyType(parsed["weekday_rule"]),
            broken=MappingProxyType(broken),
        )

    def is_broken(self, preset_type: str, key: object) -> bool:
        return (preset_type, key) in self.broken

    def to_json(self) -> dict[str, dict[str, Any]]:
        """preset_type -> key -> rules_json, as in the table (broken rows under "broken")."""
        shown: dict[str, dict[str, Any]] = {
            "date_horizon": {k: {"days_ahead": d} for k, d in self.horizons.items()},
            "time_block": {
                k: {"start": _hhmm(b.start), "end": _hhmm(b.end)}
                for k, b in self.time_blocks.items()
            },
            "weekday_rule": {k: {"mode": m} for k, m in self.weekday_rules.items()},
        }
        if self.broken:
            shown["broken"] = {f"{t}:{k}": why for (t, k), why in self.broken.items()}
        return shown

    @classmethod
    def from_json(cls, data: Mapping[str, Mapping[str, Any]]) -> Presets:
        rows = [(t, k, rules) for t, group in data.items() if t != "broken"
                for k, rules in group.items()]
        parsed = cls.from_rows(rows)
        broken: dict[tuple[str, str], str] = {}
        for name, why in data.get("broken", {}).items():
            preset_type, _, key = str(name).partition(":")
            broken[(preset_type, key)] = str(why)
        return replace(parsed, broken=MappingProxyType(broken)) if broken else parsed
