"""Bulk loading through the real command path: aggregates and their events, saved in batches.

Used by `slotqueue seed` and the benchmarks. Every customer is made by the same aggregate
commands as `join`, `select`, `locations`, `require-deposit` and `deposit-paid`; only the
saving is batched (many aggregates per transaction).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.adapters.presets import load_presets
from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.matcher import Presets, Selection
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.bootstrap import Service

FIRST_PHONE = 8082000000  # +1 808 200-0000 onward: valid Honolulu numbers
BLOCKS = ("early", "late", "midday", "afternoon")
HORIZONS = ("soonest", "w4", "w8", "w12")
Progress = Callable[[int], None]


def ensure_locations(conn: psycopg.Connection[Any], count: int) -> list[UUID]:
    for n in range(1, count + 1):
        conn.execute("INSERT INTO locations (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
                     (f"Seed location {n}",))
    rows = conn.execute("SELECT id FROM locations WHERE name LIKE 'Seed location %%' "
                        "ORDER BY name LIMIT %s", (count,))
    return [row[0] for row in rows]


def _customer(n: int, rng: random.Random, presets: Presets, locations: list[UUID],
              paid: bool, at: datetime, grace: timedelta) -> list[Any]:
    phone = f"+1{FIRST_PHONE + n}"
    customer = Customer(phone=phone, email=f"seed{n}@example.com", at=at)
    entry = QueueEntry(customer_id=customer.id, sequence=1, at=at)
    customer.open_entry(entry.id, at)
    days = tuple(sorted(rng.sample(range(1, 6), rng.randint(2, 5))))
    customer.select_windows(Selection(
        timezone="Pacific/Honolulu", date_horizon_key=rng.choice(HORIZONS),
        weekday_rule_key=rng.choice(("any_weekday", "custom_weekdays")), custom_weekdays=days,
        time_block_keys=tuple(rng.sample(BLOCKS, rng.randint(1, 3)))), presets, at)
    customer.prefer_locations(rng.sample(locations, rng.randint(1, min(2, len(locations)))),
                              locations, at)
    if paid:
        entry.require_deposit(at, grace)
        entry.record_payment(f"seed-pay-{n}", at)
    return [customer, entry]


def _existing(conn: psycopg.Connection[Any], ids: list[UUID]) -> set[UUID]:
    rows = conn.execute("SELECT originator_id FROM slotqueue.queue_events "
                        "WHERE originator_id = ANY(%s) AND originator_version = 1", (ids,))
    return {row[0] for row in rows}


def seed_customers(svc: Service, customers: int, paid_fraction: float, locations: int,
                   seed: int = 1, batch: int = 500, progress: Progress | None = None) -> int:
    """Creates up to `customers` customers (skipping phones already there); returns how many
    were new. Join times are spread one second apart, so their ranks follow their numbers."""
    rng = random.Random(seed)  # noqa: S311 - repeatable test data
    with svc.connect(autocommit=True) as conn:
        places = ensure_locations(conn, locations)
        presets = load_presets(conn)
        start = conn.execute("SELECT now()").fetchone()[0] - timedelta(seconds=customers)
        created = 0
        for first in range(0, customers, batch):
            numbers = range(first, min(first + batch, customers))
            known = _existing(conn, [Customer.create_id(f"+1{FIRST_PHONE + n}") for n in numbers])
            pending = []
            for n in numbers:
                made = _customer(n, rng, presets, places, rng.random() < paid_fraction,
                                 start + timedelta(seconds=n), svc.deposit_grace)
                if made[0].id not in known:
                    pending += made
            svc.app.save_in_batches(pending)
            created += len(pending) // 2
            if progress:
                progress(len(numbers))
    return created
