"""What the audits and `GET /v1/me` show of offers (spec service §4.1 to §4.3, issue 11): an
opening's offers with their timers (set, fired or cancelled, when and why) and the policy of
each of its decisions; a customer's pending offer with its deadline. From the projected
`slotqueue.offers` and `slotqueue.timers` tables and the opening's own events; never a token
or a link (the token is derived when a text is sent, and only its digest is recorded)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.projections.wording import local_time, utc_iso

_OFFERS_SQL = """
SELECT id, queue_entry_id, customer_id, policy, status, round, made_at, expires_at,
       reminded_at, answered_at, answered_via, ended_at, reason
FROM slotqueue.offers WHERE slot_id = %s ORDER BY made_at, id
"""
_OFFER_FIELDS = ("offer_id", "queue_entry_id", "customer_id", "policy", "status", "round",
                 "made_at", "expires_at", "reminded_at", "answered_at", "answered_via",
                 "ended_at", "reason")
_TIMERS_SQL = """
SELECT aggregate_id, name, kind, status, due_at, set_at, fired_at, canceled_at, reason
FROM slotqueue.timers WHERE aggregate_id = ANY(%s) ORDER BY set_at, due_at, name
"""
_TIMER_FIELDS = ("offer_id", "name", "kind", "status", "due_at", "set_at", "fired_at",
                 "canceled_at", "reason")
# The customer's pending offer, the customer being `c.id`: `GET /v1/me` joins it laterally
# in its one statement (projections/customer_view.py).
PENDING_SQL = """
SELECT o.id, o.policy, o.round, l.name AS location, o.slot_datetime_utc, o.made_at,
       o.expires_at
FROM slotqueue.offers o LEFT JOIN locations l ON l.id = o.location_id
WHERE o.customer_id = c.id AND o.status = 'pending' ORDER BY o.made_at DESC LIMIT 1
"""


def slot_offers(conn: psycopg.Connection[Any], slot_id: UUID) -> list[dict[str, Any]]:
    """The opening's offers, each with its timers, in the order they were made."""
    offers = [dict(zip(_OFFER_FIELDS, row, strict=True))
              for row in conn.execute(_OFFERS_SQL, (slot_id,))]
    timers = [dict(zip(_TIMER_FIELDS, row, strict=True)) for row in conn.execute(
        _TIMERS_SQL, ([o["offer_id"] for o in offers],))]
    for offer in offers:
        offer["timers"] = [{k: v for k, v in t.items() if k != "offer_id"}
                           for t in timers if t["offer_id"] == offer["offer_id"]]
    return offers


def policies(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Which policy decided each time (offer, priority, broadcast), when the priority
    customer's window ended and when the fallback ran, from the opening's audited events:
    each decision with the customers it offered the slot to or passed by (and why)."""
    found = []
    for e in events:
        data = e["data"]
        if e["name"] == "Decided" and data.get("policy"):
            found.append({"at": e["at"], "event": "decided", "policy": data["policy"],
                          "customers": [_customer(o) for o in data.get("offers") or []]})
        elif e["name"] == "WindowEnded":
            found.append({"at": e["at"], "event": "priority_window_ended",
                          "offer_id": data.get("offer_id")})
    return found


def _customer(item: dict[str, Any]) -> dict[str, Any]:
    return {"queue_entry_id": item.get("entry_id"), "customer_id": item.get("customer_id"),
            "rank": item.get("rank"), "offer_id": item.get("offer_id"),
            "reason": "offered" if item.get("offer_id") else item.get("skipped") or "passed by"}


def offer_of(row: Sequence[Any], timezone: str) -> dict[str, Any]:
    """A pending offer for the customer, from a row of `PENDING_SQL`."""
    offer_id, policy, round_, location, slot, made, expires = row
    return {"offer_id": offer_id, "policy": policy, "round": round_, "location": location,
            "slot": utc_iso(slot), "slot_local": local_time(slot, timezone),
            "made_at": utc_iso(made), "expires_at": utc_iso(expires),
            "expires_at_local": local_time(expires, timezone)}
