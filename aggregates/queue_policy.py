"""The queue's rules (spec §4.2, §4.5, service §4.4): rank order (priority, then join time),
the priority scores an operator may give, who owes a deposit, who may have a slot and the first
check they fail, first eligible wins, and who was passed over.

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
from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.matcher import Presets, Selection, is_weekend, window_mismatch

__all__ = [
    "ALREADY_OFFERED", "BEHIND_WINNER", "COOLDOWN", "DEPOSIT_NOT_PAID", "LOCATION",
    "MAX_PRIORITY", "MAX_REASON", "NOT_ACTIVE", "NO_PRIORITY", "NO_WINDOWS", "OFFER_PENDING",
    "Candidate", "Choice", "Ranked",
    "deposit_deadline", "deposit_overdue", "first_eligible", "first_failed_check", "is_ranked",
    "is_weekend", "nudge_day", "owes_deposit", "passed_over", "priority_reason", "rank_key",
    "valid_priority",
]

NOT_ACTIVE = "not_active"
DEPOSIT_NOT_PAID = "deposit_not_paid"
OFFER_PENDING = "offer_pending"  # holds an offer of another opening (service §4.2)
COOLDOWN = "cooldown"  # declined or let an offer expire, not yet reactivated
ALREADY_OFFERED = "offered_this_opening"  # an opening is offered to a customer once
LOCATION = "location"
NO_WINDOWS = "window:none_chosen"
BEHIND_WINNER = "behind_winner"
WINDOW = "window"

RankKey = tuple[int, datetime, UUID]
NO_PRIORITY = 0  # every entry's score until an operator gives it one, and the way back
MAX_PRIORITY = 100
MAX_REASON = 500


def rank_key(priority: int, joined_at: datetime, entry_id: UUID) -> RankKey:
    """Rank order (spec §4.2, service §4.4): priority score descending, then join time, ties
    by id (UUIDs order as PostgreSQL orders them). SQL: `projections.queries.RANK_ORDER`."""
    return (-priority, joined_at, entry_id)


def valid_priority(score: object) -> int:
    """A priority score an operator may give: a whole number 0..MAX_PRIORITY (0 = none)."""
    if isinstance(score, bool) or not isinstance(score, int) or not (
            NO_PRIORITY <= score <= MAX_PRIORITY):
        raise InvalidInput(f"invalid priority score {score!r}: a whole number from "
                           f"{NO_PRIORITY} (no priority) to {MAX_PRIORITY}", field="score")
    return score


def priority_reason(reason: object) -> str:
    """Why an operator changed a priority: required (the audit shows it), at most 500
    characters."""
    text = reason.strip() if isinstance(reason, str) else ""
    if not text or len(text) > MAX_REASON:
        raise InvalidInput(f"invalid reason {reason!r}: say why, in 1 to {MAX_REASON} "
                           "characters", field="reason")
    return text


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
    priority: int = NO_PRIORITY
    offer_pending: bool = False
    cooling_until: datetime | None = None  # set while cooling down, until reactivated

    @property
    def rank_key(self) -> RankKey:
        return rank_key(self.priority, self.joined_at, self.entry_id)


def first_failed_check(
    candidate: Candidate, location_id: UUID, slot_utc: datetime, presets: Presets,
    now: datetime, offered: Collection[UUID] = (),
) -> str | None:
    """None when the candidate may have the slot; else the first check it fails. `offered`:
    the entries this opening was offered to already."""
    if candidate.status != lc.ACTIVE:
        return NOT_ACTIVE
    if candidate.deposit_status != lc.PAID:
        return DEPOSIT_NOT_PAID
    held = offer_check(candidate, offered)
    if held is not None:
        return held
    if location_id not in candidate.location_ids:
        return LOCATION
    if candidate.selection is None:
        return NO_WINDOWS
    mismatch = window_mismatch(slot_utc, candidate.selection, presets, now)
    return None if mismatch is None else f"{WINDOW}:{mismatch}"


def offer_check(candidate: Candidate, offered: Collection[UUID] = ()) -> str | None:
    """Offers' own checks (service §4.2): not while holding an offer of another opening, not
    while cooling down, never the same opening twice."""
    if candidate.offer_pending:
        return OFFER_PENDING
    if candidate.cooling_until is not None:
        return COOLDOWN
    return ALREADY_OFFERED if candidate.entry_id in offered else None


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
