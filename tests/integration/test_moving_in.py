"""Issue 8 §1 and §2 on real PostgreSQL: `migrate` adopts a database an earlier implementation
of the same plan left behind, and a location the monitor retires never wedges the service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from slotqueue.bootstrap import build, migrate_database
from slotqueue.migrate import CUSTOMER_LOCATIONS_STEP, MigrationError
from slotqueue.projections import maintenance
from slotqueue.settings import Settings

from dbsupport import snapshot

EARLIER = (Path(__file__).parent / "fixtures" / "earlier_implementation.sql").read_text()
ANA, NOBODY = "22222222-0000-4000-8000-000000000001", "22222222-0000-4000-8000-000000000006"
KAPOLEI = UUID("11111111-0000-4000-8000-000000000001")
COMPAT = ("customers", "queue_entries", "user_target_window_selections",
          "user_location_preferences", "booking_attempts", "booking_locks", "message_log")


@pytest.fixture
def earlier(fresh_database_url):
    """A database as the earlier implementation left it, before slotqueue's first migrate."""
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        conn.execute(EARLIER)
    return fresh_database_url


def _rows(url: str, table: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        query = sql.SQL("SELECT * FROM public.{}").format(sql.Identifier(table))
        return sorted(conn.execute(query).fetchall(), key=repr)


def _indexes(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "ORDER BY 1, 2").fetchall()


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLOTQUEUE_")}
    env.update(DATABASE_URL=url, CI="true", SLOTQUEUE_LOG_FORMAT="json")
    return subprocess.run([sys.executable, "-m", "slotqueue", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _ranks(svc) -> list[tuple[str, str]]:
    with svc.connect() as conn:
        return conn.execute(
            "SELECT id::text, status FROM queue_entries WHERE status IN "
            "('queued', 'deposit_required', 'active') ORDER BY created_at, id").fetchall()


def test_migrate_adopts_the_earlier_tables_keeping_every_row_and_its_rank(earlier):
    before = {table: _rows(earlier, table) for table in COMPAT}
    done = migrate_database(earlier)
    assert done.imported.customers == 6
    assert done.imported.entries == 7
    assert done.imported.rows == {"booking_attempts": 2, "booking_locks": 1,
                                  "message_log": 2, "queue_watermarks": 1}
    assert any("not a phone number" in note for note in done.imported.notes)
    lines = "\n".join(done.definitions)
    assert "index idx_qe_created is named queue_entries_created_at_idx" in lines
    assert "constraint utws_custom_weekdays_check" in lines
    assert "fetch_opened_slots_since" in lines
    svc = build(Settings(database_url=earlier), earlier)
    try:
        after = {table: _rows(earlier, table) for table in COMPAT}
        assert after == before  # the projections own every row, changed nothing
        assert maintenance.rebuild(svc.app, svc.view) > 0
        assert {table: _rows(earlier, table) for table in COMPAT} == before
        assert maintenance.verify(svc.app, svc.view) == []
        assert [entry for entry, _ in _ranks(svc)] == [
            "33333333-0000-4000-8000-000000000001", "33333333-0000-4000-8000-000000000002",
            "33333333-0000-4000-8000-000000000005", "33333333-0000-4000-8000-000000000004"]
        names = [type(e).__name__ for e in svc.app.events.get(UUID(ANA))]
        assert names == ["Imported"]
    finally:
        svc.close()


def test_after_adoption_no_index_is_repeated_and_the_function_is_the_specs(earlier):
    migrate_database(earlier)
    indexes = _indexes(earlier)
    shapes = [(table, d.split(" USING ", 1)[1]) for table, d in indexes]
    assert len(shapes) == len(set(shapes)), indexes
    assert not any(" idx_" in d for _, d in indexes if not d.count("slot_states"))
    with psycopg.connect(earlier) as conn:
        [(result,)] = conn.execute("SELECT pg_get_function_result(oid) FROM pg_proc "
                                   "WHERE proname = 'fetch_opened_slots_since'").fetchall()
    assert result == "SETOF slot_states"
    assert migrate_database(earlier).definitions == []  # the second time: nothing to do


def test_a_join_of_an_existing_phone_finds_the_imported_customer_and_their_entry(earlier):
    migrate_database(earlier)
    joined = json.loads(_cli(earlier, "join", "--phone", "808-555-0101", "--json").stdout)
    assert joined == {"customer_id": ANA,
                      "queue_entry_id": "33333333-0000-4000-8000-000000000001"}
    other = _cli(earlier, "join", "--phone", "(808) 555-0102", "--json")
    assert json.loads(other.stdout)["customer_id"] == "22222222-0000-4000-8000-000000000002"
    again = _cli(earlier, "join", "--phone", "808-555-0103", "--json")
    assert json.loads(again.stdout)["queue_entry_id"] == "33333333-0000-4000-8000-000000000004"
    fresh = _cli(earlier, "join", "--phone", "808-555-0199", "--json")
    assert fresh.returncode == 0, fresh.stderr
    assert _cli(earlier, "projections", "verify").returncode == 0


def test_the_dispatcher_runs_the_adopted_queue(earlier):
    migrate_database(earlier)
    ran = _cli(earlier, "dispatch", "--once", "--json")
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)
    # ranks 1..10 owe a deposit: the plan's lapsed entry (queued, expired) and the queued one
    assert summary["deposit_required_set_count"] == 2
    status = json.loads(_cli(earlier, "status", "33333333-0000-4000-8000-000000000002",
                             "--json").stdout)
    assert (status["status"], status["deposit_status"]) == ("deposit_required", "required")


def test_migrate_stops_before_changing_anything_when_a_difference_is_not_safe(earlier):
    with psycopg.connect(earlier, autocommit=True) as conn:
        conn.execute("UPDATE customers SET email = NULL")
        conn.execute("ALTER TABLE customers ALTER COLUMN created_at TYPE text")
    indexes, rows = _indexes(earlier), _rows(earlier, "customers")
    with pytest.raises(MigrationError, match="created_at is text"):
        migrate_database(earlier)
    assert (_indexes(earlier), _rows(earlier, "customers")) == (indexes, rows)
    refused = _cli(earlier, "migrate")
    assert refused.returncode == 1
    assert "NOT SAFE" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_migrate_interrupted_after_its_definitions_can_be_run_again(earlier, monkeypatch):
    from slotqueue import store  # noqa: PLC0415

    def dies(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "import_history", dies)
    with pytest.raises(KeyboardInterrupt):
        migrate_database(earlier)
    monkeypatch.undo()
    refused = _cli(earlier, "status", "33333333-0000-4000-8000-000000000001")
    assert refused.returncode == 1
    assert "slotqueue migrate" in refused.stderr
    done = migrate_database(earlier)
    assert done.imported.customers == 0  # imported before the interruption
    assert sum(done.imported.rows.values()) == 6
    assert _cli(earlier, "projections", "verify").returncode == 0


# --- retired locations --------------------------------------------------------------------------

@pytest.fixture
def world(service, db):
    from dispatch_world import World  # noqa: PLC0415
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


def test_a_retired_location_is_dropped_from_the_choices_and_the_customer_told(world):
    from dispatch_world import next_weekday  # noqa: PLC0415
    kapolei, aiea = world.location("Kapolei"), world.location("Aiea")
    customer = world.customer([kapolei, aiea])
    key = world.open_slot(kapolei, next_weekday(world.today, 2, weeks=1), "08:30")
    world.dispatch()  # booked at Kapolei: an attempt and a booked entry name it
    waiting = world.customer([kapolei])
    world.svc.catch_up()  # as serve's projection runner would have, before the monitor deletes
    world.db.execute("DELETE FROM slot_states")
    world.db.execute("DELETE FROM locations WHERE id = %s", (kapolei,))
    # the deletion cascaded from the public table; a dispatcher starting now finds the choices
    # in slotqueue.customer_locations
    assert world.rows("SELECT location_id FROM user_location_preferences") == [(aiea,)]
    chosen = world.rows("SELECT customer_id, location_id FROM slotqueue.customer_locations")
    assert sorted(chosen, key=repr) == sorted([
        (customer.customer_id, kapolei), (customer.customer_id, aiea),
        (waiting.customer_id, kapolei)], key=repr)
    summary = world.dispatch()
    assert summary.errors == []
    assert world.rows("SELECT location_id FROM user_location_preferences") == [(aiea,)]
    assert world.rows("SELECT customer_id, location_id FROM slotqueue.customer_locations") == [
        (customer.customer_id, aiea)]
    assert world.rows("SELECT booked_location_id FROM queue_entries WHERE id = %s",
                      customer.queue_entry_id) == [(None,)]
    told = world.rows("SELECT dedupe_key FROM message_log WHERE dedupe_key LIKE %s",
                      "%location_retired%")
    # the customer still waiting; the booked one's entry is closed
    assert told == [(f"status:{waiting.queue_entry_id}:location_retired:{kapolei}",)]
    before = snapshot(world.db)
    assert maintenance.rebuild(world.svc.app, world.svc.view) > 0
    assert snapshot(world.db) == before
    assert maintenance.verify(world.svc.app, world.svc.view) == []
    assert key  # the slot's journal still names the location in its events


def _retired_events(svc, customer_id) -> int:
    return sum(type(e).__name__ == "LocationRetired" for e in svc.app.events.get(customer_id))


def test_dispatch_once_from_cron_after_a_deletion_tells_each_waiting_customer_once(
        world, database_url):
    from test_cli import ok_json  # noqa: PLC0415
    kapolei, aiea = world.location("Kapolei"), world.location("Aiea")
    both = world.customer([kapolei, aiea])
    world.svc.catch_up()  # projected while Kapolei existed
    late = world.customer([kapolei])  # recorded, not projected before the deletion
    world.db.execute("DELETE FROM locations WHERE id = %s", (kapolei,))
    assert world.rows("SELECT customer_id FROM user_location_preferences") == [(both.customer_id,)]
    for _ in range(2):  # two cron runs, each a fresh dispatcher reading the tables
        summary = ok_json(database_url, "dispatch", "--once")
        assert summary.get("errors", []) == []
        told = world.rows("SELECT dedupe_key FROM message_log WHERE dedupe_key LIKE %s "
                          "ORDER BY 1", "%location_retired%")
        assert told == sorted([(f"status:{j.queue_entry_id}:location_retired:{kapolei}",)
                               for j in (both, late)])
        assert (_retired_events(world.svc, both.customer_id),
                _retired_events(world.svc, late.customer_id)) == (1, 1)
    assert world.rows("SELECT customer_id, location_id FROM slotqueue.customer_locations") == [
        (both.customer_id, aiea)]
    assert world.svc.app.customer(both.customer_id).location_ids == [aiea]
    assert world.svc.app.customer(late.customer_id).location_ids == []
    before = snapshot(world.db)
    assert maintenance.rebuild(world.svc.app, world.svc.view) > 0
    assert snapshot(world.db) == before
    assert _cli(database_url, "projections", "verify").returncode == 0


def test_migrate_writes_the_choices_of_locations_deleted_before_it_from_the_events(
        world, database_url):
    kapolei, aiea = world.location("Kapolei"), world.location("Aiea")
    joined = world.customer([kapolei, aiea])
    world.svc.catch_up()
    world.db.execute("DELETE FROM locations WHERE id = %s", (kapolei,))
    # as an older release left it: the table as its migration made it, the step not yet done
    world.db.execute("TRUNCATE slotqueue.customer_locations")
    world.db.execute("INSERT INTO slotqueue.customer_locations "
                     "SELECT customer_id, location_id FROM user_location_preferences")
    world.db.execute("DELETE FROM slotqueue.schema_migrations WHERE name = %s",
                     (CUSTOMER_LOCATIONS_STEP,))
    assert [(d.table, d.side) for d in maintenance.verify(world.svc.app, world.svc.view)] == [
        ("customer_locations", "replay only")]
    assert CUSTOMER_LOCATIONS_STEP in migrate_database(database_url).applied
    assert sorted(world.rows("SELECT location_id FROM slotqueue.customer_locations"),
                  key=repr) == sorted([(kapolei,), (aiea,)], key=repr)
    assert maintenance.verify(world.svc.app, world.svc.view) == []
    assert world.dispatch().errors == []
    assert _retired_events(world.svc, joined.customer_id) == 1
    assert migrate_database(database_url).applied == []  # once


def test_a_choice_recorded_just_before_its_location_is_removed_does_not_wedge_anything(world):
    kapolei = world.location("Kapolei")
    with world.svc.connect(autocommit=True) as conn:
        running = world.svc.dispatcher(conn)  # a `slotqueue run` that follows the events
        joined = world.svc.app.join("808-555-0142", None, world.now)
        world.svc.app.prefer_locations(joined.customer_id, [kapolei], [kapolei], world.now)
        world.db.execute("DELETE FROM locations WHERE id = %s", (kapolei,))  # before catch-up
        assert world.svc.catch_up() > 0
        assert world.rows("SELECT count(*) FROM user_location_preferences") == [(0,)]
        assert maintenance.verify(world.svc.app, world.svc.view) == []
        assert running.tick().locations_retired_count == 1
        running.close()
    assert world.svc.app.customer(joined.customer_id).location_ids == []
    world.svc.catch_up()
    assert maintenance.verify(world.svc.app, world.svc.view) == []


def _rls(url: str, table: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT relrowsecurity FROM pg_class WHERE oid = %s::regclass",
                            (f"public.{table}",)).fetchone()[0]


def test_monitor_tables_slotqueue_creates_are_closed_to_the_api_roles_and_found_ones_untouched(
        database_url, earlier):
    # database_url was migrated from nothing: slotqueue created the monitor's tables
    assert _rls(database_url, "locations")
    assert _rls(database_url, "slot_states")
    migrate_database(earlier)  # the monitor's own tables: never altered
    assert not _rls(earlier, "locations")
    assert not _rls(earlier, "slot_states")
    with psycopg.connect(earlier) as conn:
        assert conn.execute("SELECT obj_description('public.locations'::regclass)").fetchone() \
            == (None,)
