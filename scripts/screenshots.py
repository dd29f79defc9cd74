"""Screenshots of the dashboard's main pages for docs/ (`python scripts/screenshots.py`):
a fresh database with a small, realistic queue (paid and unpaid customers at five
locations), openings decided by `serve`'s own dispatcher with the demo booker, messages sent
to the console, one delivery left `unknown`; the pages as an operator sees them on a laptop,
and the queue on a phone. Regenerate after changing a template."""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from slotqueue.scripts import harness
from slotqueue.scripts.browser import browser, served, sign_in
from slotqueue.settings import Settings

OUT = harness.REPO / "docs" / "dashboard"
PAGES = ("queue", "openings", "messages", "charts", "timers")
LAPTOP, PHONE = {"width": 1280, "height": 860}, {"width": 390, "height": 844}


def seed(site: Any, url: str) -> Any:
    """Customers, openings decided by the running dispatcher, one lost delivery."""
    svc = site.svc
    with psycopg.connect(url, autocommit=True) as conn:
        places = harness.add_locations(conn, 5)
        entries = harness.add_paid_customers(svc, 6, places[:2])
        now = harness.db_now(conn)
        for n in range(12):
            svc.app.join(f"+1808555{n:04d}", None, now)
        svc.catch_up()
        day = harness.honolulu_today(conn)
        for offset, place, (hour, minute) in ((3, places[0], (8, 30)), (4, places[1], (10, 15)),
                                              (5, places[2], (13, 45)), (5, places[0], (9, 0))):
            slot_day = day + timedelta(days=offset)
            if slot_day.isoweekday() > 5:
                slot_day += timedelta(days=8 - slot_day.isoweekday())
            conn.execute("INSERT INTO slot_states (location_id, date, time, first_seen, "
                         "last_seen) VALUES (%s, %s, %s, now(), now())",
                         (place, slot_day, f"{hour}:{minute:02d}"))
            time.sleep(0.6)  # one opening at a time, decided before the next
    svc.app.pause(entries[-1], svc.clock.now(), by="key:ops-alice")
    svc.catch_up()
    return svc.app.create_api_key("ops-alice", "operator", svc.clock.now(), "screenshots")


def shoot(base: str, key: str, out: Path) -> list[Path]:
    made = []
    with browser() as chrome:
        page = chrome.new_page(viewport=LAPTOP)
        sign_in(page, base, key)
        for name in PAGES:
            page.goto(f"{base}/dashboard/{name}")
            page.wait_for_selector("#live-status[data-state=live]")
            made.append(out / f"{name}.png")
            page.screenshot(path=str(made[-1]), full_page=name != "queue")
        page.goto(f"{base}/dashboard/queue")
        customer = page.locator("tr[data-entry-id] a").first.get_attribute("href")
        page.goto(f"{base}{customer}")
        page.wait_for_selector("#live-status[data-state=live]")
        made.append(out / "customer.png")
        page.screenshot(path=str(made[-1]), full_page=True)
        phone = chrome.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True)
        sign_in(phone, base, key)
        phone.wait_for_selector("#live-status[data-state=live]")
        made.append(out / "queue-phone.png")
        phone.screenshot(path=str(made[-1]))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    harness.database_options(parser, "screenshots")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with harness.fresh_database("sq_shots", args.server_url, keep=args.keep) as url:
        settings = Settings(database_url=url, booker="sim", dispatch_interval_seconds=0.2)
        with served(settings, url) as site:
            key = seed(site, url)
            for path in shoot(site.base, key, args.out):
                harness.progress(f"wrote {path.relative_to(harness.REPO)}")


if __name__ == "__main__":
    main()
