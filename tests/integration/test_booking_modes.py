"""A customer's own booking mode (spec service §4.2), set by an operator from the command line
(`slotqueue booking-mode`, recorded as cli:<user>) or the API (`POST
/v1/entries/{id}/booking-mode`, recorded with the key's name): it changes what the next
opening does for that customer, and `default` gives the deployment's back. Bad values are one
line (or a problem) naming them, with nothing recorded."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import bearer
from dispatch_world import World, next_weekday
from test_cli import ok_json, refused, run
from test_offer_links import api, world

from slotqueue.settings import Settings

from dbsupport import event_count

__all__ = ["api", "world"]  # fixtures of test_offer_links: the world and the API on it
pytestmark = pytest.mark.integration


def mode_events(world: World, customer_id: Any) -> list[tuple[Any, ...]]:
    return [(e.mode, e.previous, e.by) for e in world.svc.app.events.get(customer_id)
            if type(e).__name__ == "BookingModeChanged"]


def next_opening(world: World, location: Any, weekday: int) -> Any:
    world.open_slot(location, next_weekday(world.today, weekday, weeks=1), "8:30")
    return world.dispatch()


def test_the_cli_gives_customers_their_own_mode_and_default_takes_it_back(
        world, database_url, monkeypatch):
    kapolei = world.location("Kapolei")
    first, second = world.customer([kapolei]), world.customer([kapolei])  # the deployment: auto
    monkeypatch.setenv("USER", "kai")
    for joined in (first, second):
        shown = ok_json(database_url, "booking-mode", str(joined.queue_entry_id), " OFFER")
        assert (shown["booking_mode"], shown["effective"]) == ("offer", "offer")
    shown = ok_json(database_url, "booking-mode", str(second.queue_entry_id), "default")
    assert (shown["booking_mode"], shown["effective"]) == (None, "auto")
    summary = next_opening(world, kapolei, 2)  # the first, in offer mode, is offered it
    assert (summary.offers_made_count, summary.booking_attempt_count) == (1, 0)
    assert world.svc.app.entry(first.queue_entry_id).offer_id is not None
    summary = next_opening(world, kapolei, 3)  # the second, on the deployment's, is booked
    assert (summary.offers_made_count, summary.booking_attempt_count) == (0, 1)
    assert world.svc.app.entry(second.queue_entry_id).status == "booked"
    assert mode_events(world, second.customer_id) == [("offer", None, "cli:kai"),
                                                      (None, "offer", "cli:kai")]
    said = run(database_url, "booking-mode", str(first.queue_entry_id), "auto")
    assert said.returncode == 0, said.stderr
    assert "auto" in said.stdout


def test_a_bad_mode_or_entry_on_the_cli_is_one_line_naming_it_and_records_nothing(
        world, database_url):
    kapolei = world.location("Kapolei")
    joined = world.customer([kapolei])
    before = event_count(world.db)
    said = refused(database_url, "booking-mode", str(joined.queue_entry_id), "sometimes")
    assert "'sometimes'" in said
    assert said.count("\n") == 1
    said = refused(database_url, "booking-mode", "not-an-id", "offer")
    assert "'not-an-id'" in said
    missing = "00000000-0000-4000-8000-000000000000"
    assert missing in refused(database_url, "booking-mode", missing, "offer")
    assert event_count(world.db) == before


OFFER_DEPLOYMENT = pytest.mark.parametrize("settings", [{"booking_mode": "offer"}],
                                           indirect=True, ids=["offer"])


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    return Settings(database_url=database_url, booker="sim", **getattr(request, "param", {}))


@OFFER_DEPLOYMENT
def test_the_api_puts_one_customer_back_on_auto_in_an_offer_deployment(world, api):
    kapolei = world.location("Kapolei")
    auto, offered = world.customer([kapolei]), world.customer([kapolei])
    key = api.key("ops-lee", "operator")
    path = f"/v1/entries/{auto.queue_entry_id}/booking-mode"
    answer = api.client.post(path, json={"mode": "auto"}, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"queue_entry_id": str(auto.queue_entry_id),
                             "customer_id": str(auto.customer_id), "booking_mode": "auto",
                             "effective": "auto"}
    world.svc.catch_up()
    assert world.rows("SELECT mode, set_by FROM slotqueue.customer_booking_modes") == [
        ("auto", "key:ops-lee")]
    summary = next_opening(world, kapolei, 2)  # the first in line is booked, not offered
    assert (summary.offers_made_count, summary.booking_attempt_count) == (0, 1)
    assert world.svc.app.entry(auto.queue_entry_id).status == "booked"
    summary = next_opening(world, kapolei, 3)  # the next one, on the deployment's mode
    assert (summary.offers_made_count, summary.booking_attempt_count) == (1, 0)
    assert world.svc.app.entry(offered.queue_entry_id).offer_id is not None


@pytest.mark.parametrize(("body", "field"), [({"mode": "sometimes"}, "mode"), ({}, "mode"),
                                             ({"mode": "auto", "by": "x"}, "by")])
def test_a_bad_mode_over_the_api_is_a_problem_naming_the_field(world, api,
                                                               body, field):
    joined = world.customer([world.location("Kapolei")])
    key = api.key("ops-lee", "operator")
    before = event_count(world.db)
    answer = api.client.post(f"/v1/entries/{joined.queue_entry_id}/booking-mode", json=body,
                             headers=bearer(key))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in answer.text
    assert event_count(world.db) == before


def test_booking_modes_are_for_operators_only(world, api):
    joined = world.customer([world.location("Kapolei")])
    path = f"/v1/entries/{joined.queue_entry_id}/booking-mode"
    assert api.client.post(path, json={"mode": "auto"}).status_code == 401
    auditor = api.key("aud-1", "auditor")
    assert api.client.post(path, json={"mode": "auto"}, headers=bearer(auditor)).status_code \
        == 403


def test_a_mode_set_cleared_and_set_again_survives_a_rebuild(world):
    """The three changes fold into one replay batch: the clearing's delete must not land after
    the last setting (it did while folded writes kept their first position)."""
    from slotqueue.projections import maintenance  # noqa: PLC0415

    joined = world.customer([world.location("Kapolei")])
    for mode in ("offer", "default", "offer"):
        world.svc.app.set_booking_mode(joined.queue_entry_id, mode, world.now, "test")
    world.svc.catch_up()
    modes = "SELECT customer_id, mode FROM slotqueue.customer_booking_modes"
    assert world.rows(modes) == [(joined.customer_id, "offer")]
    maintenance.rebuild(world.svc.app, world.svc.view)
    assert world.rows(modes) == [(joined.customer_id, "offer")]
    assert maintenance.verify(world.svc.app, world.svc.view) == []
