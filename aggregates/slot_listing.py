"""When a DMV slot is listed, and when a listing is a new opening (spec §4.4, issue 7).

The monitor keeps a row per slot *spelling* (`8:00` and `08:00:00` are two rows of one slot);
a row's `first_seen` only ever goes down and its `last_seen` moves to each scrape that saw the
slot. A slot is *listed* while its freshest `last_seen` is within the lookback (database time).
An *opening* is one period during which the slot is continuously listed: it begins when a
slot is listed that nobody knew or whose last period had ended, and ends when the slot stops
being listed. The slot's identity is its normalised key; an opening's is (key, number).
Pure: rows, the clock and the settings are arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from uuid import UUID

from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.matcher import local_slot_datetime, parse_time_text, slot_key

# A date further than this from today is a sentinel (9999-12-31, 2100-01-01), not a slot.
READABLE_DAYS = 2 * 366


@dataclass(frozen=True)
class Sighting:
    """What the monitor's rows say of one slot now: its spellings merged."""

    key: str
    location_id: UUID
    slot_date: date
    slot_time: time
    slot_utc: datetime
    first_seen: datetime
    last_seen: datetime

    def merged(self, other: Sighting) -> Sighting:
        """Two spellings of one slot: the earliest first_seen, the freshest last_seen."""
        return replace(self, first_seen=min(self.first_seen, other.first_seen),
                       last_seen=max(self.last_seen, other.last_seen))


def read_row(location_id: UUID, date_text: str | None, time_text: object,
             first_seen: datetime | None, last_seen: datetime | None, today: date,
             timezone: str) -> Sighting:
    """A monitor row as a sighting; InvalidInput naming the value when it cannot be one (an
    impossible time, `infinity`, a far-future sentinel date)."""
    if first_seen is None or last_seen is None:
        raise InvalidInput("first_seen or last_seen is not a finite time")
    try:
        day = date.fromisoformat(str(date_text))
    except ValueError:
        raise InvalidInput(f"date {date_text!r} is not a calendar date") from None
    if abs((day - today).days) > READABLE_DAYS:
        raise InvalidInput(f"date {date_text} is too far from today to be a real slot")
    moment = parse_time_text(time_text)
    return Sighting(
        key=slot_key(location_id, day, str(time_text)), location_id=location_id, slot_date=day,
        slot_time=moment, slot_utc=local_slot_datetime(day, str(time_text), timezone),
        first_seen=first_seen, last_seen=last_seen)


def merge(sightings: list[Sighting]) -> dict[str, Sighting]:
    """One sighting per slot key, whatever the spellings."""
    found: dict[str, Sighting] = {}
    for seen in sightings:
        found[seen.key] = found[seen.key].merged(seen) if seen.key in found else seen
    return found


def is_listed(last_seen: datetime, now: datetime, lookback: timedelta) -> bool:
    return last_seen > now - lookback


@dataclass(frozen=True)
class Period:
    """What is known of a slot's latest opening."""

    opening: int
    open: bool
    last_seen: datetime


@dataclass(frozen=True)
class NewOpening:
    opening: int
    baseline: bool  # listed before slotqueue began watching: recorded, never decided


def new_opening(period: Period | None, seen: Sighting, now: datetime, lookback: timedelta,
                watch_start: datetime) -> NewOpening | None:
    """Whether this sighting begins an opening.

    A slot nobody knew begins opening 1 (a baseline one when its rows predate the watch). A
    slot whose last opening ended begins the next one when a scrape saw it again. A slot that
    is still open never does: a late scrape lowering `first_seen`, or another spelling, is
    the same opening. While slotqueue was not watching it cannot tell a gap from a listing
    that went on; it takes the listing as continuous, so a booked slot is never decided twice.
    """
    if not is_listed(seen.last_seen, now, lookback):
        return None
    if period is None:
        return NewOpening(1, baseline=seen.first_seen <= watch_start)
    if period.open or seen.last_seen <= period.last_seen:
        return None
    return NewOpening(period.opening + 1, baseline=False)


def has_ended(period: Period, now: datetime, lookback: timedelta) -> bool:
    """An open opening ends once its slot's freshest scrape is older than the lookback."""
    return period.open and not is_listed(period.last_seen, now, lookback)


def scan_mark(seen_up_to: datetime, now: datetime) -> datetime:
    """How far the scan of `last_seen` has read: never past the database's now(), so one row
    stamped by a monitor host whose clock runs ahead cannot hide everything before it."""
    return min(seen_up_to, now)
