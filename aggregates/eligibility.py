"""Who may have an opened slot (spec §4.5): the checks in the order the dispatcher applies them.

Pure: the dispatcher uses it to choose, the audit to explain a choice from replayed state.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.matcher import Presets, Selection, window_mismatch

NOT_ACTIVE = "not_active"
DEPOSIT_NOT_PAID = "deposit_not_paid"
LOCATION = "location"
NO_WINDOWS = "window:none_chosen"


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
    return None if mismatch is None else f"window:{mismatch}"


def is_weekend(slot_utc: datetime, timezone: str) -> bool:
    """No selection can ever match a Saturday or Sunday (spec §4.3 rule 1)."""
    if slot_utc.tzinfo is None:
        raise InvalidInput(f"slot time {slot_utc.isoformat()} has no time zone")
    return slot_utc.astimezone(ZoneInfo(timezone)).isoweekday() >= 6
