"""Questions asked of the projected queue tables, each written once.

Rank order is `queue_policy.rank_key` (join time, ties by id); `RANK_ORDER` is that order in
SQL, and every query here that ranks uses it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.aggregates.lifecycle import RANKED

RANK_ORDER = "created_at, id"

_RANK_SQL = f"""
SELECT CASE WHEN me.status = ANY(%(ranked)s) THEN (
         SELECT count(*) + 1 FROM queue_entries q WHERE q.status = ANY(%(ranked)s)
           AND ({RANK_ORDER}) < (me.created_at, me.id))
       END
FROM queue_entries me WHERE me.id = %(id)s
"""


def rank_of(conn: psycopg.Connection[Any], entry_id: UUID) -> int | None:
    """The entry's rank now; None when its status holds no rank."""
    row = conn.execute(_RANK_SQL, {"id": entry_id, "ranked": list(RANKED)}).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def entries_joined_by(conn: psycopg.Connection[Any], moment: datetime) -> list[UUID]:
    """Every entry that had joined by `moment`, in rank order (whatever its status now)."""
    rows = conn.execute(f"SELECT id FROM queue_entries WHERE created_at <= %s "
                        f"ORDER BY {RANK_ORDER}", (moment,))
    return [row[0] for row in rows]


def credential(conn: psycopg.Connection[Any], hashed: str) -> tuple[str, str] | None:
    """(role, subject) of the live credential with this secret hash, None when unknown or
    revoked."""
    row = conn.execute("SELECT role, subject FROM slotqueue.credentials "
                       "WHERE secret_hash = %s AND revoked_at IS NULL", (hashed,)).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


def api_keys(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT subject, role, issued_at, issued_by, revoked_at "
                        "FROM slotqueue.credentials WHERE role <> 'customer' "
                        "ORDER BY issued_at, subject").fetchall()
    return [{"name": r[0], "role": r[1], "created_at": r[2], "created_by": r[3],
             "revoked_at": r[4]} for r in rows]


def entries_by_status(conn: psycopg.Connection[Any]) -> dict[tuple[str, str], int]:
    """How many queue entries hold each (status, deposit status), for the metrics."""
    rows = conn.execute("SELECT status, deposit_status, count(*) FROM queue_entries "
                        "GROUP BY status, deposit_status").fetchall()
    return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}
