"""The queue policy (spec §4.2, §4.5): rank order, deposits owed, the checks in order, first
eligible wins, who was passed over, and weekends in Honolulu."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.matcher import Presets, Selection
from slotqueue.aggregates.queue_policy import (
    Candidate,
    Ranked,
    deposit_overdue,
    first_eligible,
    first_failed_check,
    is_weekend,
    nudge_day,
    owes_deposit,
    passed_over,
    priority_reason,
    rank_key,
    valid_priority,
)

HNL = ZoneInfo("Pacific/Honolulu")
KAPOLEI = UUID("00000000-0000-4000-8000-0000000000a1")
WAIPAHU = UUID("00000000-0000-4000-8000-0000000000a2")
NOW = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)  # Monday 10:00 in Honolulu
PRESETS = Presets.from_rows([
    ("date_horizon", "soonest", {"days_ahead": 365}),
    ("date_horizon", "w4", {"days_ahead": 28}),
    ("time_block", "early", {"start": "08:00", "end": "09:45"}),
    ("time_block", "afternoon", {"start": "14:00", "end": "15:45"}),
    ("weekday_rule", "any_weekday", {"mode": "any"}),
    ("weekday_rule", "custom_weekdays", {"mode": "custom"}),
])


def hnl(text: str) -> datetime:
    """A Honolulu wall-clock time, as the UTC datetime the dispatcher passes."""
    return datetime.fromisoformat(text).replace(tzinfo=HNL).astimezone(UTC)


WEDNESDAY_EARLY = hnl("2026-01-07T09:15")
EVERY_WEEKDAY_EARLY = Selection("Pacific/Honolulu", "soonest", "any_weekday", (), ("early",))
ELIGIBLE = Candidate(
    entry_id=UUID(int=1), customer_id=UUID(int=2), joined_at=NOW, status="active",
    deposit_status="paid", location_ids=(KAPOLEI,), selection=EVERY_WEEKDAY_EARLY,
)

# (why, changes to an eligible candidate, slot in Honolulu or None for WEDNESDAY_EARLY, result)
CASES: list[tuple[str, dict[str, Any], str | None, str | None]] = [
    ("active, paid, prefers the location, windows match", {}, None, None),
    ("queued", {"status": "queued", "deposit_status": "none"}, None, "not_active"),
    ("waiting to pay", {"status": "deposit_required", "deposit_status": "required"}, None,
     "not_active"),
    ("paused after paying", {"status": "paused"}, None, "not_active"),
    ("booked already", {"status": "booked"}, None, "not_active"),
    ("canceled", {"status": "canceled"}, None, "not_active"),
    ("active with the deposit refunded", {"deposit_status": "refunded"}, None,
     "deposit_not_paid"),
    ("active with the deposit still required", {"deposit_status": "required"}, None,
     "deposit_not_paid"),
    ("prefers another location", {"location_ids": (WAIPAHU,)}, None, "location"),
    ("prefers no location", {"location_ids": ()}, None, "location"),
    ("chose no windows", {"selection": None}, None, "window:none_chosen"),
    ("outside the time blocks", {}, "2026-01-07T11:00", "window:time_block"),
    ("beyond the date horizon", {"selection": replace(EVERY_WEEKDAY_EARLY,
     date_horizon_key="w4")}, "2026-03-04T09:15", "window:horizon"),
    ("not one of the custom weekdays", {"selection": replace(EVERY_WEEKDAY_EARLY,
     weekday_rule_key="custom_weekdays", custom_weekdays=(1, 5))}, None, "window:weekday"),
    ("names a preset no longer active", {"selection": replace(EVERY_WEEKDAY_EARLY,
     time_block_keys=("midday",))}, None, "window:unknown_preset"),
    ("a Saturday slot", {}, "2026-01-10T09:15", "window:weekend"),
    # The first failing check is the one reported.
    ("paused, unpaid, elsewhere, no windows", {"status": "paused", "deposit_status": "none",
     "location_ids": (), "selection": None}, "2026-01-10T09:15", "not_active"),
    ("unpaid, elsewhere, no windows", {"deposit_status": "refunded", "location_ids": (),
     "selection": None}, None, "deposit_not_paid"),
    ("elsewhere and no windows", {"location_ids": (WAIPAHU,), "selection": None}, None,
     "location"),
    ("elsewhere on a Saturday", {"location_ids": (WAIPAHU,)}, "2026-01-10T09:15", "location"),
]


@pytest.mark.parametrize(("changes", "slot", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_the_first_failed_check_is_reported_in_the_dispatchers_order(
    changes: dict[str, Any], slot: str | None, expected: str | None
) -> None:
    candidate = replace(ELIGIBLE, **changes)
    slot_utc = WEDNESDAY_EARLY if slot is None else hnl(slot)
    assert first_failed_check(candidate, KAPOLEI, slot_utc, PRESETS, NOW) == expected


def test_a_slot_that_is_saturday_in_utc_but_friday_in_honolulu_can_be_had() -> None:
    friday_afternoon = hnl("2026-01-09T15:30")
    assert friday_afternoon.isoweekday() == 6  # Saturday 01:30 UTC
    afternoons = replace(EVERY_WEEKDAY_EARLY, time_block_keys=("afternoon",))
    candidate = replace(ELIGIBLE, selection=afternoons)
    assert first_failed_check(candidate, KAPOLEI, friday_afternoon, PRESETS, NOW) is None


@pytest.mark.parametrize(("slot_utc", "weekend"), [
    ("2026-01-10T05:00", False),  # Saturday in UTC, Friday 19:00 in Honolulu
    ("2026-01-10T09:59:59", False),  # Friday 23:59:59 in Honolulu
    ("2026-01-10T10:00", True),  # Saturday 00:00 in Honolulu
    ("2026-01-10T18:00", True),  # Saturday 08:00 in Honolulu
    ("2026-01-12T05:00", True),  # Monday in UTC, Sunday 19:00 in Honolulu
    ("2026-01-12T09:59:59", True),  # Sunday 23:59:59 in Honolulu
    ("2026-01-12T10:00", False),  # Monday 00:00 in Honolulu
    ("2026-01-07T19:15", False),  # Wednesday 09:15 in Honolulu
])
def test_a_weekend_is_saturday_or_sunday_in_honolulu_not_in_utc(
    slot_utc: str, weekend: bool
) -> None:
    moment = datetime.fromisoformat(slot_utc).replace(tzinfo=UTC)
    assert is_weekend(moment, "Pacific/Honolulu") is weekend


# --- rank order, deposits, nudge days --------------------------------------------------------

def test_rank_order_is_join_time_then_id_as_postgresql_orders_uuids() -> None:
    low, high = UUID("00000000-0000-4000-8000-000000000001"), UUID(
        "f0000000-0000-4000-8000-000000000000")
    keys = [rank_key(0, NOW, high), rank_key(0, NOW, low),
            rank_key(0, NOW - timedelta(seconds=1), high)]
    assert sorted(keys) == [rank_key(0, NOW - timedelta(seconds=1), high),
                            rank_key(0, NOW, low), rank_key(0, NOW, high)]


def test_a_higher_priority_score_ranks_first_and_equal_scores_keep_join_order() -> None:
    early, late, later = NOW - timedelta(hours=2), NOW - timedelta(hours=1), NOW
    keys = {"early, none": rank_key(0, early, UUID(int=1)),
            "late, 5": rank_key(5, late, UUID(int=2)),
            "later, 5": rank_key(5, later, UUID(int=3)),
            "later, 100": rank_key(100, later, UUID(int=4))}
    assert sorted(keys, key=keys.__getitem__) == ["later, 100", "late, 5", "later, 5",
                                                  "early, none"]


@pytest.mark.parametrize("score", [0, 1, 50, 100])
def test_a_priority_score_is_a_whole_number_from_0_to_100(score: int) -> None:
    assert valid_priority(score) == score


@pytest.mark.parametrize("score", [-1, 101, 2.5, "5", True, None, 10**20])
def test_any_other_score_is_refused_naming_the_field(score: object) -> None:
    with pytest.raises(InvalidInput, match="priority score") as refused:
        valid_priority(score)
    assert refused.value.field == "score"


@pytest.mark.parametrize("reason", ["", "   ", None, "x" * 501])
def test_a_priority_change_must_say_why_in_at_most_500_characters(reason: object) -> None:
    with pytest.raises(InvalidInput, match="reason") as refused:
        priority_reason(reason)
    assert refused.value.field == "reason"
    assert priority_reason("  phoned in  ") == "phoned in"


@pytest.mark.parametrize(("rank", "status", "deposit", "owes"), [
    (1, "queued", "none", True),
    (10, "queued", "none", True),
    (11, "queued", "none", False),  # behind the threshold
    (3, "deposit_required", "required", False),  # asked already
    (3, "active", "paid", False),
    (3, "queued", "expired", True),  # imported: the earlier implementation kept it queued
    (3, "expired", "expired", False),  # slotqueue ends an entry whose deposit lapsed
    (3, "paused", "none", False),
])
def test_the_front_ten_who_were_never_asked_owe_a_deposit(
    rank: int, status: str, deposit: str, owes: bool
) -> None:
    assert owes_deposit(rank, status, deposit, threshold=10) is owes


@pytest.mark.parametrize(("status", "expires", "now", "overdue"), [
    ("deposit_required", NOW, NOW, False),  # due at the deadline itself
    ("deposit_required", NOW, NOW + timedelta(microseconds=1), True),
    ("deposit_required", None, NOW, False),
    ("active", NOW - timedelta(days=1), NOW, False),  # paid in time
])
def test_a_deposit_is_overdue_only_past_its_deadline(
    status: str, expires: datetime | None, now: datetime, overdue: bool
) -> None:
    assert deposit_overdue(status, expires, now) is overdue


@pytest.mark.parametrize(("moment", "day"), [
    ("2026-01-06T09:59:59+00:00", "2026-01-05"),  # 23:59:59 Monday in Honolulu
    ("2026-01-06T10:00:00+00:00", "2026-01-06"),  # midnight Tuesday in Honolulu
])
def test_the_nudge_day_is_the_local_day(moment: str, day: str) -> None:
    assert nudge_day(datetime.fromisoformat(moment), "Pacific/Honolulu") == day


# --- first eligible wins; who was passed over ---------------------------------------------------

def _ranked(*specs: tuple[str, dict[str, Any]]) -> list[Ranked]:
    return [Ranked(replace(ELIGIBLE, entry_id=UUID(int=rank), customer_id=UUID(int=100 + rank),
                           **changes), rank)
            for rank, (_, changes) in enumerate(specs, start=1)]


AFTERNOONS = replace(EVERY_WEEKDAY_EARLY, time_block_keys=("afternoon",))
QUEUE = _ranked(
    ("elsewhere", {"location_ids": (WAIPAHU,)}),
    ("window", {"selection": AFTERNOONS}),
    ("unpaid", {"status": "deposit_required", "deposit_status": "required"}),
    ("no windows", {"selection": None}),
    ("eligible", {}),
    ("behind, eligible", {}),
    ("behind, window", {"selection": AFTERNOONS}),
)


def _check(candidate: Candidate) -> str | None:
    return first_failed_check(candidate, KAPOLEI, WEDNESDAY_EARLY, PRESETS, NOW)


def test_the_first_entry_in_rank_order_that_passes_every_check_wins() -> None:
    winner = first_eligible(QUEUE, _check)
    assert winner is not None
    assert winner.rank == 5


def test_only_those_ahead_of_the_winner_who_failed_on_their_windows_were_passed_over() -> None:
    winner = first_eligible(QUEUE, _check)
    passed = passed_over(QUEUE, winner, opportunity_rank=20, check=_check)
    assert [p.rank for p in passed] == [2, 4]  # the afternoon-only one, the one with no windows


def test_without_a_winner_everyone_up_to_the_opportunity_rank_who_failed_on_windows_counts(
) -> None:
    queue = [r for r in QUEUE if r.rank not in (5, 6)]
    assert first_eligible(queue, _check) is None
    assert [p.rank for p in passed_over(queue, None, opportunity_rank=20, check=_check)] == [
        2, 4, 7]
    assert [p.rank for p in passed_over(queue, None, opportunity_rank=3, check=_check)] == [2]


def test_an_empty_queue_has_no_winner_and_nobody_passed_over() -> None:
    assert first_eligible([], _check) is None
    assert passed_over([], None, 20, _check) == []


def test_a_customer_who_chose_a_malformed_preset_fails_on_it_and_nobody_else_does() -> None:
    rows = [("date_horizon", "soonest", {"days_ahead": 365}),
            ("time_block", "early", {"start": "08:00", "end": "09:45"}),
            ("time_block", "late", {"start": "soon"}),
            ("weekday_rule", "any_weekday", {"mode": "any"})]
    presets = Presets.tolerant(rows)
    assert list(presets.broken) == [("time_block", "late")]
    chose_late = replace(ELIGIBLE, selection=replace(EVERY_WEEKDAY_EARLY,
                                                     time_block_keys=("early", "late")))
    assert first_failed_check(chose_late, KAPOLEI, WEDNESDAY_EARLY, presets, NOW) == (
        "window:preset_unreadable")
    assert first_failed_check(ELIGIBLE, KAPOLEI, WEDNESDAY_EARLY, presets, NOW) is None
    with pytest.raises(InvalidInput, match="'late'"):
        Presets.from_rows(rows)
    assert Presets.from_json(presets.to_json()).broken == presets.broken
