"""Why did a slot go where it went, and why didn't a customer get it? From events alone.

The decision journal holds what replay cannot rebuild (the preset rules in force, the winner
and its rank); each customer's verdict is derived by replaying that customer's own history up
to the moment of the decision and applying the dispatcher's checks to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.errors import InvalidInput, NotFound
from slotqueue.aggregates.matcher import Presets, Selection, slot_key
from slotqueue.aggregates.opened_slot import WEEKEND, OpenedSlot
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.aggregates.queue_policy import (
    BEHIND_WINNER,
    Candidate,
    first_failed_check,
    rank_key,
)
from slotqueue.application.queue import SlotQueue
from slotqueue.projections.customer_audit import customer_openings
from slotqueue.projections.offer_audit import policies, slot_offers
from slotqueue.projections.queries import entries_joined_by, ever_prioritised

Events = dict[UUID, list[Any]]  # events read once per audit, replayed as often as needed


def recorded_state(app: SlotQueue, aggregate_id: UUID, before: datetime,
                   read: Events | None = None) -> Any:
    """The aggregate as it stood when `before` was recorded (library timestamps)."""
    read = {} if read is None else read
    if aggregate_id not in read:
        read[aggregate_id] = list(app.events.get(aggregate_id))
    state = None
    for event in read[aggregate_id]:
        if event.timestamp > before:
            break
        state = event.mutate(state)
    return state


def _decision(app: SlotQueue, slot_id: UUID) -> tuple[OpenedSlot, Any]:
    slot, decided = None, None
    for event in app.events.get(slot_id):
        slot = event.mutate(slot)
        if type(event).__name__ == "Decided":
            decided = event
    if not isinstance(slot, OpenedSlot):
        raise NotFound(f"unknown opened slot {slot_id}")
    return slot, decided


def _candidate(app: SlotQueue, entry: QueueEntry, moment: datetime, read: Events) -> Candidate:
    customer = recorded_state(app, entry.customer_id, moment, read)
    selection = None
    if isinstance(customer, Customer) and customer.selection is not None:
        selection = Selection.from_json(customer.selection)
    locations = frozenset(customer.location_ids) if isinstance(customer, Customer) else frozenset()
    return Candidate(entry.id, entry.customer_id, entry.joined_at, entry.status,
                     entry.deposit_status, locations, selection, entry.priority,
                     offer_pending=entry.offer_id is not None,  # offers' checks (§4.2)
                     cooling_until=entry.cooldown_until)


def _behind(entry: QueueEntry, winner: dict[str, Any]) -> bool:
    """Whether `entry` (as it stood at the decision) ranked behind the winner then: priority
    scores as they were (a decision recorded before scores existed has none)."""
    mine = rank_key(entry.priority, entry.joined_at, entry.id)
    theirs = rank_key(int(winner.get("priority") or 0), winner["joined_at"],
                      winner["entry_id"])
    return (mine[0], mine[1], str(mine[2])) > (theirs[0], theirs[1], str(theirs[2]))


def verdict_for(app: SlotQueue, slot: OpenedSlot, decided: Any, entry: QueueEntry,
                read: Events | None = None) -> str | None:
    """The first check `entry` failed for this slot, as its state stood at the decision."""
    if decided.outcome == WEEKEND:
        return WEEKEND
    winner = decided.winner
    if winner is not None:
        if winner["entry_id"] == entry.id:
            return None
        if _behind(entry, winner):
            return BEHIND_WINNER
    candidate = _candidate(app, entry, decided.timestamp, {} if read is None else read)
    return first_failed_check(candidate, slot.location_id, slot.slot_datetime,
                              Presets.from_json(decided.presets), decided.at)


def slot_journal(app: SlotQueue, conn: psycopg.Connection[Any], key: str,
                 limit: int = 200) -> list[dict[str, Any]]:
    """Every opening of this slot key, its events, and the customers ahead of the winner."""
    canonical = normalised_key(key)
    ids = [r[0] for r in conn.execute(
        "SELECT id FROM slotqueue.opened_slots WHERE slot_key = %s ORDER BY first_seen",
        (canonical,))]
    if not ids:
        raise NotFound(f"unknown slot {key!r}: no SlotOpened recorded for it")
    return [_one_slot(app, conn, slot_id, limit) for slot_id in ids]


def normalised_key(text: str) -> str:
    """`location_id|YYYY-MM-DD|H:MM` → the canonical `location_id|YYYY-MM-DD|HH:MM:SS`."""
    parts = text.strip().split("|")
    try:
        location_id, day, time_text = parts
        return slot_key(location_id, date.fromisoformat(day), time_text)
    except (ValueError, InvalidInput):
        raise InvalidInput(f"invalid slot key {text!r}: expected "
                           "location_id|YYYY-MM-DD|HH:MM:SS") from None


def _one_slot(app: SlotQueue, conn: psycopg.Connection[Any], slot_id: UUID, limit: int
              ) -> dict[str, Any]:
    slot, decided = _decision(app, slot_id)
    events = [{"at": getattr(e, "at", e.timestamp), "name": type(e).__name__,
               "data": {k: v for k, v in vars(e).items() if k not in _HIDDEN}}
              for e in app.events.get(slot_id)]
    ahead = [] if decided is None else _ahead(app, conn, slot, decided, limit)
    return {"slot_id": slot_id, "slot_key": slot.slot_key, "outcome": slot.outcome,
            "winner": decided.winner if decided else None, "events": events, "ahead": ahead,
            "policies": policies(events), "offers": slot_offers(conn, slot_id)}


_HIDDEN = {"originator_id", "originator_version", "timestamp", "originator_topic", "at"}


def _ranked_then(app: SlotQueue, conn: psycopg.Connection[Any], decided: Any, read: Events
                 ) -> Iterator[QueueEntry]:
    """The entries ranked when the decision was recorded, in rank order then: those with a
    priority score at that moment first (few: an operator sets each), then join order."""
    joined = entries_joined_by(conn, decided.at)
    raised_ids = ever_prioritised(conn)

    def then(entry_id: UUID) -> QueueEntry | None:
        entry = recorded_state(app, entry_id, decided.timestamp, read)
        ranked = isinstance(entry, QueueEntry) and entry.status in lc.RANKED
        return entry if ranked else None

    raised = [e for e in map(then, (i for i in joined if i in raised_ids))
              if e is not None and e.priority > 0]
    yield from sorted(raised, key=lambda e: rank_key(e.priority, e.joined_at, e.id))
    first = {e.id for e in raised}
    for entry_id in joined:
        entry = None if entry_id in first else then(entry_id)
        if entry is not None:
            yield entry


def _ahead(app: SlotQueue, conn: psycopg.Connection[Any], slot: OpenedSlot, decided: Any,
           limit: int) -> list[dict[str, Any]]:
    """The ranked entries ahead of the winner (all of them without one), with their verdicts."""
    found: list[dict[str, Any]] = []
    read: Events = {}
    for rank, entry in enumerate(_ranked_then(app, conn, decided, read), start=1):
        failed = verdict_for(app, slot, decided, entry, read)
        if failed in (None, BEHIND_WINNER) or len(found) >= limit:
            break
        found.append({"rank": rank, "queue_entry_id": entry.id,
                      "customer_id": entry.customer_id, "failed": failed})
    return found


def passed_over(app: SlotQueue, conn: psycopg.Connection[Any], customer: Customer,
                limit: int = 500) -> list[dict[str, Any]]:
    """The openings a customer behind this one won while they queued (at their locations or
    not), newest first, each with the first check this customer failed; an opening that went
    to nobody, or to someone ahead, passed nobody over. `customer_audit` has the rest."""
    found = customer_openings(app, conn, customer, limit)["openings"]
    return sorted((o for o in found if o["passed_over"]),
                  key=lambda o: o["decided_at"], reverse=True)
