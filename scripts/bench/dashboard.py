"""The dashboard (issue 12, Measure): event recorded → visible in a real browser, and the first
load of the queue page with a 10,000-entry queue.

Latency: what `slotqueue serve` runs, served from a thread, the openings page open in the
system's headless Chromium (signed in, live stream on); a slot_states row at a time, each
decided by serve's own dispatcher; from the `Decided` event's recorded time (the database's
clock, same host) to the moment its opening is in the page's DOM (a MutationObserver's
Date.now()), p50/p99 over --events openings (goal p99 ≤ 1 s). The dispatcher's polling
interval is not part of it: the clock starts at the decision's record.
First load: --entries paid customers, then GET /dashboard/queue as a signed-in browser does:
server time (the request's wall time, median of 20), bytes transferred (page, script and
styles), and Chromium's navigation timing to the load event (goal ≤ 1 s).
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import common
import psycopg

from slotqueue.scripts import harness
from slotqueue.scripts.browser import browser, served, sign_in
from slotqueue.settings import Settings

SEEN_JS = """() => {
  window.seenAt = {};
  const note = () => document.querySelectorAll('li.opening[data-slot-id]').forEach(li => {
    if (!(li.dataset.slotId in window.seenAt)) window.seenAt[li.dataset.slotId] = Date.now();
  });
  note();
  new MutationObserver(note).observe(document.body, {childList: true, subtree: true});
}"""


def decided_at(svc: Any, conn: psycopg.Connection[Any], key: tuple[Any, ...]) -> tuple[str, float]:
    """The opening's id and its Decided event's recorded time (epoch seconds)."""
    slot_id = conn.execute("SELECT id FROM slotqueue.opened_slots WHERE location_id = %s AND "
                           "slot_date = %s AND slot_time = %s", key).fetchone()[0]  # type: ignore[index]
    decided = [e for e in svc.app.events.get(slot_id) if type(e).__name__ == "Decided"][-1]
    return str(slot_id), decided.timestamp.timestamp()


def latency(site: Any, url: str, key: str, events: int) -> list[float]:
    with psycopg.connect(url, autocommit=True) as conn, browser() as chrome:
        places = harness.add_locations(conn, 5)
        slots = common.Weekdays(places, harness.honolulu_today(conn))
        page = chrome.new_page()
        sign_in(page, site.base, key, "/dashboard/openings")
        page.wait_for_selector("#live-status[data-state=live]")
        page.evaluate(SEEN_JS)
        found = []
        for n in range(events):
            place, day, at = slots.next()
            common.insert_opened(conn, place, day, at)
            harness.wait_until(lambda n=n: conn.execute(
                "SELECT count(*) FROM slotqueue.opened_slots WHERE decided_at IS NOT NULL"
            ).fetchone()[0] > n, 10, 0.02)  # type: ignore[index]
            slot_id, recorded = decided_at(site.svc, conn, (place, day, at))
            harness.wait_until(lambda s=slot_id: page.evaluate(f"'{s}' in window.seenAt"), 10,
                               0.02)
            seen = page.evaluate(f"window.seenAt['{slot_id}']")
            found.append(max(seen / 1000 - recorded, 0.0))
        return found


def first_load(site: Any, url: str, key: str, entries: int) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        places = harness.add_locations(conn, 5)
    harness.progress(f"{entries} paid customers")
    harness.add_paid_customers(site.svc, entries, places)
    with browser() as chrome:
        page = chrome.new_page()
        sign_in(page, site.base, key)
        cookie = next(c for c in page.context.cookies() if c["name"] == "sq_dashboard")
        page.goto(f"{site.base}/dashboard/queue", wait_until="load")
        timing = page.evaluate("() => performance.getEntriesByType('navigation')[0].toJSON()")
        sizes = page.evaluate("() => performance.getEntriesByType('resource').map("
                              "r => r.transferSize)")
    server, size = [], 0
    for _ in range(20):
        request = urllib.request.Request(f"{site.base}/dashboard/queue", headers={  # noqa: S310
            "Cookie": f"sq_dashboard={cookie['value']}"})
        started = time.perf_counter()
        with urllib.request.urlopen(request) as answer:  # noqa: S310 - http on loopback
            size = len(answer.read())
        server.append(time.perf_counter() - started)
    return {"server": server, "html": size, "assets": sum(sizes),
            "load": timing["loadEventEnd"] / 1000, "response": timing["responseEnd"] / 1000,
            "transfer": timing.get("transferSize", 0) + sum(sizes)}


def main() -> None:
    p = common.parser(__doc__, 1, 1)
    common.sized(p, "--events", int, 100, 20, "openings whose latency is measured")
    common.sized(p, "--entries", int, 10_000, 1_000, "queue entries for the first load")
    args = common.parse(p)
    figures = common.Figures("dashboard", "python scripts/bench/dashboard.py")
    with harness.fresh_database("sq_bench_dash", args.server_url, keep=args.keep) as url:
        figures.info.update(common.machine(url))
        settings = Settings(database_url=url, dispatch_interval_seconds=0.05, booker="stub",
                            delivery_worker=False)  # its console output is not the page's work
        with served(settings, url) as site:
            key = site.svc.app.create_api_key("bench", "operator", site.svc.clock.now(), "b")
            site.svc.catch_up()
            seconds = latency(site, url, key, args.events)
            figures.add("decision recorded → in the page, p50", common.percentile(seconds, 50),
                        "s")
            figures.add(f"decision recorded → in the page, p99 ({len(seconds)} events)",
                        common.percentile(seconds, 99), "s", goal=1.0)
            figures.add("decision recorded → in the page, max", max(seconds), "s")
            load = first_load(site, url, key, args.entries)
        figures.add(f"queue page, {args.entries} entries: server time (median of 20)",
                    common.median(load["server"]), "s")
        figures.add("queue page: HTML bytes", load["html"] / 1000, "kB")
        figures.add("queue page: bytes transferred with script and styles",
                    load["transfer"] / 1000, "kB")
        figures.add("queue page: first load in Chromium, to the load event", load["load"], "s",
                    goal=1.0)
    figures.print(args.json)


if __name__ == "__main__":
    main()
