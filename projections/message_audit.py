"""A customer's messages as their audit shows them: each message_log row (type, dedupe key,
when it was queued, its text) with what became of it on each channel, from
public.message_deliveries (masked recipient, status, attempts, last error, times).

With `as_of`, only the messages and deliveries recorded by then are listed; a delivery's
status and times are as they stand now (the table keeps no history; its events do).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

_SQL = """
SELECT m.id, m.message_type, m.dedupe_key, m.sent_at, m.meta_json->>'text',
       d.id, d.channel, d.recipient, d.status, d.attempts, d.next_attempt_at, d.provider_id,
       d.last_error, d.created_at, d.updated_at, d.sent_at, d.delivered_at
FROM public.message_log m
LEFT JOIN public.message_deliveries d ON d.message_id = m.id
  AND (%(as_of)s::timestamptz IS NULL OR d.created_at <= %(as_of)s)
WHERE m.customer_id = %(customer)s
  AND (%(as_of)s::timestamptz IS NULL OR m.sent_at <= %(as_of)s)
ORDER BY m.sent_at, m.id, d.channel
"""
MESSAGE_KEYS = ("message_id", "message_type", "dedupe_key", "queued_at", "text")
DELIVERY_KEYS = ("delivery_id", "channel", "recipient", "status", "attempts",
                 "next_attempt_at", "provider_id", "last_error", "created_at", "updated_at",
                 "sent_at", "delivered_at")


def customer_messages(conn: psycopg.Connection[Any], customer_id: UUID,
                      as_of: datetime | None = None) -> list[dict[str, Any]]:
    """The customer's messages, oldest first, each with its deliveries (by channel; none
    until the delivery worker has queued them)."""
    found: dict[UUID, dict[str, Any]] = {}
    for row in conn.execute(_SQL, {"customer": customer_id, "as_of": as_of}).fetchall():
        message = found.setdefault(row[0], {**dict(zip(MESSAGE_KEYS, row[:5], strict=True)),
                                            "deliveries": []})
        if row[5] is not None:
            message["deliveries"].append(dict(zip(DELIVERY_KEYS, row[5:], strict=True)))
    return list(found.values())
