"""What a DATABASE_URL says reaches every session slotqueue opens, and migrate never waits
forever behind another migrate."""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from slotqueue.bootstrap import build, migrate_database
from slotqueue.migrate import LOCK_KEY, MigrationError
from slotqueue.settings import Settings


def test_connection_options_of_the_url_reach_the_event_stores_pool(database_url):
    url = make_conninfo(database_url, application_name="sq-options-test", sslmode="disable")
    svc = build(Settings(database_url=url), url)
    try:
        svc.app.join("808-555-0177", None)  # through the event store's pool
        with psycopg.connect(database_url) as conn:
            names = {r[0] for r in conn.execute(
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()")}
        assert "sq-options-test" in names
    finally:
        svc.close()


def test_a_migrate_behind_another_that_hangs_fails_with_one_clear_line(database_url):
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        with pytest.raises(MigrationError, match="another `slotqueue migrate`"):
            migrate_database(database_url, lock_timeout_ms=300)
    finally:
        release.set()
        holder.join(30)
    assert migrate_database(database_url, lock_timeout_ms=300).applied == []
