"""A location the monitor deleted (issue 8): what Customer.LocationRetired records, and the rows
its projection writes: every chosen location is kept in slotqueue.customer_locations, which has
no foreign key, so a dispatcher starting from the tables still finds a deleted one."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from slotqueue.aggregates.customer import Customer
from slotqueue.projections.queue_projection import event_writes
from slotqueue.projections.writes import Delete, Ref, ReplaceSet

T0 = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
KAPOLEI = UUID("00000000-0000-4000-8000-0000000000a1")
AIEA = UUID("00000000-0000-4000-8000-0000000000a2")


def waiting_customer() -> Customer:
    customer = Customer(phone="+18085550101", email=None, at=T0)
    customer.open_entry(customer.next_entry_id(), T0)
    customer.prefer_locations([KAPOLEI, AIEA], [KAPOLEI, AIEA], T0)
    customer.collect_events()
    return customer


def test_choosing_locations_replaces_both_sets_and_keeps_every_id_in_the_private_one() -> None:
    customer = waiting_customer()
    customer.prefer_locations([AIEA, KAPOLEI, AIEA], [KAPOLEI, AIEA], T0)
    [event] = customer.collect_events()
    sets = {w.table: w for w in event_writes(event) if isinstance(w, ReplaceSet)}
    assert set(sets) == {"user_location_preferences", "customer_locations"}
    public = [row["location_id"] for row in sets["user_location_preferences"].rows]
    assert public == [Ref("locations", AIEA, True), Ref("locations", KAPOLEI, True)]
    assert sets["customer_locations"].rows == [
        {"customer_id": customer.id, "location_id": AIEA},
        {"customer_id": customer.id, "location_id": KAPOLEI}]  # plain ids: deleted ones too


def test_retiring_removes_the_location_from_both_tables_and_tells_a_customer_in_line() -> None:
    customer = waiting_customer()
    assert customer.retire_location(KAPOLEI, "Kapolei Hale", T0)
    assert not customer.retire_location(KAPOLEI, "Kapolei Hale", T0)  # once
    [event] = customer.collect_events()
    assert event.open_entry_id == customer.open_entry_id
    found = event_writes(event)
    where = {"customer_id": customer.id, "location_id": KAPOLEI}
    assert [w for w in found if isinstance(w, Delete)] == [
        Delete("user_location_preferences", where), Delete("customer_locations", where)]
    [told] = [w for w in found if w.table == "message_log"]
    assert told.row["dedupe_key"] == (  # type: ignore[union-attr]
        f"status:{customer.open_entry_id}:location_retired:{KAPOLEI}")
    assert customer.location_ids == [AIEA]


def test_a_customer_whose_entry_closed_is_not_told() -> None:
    customer = waiting_customer()
    assert customer.retire_location(KAPOLEI, "Kapolei Hale", T0, in_line=False)
    [event] = customer.collect_events()
    assert event.open_entry_id is None
    assert [w.table for w in event_writes(event)] == [
        "user_location_preferences", "customer_locations"]
