"""`slotqueue demo`: seeded customers, a simulated monitor and the real service, on the
embedded PostgreSQL, so a newcomer can watch bookings, deposits and nudges happen."""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

from slotqueue.adapters.presets import load_presets
from slotqueue.aggregates.matcher import Selection
from slotqueue.bootstrap import Service

log = logging.getLogger("slotqueue.demo")
LOCATIONS = ("Dillingham", "Kapolei", "Wahiawa", "Kaneohe")
GRID = [f"{h:02d}:{m:02d}:00" for h in range(8, 16) for m in (0, 15, 30, 45)]
HORIZONS = ("soonest", "w4", "w8", "w12")
BLOCKS = ("early", "late", "midday", "afternoon")


def seed(svc: Service, customers: int, rng: random.Random) -> list[UUID]:
    """Locations, and customers with varied windows; two thirds have paid their deposit."""
    now = svc.clock.now()
    with svc.connect(autocommit=True) as conn:
        for name in LOCATIONS:
            conn.execute("INSERT INTO locations (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,))
        locations = [row[0] for row in conn.execute("SELECT id FROM locations ORDER BY name")]
        presets = load_presets(conn)
    entries = []
    for n in range(customers):
        joined = svc.app.join(f"+1808555{n:04d}", f"demo{n}@example.com")
        days = tuple(sorted(rng.sample(range(1, 6), rng.randint(2, 5))))
        svc.app.select_windows(joined.customer_id, Selection(
            timezone="Pacific/Honolulu", date_horizon_key=rng.choice(HORIZONS),
            weekday_rule_key=rng.choice(("any_weekday", "custom_weekdays")), custom_weekdays=days,
            time_block_keys=tuple(rng.sample(BLOCKS, rng.randint(1, 2)))), presets, now)
        svc.app.prefer_locations(joined.customer_id, rng.sample(locations, rng.randint(1, 3)),
                                 locations, now)
        if n % 3 != 2:  # paid up front (an operator override, then the payment)
            svc.app.require_deposit(joined.queue_entry_id, now, svc.deposit_grace)
            svc.app.record_payment(joined.queue_entry_id, f"demo-pay-{n}", now)
        entries.append(joined.queue_entry_id)
    svc.catch_up()
    return entries


class SimulatedMonitor:
    """Writes slot_states the way the real monitor does: new openings (weekdays and weekends,
    inside and outside customers' windows) and last_seen refreshed on every scrape."""

    def __init__(self, url: str, rng: random.Random, every: float = 1.5) -> None:
        self.url, self.rng, self.every = url, rng, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="monitor", daemon=True)

    def _scrape(self, conn: psycopg.Connection[Any]) -> None:
        locations = [row[0] for row in conn.execute("SELECT id FROM locations")]
        today = datetime.now(ZoneInfo("Pacific/Honolulu")).date()
        for _ in range(self.rng.randint(1, 3)):
            day = today + timedelta(days=self.rng.randint(1, 40))
            conn.execute(
                "INSERT INTO slot_states (location_id, date, time, first_seen, last_seen) "
                "VALUES (%s, %s, %s, now(), now()) ON CONFLICT (location_id, date, time) "
                "DO UPDATE SET last_seen = now()",
                (self.rng.choice(locations), day, self.rng.choice(GRID)))
        conn.execute("UPDATE slot_states SET last_seen = now() "
                     "WHERE last_seen > now() - interval '2 minutes'")

    def _loop(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(self.every):
                try:
                    self._scrape(conn)
                except psycopg.Error:
                    log.exception("simulated monitor failed a scrape")
                    return
