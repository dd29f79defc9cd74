"""People type names and phone numbers, not UUIDs: locations by name (any case, ids still
taken), slots by location name and local time, customers by phone; what cannot be resolved is
refused in one line naming it, and nothing is written."""

from __future__ import annotations

import pytest
from dispatch_world import World, next_weekday
from test_cli import ok_json, refused

from dbsupport import event_count, snapshot


@pytest.fixture
def world(service, db):
    return World(service, db, db.execute("SELECT now()").fetchone()[0])


@pytest.fixture
def places(world):
    return {name: world.location(name) for name in ("Kapolei", "Kaneohe", "Wahiawa")}


def test_locations_are_set_by_name_in_any_case_for_a_customer_given_by_phone(
        places, database_url, db):
    joined = ok_json(database_url, "join", "--phone", "808-555-0142")
    shown = ok_json(database_url, "locations", "808-555-0142", "--set", "kapolei, KANEOHE")
    assert shown["customer_id"] == joined["customer_id"]
    assert shown["locations"] == ["Kapolei", "Kaneohe"]
    assert shown["location_ids"] == [str(places["Kapolei"]), str(places["Kaneohe"])]
    rows = db.execute("SELECT location_id FROM user_location_preferences").fetchall()
    assert {r[0] for r in rows} == {places["Kapolei"], places["Kaneohe"]}


def test_ids_are_still_taken_beside_names(places, database_url):
    customer = ok_json(database_url, "join", "--phone", "808-555-0143")["customer_id"]
    shown = ok_json(database_url, "locations", customer, "--set",
                    f"{places['Wahiawa']},Kap")
    assert shown["locations"] == ["Wahiawa", "Kapolei"]


def test_ambiguous_and_unknown_names_are_refused_in_one_line_and_nothing_is_written(
        places, database_url, db):
    customer = ok_json(database_url, "join", "--phone", "808-555-0144")["customer_id"]
    before, events = snapshot(db), event_count(db)
    stderr = refused(database_url, "locations", customer, "--set", "Ka,Hilo,Wahiawa")
    assert len(stderr.strip().splitlines()) == 1
    assert "ambiguous location 'Ka' (Kaneohe, Kapolei)" in stderr
    assert "unknown location 'Hilo'" in stderr
    assert (snapshot(db), event_count(db)) == (before, events)


def test_a_customer_value_that_is_neither_id_nor_phone_is_refused_naming_it(database_url):
    stderr = refused(database_url, "select", "Jane", "--horizon", "w4", "--blocks", "early")
    assert "'Jane'" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_select_and_status_take_a_phone(database_url):
    joined = ok_json(database_url, "join", "--phone", "808-555-0145")
    ok_json(database_url, "select", "(808) 555-0145", "--horizon", "w4", "--blocks", "early")
    status = ok_json(database_url, "status", "808-555-0145")
    assert status["queue_entry_id"] == joined["queue_entry_id"]
    assert status["rank"] == 1


def test_a_slot_is_audited_by_location_name_and_local_time_and_by_its_key(
        world, places, database_url):
    world.customer([places["Kapolei"]])
    day = next_weekday(world.today, 3, weeks=1)
    key = world.open_slot(places["Kapolei"], day, "8:30")
    world.dispatch("stub")
    by_key = ok_json(database_url, "audit", "--slot", key)
    for spelling in (f"Kapolei {day} 8:30", f"kapolei {day} 08:30 AM", f"Kapolei|{day}|8:30"):
        assert ok_json(database_url, "audit", "--slot", spelling) == by_key, spelling
    [slot] = by_key["slots"]
    assert slot["slot_key"] == key
    stderr = refused(database_url, "audit", "--slot", f"Hilo {day} 8:30")
    assert "unknown location 'Hilo'" in stderr
