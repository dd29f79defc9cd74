"""The Watermark (spec §4.4): how far the slot watcher has read; it only ever moves forward."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from slotqueue.aggregates.watermark import Watermark

RUN = UUID("00000000-0000-4000-8000-00000000000a")
START = datetime(2026, 1, 5, 19, 50, tzinfo=UTC)  # the seed row: now - 10 minutes
NOW = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)


def watermark() -> Watermark:
    mark = Watermark(key="slot_opened", position=START, at=NOW)
    mark.collect_events()
    return mark


def replay(events: Any) -> Any:
    state = None
    for event in events:
        state = event.mutate(state)
    return state


def test_the_watermark_id_follows_from_its_key() -> None:
    assert Watermark(key="slot_opened", position=START, at=NOW).id == Watermark.create_id(
        "slot_opened")
    assert Watermark.create_id("slot_opened") != Watermark.create_id("other")


def test_advancing_to_a_later_position_records_it() -> None:
    mark = watermark()
    later = START + timedelta(minutes=3)
    assert mark.advance(later, RUN, NOW) is True
    [advanced] = mark.collect_events()
    assert (type(advanced).__name__, advanced.position, advanced.run_id, advanced.at) == (
        "Advanced", later, RUN, NOW)
    assert (mark.position, mark.updated_at) == (later, NOW)


@pytest.mark.parametrize("to", [
    START,
    START.astimezone(ZoneInfo("Pacific/Honolulu")),
    START - timedelta(microseconds=1),
    START - timedelta(days=1),
], ids=["equal", "equal-in-honolulu-time", "just-older", "a-day-older"])
def test_advancing_to_an_equal_or_older_position_records_nothing(to: datetime) -> None:
    mark = watermark()
    before = copy.deepcopy(vars(mark))
    assert mark.advance(to, RUN, NOW + timedelta(minutes=1)) is False
    assert mark.collect_events() == []
    assert vars(mark) == before


def test_a_late_run_cannot_move_the_watermark_back() -> None:
    mark = watermark()
    assert mark.advance(START + timedelta(minutes=5), RUN, NOW) is True
    assert mark.advance(START + timedelta(minutes=2), RUN, NOW) is False
    assert mark.position == START + timedelta(minutes=5)


def test_replaying_the_events_rebuilds_the_same_watermark() -> None:
    mark = Watermark(key="slot_opened", position=START, at=NOW)
    mark.advance(START + timedelta(minutes=1), RUN, NOW)
    mark.advance(START + timedelta(minutes=4), RUN, NOW + timedelta(minutes=3))
    assert vars(replay(mark.collect_events())) == vars(mark)
