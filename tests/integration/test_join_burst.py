"""A burst of joins: dozens of `slotqueue join` processes at once, new emails included, all
succeed, and join time (the rank order) follows the order the joins were recorded in."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

from slotqueue.database import ORDER_LOCK_KEY
from slotqueue.projections.queries import rank_of

PROCESSES = 36


def test_dozens_of_join_processes_at_once_all_succeed_with_distinct_ranks_in_join_order(
        database_url, db):
    env = {**os.environ, "DATABASE_URL": database_url, "CI": "true"}
    phones = [f"+1808555{n:04d}" for n in range(PROCESSES)]
    # Held while the processes start, so that they all wait on the join lock at once,
    # each with its connections open, before any of them records anything.
    db.execute("SELECT pg_advisory_lock(%s)", (ORDER_LOCK_KEY,))
    procs = [subprocess.Popen(
        [sys.executable, "-m", "slotqueue", "join", "--phone", phone,
         "--email", f"burst{n}@example.com", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n, phone in enumerate(phones)]
    try:
        waiting = 0
        while waiting < PROCESSES and all(p.poll() is None for p in procs):
            waiting = db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                 "AND NOT granted").fetchone()[0]
            time.sleep(0.05)  # polling the server, not waiting out a duration
    finally:
        db.execute("SELECT pg_advisory_unlock(%s)", (ORDER_LOCK_KEY,))
    outcomes = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * PROCESSES, [e for _, e in outcomes if e]
    assert waiting == PROCESSES  # they really were all there at once

    customers = db.execute("SELECT phone, email FROM customers").fetchall()
    assert sorted(customers) == sorted(
        (phone, f"burst{n}@example.com") for n, phone in enumerate(phones))
    entries = db.execute(
        "SELECT e.id, e.created_at, min(n.notification_id) FROM queue_entries e "
        "JOIN slotqueue.queue_events n ON n.originator_id = e.id "
        "GROUP BY e.id, e.created_at ORDER BY e.created_at, e.id").fetchall()
    assert len(entries) == PROCESSES
    assert len({at for _, at, _ in entries}) == PROCESSES  # no two joined at the same time
    assert [rank_of(db, entry) for entry, _, _ in entries] == list(range(1, PROCESSES + 1))
    recorded = [position for _, _, position in entries]
    assert recorded == sorted(recorded)  # rank order is the order the joins were recorded in


THREADS = 40  # as many as serve's request threads


def test_dozens_of_joins_at_once_in_one_process_share_its_small_pool_and_all_succeed(
        database_url, db):
    """`serve` joins on its request threads through one event store pool of 4 connections:
    a join waiting for the join lock must not hold a pooled connection the lock's holder
    needs to save (they all waited out the pool and failed before)."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    from slotqueue.bootstrap import build  # noqa: PLC0415
    from slotqueue.settings import Settings  # noqa: PLC0415

    svc = build(Settings(database_url=database_url), database_url, pool_size=4)
    phones = [f"+1808556{n:04d}" for n in range(THREADS)]
    start = threading.Barrier(THREADS)

    def join(phone: str) -> Any:
        start.wait()
        return svc.app.join(phone, None)

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            joined = list(pool.map(join, phones, timeout=120))
        svc.catch_up()
    finally:
        svc.close()
    assert len({j.queue_entry_id for j in joined}) == THREADS
    ranks = [rank_of(db, j.queue_entry_id) for j in joined]
    assert sorted(ranks) == list(range(1, THREADS + 1))
