"""Benchmark 13: a join storm — --joins verified joins from --clients concurrent clients.

`slotqueue serve` runs as a subprocess with the rate limits raised through its environment
(every client shares one address, and the storm is not abuse). Each join is what a customer's
phone does: `POST /v1/verifications`, the code read from serve's console SMS line (stdout),
`POST /v1/customers` with it. Then every customer's `GET /v1/me` gives their rank.

Checks: no request fails; the ranks are exactly 1..N, each once; ranked order is the order in
which the joins were recorded: `queue_entries` ordered by rank order (created_at, id) is the
event store's notification order of the `QueueEntry.Joined` events, and no two entries share a
join time.

Reference, same run and server, before the storm: --reference joins by one client, one after
another (what the storm's concurrency gains or costs per join).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from typing import Any
from uuid import UUID

import common
import http_common as web
import httpx
import psycopg

from slotqueue.scripts import harness

FIRST = 8086000000  # +1 808 600-0000 onward
JOINED_SQL = ("SELECT originator_id FROM slotqueue.queue_events "
              "WHERE topic LIKE '%%:QueueEntry.Joined' ORDER BY notification_id")
RANKED_SQL = "SELECT id, created_at FROM queue_entries ORDER BY created_at, id"


def _phone(n: int) -> str:
    return f"+1{FIRST + n}"


def _joins(served: web.Served, numbers: range, clients: int) -> tuple[list[Any], float]:
    """(phone, customer_token | None, seconds, error) of each join, and the wall time."""
    todo: queue.Queue[int] = queue.Queue()
    for n in numbers:
        todo.put(n)
    done: list[Any] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while True:
                try:
                    n = todo.get_nowait()
                except queue.Empty:
                    return
                started = time.perf_counter()
                try:
                    token, error = web.join(served, http, _phone(n), _phone(n))[
                        "customer_token"], None
                except Exception as exc:  # every failure is counted, then shown
                    token, error = None, f"{type(exc).__name__}: {exc}"[:300]
                with lock:
                    done.append((_phone(n), token, time.perf_counter() - started, error))

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done, time.perf_counter() - started


def _ranks(served: web.Served, tokens: list[str]) -> tuple[dict[UUID, int], int]:
    """Each customer's entry → rank, from GET /v1/me; and how many reads failed."""
    ranks: dict[UUID, int] = {}
    failed = 0
    with httpx.Client(timeout=30) as http:
        for token in tokens:
            answer = http.get(served.base + "/v1/me",
                              headers={"Authorization": f"Bearer {token}"})
            if answer.status_code != 200:
                failed += 1
                continue
            entry = answer.json()["entry"]
            ranks[UUID(entry["queue_entry_id"])] = entry["rank"]
    return ranks, failed


def _order_checks(url: str, ranks: dict[UUID, int]) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        recorded = [row[0] for row in conn.execute(JOINED_SQL)]
        ranked = conn.execute(RANKED_SQL).fetchall()
    by_rank = [entry for entry, _ in sorted(ranks.items(), key=lambda kv: kv[1])]
    times = [at for _, at in ranked]
    return {
        "ranks are 1..N, each once": sorted(ranks.values()) == list(range(1, len(ranks) + 1)),
        "rank order = order recorded (Joined events)": by_rank == recorded,
        "queue_entries by (created_at, id) = order recorded": [e for e, _ in ranked] == recorded,
        "no two entries share a join time": len(set(times)) == len(times),
        "entries": len(recorded),
    }


def main() -> int:
    p = common.parser(__doc__, runs=1, quick_runs=1)
    common.sized(p, "--joins", int, 1000, 100, "verified joins in the storm")
    common.sized(p, "--clients", int, 50, 10, "concurrent clients")
    common.sized(p, "--reference", int, 100, 20, "joins by one client before the storm")
    args = common.parse(p)
    figures = common.Figures(f"join storm: {args.joins} verified joins from {args.clients} "
                             "concurrent clients", command="python " + " ".join(sys.argv))
    storms = []
    for run in range(common.runs(args)):
        with harness.fresh_database("bench_join_storm", args.server_url, keep=args.keep) as url:
            figures.info.update(common.machine(url))
            with web.serve(url, SLOTQUEUE_RATE_LIMIT_PER_IP="1000000/minute",
                           SLOTQUEUE_RATE_LIMIT_PER_PHONE="100/minute") as served:
                harness.progress(f"run {run + 1}: {args.reference} joins by one client")
                alone, alone_wall = _joins(served, range(args.reference), 1)
                harness.progress(f"run {run + 1}: {args.joins} joins from {args.clients} "
                                 "clients")
                storm, wall = _joins(served, range(args.reference, args.reference + args.joins),
                                     args.clients)
                joined = alone + storm
                tokens = [token for _, token, _, _ in joined if token]
                harness.progress(f"run {run + 1}: reading {len(tokens)} ranks")
                ranks, unread = _ranks(served, tokens)
            checks = _order_checks(url, ranks)
            storms.append({"alone": alone, "alone_wall": alone_wall, "storm": storm,
                           "wall": wall, "unread": unread, "checks": checks,
                           "exit": served.exit_code})
    _report(figures, storms, args)
    figures.print(args.json)
    return 0 if all(_passed(s) for s in storms) else 1


def _passed(storm: dict[str, Any]) -> bool:
    failed = [e for *_, e in storm["alone"] + storm["storm"] if e]
    checks = storm["checks"]
    return not failed and not storm["unread"] and all(
        v for k, v in checks.items() if k != "entries")


def _report(figures: common.Figures, storms: list[dict[str, Any]], args: Any) -> None:
    def series(fn: Any) -> list[float]:
        return [fn(s) for s in storms]

    errors = [e for s in storms for *_, e in s["storm"] + s["alone"] if e]
    figures.info["set-up"] = (f"{len(storms)} run(s), a fresh database each; rate limits "
                              "raised through the environment (per address and per phone)")
    for s in storms:
        figures.info[f"checks (run {storms.index(s) + 1})"] = s["checks"]
        figures.info[f"serve exit code (run {storms.index(s) + 1})"] = s["exit"]
    if errors:
        figures.info["first errors"] = errors[:5]
    alone_rate = common.median(series(lambda s: len(s["alone"]) / s["alone_wall"]))
    alone_p99 = common.median(series(lambda s: common.percentile(
        [t for _, _, t, _ in s["alone"]], 99) * 1000))
    figures.add("failed joins or rank reads", float(len(errors) + sum(series(
        lambda s: s["unread"]))), "", goal=0)
    figures.add("ranks distinct and in recorded order", float(all(_passed(s) for s in storms)),
                "", goal=1, at_least=True, note="1 = every check held")
    figures.add("storm throughput", series(lambda s: len(s["storm"]) / s["wall"]), "joins/s",
                reference=f"one client alone {alone_rate:.1f} joins/s")
    figures.add("join latency p50 (both requests)", series(lambda s: common.percentile(
        [t for _, _, t, _ in s["storm"]], 50) * 1000), "ms",
        reference=f"one client alone p99 {alone_p99:.0f} ms")
    figures.add("join latency p99 (both requests)", series(lambda s: common.percentile(
        [t for _, _, t, _ in s["storm"]], 99) * 1000), "ms")
    figures.add("storm wall time", series(lambda s: s["wall"]), "s")


if __name__ == "__main__":
    sys.exit(main())
