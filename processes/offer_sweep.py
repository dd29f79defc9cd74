"""Offers that can no longer be had, withdrawn each dispatcher run (spec service §4.2): those of
an opening the monitor stopped listing (the slot is gone), and those held by an entry that left
the queue (canceled, lapsed, booked elsewhere). Each withdrawal ends the entry's hold, so the
customer can be offered the next opening; the customer is told the slot is gone.

Found from the dispatcher's view (no query); recorded through the application's command, so a
withdrawal racing an answer or an expiry is decided by the offer's version.
"""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.errors import DomainError
from slotqueue.aggregates.offer import ENTRY_LEFT, SLOT_GONE
from slotqueue.processes.writer import Writer

log = logging.getLogger("slotqueue.offers")


def withdraw_moot_offers(writer: Writer, now: datetime) -> int:
    """Withdraws the pending offers of unlisted openings and of entries that left; returns
    how many it withdrew."""
    view, app = writer.view, writer.app
    moot: dict[UUID, str] = {}
    for state in [s for s in view.open_slots.values() if s.closed and s.pending_offers]:
        moot.update(dict.fromkeys(state.pending_offers, SLOT_GONE))
    for entry_id in list(view.offer_holders):
        entry = view.entries.get(entry_id)
        if entry is not None and entry.status in lc.FINAL and entry.offer_id is not None:
            moot.setdefault(entry.offer_id, ENTRY_LEFT)
    withdrawn = 0
    for offer_id, reason in moot.items():
        try:
            withdrawn += bool(app.withdraw_offer(offer_id, reason, now))  # type: ignore[attr-defined]
        except (DomainError, IntegrityError) as exc:
            log.warning("offer not withdrawn", extra={"fields": {
                "offer_id": str(offer_id), "reason": reason, "error": str(exc)[:200]}})
    if moot:
        writer.refresh()  # what was recorded reaches the view (and the cached aggregates)
    return withdrawn
