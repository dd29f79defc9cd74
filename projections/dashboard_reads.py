"""What the dashboard lists beside the operator API's lists (projections/operator_lists.py):
openings still being decided, timers (slotqueue.timers), offers (when an offers table has been
projected), and the phones that opted out. Newest or soonest first, a bounded page each."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

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
OFFER_TABLES = ("slotqueue.offers", "public.offers")


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


def offers(conn: psycopg.Connection[Any], limit: int = 100
           ) -> tuple[str, list[str], list[tuple[Any, ...]]] | None:
    """The projected offers table (its name, columns and newest rows, as projected), or None
    where no offers table exists yet. Read generically: the table's own columns, newest
    first by its first time column."""
    name = next((t for t in OFFER_TABLES if table_exists(conn, t)), None)
    if name is None:
        return None
    schema, table = name.split(".")
    columns = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = %s ORDER BY ordinal_position", (schema, table)).fetchall()
    names = [str(c[0]) for c in columns if "token" not in str(c[0])]  # never a secret
    when = next((str(c[0]) for c in columns if str(c[1]).startswith("timestamp")), None)
    order = sql.SQL(" ORDER BY {} DESC NULLS LAST").format(
        sql.Identifier(when)) if when else sql.SQL("")
    query = sql.SQL("SELECT {} FROM {}.{}{} LIMIT %s").format(
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.Identifier(schema), sql.Identifier(table), order)
    return name, names, [tuple(r) for r in conn.execute(query, (limit,)).fetchall()]


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
