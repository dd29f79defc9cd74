"""Deposit timers (spec §4.2): lapse overdue deposits, then ask the front of the queue to pay.

Deadlines are data (`deposit_expires_at`), swept on every run, so a restart forgets nothing.
The aggregates refuse a second lapse or a second request, so concurrent runs cannot double one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.aggregates.errors import DomainError
from slotqueue.aggregates.lifecycle import RANKED

OVERDUE_SQL = """
SELECT id FROM queue_entries
WHERE status = 'deposit_required' AND deposit_expires_at < %s
ORDER BY deposit_expires_at, id
"""

FRONT_SQL = """
SELECT id FROM (
  SELECT id, deposit_status, status,
         row_number() OVER (ORDER BY created_at, id) AS rank
  FROM queue_entries WHERE status = ANY(%s)
) ranked
WHERE rank <= %s AND deposit_status = 'none' AND status = 'queued'
ORDER BY rank
"""


def _each(ids: list[UUID], command: Callable[[UUID], None]) -> int:
    done = 0
    for entry_id in ids:
        try:
            command(entry_id)
            done += 1
        except DomainError:
            continue  # another run (or the customer) got there first
    return done


def lapse_overdue(app: Any, conn: psycopg.Connection[Any], now: datetime) -> int:
    ids = [row[0] for row in conn.execute(OVERDUE_SQL, (now,))]
    return _each(ids, lambda entry_id: app.lapse_deposit(entry_id, now))


def require_front(
    app: Any, conn: psycopg.Connection[Any], now: datetime, threshold: int, grace: timedelta
) -> int:
    ids = [row[0] for row in conn.execute(FRONT_SQL, (list(RANKED), threshold))]
    return _each(ids, lambda entry_id: app.require_deposit(entry_id, now, grace))
