"""The offers' due work for sigkill_serve (issue 11): openings that serve, in offer mode with the
priority window on, offers to paid customers, so its own dispatcher sets the timers and its
own keeper fires them: the priority window's end (→ a broadcast to the next customers), the
reminder (a new link), the expiry (→ a cooldown on the entry, the opening passed on), the
cooldown's end (→ reactivated). Durations are fractions of a minute, so an offer lives a few
seconds. An opening nobody refreshes is gone after the dispatch lookback, which withdraws its
offers: so one opening does not cycle through every customer for the whole drill.

The moot-making facts are the customers' answers: an accept (sim booker) or a decline of an
offer made lately, racing its priority window, reminder and expiry. What the firings did is
counted from the event store (`checks`): one Expired per fired expiry, one Reminded per fired
reminder, one Reactivated per fired cooldown, one accepted offer at a time per opening (another
only after its booking failed).
"""
# ruff: noqa: S311 - seeded randomness makes a drill repeatable

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import common
import psycopg
from eventsourcing.utils import get_topic

from slotqueue.aggregates import offer_states as states
from slotqueue.aggregates.entry_offers import OfferHolder
from slotqueue.aggregates.errors import DomainError
from slotqueue.aggregates.offer import Offer
from slotqueue.bootstrap import Service
from slotqueue.scripts import harness

# serve's settings (and the answering service's: a decline's cooldown is its setting)
SETTINGS = {"booking_mode": "offer", "priority_window": "on",
            "priority_window_minutes": 0.02,  # 1.2 s
            "offer_minutes": 0.05,  # 3 s
            "offer_reminder_minutes": 0.025,  # 1.5 s before the expiry
            "offer_cooldown_minutes": 0.04,  # 2.4 s
            "broadcast_size": 3, "booker": "sim",
            "dispatch_lookback_minutes": 0.1}  # an opening not refreshed is gone after 6 s
GONE_AFTER = 6.0  # seconds: the lookback, as above
CUSTOMERS, LOCATIONS = 200, 3
# What each offer timer's firing records with it (topics: where the event class is defined)
EXPIRED, REMINDED, REACTIVATED, MADE, ACCEPTED, SETTLED = (get_topic(cls) for cls in (
    Offer.Expired, Offer.Reminded, OfferHolder.Reactivated, Offer.Made, Offer.Accepted,
    Offer.Settled))
# Offers made lately (from the event store: serve's projection may lag by seconds) that are
# pending (an offer lives 3 s) or just expired; some have ended already: the race lost.
DUE_SOON_SQL = """
SELECT originator_id FROM slotqueue.queue_events
WHERE notification_id > (SELECT max(notification_id) - 3000 FROM slotqueue.queue_events)
  AND topic = %s AND (convert_from(state, 'UTF8')::jsonb->'expires_at'->>'_data_')::timestamptz
      BETWEEN now() - interval '0.5 s' AND now() + interval '3 s'
"""


@dataclass
class OfferWork:
    """Openings for serve to offer (`create`), and answers racing the offers' timers
    (`answer`)."""

    url: str
    rng: random.Random
    openings: common.Openings | None = None
    answers: Counter[str] = field(default_factory=Counter)
    openings_made: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _booker: Any = None

    def prepare(self, svc: Service) -> None:
        """Paid customers in offer mode (the deployment's), any weekday slot at any place."""
        with svc.connect() as conn:
            locations = harness.add_locations(conn, LOCATIONS)
            today = harness.honolulu_today(conn)
        harness.add_paid_customers(svc, CUSTOMERS, locations)
        self.openings = common.Openings(locations, today, random.Random(self.rng.random()))

    def create(self, svc: Service, dues: list[datetime], first: int) -> list[UUID]:
        """One opening for every other due time (serve decides when it offers it)."""
        count = max(1, len(dues) // 2)
        assert self.openings is not None, "prepare() first"
        with self._lock, psycopg.connect(self.url) as conn:
            self.openings.insert(conn, count)
        self.openings_made += count
        return []  # no aggregate yet: serve makes the offers

    def answer(self, svc: Service) -> None:
        """Accepts or declines one offer made lately (pending, or just ended), if any."""
        with svc.connect() as conn:
            due = [row[0] for row in conn.execute(DUE_SOON_SQL, (MADE,))]
        if not due:
            self.answers["none due"] += 1
            return
        offer = self.rng.choice(due)
        now = svc.clock.now()
        try:
            if self.rng.random() < 0.4:
                self._booker = self._booker or svc.booker()
                svc.app.accept_offer(offer, "sms", now, self._booker)
                self.answers["accepted"] += 1
            else:
                svc.app.decline_offer(offer, "sms", now)
                self.answers["declined"] += 1
        except DomainError as exc:  # expired, answered or withdrawn first: the race lost
            self.answers[f"refused ({type(exc).__name__})"] += 1


def _count(conn: psycopg.Connection[Any], topic: str) -> tuple[int, int]:
    """(events of this topic, aggregates with more than one)."""
    row = conn.execute("SELECT coalesce(sum(n), 0), count(*) FILTER (WHERE n > 1) FROM ("
                       "SELECT originator_id, count(*) AS n FROM slotqueue.queue_events "
                       "WHERE topic = %s GROUP BY 1) per", (topic,)).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _events(conn: psycopg.Connection[Any], topic: str) -> int:
    row = conn.execute("SELECT count(*) FROM slotqueue.queue_events WHERE topic = %s",
                       (topic,)).fetchone()
    return int(row[0]) if row else 0


WINNERS_SQL = """
SELECT convert_from(state, 'UTF8')::jsonb->>'slot_id', topic,
       convert_from(state, 'UTF8')::jsonb->>'status'
FROM slotqueue.queue_events WHERE topic = ANY(%s) ORDER BY notification_id
"""


def _two_winners(conn: psycopg.Connection[Any]) -> int:
    """Openings where an offer was accepted while an earlier accepted one had not failed: an
    opening passes on (and may be accepted again) only after its booking failed."""
    holding: dict[str, bool] = {}  # slot → an accepted offer not failed
    wrong = set()
    for slot, topic, status in conn.execute(WINNERS_SQL, ([ACCEPTED, SETTLED],)):
        if topic == ACCEPTED:
            if holding.get(slot):
                wrong.add(slot)
            holding[slot] = True
        elif status != states.FAILED:  # booked: the opening is taken for good
            holding[slot] = True
        else:
            holding[slot] = False
    return len(wrong)


def checks(conn: psycopg.Connection[Any], fired: Counter[str]) -> tuple[dict[str, Any],
                                                                       list[str]]:
    """What each fired offer timer did, from the event store; figures and problems.
    `fired` counts TimerFired per timer name (the latest setting of each)."""
    problems, figures = [], {}
    for name, topic in (("expiry", EXPIRED), ("reminder", REMINDED),
                        ("cooldown", REACTIVATED), ("priority_window", None)):
        figures[f"{name}_fired"] = fired[name]
        if topic is None:
            continue
        events, twice = _count(conn, topic)
        if events != fired[name]:
            problems.append(f"{events} {topic.rsplit('.', 1)[1]} for {fired[name]} {name} "
                            "timers fired")
        if twice and name != "cooldown":  # an entry cools down once per offer it lost
            problems.append(f"{twice} offers with {topic.rsplit('.', 1)[1]} twice")
    policies = dict(conn.execute(
        "SELECT convert_from(state, 'UTF8')::jsonb->>'policy', count(*) "
        "FROM slotqueue.queue_events WHERE topic = %s GROUP BY 1",
        (MADE,)).fetchall())
    figures["offers_by_policy"] = policies
    if fired["priority_window"] and not policies.get("broadcast"):
        problems.append("priority windows ended but no broadcast followed")
    figures["accepted"] = _events(conn, ACCEPTED)
    figures["accepted_then"] = dict(conn.execute(
        "SELECT convert_from(state, 'UTF8')::jsonb->>'status', count(*) "
        "FROM slotqueue.queue_events WHERE topic = %s GROUP BY 1", (SETTLED,)).fetchall())
    twice = _two_winners(conn)
    if twice:
        problems.append(f"{twice} openings with an offer accepted while another one of it was "
                        "accepted and not failed")
    return figures, problems
