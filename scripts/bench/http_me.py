"""Benchmark 11: `GET /v1/me` at a steady rate, and at saturation, beside a bare endpoint.

A fresh database with --queue customers (seeded through the command path, half paid), then one
more customer who joins over HTTP (the code read from serve's console SMS line): last in line,
so the rank query counts everyone ahead. `slotqueue serve` runs as a subprocess with its
dispatcher and projections beside the API, as in production, but with its delivery worker off
(SLOTQUEUE_DELIVERY_WORKER=false): the seeded queue's ~10,000 messages (a deposit asked for
and one received per paid customer) were never sent, and
a worker draining them took 40 % of the process during the measurement (py-spy), a backlog no
steady state has. The reference, started in the
same run on the same host: a bare FastAPI endpoint returning a constant, in its own uvicorn
process configured as `serve` configures uvicorn.

Each run measures both (in alternating order):
  steady      GET at --rate requests/s for --seconds, open loop (wrk2-style: each request is
              due at a fixed time and its latency counts from then, so a stall shows in the
              requests behind it) over at most --open-connections keep-alive connections;
              after a --warm-up at the same rate, not counted
  saturation  wrk, --connections connections for --wrk-seconds: requests/s (closed loop)
Goals (issue 9): p99 ≤ 20 ms at 200 req/s with no errors; throughput at saturation ≥ 0.5 of
the bare endpoint's. The load generator shares the machine (2 cores) with both servers; its own
lateness is reported.
"""

from __future__ import annotations

import sys
from typing import Any

import common
import http_common as web
import httpx

from slotqueue.scripts import harness
from slotqueue.scripts.seeding import seed_customers

GOAL_P99_MS = 20.0
GOAL_RATIO = 0.5
PHONE, E164 = "808-555-0199", "+18085550199"


def _steady(url: str, rate: float, seconds: float, warm_up: float,
            headers: dict[str, str] | None, connections: int) -> web.Load:
    if warm_up > 0:
        web.open_loop(url, rate, warm_up, headers, connections)
    return web.open_loop(url, rate, seconds, headers, connections)


def _run(me: str, bare: str, auth: dict[str, str], args: Any, flip: bool
         ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    targets = [("me", me, auth), ("bare", bare, None)]
    for name, url, headers in (reversed(targets) if flip else targets):
        harness.progress(f"  {name}: {args.rate:g} req/s for {args.seconds:g} s")
        out[f"{name} steady"] = _steady(url, args.rate, args.seconds, args.warm_up, headers,
                                        args.open_connections)
        if web.have_wrk():
            harness.progress(f"  {name}: saturation, {args.connections} connections")
            out[f"{name} saturation"] = web.wrk(url, args.wrk_seconds, args.connections,
                                                headers)
    return out


def _one_run(run: dict[str, Any]) -> str:
    me, bare = run["me steady"], run["bare steady"]
    text = (f"/v1/me p50 {_ms(me.latencies, 50):.1f} p99 {_ms(me.latencies, 99):.1f} ms, "
            f"failed {me.failures or 0}; bare p50 {_ms(bare.latencies, 50):.1f} p99 "
            f"{_ms(bare.latencies, 99):.1f} ms, failed {bare.failures or 0}")
    if "me saturation" in run:
        text += (f"; saturation {run['me saturation'].requests_per_second:.0f} vs "
                 f"{run['bare saturation'].requests_per_second:.0f} req/s")
    return text


def _ms(values: list[float], p: float) -> float:
    return common.percentile(values, p) * 1000


def _served_count(base: str) -> float:
    """What serve's own metrics counted of GET /v1/me answered 200 (a cross-check)."""
    text = httpx.get(base + "/metrics", timeout=10).text
    for line in text.splitlines():
        if (line.startswith("slotqueue_http_requests_total{") and 'route="/v1/me"' in line
                and 'status="200"' in line and 'method="GET"' in line):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def main() -> int:
    p = common.parser(__doc__, runs=3, quick_runs=1)
    common.sized(p, "--queue", int, 10_000, 500, "customers ahead in the queue")
    common.sized(p, "--seconds", float, 60, 10, "length of one steady window")
    common.sized(p, "--warm-up", float, 5, 2, "seconds at the rate before each window")
    common.sized(p, "--wrk-seconds", float, 15, 5, "length of one saturation window")
    p.add_argument("--rate", type=float, default=200, help="requests/s (default 200)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--open-connections", type=int, default=64,
                   help="connections of the steady load at most (default 64)")
    args = common.parse(p)
    figures = common.Figures(f"GET /v1/me at {args.rate:g} req/s, and at saturation",
                             command="python " + " ".join(sys.argv))
    runs: list[dict[str, Any]] = []
    with harness.fresh_database("bench_http_me", args.server_url, keep=args.keep) as url:
        figures.info.update(common.machine(url))
        with harness.service(url) as svc:
            harness.progress(f"seeding {args.queue} customers (half paid)")
            seed_customers(svc, args.queue, 0.5, 3)
            svc.catch_up()
        with web.serve(url, SLOTQUEUE_DELIVERY_WORKER="false") as served, web.bare() as bare, \
                httpx.Client(timeout=30) as client:
            token = web.join(served, client, PHONE, E164)["customer_token"]
            auth = {"Authorization": f"Bearer {token}"}
            me = client.get(served.base + "/v1/me", headers=auth).json()
            figures.info["customer"] = (f"rank {me['entry']['rank']} of a queue of "
                                        f"{args.queue + 1}; status {me['entry']['status']}")
            for run in range(common.runs(args)):
                harness.progress(f"run {run + 1}")
                runs.append(_run(served.base + "/v1/me", bare, auth, args, flip=run % 2 == 1))
            counted = _served_count(served.base)
        figures.info["serve exit code"] = served.exit_code
    _report(figures, runs, args, counted)
    figures.print(args.json)
    return 0


def _report(figures: common.Figures, runs: list[dict[str, Any]], args: Any,
            counted: float) -> None:
    def steady(name: str) -> list[web.Load]:
        return [r[f"{name} steady"] for r in runs]

    def each(name: str, fn: Any) -> list[float]:
        return [fn(load) for load in steady(name)]

    sent = sum(len(x.latencies) + x.errors for x in steady("me"))
    figures.info["set-up"] = (f"{len(runs)} runs; steady {args.rate:g} req/s for "
                              f"{args.seconds:g} s after {args.warm_up:g} s warm-up, at most "
                              f"{args.open_connections} connections; wrk "
                              f"{args.connections} connections for {args.wrk_seconds:g} s")
    figures.info["serve counted GET /v1/me 200"] = f"{counted:.0f} (the benchmark sent {sent} "
    figures.info["serve counted GET /v1/me 200"] += "measured, plus warm-ups and wrk)"
    figures.info["per run"] = [_one_run(r) for r in runs]
    bare_p99 = common.median(each("bare", lambda x: _ms(x.latencies, 99)))
    bare_p50 = common.median(each("bare", lambda x: _ms(x.latencies, 50)))
    figures.add("GET /v1/me p99 (open loop)", each("me", lambda x: _ms(x.latencies, 99)), "ms",
                reference=f"bare endpoint p99 {bare_p99:.1f} ms", goal=GOAL_P99_MS)
    figures.add("GET /v1/me p50", each("me", lambda x: _ms(x.latencies, 50)), "ms",
                reference=f"bare endpoint p50 {bare_p50:.1f} ms")
    figures.add("GET /v1/me max", each("me", lambda x: max(x.latencies) * 1000), "ms")
    figures.add("GET /v1/me errors", each("me", lambda x: float(x.errors)), "", goal=0,
                reference=f"bare {sum(each('bare', lambda x: float(x.errors))):.0f}")
    figures.add("GET /v1/me rate achieved", each("me", lambda x: x.rate), "req/s",
                reference=f"asked {args.rate:g}")
    figures.add("load generator lateness p99", each("me", lambda x: _ms(x.sent_late, 99)), "ms",
                note="how late the generator itself sent; counted in the latencies")
    figures.add("bare endpoint p99", each("bare", lambda x: _ms(x.latencies, 99)), "ms")
    if "me saturation" not in runs[0]:
        figures.info["saturation"] = "not measured: wrk is not installed (apt-get install wrk)"
        return
    me_rps = [r["me saturation"].requests_per_second for r in runs]
    bare_rps = [r["bare saturation"].requests_per_second for r in runs]
    ratios = [m / b for m, b in zip(me_rps, bare_rps, strict=True)]
    figures.add("GET /v1/me at saturation", me_rps, "req/s",
                reference=f"bare endpoint {common.median(bare_rps):.0f} req/s",
                note=f"wrk errors {sum(r['me saturation'].errors for r in runs)}; p99 "
                     f"{common.median([r['me saturation'].p99_ms or 0 for r in runs]):.1f} ms")
    figures.add("throughput ratio to the bare endpoint", ratios, "", goal=GOAL_RATIO,
                at_least=True)
    figures.add("bare endpoint at saturation", bare_rps, "req/s",
                note=f"wrk errors {sum(r['bare saturation'].errors for r in runs)}")


if __name__ == "__main__":
    sys.exit(main())
