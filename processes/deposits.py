"""The deposit sweep (spec §4.2): ask the front of the queue to pay.

Who owes what is `queue_policy`'s rule, read from the dispatcher's view; the aggregate refuses
a second request, so concurrent dispatchers cannot double one. A deposit's deadline is a timer
set with the request (`aggregates.timers`); the timer keeper, not this sweep, lapses it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from slotqueue.aggregates.errors import DomainError
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.aggregates.queue_policy import owes_deposit
from slotqueue.processes.queue_view import QueueView
from slotqueue.processes.writer import Writer


def owing(view: QueueView, threshold: int) -> list[UUID]:
    return [entry.id for rank, entry in view.front(threshold)
            if owes_deposit(rank, entry.status, entry.deposit_status, threshold)]


def _each(writer: Writer, ids: list[UUID], now: datetime, grace: timedelta) -> int:
    done = []
    for entry_id in ids:
        try:
            entry = writer.get(QueueEntry, entry_id)
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
        return sum(_each(writer, [e.id], now, grace) for e in done) if len(done) > 1 else 0


def require_front(writer: Writer, now: datetime, threshold: int, grace: timedelta) -> int:
    return _each(writer, owing(writer.view, threshold), now, grace)
