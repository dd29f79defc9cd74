"""Questions asked of slotqueue.timers: the timers still set (for the scheduler when it starts,
and for `dispatch --once`), and how many are due and late (for the metrics).

A deposit asked for before timers existed has no timer row; its deadline is the entry's own
(`queue_entries.deposit_expires_at`), listed here as the timer `deposit_lapse` it would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

_PENDING_SQL = """
SELECT aggregate_id, name, kind, due_at FROM slotqueue.timers
WHERE status = 'set' AND (%(before)s::timestamptz IS NULL OR due_at < %(before)s)
UNION ALL
SELECT q.id, 'deposit_lapse', 'deposit_lapse', q.deposit_expires_at FROM public.queue_entries q
WHERE q.status = 'deposit_required' AND q.deposit_expires_at IS NOT NULL
  AND (%(before)s::timestamptz IS NULL OR q.deposit_expires_at < %(before)s)
  AND NOT EXISTS (SELECT 1 FROM slotqueue.timers t
                  WHERE t.aggregate_id = q.id AND t.name = 'deposit_lapse')
ORDER BY 4, 1, 2
"""


@dataclass(frozen=True)
class Due:
    aggregate_id: UUID
    name: str
    kind: str
    due_at: datetime


def pending_timers(conn: psycopg.Connection[Any], before: datetime | None = None) -> list[Due]:
    """Every timer still set, soonest first (only those due before `before`, if given)."""
    return [Due(*row) for row in conn.execute(_PENDING_SQL, {"before": before}).fetchall()]


def timers_waiting(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, int]]:
    """Per kind: (timers set, of which overdue by the database's clock)."""
    rows = conn.execute("SELECT kind, count(*), count(*) FILTER (WHERE due_at < now()) "
                        "FROM slotqueue.timers WHERE status = 'set' GROUP BY kind").fetchall()
    return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}
