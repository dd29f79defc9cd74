"""What an operator lists newest first, a page at a time (`GET /v1/openings`,
`GET /v1/messages`): the decided openings of `slotqueue.opened_slots` and the rows of
`message_log` with their deliveries. A page ends at a position (time, id); the next one
starts before it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.aggregates.delivery_states import STATUSES
from slotqueue.aggregates.errors import InvalidInput
from slotqueue.projections.message_audit import DELIVERY_KEYS
from slotqueue.projections.wording import mask_phone

Position = tuple[datetime, UUID]
MESSAGE_TYPES = ("deposit_needed", "deposit_received", "booked", "opportunity_passed", "status")

# A decided opening: decided_at is set (a winner, nobody, a weekend); `gone` and
# `listed_before_watch` openings were never decided. A removed location reads as its id.
_OPENINGS_SQL = """
SELECT s.id, s.slot_key, s.location_id, coalesce(l.name, s.location_id::text), s.slot_date,
       s.slot_time, s.slot_datetime_utc, s.first_seen, s.decided_at, s.outcome,
       s.winner_entry_id, s.winner_rank, s.opening
FROM slotqueue.opened_slots s LEFT JOIN locations l ON l.id = s.location_id
WHERE s.decided_at IS NOT NULL {where}
ORDER BY s.decided_at DESC, s.id DESC LIMIT %(limit)s
"""
_OPENING_KEYS = ("slot_id", "slot_key", "location_id", "location", "slot_date", "slot_time",
                 "slot_datetime", "first_seen", "decided_at", "outcome", "winner_entry_id",
                 "winner_rank", "opening")
_MESSAGES_SQL = """
SELECT m.id, m.customer_id, c.phone, m.message_type, m.sent_at, m.dedupe_key, m.meta_json
FROM message_log m LEFT JOIN customers c ON c.id = m.customer_id
WHERE true {where}
ORDER BY m.sent_at DESC, m.id DESC LIMIT %(limit)s
"""


def _where(alias: str, column: str, since: datetime | None, before: Position | None) -> str:
    """`since` (inclusive) and the page's end, on `alias.column` then `alias.id`."""
    where = "" if since is None else f" AND {alias}.{column} >= %(since)s"
    if before is not None:
        where += f" AND ({alias}.{column}, {alias}.id) < (%(at)s, %(id)s)"
    return where


def decided_openings(conn: psycopg.Connection[Any], since: datetime | None = None,
                     limit: int = 50, before: Position | None = None) -> list[dict[str, Any]]:
    """Openings decided at or after `since`, newest decision first, with their outcome, the
    winner's entry and rank, and the location's name."""
    at, id_ = before or (None, None)
    rows = conn.execute(_OPENINGS_SQL.format(where=_where("s", "decided_at", since, before)),
                        {"since": since, "limit": limit, "at": at, "id": id_})
    return [dict(zip(_OPENING_KEYS, row, strict=True)) for row in rows.fetchall()]


_DELIVERIES_SQL = f"""
SELECT message_id, {", ".join("id" if k == "delivery_id" else k for k in DELIVERY_KEYS)}
FROM public.message_deliveries WHERE message_id = ANY(%s) ORDER BY channel
"""
HAS_STATUS = (" AND EXISTS (SELECT 1 FROM public.message_deliveries d "
              "WHERE d.message_id = m.id AND d.status = %(status)s)")


def messages(conn: psycopg.Connection[Any], status: str | None = None,
             message_type: str | None = None, customer_id: UUID | None = None,
             since: datetime | None = None, limit: int = 50, before: Position | None = None
             ) -> list[dict[str, Any]]:
    """message_log rows newest first, phones masked, each with its deliveries (one per
    channel); `status` keeps the messages with a delivery in that status. `status` on a row
    is its SMS delivery's (else its first delivery's; None before any was queued)."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}: one of {', '.join(STATUSES)}",
                           field="status")
    if message_type is not None and message_type not in MESSAGE_TYPES:
        raise InvalidInput(f"unknown type {message_type!r}: one of {', '.join(MESSAGE_TYPES)}",
                           field="type")
    where = _where("m", "sent_at", since, before)
    where += "" if message_type is None else " AND m.message_type = %(type)s"
    where += "" if customer_id is None else " AND m.customer_id = %(customer)s"
    where += "" if status is None else HAS_STATUS
    at, id_ = before or (None, None)
    rows = conn.execute(_MESSAGES_SQL.format(where=where), {
        "since": since, "limit": limit, "at": at, "id": id_, "type": message_type,
        "customer": customer_id, "status": status}).fetchall()
    deliveries: dict[UUID, list[dict[str, Any]]] = {}
    for row in conn.execute(_DELIVERIES_SQL, ([r[0] for r in rows],)).fetchall():
        deliveries.setdefault(row[0], []).append(dict(zip(DELIVERY_KEYS, row[1:], strict=True)))
    return [{"message_id": r[0], "customer_id": r[1], "phone": mask_phone(r[2]),
             "message_type": r[3], "status": _headline(deliveries.get(r[0], [])),
             "sent_at": r[4], "dedupe_key": r[5], "text": (r[6] or {}).get("text"),
             "meta": r[6] or {}, "deliveries": deliveries.get(r[0], [])} for r in rows]


def _headline(deliveries: list[dict[str, Any]]) -> str | None:
    """The status a message shows in one word: its SMS delivery's, else its first one's."""
    sms = [d for d in deliveries if d["channel"] == "sms"]
    return (sms or deliveries or [{"status": None}])[0]["status"]
