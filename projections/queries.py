"""Questions asked of the projected queue tables, each written once.

Rank order is `queue_policy.rank_key` (an operator's priority score descending, then join
time, ties by id); `RANK_ORDER` is that order in SQL over `queue_entries q` joined with
`WITH_PRIORITY` (`slotqueue.entry_priorities p`: an entry without a row has score 0), and every
query that ranks uses it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.aggregates.lifecycle import RANKED

WITH_PRIORITY = "LEFT JOIN slotqueue.entry_priorities p ON p.queue_entry_id = q.id"
RANK_ORDER = "-coalesce(p.score, 0), q.created_at, q.id"

# Entries with a priority are few (an operator sets each by hand); everyone else is in join
# order. So a rank counts the raised entries ahead, plus, for an entry without priority, the
# entries that joined before it less the raised ones among them: index scans, not a sort of
# the whole queue.
def rank_sql(entry: str) -> str:
    """A scalar subquery: the rank of the entry whose id is the SQL expression `entry` (a
    parameter, or a column of the enclosing query), NULL when its status holds no rank or
    there is no such entry. The ranked statuses are the parameter `%(ranked)s`."""
    return f"""(
WITH me AS (
  SELECT q.id, q.status, q.created_at, coalesce(p.score, 0) AS score
  FROM queue_entries q {WITH_PRIORITY} WHERE q.id = {entry}
), raised AS (
  SELECT q.id, q.created_at, p.score FROM slotqueue.entry_priorities p
  JOIN queue_entries q ON q.id = p.queue_entry_id
  WHERE p.score > 0 AND q.status = ANY(%(ranked)s)
)
SELECT CASE WHEN me.status = ANY(%(ranked)s) THEN 1
  + (SELECT count(*) FROM raised r
     WHERE (-r.score, r.created_at, r.id) < (-me.score, me.created_at, me.id))
  + CASE WHEN me.score > 0 THEN 0 ELSE
      (SELECT count(*) FROM queue_entries q WHERE q.status = ANY(%(ranked)s)
         AND (q.created_at, q.id) < (me.created_at, me.id))
      - (SELECT count(*) FROM raised r WHERE (r.created_at, r.id) < (me.created_at, me.id))
    END
END
FROM me)"""


RANKED_STATUSES = list(RANKED)
_RANK_SQL = f"SELECT {rank_sql('%(id)s')}"


def rank_of(conn: psycopg.Connection[Any], entry_id: UUID) -> int | None:
    """The entry's rank now; None when its status holds no rank."""
    row = conn.execute(_RANK_SQL, {"id": entry_id, "ranked": RANKED_STATUSES}).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def entries_joined_by(conn: psycopg.Connection[Any], moment: datetime) -> list[UUID]:
    """Every entry that had joined by `moment`, in join order (whatever its status now)."""
    rows = conn.execute("SELECT id FROM queue_entries WHERE created_at <= %s "
                        "ORDER BY created_at, id", (moment,))
    return [row[0] for row in rows]


def ever_prioritised(conn: psycopg.Connection[Any]) -> set[UUID]:
    """Entries an operator ever gave a priority (their score may be back to 0 now)."""
    return {row[0] for row in conn.execute(
        "SELECT queue_entry_id FROM slotqueue.entry_priorities")}


def slot_openings(conn: psycopg.Connection[Any], key: str) -> list[UUID]:
    """The openings of a slot the tables list, by its normalised key."""
    return [row[0] for row in conn.execute(
        "SELECT id FROM slotqueue.opened_slots WHERE slot_key = %s", (key,))]


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
