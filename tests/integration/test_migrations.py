"""The SQL migrations build the schema of spec §3.2, and the runner applies each file once."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from importlib.resources import files
from pathlib import Path

import psycopg
import pytest
from psycopg import errors, sql

from slotqueue.database import with_dbname
from slotqueue.migrate import STEPS, MigrationError, apply_migrations, pending_migrations

MIGRATIONS = files("slotqueue.migrations")
NAMES = sorted(e.name for e in MIGRATIONS.iterdir() if e.name.endswith(".sql"))

NEW_TABLES = [
    "customers",
    "queue_entries",
    "target_window_presets",
    "user_target_window_selections",
    "user_location_preferences",
    "queue_watermarks",
    "booking_attempts",
    "booking_locks",
    "message_log",
    "message_deliveries",
]
MONITOR_TABLES = ["locations", "slot_states"]

NOW = "now()"
# (column, type, nullable, default) in table order; types are PostgreSQL's udt names.
COLUMNS = {
    "locations": [
        ("id", "uuid", "NO", "gen_random_uuid()"),
        ("name", "text", "NO", None),
    ],
    "slot_states": [
        ("location_id", "uuid", "NO", None),
        ("date", "date", "NO", None),
        ("time", "text", "NO", None),
        ("first_seen", "timestamptz", "NO", None),
        ("last_seen", "timestamptz", "NO", None),
    ],
    "customers": [
        ("id", "uuid", "NO", "gen_random_uuid()"),
        ("phone", "text", "NO", None),
        ("email", "text", "YES", None),
        ("created_at", "timestamptz", "NO", NOW),
    ],
    "queue_entries": [
        ("id", "uuid", "NO", None),
        ("customer_id", "uuid", "NO", None),
        ("created_at", "timestamptz", "NO", NOW),
        ("status", "text", "NO", None),
        ("deposit_status", "text", "NO", "'none'::text"),
        ("deposit_required_at", "timestamptz", "YES", None),
        ("deposit_paid_at", "timestamptz", "YES", None),
        ("deposit_expires_at", "timestamptz", "YES", None),
        ("booked_at", "timestamptz", "YES", None),
        ("booked_location_id", "uuid", "YES", None),
        ("booked_slot_datetime", "timestamptz", "YES", None),
    ],
    "target_window_presets": [
        ("id", "uuid", "NO", None),
        ("preset_type", "text", "NO", None),
        ("key", "text", "NO", None),
        ("label", "text", "NO", None),
        ("rules_json", "jsonb", "NO", None),
        ("active", "bool", "NO", "true"),
        ("sort_order", "int4", "NO", "0"),
        ("created_at", "timestamptz", "NO", NOW),
        ("updated_at", "timestamptz", "NO", NOW),
    ],
    "user_target_window_selections": [
        ("customer_id", "uuid", "NO", None),
        ("timezone", "text", "NO", "'Pacific/Honolulu'::text"),
        ("date_horizon_key", "text", "NO", None),
        ("weekday_rule_key", "text", "NO", None),
        ("custom_weekdays", "_int4", "NO", "'{}'::integer[]"),
        ("time_block_keys", "_text", "NO", "'{}'::text[]"),
        ("updated_at", "timestamptz", "NO", NOW),
    ],
    "user_location_preferences": [
        ("customer_id", "uuid", "NO", None),
        ("location_id", "uuid", "NO", None),
        ("created_at", "timestamptz", "NO", NOW),
    ],
    "queue_watermarks": [
        ("key", "text", "NO", None),
        ("last_processed_at", "timestamptz", "NO", None),
    ],
    "booking_attempts": [
        ("id", "uuid", "NO", None),
        ("customer_id", "uuid", "YES", None),
        ("location_id", "uuid", "YES", None),
        ("slot_date", "date", "YES", None),
        ("slot_time", "time", "YES", None),
        ("slot_datetime_utc", "timestamptz", "YES", None),
        ("attempt_at", "timestamptz", "YES", NOW),
        ("result", "text", "YES", None),
        ("error_code", "text", "YES", None),
        ("error_message", "text", "YES", None),
        ("dispatcher_run_id", "uuid", "NO", None),
    ],
    "booking_locks": [
        ("lock_key", "text", "NO", None),
        ("locked_until", "timestamptz", "NO", None),
        ("owner_run_id", "uuid", "NO", None),
    ],
    "message_log": [
        ("id", "uuid", "NO", None),
        ("customer_id", "uuid", "YES", None),
        ("message_type", "text", "YES", None),
        ("sent_at", "timestamptz", "YES", NOW),
        ("dedupe_key", "text", "NO", None),
        ("meta_json", "jsonb", "YES", None),
    ],
}

# index name -> (unique, method, key columns) for every index of every table.
INDEXES = {
    "locations": {
        "locations_pkey": (True, "btree", "id"),
        "locations_name_key": (True, "btree", "name"),
    },
    "slot_states": {
        "slot_states_pkey": (True, "btree", 'location_id, date, "time"'),
        "slot_states_first_seen_idx": (False, "btree", "first_seen"),
        "slot_states_last_seen_idx": (False, "btree", "last_seen"),
    },
    "customers": {
        "customers_pkey": (True, "btree", "id"),
        "customers_phone_key": (True, "btree", "phone"),
    },
    "queue_entries": {
        "queue_entries_pkey": (True, "btree", "id"),
        "queue_entries_created_at_idx": (False, "btree", "created_at"),
        "queue_entries_status_created_at_idx": (False, "btree", "status, created_at"),
        "queue_entries_deposit_status_created_at_idx": (
            False,
            "btree",
            "deposit_status, created_at",
        ),
    },
    "target_window_presets": {
        "target_window_presets_pkey": (True, "btree", "id"),
        "target_window_presets_preset_type_key_key": (True, "btree", "preset_type, key"),
        "target_window_presets_preset_type_active_sort_order_idx": (
            False,
            "btree",
            "preset_type, active, sort_order",
        ),
    },
    "user_target_window_selections": {
        "user_target_window_selections_pkey": (True, "btree", "customer_id"),
        "user_target_window_selections_time_block_keys_idx": (False, "gin", "time_block_keys"),
    },
    "user_location_preferences": {
        "user_location_preferences_pkey": (True, "btree", "customer_id, location_id"),
        "user_location_preferences_location_id_idx": (False, "btree", "location_id"),
    },
    "queue_watermarks": {
        "queue_watermarks_pkey": (True, "btree", "key"),
    },
    "booking_attempts": {
        "booking_attempts_pkey": (True, "btree", "id"),
        "booking_attempts_dispatcher_run_id_idx": (False, "btree", "dispatcher_run_id"),
        "booking_attempts_customer_id_attempt_at_idx": (
            False,
            "btree",
            "customer_id, attempt_at DESC",
        ),
        "booking_attempts_location_id_attempt_at_idx": (
            False,
            "btree",
            "location_id, attempt_at DESC",
        ),
    },
    "booking_locks": {
        "booking_locks_pkey": (True, "btree", "lock_key"),
        "booking_locks_locked_until_idx": (False, "btree", "locked_until"),
    },
    "message_log": {
        "message_log_pkey": (True, "btree", "id"),
        "message_log_dedupe_key_key": (True, "btree", "dedupe_key"),
        "message_log_customer_id_sent_at_idx": (False, "btree", "customer_id, sent_at DESC"),
    },
}

# (table, column) -> referenced table, for every foreign key.
FOREIGN_KEYS = {
    ("slot_states", "location_id"): "locations",
    ("queue_entries", "customer_id"): "customers",
    ("queue_entries", "booked_location_id"): "locations",
    ("user_target_window_selections", "customer_id"): "customers",
    ("user_location_preferences", "customer_id"): "customers",
    ("user_location_preferences", "location_id"): "locations",
    ("booking_attempts", "customer_id"): "customers",
    ("booking_attempts", "location_id"): "locations",
    ("message_log", "customer_id"): "customers",
    ("message_deliveries", "customer_id"): "customers",
    ("message_deliveries", "message_id"): "message_log",
}

SEEDED_PRESETS = [
    ("date_horizon", "soonest", "Soonest Available", {"days_ahead": 365}, 1),
    ("date_horizon", "w4", "Within 4 Weeks", {"days_ahead": 28}, 2),
    ("date_horizon", "w8", "Within 8 Weeks", {"days_ahead": 56}, 3),
    ("date_horizon", "w12", "Within 12 Weeks", {"days_ahead": 84}, 4),
    ("time_block", "early", "Early Morning", {"start": "08:00", "end": "09:45"}, 1),
    ("time_block", "late", "Late Morning", {"start": "10:00", "end": "11:45"}, 2),
    ("time_block", "midday", "Midday", {"start": "12:00", "end": "13:45"}, 3),
    ("time_block", "afternoon", "Afternoon", {"start": "14:00", "end": "15:45"}, 4),
    ("weekday_rule", "any_weekday", "Any Weekday", {"mode": "any"}, 1),
    ("weekday_rule", "custom_weekdays", "Pick Weekdays", {"mode": "custom"}, 2),
]


@pytest.fixture(scope="module")
def migrated_url(pg_server_url: str) -> Iterator[str]:
    """One migrated database for the tests that only read the schema or roll back."""
    name = f"sq_t_{uuid.uuid4().hex[:16]}"
    create = sql.SQL("create database {}").format(sql.Identifier(name))
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(create)
    url = with_dbname(pg_server_url, name)
    apply_migrations(url)
    yield url
    drop = sql.SQL("drop database {} with (force)").format(sql.Identifier(name))
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(drop)


@pytest.fixture
def conn(migrated_url: str) -> Iterator[psycopg.Connection]:
    """A connection whose one transaction is rolled back after the test."""
    with psycopg.connect(migrated_url) as connection:
        yield connection
        connection.rollback()


@pytest.fixture
def customer_and_location(conn: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    customer = conn.execute(
        "insert into customers (phone) values ('+18085550100') returning id"
    ).fetchone()
    location = conn.execute(
        "insert into locations (name) values ('Kapalama') returning id"
    ).fetchone()
    assert customer is not None
    assert location is not None
    return customer[0], location[0]


def copy_migrations(target: Path) -> Path:
    target.mkdir()
    for name in NAMES:
        (target / name).write_bytes(MIGRATIONS.joinpath(name).read_bytes())
    return target


def recorded_names(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "select name from slotqueue.schema_migrations order by name"
        ).fetchall()
    return [name for (name,) in rows]


def table_exists(url: str, name: str) -> bool:
    with psycopg.connect(url) as connection:
        row = connection.execute("select to_regclass(%s) is not null", (name,)).fetchone()
    return bool(row and row[0])


# -- the schema ------------------------------------------------------------------------------


@pytest.mark.parametrize("table", list(COLUMNS))
def test_every_table_has_the_columns_types_nullability_and_defaults_of_the_spec(
    conn: psycopg.Connection, table: str
) -> None:
    rows = conn.execute(
        "select column_name, udt_name, is_nullable, column_default"
        " from information_schema.columns"
        " where table_schema = 'public' and table_name = %s order by ordinal_position",
        (table,),
    ).fetchall()
    assert rows == COLUMNS[table]


@pytest.mark.parametrize("table", list(INDEXES))
def test_every_table_has_exactly_the_indexes_of_the_spec(
    conn: psycopg.Connection, table: str
) -> None:
    rows = conn.execute(
        "select indexname, indexdef from pg_indexes where schemaname = 'public' and tablename = %s",
        (table,),
    ).fetchall()
    found = {}
    for name, definition in rows:
        match = re.fullmatch(r"CREATE (UNIQUE )?INDEX \S+ ON \S+ USING (\w+) \((.*)\)", definition)
        assert match, definition
        found[name] = (bool(match[1]), match[2], match[3])
    assert found == INDEXES[table]


def test_foreign_keys_point_to_customers_and_locations(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "select c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text"
        " from pg_constraint c"
        " join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey)"
        " where c.contype = 'f' and c.connamespace = 'public'::regnamespace"
    ).fetchall()
    assert {(table, column): target for table, column, target in rows} == FOREIGN_KEYS


@pytest.mark.parametrize(
    ("statement", "violation"),
    [
        (
            "insert into queue_entries (id, customer_id, status) values (gen_random_uuid(), %(c)s,"
            " 'bogus')",
            errors.CheckViolation,
        ),
        (
            "insert into queue_entries (id, customer_id, status, deposit_status)"
            " values (gen_random_uuid(), %(c)s, 'queued', 'bogus')",
            errors.CheckViolation,
        ),
        (
            "insert into target_window_presets (id, preset_type, key, label, rules_json)"
            " values (gen_random_uuid(), 'bogus', 'k', 'K', '{}')",
            errors.CheckViolation,
        ),
        (
            "insert into booking_attempts (id, customer_id, location_id, result,"
            " dispatcher_run_id) values (gen_random_uuid(), %(c)s, %(l)s, 'bogus',"
            " gen_random_uuid())",
            errors.CheckViolation,
        ),
        (
            "insert into message_log (id, customer_id, message_type, dedupe_key)"
            " values (gen_random_uuid(), %(c)s, 'bogus', 'bogus:1')",
            errors.CheckViolation,
        ),
        (
            "insert into target_window_presets (id, preset_type, key, label, rules_json)"
            " values (gen_random_uuid(), 'time_block', 'early', 'Again', '{}')",
            errors.UniqueViolation,
        ),
        (
            "insert into queue_entries (id, customer_id, status)"
            " values (gen_random_uuid(), gen_random_uuid(), 'queued')",
            errors.ForeignKeyViolation,
        ),
        (
            "insert into customers (phone) values ('+18085550100')",
            errors.UniqueViolation,
        ),
    ],
    ids=[
        "status",
        "deposit_status",
        "preset_type",
        "result",
        "message_type",
        "preset_type_and_key",
        "queue_entry_customer",
        "customer_phone",
    ],
)
def test_constraints_refuse_values_outside_the_spec(
    conn: psycopg.Connection,
    customer_and_location: tuple[uuid.UUID, uuid.UUID],
    statement: str,
    violation: type[Exception],
) -> None:
    customer, location = customer_and_location
    with pytest.raises(violation):
        conn.execute(statement, {"c": customer, "l": location})


def test_the_accepted_values_of_each_check_are_stored(
    conn: psycopg.Connection, customer_and_location: tuple[uuid.UUID, uuid.UUID]
) -> None:
    customer, location = customer_and_location
    for status in [
        "queued",
        "deposit_required",
        "active",
        "booked",
        "paused",
        "expired",
        "canceled",
    ]:
        for deposit in ["none", "required", "paid", "expired", "refunded"]:
            conn.execute(
                "insert into queue_entries (id, customer_id, status, deposit_status)"
                " values (gen_random_uuid(), %s, %s, %s)",
                (customer, status, deposit),
            )
    for result in ["success", "fail", "skipped"]:
        conn.execute(
            "insert into booking_attempts (id, customer_id, location_id, result,"
            " dispatcher_run_id) values (gen_random_uuid(), %s, %s, %s, gen_random_uuid())",
            (customer, location, result),
        )
    for kind in ["deposit_needed", "deposit_received", "booked", "opportunity_passed", "status"]:
        conn.execute(
            "insert into message_log (id, customer_id, message_type, dedupe_key)"
            " values (gen_random_uuid(), %s, %s, %s)",
            (customer, kind, f"{kind}:x"),
        )
    assert conn.execute("select count(*) from queue_entries").fetchone() == (35,)


def test_presets_are_seeded_with_the_rules_the_matcher_reads(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "select preset_type, key, label, rules_json, sort_order from target_window_presets"
        " where active order by preset_type, sort_order"
    ).fetchall()
    assert rows == SEEDED_PRESETS


def test_the_slot_opened_watermark_starts_ten_minutes_before_the_migration(
    conn: psycopg.Connection,
) -> None:
    rows = conn.execute(
        "select w.key, m.applied_at - w.last_processed_at"
        " from queue_watermarks as w, slotqueue.schema_migrations as m where m.name = %s",
        (next(name for name in NAMES if name.endswith("_seed.sql")),),
    ).fetchall()
    assert rows == [("slot_opened", timedelta(minutes=10))]


def test_rerunning_the_seed_keeps_an_operators_edits(conn: psycopg.Connection) -> None:
    conn.execute(
        "update target_window_presets set label = 'Dawn', active = false where key = 'early'"
    )
    conn.execute("update queue_watermarks set last_processed_at = '2030-01-01T00:00Z'")
    conn.execute(MIGRATIONS.joinpath(NAMES[-1]).read_bytes())
    assert conn.execute(
        "select label, active from target_window_presets where key = 'early'"
    ).fetchone() == ("Dawn", False)
    assert conn.execute("select count(*) from target_window_presets").fetchone() == (10,)
    assert conn.execute(
        "select last_processed_at = '2030-01-01T00:00Z' from queue_watermarks"
    ).fetchone() == (True,)


def test_row_level_security_is_on_for_every_new_table_and_for_monitor_tables_slotqueue_made(
    conn: psycopg.Connection,
) -> None:
    rows = conn.execute(
        "select relname, relrowsecurity from pg_class"
        " where relnamespace = 'public'::regnamespace and relkind = 'r'"
    ).fetchall()
    # here slotqueue created locations and slot_states (standalone use); tables the monitor
    # made stay as they are (tests/integration/test_moving_in.py)
    assert dict(rows) == {
        **dict.fromkeys(NEW_TABLES, True),
        **dict.fromkeys(MONITOR_TABLES, True),
    }


def test_the_event_store_schema_exists_and_is_closed_to_public(conn: psycopg.Connection) -> None:
    row = conn.execute(
        "select has_schema_privilege('public', 'slotqueue', 'usage')"
        " from pg_namespace where nspname = 'slotqueue'"
    ).fetchone()
    assert row == (False,)


def test_supabase_api_roles_lose_their_grants_on_the_new_tables(migrated_url: str) -> None:
    security = MIGRATIONS.joinpath(next(n for n in NAMES if n.endswith("_security.sql")))
    with psycopg.connect(migrated_url) as connection:  # rolled back: roles are cluster-wide
        for role in ["anon", "authenticated"]:
            exists = connection.execute(
                "select 1 from pg_roles where rolname = %s", (role,)
            ).fetchone()
            if not exists:
                connection.execute(f"create role {role} nologin")
            connection.execute(f"grant all on public.customers, public.message_log to {role}")
            connection.execute(f"grant usage on schema slotqueue to {role}")
            connection.execute(f"grant execute on function acquire_booking_lock to {role}")
        connection.execute(security.read_bytes())
        privileges = connection.execute(
            "select has_table_privilege(r, 'public.customers', 'select'),"
            " has_table_privilege(r, 'public.message_log', 'insert'),"
            " has_schema_privilege(r, 'slotqueue', 'usage'),"
            " has_function_privilege(r, 'acquire_booking_lock(text, uuid, int)', 'execute')"
            " from unnest(array['anon', 'authenticated']) as r"
        ).fetchall()
        connection.rollback()
    assert privileges == [(False, False, False, False)] * 2


# -- the functions ---------------------------------------------------------------------------


def test_both_functions_exist_with_the_signatures_of_the_spec(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "select p.oid::regprocedure::text, pg_get_function_result(p.oid) from pg_proc p"
        " where p.pronamespace = 'public'::regnamespace order by 1"
    ).fetchall()
    assert rows == [
        ("acquire_booking_lock(text,uuid,integer)", "boolean"),
        ("fetch_opened_slots_since(timestamp with time zone,integer)", "SETOF slot_states"),
    ]


def test_a_booking_lock_is_taken_once_until_it_expires(conn: psycopg.Connection) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()

    def acquire(owner: uuid.UUID) -> bool:
        row = conn.execute("select acquire_booking_lock('slot-a', %s, 120)", (owner,)).fetchone()
        return bool(row and row[0])

    assert acquire(first)
    assert not acquire(second)
    assert not acquire(first)
    held = conn.execute(
        "select owner_run_id, locked_until - now() from booking_locks where lock_key = 'slot-a'"
    ).fetchone()
    assert held is not None
    assert held[0] == first
    assert held[1] == timedelta(seconds=120)
    conn.execute(
        "update booking_locks set locked_until = now() - interval '1 second'"
        " where lock_key = 'slot-a'"
    )
    assert acquire(second)
    assert conn.execute(
        "select owner_run_id from booking_locks where lock_key = 'slot-a'"
    ).fetchone() == (second,)


def test_only_one_of_many_racing_runs_takes_an_expired_lock(migrated_url: str) -> None:
    with psycopg.connect(migrated_url, autocommit=True) as setup:
        setup.execute(
            "insert into booking_locks values ('slot-b', now() - interval '1 minute', %s)",
            (uuid.uuid4(),),
        )
    runs = 8
    barrier = threading.Barrier(runs)
    results: list[bool] = []

    def race() -> None:
        with psycopg.connect(migrated_url, autocommit=True) as connection:
            barrier.wait()
            row = connection.execute(
                "select acquire_booking_lock('slot-b', %s, 120)", (uuid.uuid4(),)
            ).fetchone()
            results.append(bool(row and row[0]))

    threads = [threading.Thread(target=race) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * (runs - 1) + [True]


def test_opened_slots_are_those_first_seen_after_the_watermark_and_still_seen_lately(
    conn: psycopg.Connection,
) -> None:
    west, east = uuid.UUID(int=1), uuid.UUID(int=2)
    conn.execute("insert into locations values (%s, 'Waianae'), (%s, 'Kaneohe')", (west, east))
    now = conn.execute("select now()").fetchone()[0]  # type: ignore[index]
    slots = [
        # location, time, first_seen and last_seen in minutes before now
        (east, "08:00:00", 30, 1),  # first seen before the watermark (20 minutes ago)
        (east, "08:15:00", 10, 1),
        (west, "09:00:00", 10, 1),  # same first_seen: ordered by location
        (west, "08:30:00", 5, 2),
        (west, "10:00:00", 5, 4),  # last seen before the 3-minute lookback
        (east, "09:30:00", 2, 0),
    ]
    for location, time, first, last in slots:
        conn.execute(
            "insert into slot_states values (%s, '2026-12-01', %s, %s, %s)",
            (location, time, now - timedelta(minutes=first), now - timedelta(minutes=last)),
        )
    rows = conn.execute(
        "select location_id, time from fetch_opened_slots_since(%s, 3)",
        (now - timedelta(minutes=20),),
    ).fetchall()
    assert rows == [
        (west, "09:00:00"),
        (east, "08:15:00"),
        (west, "08:30:00"),
        (east, "09:30:00"),
    ]


# -- the monitor's tables --------------------------------------------------------------------


def test_existing_monitor_tables_are_left_untouched(fresh_database_url: str) -> None:
    ddl = """
        create table locations (id uuid primary key, name text not null unique, island text);
        create table slot_states (
          location_id uuid not null references locations (id), date date not null,
          time text not null, first_seen timestamptz not null, last_seen timestamptz not null,
          scraped_by text, primary key (location_id, date, time));
    """
    snapshot = """
        select table_name, column_name, data_type, column_default from information_schema.columns
        where table_schema = 'public' and table_name in ('locations', 'slot_states')
        union all
        select tablename, indexname, indexdef, null from pg_indexes
        where schemaname = 'public' and tablename in ('locations', 'slot_states')
        order by 1, 2
    """
    with psycopg.connect(fresh_database_url, autocommit=True) as connection:
        connection.execute(ddl)
        before = connection.execute(snapshot).fetchall()
        apply_migrations(fresh_database_url)
        after = connection.execute(snapshot).fetchall()
        connection.execute("insert into locations values (gen_random_uuid(), 'Kapolei', 'Oahu')")
        connection.execute(
            "insert into slot_states select id, '2026-12-01', '8:00', now(), now(), 'monitor'"
            " from locations"
        )
        opened = connection.execute(
            "select scraped_by from fetch_opened_slots_since('-infinity', 3)"
        ).fetchall()
    assert after == before
    assert opened == [("monitor",)]


# -- the runner ------------------------------------------------------------------------------


def test_migrations_are_pending_until_applied_and_applied_only_once(
    fresh_database_url: str,
) -> None:
    assert pending_migrations(fresh_database_url) == [*NAMES, *STEPS]
    assert apply_migrations(fresh_database_url) == NAMES
    assert pending_migrations(fresh_database_url) == list(STEPS)  # `migrate` records those
    assert apply_migrations(fresh_database_url) == []
    assert recorded_names(fresh_database_url) == NAMES


def test_every_migration_file_can_be_run_twice_by_hand(fresh_database_url: str) -> None:
    with psycopg.connect(fresh_database_url, autocommit=True) as connection:
        for _ in range(2):
            for name in NAMES:
                connection.execute(MIGRATIONS.joinpath(name).read_bytes())
    assert apply_migrations(fresh_database_url) == NAMES


def test_two_processes_migrating_at_once_apply_each_file_once(fresh_database_url: str) -> None:
    barrier = threading.Barrier(2)
    applied: list[list[str]] = []
    failures: list[Exception] = []

    def migrate() -> None:
        barrier.wait()
        try:
            applied.append(apply_migrations(fresh_database_url))
        except Exception as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(applied, key=len) == [[], NAMES]
    assert recorded_names(fresh_database_url) == NAMES


def test_an_applied_file_that_was_edited_is_refused_and_nothing_new_is_applied(
    fresh_database_url: str, tmp_path: Path
) -> None:
    source = copy_migrations(tmp_path / "migrations")
    apply_migrations(fresh_database_url, source)
    edited = source / NAMES[1]
    edited.write_bytes(edited.read_bytes() + b"\n-- edited\n")
    (source / "29991231000000_extra.sql").write_text("create table extra (id int);\n")
    with pytest.raises(MigrationError, match=re.escape(NAMES[1])) as refused:
        apply_migrations(fresh_database_url, source)
    assert "checksum" in str(refused.value)
    assert not table_exists(fresh_database_url, "extra")
    assert recorded_names(fresh_database_url) == NAMES


def test_a_failing_file_is_named_and_leaves_nothing_behind(
    fresh_database_url: str, tmp_path: Path
) -> None:
    source = copy_migrations(tmp_path / "migrations")
    (source / "29991231000000_broken.sql").write_text(
        "create table half_done (id int);\nselect * from no_such_table;\n"
    )
    with pytest.raises(MigrationError, match=r"29991231000000_broken\.sql") as failed:
        apply_migrations(fresh_database_url, source)
    assert "no_such_table" in str(failed.value)
    assert not table_exists(fresh_database_url, "half_done")
    assert recorded_names(fresh_database_url) == NAMES
    assert pending_migrations(fresh_database_url, source) == ["29991231000000_broken.sql"]


def test_a_misnamed_sql_file_is_refused_before_anything_is_applied(
    fresh_database_url: str, tmp_path: Path
) -> None:
    source = copy_migrations(tmp_path / "migrations")
    (source / "add-index.sql").write_text("select 1;\n")
    with pytest.raises(MigrationError, match=r"add-index\.sql"):
        apply_migrations(fresh_database_url, source)
    assert pending_migrations(fresh_database_url) == [*NAMES, *STEPS]


def test_the_session_template_database_is_fully_migrated(database_url: str) -> None:
    assert pending_migrations(database_url) == []
