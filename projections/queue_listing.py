"""The queue as an operator reads it (`slotqueue queue`): entries in rank order with their
rank, masked phone, deposit deadline while it applies, windows and locations by name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.aggregates import lifecycle as lc
from slotqueue.aggregates.errors import InvalidInput
from slotqueue.projections.queries import RANK_ORDER
from slotqueue.projections.wording import deposit_deadline, mask_phone

# Ranks count ranked entries only; `place` orders the chosen entries the same way. A location
# the monitor removed reads as its id.
_QUEUE_SQL = f"""
WITH ranks AS (
  SELECT id, row_number() OVER (ORDER BY {RANK_ORDER}) AS rank
  FROM queue_entries WHERE status = ANY(%(ranked)s)
), chosen AS (
  SELECT id, customer_id, status, deposit_status, deposit_expires_at,
         row_number() OVER (ORDER BY {RANK_ORDER}) AS place, count(*) OVER () AS total
  FROM queue_entries WHERE status = ANY(%(statuses)s)
  ORDER BY {RANK_ORDER} LIMIT %(limit)s
)
SELECT q.id, q.customer_id, r.rank, c.phone, q.status, q.deposit_status, q.deposit_expires_at,
       s.timezone, s.date_horizon_key, s.weekday_rule_key, s.custom_weekdays, s.time_block_keys,
       ARRAY(SELECT coalesce(l.name, p.location_id::text)
             FROM user_location_preferences p LEFT JOIN locations l ON l.id = p.location_id
             WHERE p.customer_id = q.customer_id ORDER BY 1) AS locations,
       q.total
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


def _selection(row: tuple[Any, ...]) -> dict[str, Any] | None:
    timezone, horizon, rule, days, blocks = row
    if horizon is None:
        return None
    return {"timezone": timezone, "date_horizon_key": horizon, "weekday_rule_key": rule,
            "custom_weekdays": list(days or ()), "time_block_keys": list(blocks or ())}


def queue(conn: psycopg.Connection[Any], status: str | None = None, limit: int = 50
          ) -> tuple[list[QueueRow], int]:
    """Entries of `status` (default: the ranked ones) in rank order, at most `limit`, and how
    many there are in all."""
    if status is not None and status not in lc.STATUSES:
        raise InvalidInput(f"unknown status {status!r}: one of {', '.join(lc.STATUSES)}")
    statuses = list(lc.RANKED) if status is None else [status]
    rows = conn.execute(_QUEUE_SQL, {"ranked": list(lc.RANKED), "statuses": statuses,
                                     "limit": limit}).fetchall()
    found = [QueueRow(queue_entry_id=r[0], customer_id=r[1], rank=r[2], phone=mask_phone(r[3]),
                      status=r[4], deposit_status=r[5],
                      deposit_due=deposit_deadline(r[4], r[5], r[6]),
                      selection=_selection(r[7:12]), locations=list(r[12]))
             for r in rows]
    return found, int(rows[0][13]) if rows else 0
