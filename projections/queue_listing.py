"""The queue as an operator reads it (`slotqueue queue`, `GET /v1/queue`): entries in rank
order with their rank, priority, masked phone, deposit deadline while it applies, windows and
locations by name, a page at a time (after a position in rank order)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.errors import InvalidInput
from slotqueue.projections.queries import RANK_ORDER, WITH_PRIORITY
from slotqueue.projections.wording import deposit_deadline, mask_phone

# Ranks count ranked entries only; `place` orders the chosen entries the same way. A location
# the monitor removed reads as its id. `{after}` is empty, or _AFTER for a page after a
# position; the total counts the whole status, whatever the page.
_AFTER = f"AND ({RANK_ORDER}) > (-%(after_score)s, %(after_at)s, %(after_id)s)"
_COUNT = "SELECT count(*) FROM queue_entries WHERE status = ANY(%(statuses)s)"
_QUEUE_SQL = f"""
WITH ranks AS (
  SELECT q.id, row_number() OVER (ORDER BY {RANK_ORDER}) AS rank
  FROM queue_entries q {WITH_PRIORITY} WHERE q.status = ANY(%(ranked)s)
), chosen AS (
  SELECT q.id, q.customer_id, q.status, q.deposit_status, q.deposit_expires_at, q.created_at,
         coalesce(p.score, 0) AS priority, row_number() OVER (ORDER BY {RANK_ORDER}) AS place
  FROM queue_entries q {WITH_PRIORITY} WHERE q.status = ANY(%(statuses)s) {{after}}
  ORDER BY {RANK_ORDER} LIMIT %(limit)s
)
SELECT q.id, q.customer_id, r.rank, c.phone, q.status, q.deposit_status, q.deposit_expires_at,
       s.timezone, s.date_horizon_key, s.weekday_rule_key, s.custom_weekdays, s.time_block_keys,
       ARRAY(SELECT coalesce(l.name, p.location_id::text)
             FROM user_location_preferences p LEFT JOIN locations l ON l.id = p.location_id
             WHERE p.customer_id = q.customer_id ORDER BY 1) AS locations,
       ({_COUNT}) AS total,
       q.created_at, q.priority
FROM chosen q
JOIN customers c ON c.id = q.customer_id
LEFT JOIN ranks r ON r.id = q.id
LEFT JOIN user_target_window_selections s ON s.customer_id = q.customer_id
ORDER BY q.place
"""


@dataclass(frozen=True)
class QueueRow:
    queue_entry_id: UUID
    customer_id: UUID
    rank: int | None
    phone: str  # masked
    status: str
    deposit_status: str
    deposit_due: datetime | None  # only while the deposit is required
    selection: dict[str, Any] | None
    locations: list[str]
    joined_at: datetime
    priority: int  # with the join time and the id, the entry's position in rank order

    @property
    def position(self) -> tuple[int, datetime, UUID]:
        """Where the entry stands in rank order (a page's cursor)."""
        return self.priority, self.joined_at, self.queue_entry_id


def _selection(row: tuple[Any, ...]) -> dict[str, Any] | None:
    timezone, horizon, rule, days, blocks = row
    if horizon is None:
        return None
    return {"timezone": timezone, "date_horizon_key": horizon, "weekday_rule_key": rule,
            "custom_weekdays": list(days or ()), "time_block_keys": list(blocks or ())}


def queue(conn: psycopg.Connection[Any], status: str | None = None, limit: int = 50,
          after: tuple[int, datetime, UUID] | None = None) -> tuple[list[QueueRow], int]:
    """Entries of `status` (default: the ranked ones) in rank order, at most `limit` of them
    after the position `after` (priority, join time, id) when given, and how many there are
    in all."""
    if status is not None and status not in lc.STATUSES:
        raise InvalidInput(f"unknown status {status!r}: one of {', '.join(lc.STATUSES)}",
                           field="status")
    statuses = list(lc.RANKED) if status is None else [status]
    after_score, after_at, after_id = after or (None, None, None)
    rows = conn.execute(_QUEUE_SQL.format(after="" if after is None else _AFTER),
                        {"ranked": list(lc.RANKED), "statuses": statuses, "limit": limit,
                         "after_score": after_score, "after_at": after_at,
                         "after_id": after_id}).fetchall()
    found = [QueueRow(queue_entry_id=r[0], customer_id=r[1], rank=r[2], phone=mask_phone(r[3]),
                      status=r[4], deposit_status=r[5],
                      deposit_due=deposit_deadline(r[4], r[5], r[6]),
                      selection=_selection(r[7:12]), locations=list(r[12]), joined_at=r[14],
                      priority=r[15])
             for r in rows]
    if rows or after is None:
        return found, int(rows[0][13]) if rows else 0
    counted = conn.execute(_COUNT, {"statuses": statuses}).fetchone()
    return found, int(counted[0]) if counted else 0
