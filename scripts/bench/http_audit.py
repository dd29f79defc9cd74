"""Benchmark 12: `GET /v1/audit/customers/{id}` for a customer with 1,000 events, warm.

Builds one customer through the application's commands (join, then pause/resume cycles, one
save each) until the customer and the entry hold --events events together, as benchmark 6
does; makes an auditor key; starts `slotqueue serve` as a subprocess (dispatcher and
projections beside the API). After --warm-up requests, each run times --requests sequential
requests on one keep-alive connection (what an auditor's page does), start to full answer.

References, same run: the endpoint's work in-process (projections.audit.customer_audit on a
connection, the same call the route makes, without HTTP and JSON), the raw SQL read of the
stored events, and `GET /healthz` on the same server (the HTTP floor: a route that reads
nothing). Goal (issue 9): p99 ≤ 50 ms warm.
"""

from __future__ import annotations

import sys
import time
from typing import Any
from uuid import UUID

import common
import http_common as web
import httpx
import psycopg

from slotqueue.projections import audit
from slotqueue.scripts import harness

GOAL_P99_MS = 50.0


def _sequential(client: httpx.Client, url: str, count: int) -> tuple[list[float], int]:
    """Milliseconds of each of `count` requests in a row, and how many failed."""
    took, failed = [], 0
    for _ in range(count):
        started = time.perf_counter()
        answer = client.get(url)
        took.append((time.perf_counter() - started) * 1000)
        failed += answer.status_code != 200
    return took, failed


def _in_process(svc: Any, customer_id: UUID, count: int) -> list[float]:
    took = []
    with svc.connect() as conn:
        for _ in range(count):
            took.append(common.timed(
                lambda c=conn: audit.customer_audit(svc.app, c, customer_id, None)) * 1000)
    return took


def _raw_read(url: str, ids: list[UUID]) -> tuple[float, int]:
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        rows = conn.execute(common.EVENTS_SQL, (ids,)).fetchall()
        return (time.perf_counter() - started) * 1000, len(rows)


def main() -> int:
    p = common.parser(__doc__, runs=5, quick_runs=2)
    common.sized(p, "--events", int, 1000, 200, "events in the customer's history")
    common.sized(p, "--requests", int, 200, 40, "requests timed per run")
    p.add_argument("--warm-up", type=int, default=20, help="requests before timing (20)")
    args = common.parse(p)
    figures = common.Figures(f"GET /v1/audit/customers/{{id}}, a customer with {args.events} "
                             "events", command="python " + " ".join(sys.argv))
    http, healthz, work, raw, failures = [], [], [], [], 0
    with harness.fresh_database("bench_http_audit", args.server_url, keep=args.keep) as url:
        figures.info.update(common.machine(url))
        with harness.service(url) as svc:
            harness.progress(f"building a customer with {args.events} events through commands")
            customer_id, ids = common.customer_with_events(svc, args.events)
            key = svc.app.create_api_key("bench-auditor", "auditor", svc.clock.now(), "bench")
            svc.catch_up()
            stored = common.events_of(svc, ids)
            with web.serve(url) as served, httpx.Client(
                    timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:
                target = f"{served.base}/v1/audit/customers/{customer_id}"
                first = client.get(target)
                if first.status_code != 200:
                    raise RuntimeError(f"audit answered {first.status_code}: {first.text[:300]}")
                shown = len(first.json()["events"])
                _sequential(client, target, args.warm_up)
                _sequential(client, served.base + "/healthz", args.warm_up)
                for run in range(common.runs(args)):
                    harness.progress(f"run {run + 1}: {args.requests} requests")
                    took, failed = _sequential(client, target, args.requests)
                    http.append(took)
                    failures += failed
                    healthz.append(_sequential(client, served.base + "/healthz",
                                               args.requests)[0])
                    work.append(_in_process(svc, customer_id, min(args.requests, 50)))
                    raw.append(_raw_read(url, ids)[0])
            figures.info["serve exit code"] = served.exit_code
    figures.info["history"] = (f"{stored} stored events (customer + 1 entry); the answer lists "
                               f"{shown} events")
    figures.info["set-up"] = (f"{len(http)} runs of {args.requests} sequential requests on one "
                              f"keep-alive connection, after {args.warm_up} warm-up requests")
    _report(figures, http, healthz, work, raw, failures)
    figures.print(args.json)
    return 0


def _report(figures: common.Figures, http: list[list[float]], healthz: list[list[float]],
            work: list[list[float]], raw: list[float], failures: int) -> None:
    def per_run(series: list[list[float]], p: float) -> list[float]:
        return [common.percentile(run, p) for run in series]

    work_p50 = common.median(per_run(work, 50))
    figures.add("GET /v1/audit/customers/{id} p99", per_run(http, 99), "ms", goal=GOAL_P99_MS,
                reference=f"the same work in-process p50 {work_p50:.1f} ms, p99 "
                          f"{common.median(per_run(work, 99)):.1f} ms; GET /healthz p99 "
                          f"{common.median(per_run(healthz, 99)):.1f} ms")
    figures.add("GET /v1/audit/customers/{id} p50", per_run(http, 50), "ms",
                reference=f"in-process p50 {work_p50:.1f} ms; GET /healthz p50 "
                          f"{common.median(per_run(healthz, 50)):.2f} ms")
    figures.add("GET /v1/audit/customers/{id} max", [max(run) for run in http], "ms")
    figures.add("failed requests", float(failures), "", goal=0)
    figures.add("customer_audit in-process p50", per_run(work, 50), "ms")
    figures.add("raw SQL read of the events", raw, "ms")
    figures.add("GET /healthz p99 (same server)", per_run(healthz, 99), "ms")


if __name__ == "__main__":
    sys.exit(main())
