"""Benchmark: offer accepted → booking attempt recorded (issue 11, spec service §4.2).

On a fresh database of paid customers in offer mode (SLOTQUEUE_BOOKING_MODE=offer, sim
booker), each run opens --offers weekday slots, lets one dispatcher run offer each to its own
customer, then accepts every offer in turn through the application's command, as the link's
POST and the SMS reply do. For each acceptance it reports:

  accept → attempt   the command's start → the acceptance, the opening's lock and the
                     booking attempt's intent saved in one transaction (before the adapter
                     is called): the figure issue 11 asks for
  accept → answered  the whole command: the attempt, the sim booker, and its answer recorded

Reference, same run and database: a plain dispatcher booking attempt in auto mode (one
opening, one `dispatch_once`: decide, record the intent, call the sim booker, record its
answer), the path an accepted offer shares with it. Medians over --runs runs of each run's
p50 and p99 (range over the runs in brackets).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import common

from slotqueue.scripts import harness

GOAL_MS = 300.0  # the dispatcher's own decision → attempt goal (issue 7): no worse


class AcceptLog(logging.Handler):
    """The acceptance's own timing, from its `offer accepted` log line (no token in it)."""

    def __init__(self) -> None:
        super().__init__()
        self.ms: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", {})
        if "accept_to_attempt_ms" in fields:
            self.ms.append(float(fields["accept_to_attempt_ms"]))


def one_run(server: str | None, offers: int) -> dict[str, list[float]]:
    heard = AcceptLog()
    logging.getLogger("slotqueue.offers").addHandler(heard)
    logging.getLogger("slotqueue.offers").setLevel(logging.INFO)
    found: dict[str, list[float]] = {"attempt": [], "answered": [], "dispatch": []}
    try:
        with harness.fresh_database("bench_offers", server) as url, \
                harness.service(url, booking_mode="offer", booker="sim") as svc, \
                svc.connect(autocommit=True) as conn:
            places = harness.add_locations(conn, 1)
            entries = harness.add_paid_customers(svc, offers + 1, places)
            weekdays = common.Weekdays(places, harness.honolulu_today(conn))
            for _ in range(offers):
                common.insert_opened(conn, *weekdays.next())
            booker = svc.booker()
            made = svc.dispatch_once(booker).offers_made_count
            if made != offers:
                raise RuntimeError(f"{made} offers made, {offers} wanted")
            for entry_id in entries[:offers]:
                offer_id = svc.app.entry(entry_id).offer_id
                started = time.perf_counter()
                answer = svc.app.accept_offer(offer_id, "link", svc.clock.now(), booker)
                found["answered"].append((time.perf_counter() - started) * 1000)
                if answer.status != "booked":
                    raise RuntimeError(f"offer {offer_id}: {answer.status}")
            found["attempt"] = list(heard.ms)
            svc.app.set_booking_mode(entries[offers], "auto", svc.clock.now(), "bench")
            common.insert_opened(conn, *weekdays.next())
            started = time.perf_counter()
            summary = svc.dispatch_once(booker)
            found["dispatch"].append((time.perf_counter() - started) * 1000)
            if summary.booking_attempt_count != 1:
                raise RuntimeError(f"reference: {summary.booking_attempt_count} attempts")
    finally:
        logging.getLogger("slotqueue.offers").removeHandler(heard)
    return found


def main() -> int:
    p = common.parser(__doc__, runs=5, quick_runs=2)
    common.sized(p, "--offers", int, 100, 20, "offers accepted per run")
    args = common.parse(p)
    figures = common.Figures(f"offers: accept → booking attempt recorded, {args.offers} "
                             "accepts a run", command="python " + " ".join(sys.argv))
    runs: list[dict[str, list[float]]] = []
    for n in range(common.runs(args)):
        harness.progress(f"run {n + 1}")
        runs.append(one_run(args.server_url, args.offers))
    dispatch = [common.median(r["dispatch"]) for r in runs]
    reference = ("a plain dispatcher booking attempt (dispatch_once) "
                 f"{common.median(dispatch):.1f} ms")
    for key, name in (("attempt", "accept → attempt recorded"),
                      ("answered", "accept → booked (answer recorded)")):
        for p_name, p_value in (("p50", 50), ("p99", 99)):
            values = [common.percentile(r[key], p_value) for r in runs]
            figures.add(f"{name} {p_name}", values, "ms", reference=reference,
                        goal=GOAL_MS if key == "attempt" and p_name == "p99" else None)
    figures.add("reference: dispatch_once with one auto booking", dispatch, "ms")
    info: dict[str, Any] = {"accepts": sum(len(r["attempt"]) for r in runs)}
    figures.info.update(info)
    figures.print(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
