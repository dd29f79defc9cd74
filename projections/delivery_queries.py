"""Questions asked of public.message_deliveries: what the delivery worker should look at when
it starts (and every so often after), and how many deliveries hold each status."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

_PENDING_SQL = """
SELECT id, CASE WHEN status = 'sending' THEN lease_until ELSE next_attempt_at END
FROM public.message_deliveries WHERE status IN ('queued', 'sending')
"""


def pending_deliveries(conn: psycopg.Connection[Any]) -> list[tuple[UUID, datetime]]:
    """(id, when to look at it) of every queued delivery (its next attempt) and every one
    being sent (its lease's end: the crash rule's moment)."""
    return [(row[0], row[1]) for row in conn.execute(_PENDING_SQL).fetchall()
            if row[1] is not None]


def deliveries_by_status(conn: psycopg.Connection[Any]) -> dict[tuple[str, str], int]:
    """How many deliveries hold each (channel, status), for the metrics."""
    rows = conn.execute("SELECT channel, status, count(*) FROM public.message_deliveries "
                        "GROUP BY channel, status").fetchall()
    return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}


_LIST_SQL = """
SELECT d.id, d.message_id, d.customer_id, d.message_type, d.channel, d.recipient, d.status,
       d.attempts, d.next_attempt_at, d.provider_id, d.last_error, d.created_at,
       d.updated_at, d.sent_at, d.delivered_at
FROM public.message_deliveries d
WHERE true {where}
ORDER BY d.created_at DESC, d.id DESC LIMIT %(limit)s
"""
LIST_KEYS = ("delivery_id", "message_id", "customer_id", "message_type", "channel",
             "recipient", "status", "attempts", "next_attempt_at", "provider_id",
             "last_error", "created_at", "updated_at", "sent_at", "delivered_at")


def delivery_list(conn: psycopg.Connection[Any], status: str | None = None,
                  customer_id: UUID | None = None, limit: int = 50,
                  before: tuple[datetime, UUID] | None = None) -> list[dict[str, Any]]:
    """Deliveries newest first (recipients masked), with their status and last error."""
    where = "" if status is None else " AND d.status = %(status)s"
    where += "" if customer_id is None else " AND d.customer_id = %(customer)s"
    if before is not None:
        where += " AND (d.created_at, d.id) < (%(at)s, %(id)s)"
    at, id_ = before or (None, None)
    rows = conn.execute(_LIST_SQL.format(where=where), {
        "status": status, "customer": customer_id, "limit": limit, "at": at, "id": id_})
    return [dict(zip(LIST_KEYS, row, strict=True)) for row in rows.fetchall()]


def deliveries_of_message(conn: psycopg.Connection[Any], message_id: UUID) -> list[UUID]:
    rows = conn.execute("SELECT id FROM public.message_deliveries WHERE message_id = %s "
                        "ORDER BY channel", (message_id,))
    return [row[0] for row in rows.fetchall()]
