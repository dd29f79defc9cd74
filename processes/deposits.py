"""Deposit sweeps (spec §4.2): lapse overdue deposits, then ask the front of the queue to pay.

Who owes what is `queue_policy`'s rule, read from the dispatcher's view; the aggregates refuse
a second lapse or a second request, so concurrent dispatchers cannot double one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from slotqueue.aggregates.errors import DomainError
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.aggregates.queue_policy import deposit_overdue, owes_deposit
from slotqueue.processes.queue_view import QueueView
from slotqueue.processes.writer import Writer


def overdue(view: QueueView, now: datetime) -> list[UUID]:
    entries = (view.entries[i] for i in sorted(view.awaiting_deposit) if i in view.entries)
    found = [e for e in entries if deposit_overdue(e.status, e.deposit_expires_at, now)]
    return [e.id for e in sorted(found, key=lambda e: (e.deposit_expires_at, e.id))]


def owing(view: QueueView, threshold: int) -> list[UUID]:
    return [entry.id for rank, entry in view.front(threshold)
            if owes_deposit(rank, entry.status, entry.deposit_status, threshold)]


def _each(writer: Writer, ids: list[UUID], change: str, now: datetime,
          grace: timedelta) -> int:
    done = []
    for entry_id in ids:
        try:
            entry = writer.get(QueueEntry, entry_id)
            if change == "lapse":
                entry.lapse_deposit(now)
            else:
                entry.require_deposit(now, grace)
            done.append(entry)
        except DomainError:
            writer.forget([entry_id])  # another run (or the customer) got there first
    if not done:
        return 0
    try:
        writer.save(*done)
        return len(done)
    except IntegrityError:  # one of them changed under us: take them one by one
        writer.forget(e.id for e in done)
        return sum(_each(writer, [e.id], change, now, grace) for e in done) if len(done) > 1 \
            else 0


def lapse_overdue(writer: Writer, now: datetime) -> int:
    return _each(writer, overdue(writer.view, now), "lapse", now, timedelta(0))


def require_front(writer: Writer, now: datetime, threshold: int, grace: timedelta) -> int:
    return _each(writer, owing(writer.view, threshold), "require", now, grace)
