"""What the dashboard lists beside the operator API's lists (projections/operator_lists.py):
openings still being decided, timers (slotqueue.timers), offers (slotqueue.offers), and the
phones that opted out. Newest or soonest first, a bounded page each."""

from __future__ import annotations

from typing import Any

import psycopg

from slotqueue.projections.wording import mask_phone

# Openings listed but not decided yet (an opening that went before it was decided has an
# outcome, `gone`, and no decision): a removed location reads as its id.
_UNDECIDED_SQL = """
SELECT s.id, s.location_id, coalesce(l.name, s.location_id::text), s.slot_datetime_utc,
       s.first_seen, s.opened_at
FROM slotqueue.opened_slots s LEFT JOIN locations l ON l.id = s.location_id
WHERE s.outcome IS NULL AND s.decided_at IS NULL
ORDER BY s.opened_at DESC LIMIT %s
"""
_UNDECIDED_KEYS = ("slot_id", "location_id", "location", "slot_datetime", "first_seen",
                   "opened_at")
# Set timers soonest first, then the rest most recently changed first.
_TIMERS_SQL = """
SELECT aggregate_id, name, kind, status, due_at, set_at, fired_at, canceled_at, reason
FROM slotqueue.timers
ORDER BY status <> 'set', CASE WHEN status = 'set' THEN due_at END,
         greatest(set_at, fired_at, canceled_at) DESC
LIMIT %s
"""
_TIMER_KEYS = ("aggregate_id", "name", "kind", "status", "due_at", "set_at", "fired_at",
               "canceled_at", "reason")
_OPT_OUTS_SQL = """
SELECT recipient, opted_out, word, changed_at FROM slotqueue.phone_opt_outs
ORDER BY changed_at DESC LIMIT %s
"""
# Pending offers first (soonest expiry), then the rest newest first; the customer by masked
# phone, the location by name (a removed one reads as its id).
_OFFERS_SQL = """
SELECT o.id, o.customer_id, c.phone, coalesce(l.name, o.location_id::text), o.slot_datetime_utc,
       o.policy, o.status, o.round, o.made_at, o.expires_at, o.reminded_at, o.answered_at,
       o.answered_via, o.ended_at, o.reason
FROM slotqueue.offers o
LEFT JOIN customers c ON c.id = o.customer_id
LEFT JOIN locations l ON l.id = o.location_id
ORDER BY o.status <> 'pending', CASE WHEN o.status = 'pending' THEN o.expires_at END,
         o.made_at DESC
LIMIT %s
"""
_OFFER_KEYS = ("offer_id", "customer_id", "phone", "location", "slot_datetime", "policy",
               "status", "round", "made_at", "expires_at", "reminded_at", "answered_at",
               "answered_via", "ended_at", "reason")


def table_exists(conn: psycopg.Connection[Any], name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])


def undecided_openings(conn: psycopg.Connection[Any], limit: int = 20) -> list[dict[str, Any]]:
    rows = conn.execute(_UNDECIDED_SQL, (limit,)).fetchall()
    return [dict(zip(_UNDECIDED_KEYS, row, strict=True)) for row in rows]


def timers(conn: psycopg.Connection[Any], limit: int = 100) -> list[dict[str, Any]] | None:
    """Timers, those still set first (soonest due); None where timers are not projected."""
    if not table_exists(conn, "slotqueue.timers"):
        return None
    rows = conn.execute(_TIMERS_SQL, (limit,)).fetchall()
    return [dict(zip(_TIMER_KEYS, row, strict=True)) for row in rows]


def timer_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    if not table_exists(conn, "slotqueue.timers"):
        return {}
    rows = conn.execute("SELECT status, count(*) FROM slotqueue.timers GROUP BY status")
    return {str(r[0]): int(r[1]) for r in rows.fetchall()}


def offers(conn: psycopg.Connection[Any], limit: int = 100) -> list[dict[str, Any]] | None:
    """Offers, pending ones first (soonest expiry), then newest first; None where offers are
    not projected (a database this version has not migrated). Phones masked."""
    if not table_exists(conn, "slotqueue.offers"):
        return None
    rows = [dict(zip(_OFFER_KEYS, row, strict=True))
            for row in conn.execute(_OFFERS_SQL, (limit,)).fetchall()]
    for row in rows:
        row["phone"] = mask_phone(row["phone"])
    return rows


def offer_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    if not table_exists(conn, "slotqueue.offers"):
        return {}
    rows = conn.execute("SELECT status, count(*) FROM slotqueue.offers GROUP BY status")
    return {str(r[0]): int(r[1]) for r in rows.fetchall()}


def opt_outs(conn: psycopg.Connection[Any], limit: int = 20) -> list[dict[str, Any]]:
    """Phones' latest STOP or START, newest first (recipients masked as projected)."""
    rows = conn.execute(_OPT_OUTS_SQL, (limit,)).fetchall()
    return [dict(zip(("recipient", "opted_out", "word", "changed_at"), r, strict=True))
            for r in rows]


def entry_people(conn: psycopg.Connection[Any], entry_ids: list[Any]
                 ) -> dict[Any, tuple[Any, str]]:
    """{entry id: (customer id, masked phone)} for the entries named (winners, say)."""
    rows = conn.execute("SELECT q.id, q.customer_id, c.phone FROM queue_entries q "
                        "JOIN customers c ON c.id = q.customer_id WHERE q.id = ANY(%s)",
                        (list(entry_ids),)).fetchall()
    return {r[0]: (r[1], mask_phone(r[2])) for r in rows}
