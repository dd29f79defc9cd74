"""The dashboard in a real browser (spec service §5): the system's Chromium driven by
Playwright against what `slotqueue serve` runs (served from a thread on 127.0.0.1, on a
migrated database of this module's own), with the dispatcher, the projections and the live
stream running. One server and one browser for the module keep it to seconds."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from dispatch_world import World, next_weekday

from slotqueue.scripts.browser import browser, chromium, served, sign_in
from slotqueue.scripts.harness import add_paid_customers
from slotqueue.settings import Settings

if chromium() is None and not os.environ.get("CI"):
    pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium; CI installs it)",
                allow_module_level=True)

POLL_SECONDS = 1.0  # the page's poll, short so the degraded test needs no long wait


@pytest.fixture(scope="module")
def site(module_database_url: str) -> Iterator[Any]:
    settings = Settings(database_url=module_database_url, dispatch_interval_seconds=0.2,
                        dashboard_poll_seconds=POLL_SECONDS, booker="stub")
    with served(settings, module_database_url) as running:
        yield running


@pytest.fixture(scope="module")
def world(site: Any, module_database_url: str) -> Iterator[World]:
    with psycopg.connect(module_database_url, autocommit=True) as db:
        made = World(site.svc, db, db.execute("SELECT now()").fetchone()[0])
        made.kapolei = made.location("Kapolei")  # type: ignore[attr-defined]
        yield made


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    with browser() as launched:
        yield launched


@pytest.fixture
def page(chrome: Any) -> Iterator[Any]:
    context = chrome.new_context()
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


def active_entry(site: Any, world: World) -> Any:
    """A paid, active entry made whole in one save (the running dispatcher never sees it
    half made), eligible for any weekday slot at Kapolei."""
    world.count += 1
    [entry_id] = add_paid_customers(site.svc, 1, [world.kapolei], first=world.count)
    return entry_id


def key(site: Any, role: str) -> tuple[str, str]:
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    svc = site.svc
    secret = svc.app.create_api_key(name, role, svc.clock.now(), "test")
    svc.catch_up()
    return name, secret


def csrf(page: Any) -> str:
    return str(page.get_attribute("input[name=csrf_token]", "value"))


def live_on(page: Any) -> None:
    page.wait_for_selector("#live-status[data-state=live]")


def test_an_operator_signs_in_and_sees_the_queue(site, world, page):
    entry_id = active_entry(site, world)
    _, secret = key(site, "operator")
    sign_in(page, site.base, secret)
    row = page.locator(f"tr[data-entry-id='{entry_id}']")
    assert "•••" in row.inner_text()
    assert row.locator("button", has_text="Pause").is_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "sq_dashboard")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    live_on(page)


def test_an_auditor_sees_no_buttons_and_an_action_posted_anyway_is_refused(site, world, page):
    entry_id = active_entry(site, world)
    _, secret = key(site, "auditor")
    sign_in(page, site.base, secret)
    assert page.locator(f"tr[data-entry-id='{entry_id}']").is_visible()
    assert page.locator("#live-region form[method=post]").count() == 0  # no action at all
    answer = page.request.post(f"{site.base}/dashboard/entries/{entry_id}/pause",
                               form={"csrf_token": csrf(page)}, max_redirects=0)
    assert answer.status == 403
    assert site.svc.app.entry(entry_id).status != "paused"


def test_a_new_opening_and_its_decision_appear_without_a_reload(site, world, page):
    active_entry(site, world)
    _, secret = key(site, "operator")
    sign_in(page, site.base, secret, "/dashboard/openings")
    live_on(page)
    page.evaluate("window.notReloaded = true")
    world.open_slot(world.kapolei, next_weekday(world.today, 3, weeks=1), "9:15")
    decided = page.locator("li.opening", has_text="Kapolei").first
    decided.wait_for(timeout=2_000)  # listed, decided and shown within 2 s
    assert "Winner:" in decided.inner_text()
    assert page.evaluate("window.notReloaded") is True


def test_a_killed_stream_says_degraded_and_the_page_still_updates_by_polling(site, world, page):
    entry_id = active_entry(site, world)
    _, secret = key(site, "operator")
    sign_in(page, site.base, secret)
    live_on(page)
    site.live.stop()  # the process's listener: every stream ends, new ones get 503
    try:
        page.wait_for_selector("#live-status[data-state=degraded]", timeout=5_000)
        assert "degraded" in page.inner_text("#live-status")
        page.evaluate("window.notReloaded = true")
        site.svc.app.pause(entry_id, site.svc.clock.now())
        site.svc.catch_up()  # paused: no longer ranked, so off the queue page
        page.wait_for_selector(f"tr[data-entry-id='{entry_id}']", state="detached",
                               timeout=3_000 + POLL_SECONDS * 1000)
        assert page.evaluate("window.notReloaded") is True
        assert page.evaluate("window.slotqueueLive.polls") >= 1
    finally:
        site.live.start()


def test_pausing_from_the_page_pauses_the_entry_and_the_audit_names_the_key(site, world, page):
    entry_id = active_entry(site, world)
    name, secret = key(site, "operator")
    sign_in(page, site.base, secret)
    page.locator(f"#pause-{entry_id}").press("Enter")  # by keyboard
    page.wait_for_selector(".notice", timeout=5_000)
    assert site.svc.app.entry(entry_id).status == "paused"
    last = list(site.svc.app.events.get(entry_id))[-1]
    assert type(last).__name__ == "Paused"
    assert last.by == f"key:{name}"


def test_a_forged_post_without_the_csrf_token_is_refused(site, world, page):
    entry_id = active_entry(site, world)
    _, secret = key(site, "operator")
    sign_in(page, site.base, secret)
    url = f"{site.base}/dashboard/entries/{entry_id}/cancel"
    for form in ({}, {"csrf_token": "forged"}):
        answer = page.request.post(url, form=form, max_redirects=0)
        assert answer.status == 403
        assert re.search("CSRF", answer.text())
    assert site.svc.app.entry(entry_id).status != "canceled"
