"""Folding a batch of row writes: one write per row, the same final state, parents first."""

from __future__ import annotations

from slotqueue.projections.coalesce import coalesce
from slotqueue.projections.writes import Delete, InsertOnce, ReplaceSet, Update, Upsert

ORDER = ("customers", "queue_entries", "user_location_preferences", "message_log")


def test_an_insert_and_its_later_updates_become_one_insert_with_the_final_values():
    writes = [
        Upsert("queue_entries", ("id",), {"id": 1, "status": "queued", "deposit_status": "none"}),
        Update("queue_entries", {"id": 1}, {"status": "deposit_required"}),
        Update("queue_entries", {"id": 1}, {"status": "active", "deposit_status": "paid"}),
    ]
    assert coalesce(writes, ORDER) == [
        Upsert("queue_entries", ("id",), {"id": 1, "status": "active", "deposit_status": "paid"})]


def test_updates_of_a_row_written_in_an_earlier_batch_merge_into_one_update():
    writes = [Update("queue_entries", {"id": 2}, {"status": "paused"}),
              Update("queue_entries", {"id": 2}, {"status": "active", "booked_at": None})]
    assert coalesce(writes, ORDER) == [
        Update("queue_entries", {"id": 2}, {"status": "active", "booked_at": None})]


def test_a_message_is_never_overwritten_and_the_last_set_replacement_wins():
    writes = [
        InsertOnce("message_log", ("dedupe_key",), {"dedupe_key": "k", "text": "first"}),
        InsertOnce("message_log", ("dedupe_key",), {"dedupe_key": "k", "text": "second"}),
        ReplaceSet("user_location_preferences", {"customer_id": 7}, [{"location_id": "a"}]),
        ReplaceSet("user_location_preferences", {"customer_id": 7}, [{"location_id": "b"}]),
    ]
    assert coalesce(writes, ORDER) == [
        ReplaceSet("user_location_preferences", {"customer_id": 7}, [{"location_id": "b"}]),
        InsertOnce("message_log", ("dedupe_key",), {"dedupe_key": "k", "text": "first"})]


def test_parent_tables_come_first_and_rows_keep_their_first_order_within_a_table():
    writes = [
        Upsert("queue_entries", ("id",), {"id": 10, "customer_id": 1}),
        Upsert("customers", ("id",), {"id": 1}),
        Upsert("queue_entries", ("id",), {"id": 11, "customer_id": 1}),
        Upsert("customers", ("id",), {"id": 2}),
    ]
    assert [(w.table, w.row["id"]) for w in coalesce(writes, ORDER)] == [
        ("customers", 1), ("customers", 2), ("queue_entries", 10), ("queue_entries", 11)]


def test_an_insert_after_an_update_keeps_the_updated_columns_it_does_not_set():
    writes = [Update("booking_locks", {"lock_key": "k"}, {"locked_until": 5}),
              Upsert("booking_locks", ("lock_key",), {"lock_key": "k", "owner_run_id": 9})]
    assert coalesce(writes, ORDER) == [Upsert("booking_locks", ("lock_key",), {
        "locked_until": 5, "lock_key": "k", "owner_run_id": 9})]


def test_a_row_written_deleted_and_written_again_ends_written():
    """A customer's booking mode set, cleared and set again in one replay batch: the delete
    must not land after the final write (it did when writes kept their first position)."""
    modes = ("customer_booking_modes", ("customer_id",))
    writes = [Upsert(*modes, {"customer_id": 7, "mode": "offer"}),
              Delete("customer_booking_modes", {"customer_id": 7}),
              Upsert(*modes, {"customer_id": 7, "mode": "auto"})]
    assert coalesce(writes, ORDER) == [Delete("customer_booking_modes", {"customer_id": 7}),
                                       Upsert(*modes, {"customer_id": 7, "mode": "auto"})]


def test_a_set_replaced_after_a_row_of_it_was_deleted_keeps_that_row():
    writes = [ReplaceSet("user_location_preferences", {"customer_id": 7}, [{"location_id": "a"}]),
              Delete("user_location_preferences", {"customer_id": 7, "location_id": "a"}),
              ReplaceSet("user_location_preferences", {"customer_id": 7}, [{"location_id": "a"}])]
    assert coalesce(writes, ORDER)[-1] == writes[-1]


def test_a_row_deleted_last_stays_deleted():
    writes = [Upsert("customer_booking_modes", ("customer_id",), {"customer_id": 7, "mode": "x"}),
              Delete("customer_booking_modes", {"customer_id": 7})]
    assert coalesce(writes, ORDER) == writes
