"""The queue's rules (spec §4.2, §4.5): rank order, who owes a deposit, who may have a slot
and the first check they fail, first eligible wins, and who was passed over.

Pure and total: the dispatcher chooses with these functions, the audit explains a choice with
them, and their unit tests are tables. The weekend rule lives in `matcher.is_weekend`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.matcher import Presets, Selection, is_weekend, window_mismatch

__all__ = [
    "BEHIND_WINNER", "DEPOSIT_NOT_PAID", "LOCATION", "NOT_ACTIVE", "NO_WINDOWS", "Candidate",
    "Choice", "Ranked", "deposit_deadline", "deposit_overdue", "first_eligible",
    "first_failed_check", "is_ranked", "is_weekend", "nudge_day", "owes_deposit",
    "passed_over", "rank_key",
]

NOT_ACTIVE = "not_active"
DEPOSIT_NOT_PAID = "deposit_not_paid"
LOCATION = "location"
NO_WINDOWS = "window:none_chosen"
BEHIND_WINNER = "behind_winner"
WINDOW = "window"

RankKey = tuple[datetime, UUID]


def rank_key(joined_at: datetime, entry_id: UUID) -> RankKey:
    """Rank order (spec §4.2): join time, ties by id (UUIDs order as PostgreSQL orders them)."""
    return (joined_at, entry_id)


def is_ranked(status: str) -> bool:
    """Only queued, deposit_required and active entries hold a rank."""
    return status in lc.RANKED


def owes_deposit(rank: int, status: str, deposit_status: str, threshold: int) -> bool:
    """Ranks 1..threshold that were never asked are asked for a deposit (and imported entries
    whose deposit lapsed under the earlier implementation, which kept them queued)."""
    return (rank <= threshold and status == lc.QUEUED
            and deposit_status in (lc.NONE, lc.EXPIRED))


def deposit_deadline(now: datetime, grace: timedelta) -> datetime:
    return now + grace


def deposit_overdue(status: str, expires_at: datetime | None, now: datetime) -> bool:
    return status == lc.DEPOSIT_REQUIRED and expires_at is not None and now > expires_at


def nudge_day(now: datetime, timezone: str) -> str:
    """The local day an `opportunity_passed` nudge counts against (one per customer per day)."""
    return now.astimezone(ZoneInfo(timezone)).date().isoformat()


@dataclass(frozen=True)
class Candidate:
    """A queue entry as the dispatcher sees it, with its customer's choices."""

    entry_id: UUID
    customer_id: UUID
    joined_at: datetime
    status: str
    deposit_status: str
    location_ids: Collection[UUID]
    selection: Selection | None


def first_failed_check(
    candidate: Candidate, location_id: UUID, slot_utc: datetime, presets: Presets,
    now: datetime,
) -> str | None:
    """None when the candidate may have the slot; else the first check it fails."""
    if candidate.status != lc.ACTIVE:
        return NOT_ACTIVE
    if candidate.deposit_status != lc.PAID:
        return DEPOSIT_NOT_PAID
    if location_id not in candidate.location_ids:
        return LOCATION
    if candidate.selection is None:
        return NO_WINDOWS
    mismatch = window_mismatch(slot_utc, candidate.selection, presets, now)
    return None if mismatch is None else f"{WINDOW}:{mismatch}"


Check = Callable[[Candidate], "str | None"]


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    rank: int


@dataclass(frozen=True)
class Choice:
    winner: Ranked | None
    passed_over: list[Ranked] = field(default_factory=list)


def first_eligible(ranked: Iterable[Ranked], check: Check) -> Ranked | None:
    """First eligible wins: the first entry, in rank order, that passes every check."""
    return next((r for r in ranked if check(r.candidate) is None), None)


def passed_over(front: Iterable[Ranked], winner: Ranked | None, opportunity_rank: int,
                check: Check) -> list[Ranked]:
    """Entries of rank ≤ `opportunity_rank` ahead of the winner (all of them without one)
    that passed everything but the target window: only they could gain by widening it."""
    found = []
    for item in front:
        if item.rank > opportunity_rank or (winner is not None and item.rank >= winner.rank):
            break
        failed = check(item.candidate)
        if failed is not None and failed.startswith(WINDOW):
            found.append(item)
    return found
