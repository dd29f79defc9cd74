"""Benchmark 14: message recorded → provider called, and deliveries per second, under one
`slotqueue deliver` worker sending through a fake Twilio.

The worker (SLOTQUEUE_SMS_PROVIDER=twilio, SLOTQUEUE_DELIVERY_CONCURRENCY sender threads,
default 4) sends to the fake Twilio of the tests (tests/integration/fake_twilio.py), which runs
in this process and answers every request at once with 201 (no failures, no latency, no
callbacks). Each message is the `status` text a cancel records; its customer joined
beforehand, in bulk, so only the message is recorded during a measurement.

  latency     --messages texts recorded one at a time, spaced uniformly in [0.5, 1.5] x
              --every seconds (so they land at every phase of the worker's loops). Measured
              from the moment the cancel's transaction committed (its command returned here)
              to the fake's receipt of the request (the whole request read); both are
              time.monotonic() in this process. Also from the command's start (when it read
              the database's clock for message_log.sent_at), to show what the save adds.
  burst       --burst entries canceled as fast as this process can record them (100 per
              transaction) while the worker is idle: deliveries per second = N / (the fake's
              last receipt - the first commit), and N / (the last `Sent` recorded - the first
              commit).
  reference   in the same run, a plain HTTP client (requests, a keep-alive session per thread,
              as many threads as the worker has senders, in a process of its own) POSTing the
              same Messages request to the same fake N times: the fake's own request rate.

Goal (service §3): a message recorded reaches the provider within 1 s (p99).
"""
# ruff: noqa: S311 - seeded randomness makes the arrival pattern repeatable

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import common
import psycopg
import requests

from slotqueue.aggregates.customer import Customer
from slotqueue.aggregates.queue_entry import QueueEntry
from slotqueue.scripts import harness

# The fake Twilio the tests use, from this checkout (a benchmark runs from the repository).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from fake_twilio import FROM, SID, TOKEN, FakeTwilio

GOAL_SECONDS = 1.0
SENT = "slotqueue.aggregates.delivery:Delivery.Sent"  # the topic of a text recorded sent
BODY = "DMV Queue: your place in the line is canceled."  # the status text the worker sends


@dataclass
class Joined:
    entry_id: UUID
    phone: str


def _join(svc: Any, count: int, first: int) -> list[Joined]:
    """Customers with an open entry (what `join` records), 50 per save; no message yet."""
    with svc.connect() as conn:
        now = harness.db_now(conn)
    joined, pending = [], []
    for n in range(first, first + count):
        customer = Customer(phone=f"+1808{6000000 + n:07d}", email=None, at=now)
        entry = QueueEntry(customer_id=customer.id, sequence=1, at=now)
        customer.open_entry(entry.id, now)
        pending += [customer, entry]
        joined.append(Joined(entry.id, customer.phone))
        if len(pending) >= harness.SAVE_LIMIT:
            svc.app.save(*pending)
            pending = []
    if pending:
        svc.app.save(*pending)
    return joined


def _worker(url: str, fake: FakeTwilio, concurrency: int) -> Any:
    env = harness.cli_env(url, SLOTQUEUE_SMS_PROVIDER="twilio", SLOTQUEUE_TWILIO_ACCOUNT_SID=SID,
                          SLOTQUEUE_TWILIO_AUTH_TOKEN=TOKEN, SLOTQUEUE_TWILIO_FROM=FROM,
                          SLOTQUEUE_TWILIO_API_BASE=fake.base_url,
                          SLOTQUEUE_DELIVERY_CONCURRENCY=str(concurrency))
    log = harness.workdir() / "deliver.log"
    proc = harness.ProcessSet.slotqueue(["deliver"], env, log)

    def started() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"slotqueue deliver exited ({proc.returncode}): {log}")
        return bool(harness.log_events(log, "delivery worker started"))

    if not harness.wait_until(started, 60, 0.1):
        raise RuntimeError(f"slotqueue deliver did not start in 60 s: {log}")
    harness.progress(f"slotqueue deliver (pid {proc.pid}) started; log {log}")
    return proc


def _received(fake: FakeTwilio, phones: list[str], seconds: float) -> dict[str, float]:
    """phone → when the fake received its text, once all arrived (bounded)."""
    wanted = set(phones)

    def arrived() -> dict[str, float]:
        return {r.to: r.at for r in list(fake.received) if r.to in wanted}

    harness.wait_until(lambda: len(arrived()) == len(wanted), seconds, 0.05)
    return arrived()


def _latency(svc: Any, fake: FakeTwilio, joined: list[Joined], every: float,
             rng: random.Random) -> dict[str, list[float]]:
    """Records the messages one at a time; seconds from the commit (and from the command's
    start) to the fake's receipt."""
    started, committed = {}, {}
    due = time.monotonic()
    for n, one in enumerate(joined):
        due += every * rng.uniform(0.5, 1.5)
        time.sleep(max(due - time.monotonic(), 0))
        started[one.phone] = time.monotonic()
        svc.app.cancel(one.entry_id, svc.clock.now())
        committed[one.phone] = time.monotonic()
        if (n + 1) % 100 == 0:
            harness.progress(f"  {n + 1}/{len(joined)} messages recorded")
    got = _received(fake, list(committed), 30)
    return {"commit": [got[p] - committed[p] for p in committed if p in got],
            "start": [got[p] - started[p] for p in started if p in got],
            "command": [committed[p] - started[p] for p in committed],
            "missing": [1.0] * (len(committed) - len(got))}


def _sent_count(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM slotqueue.queue_events WHERE topic = %s", (SENT,))
    return int(row.fetchone()[0])  # type: ignore[index]


def _burst(svc: Any, url: str, fake: FakeTwilio, joined: list[Joined]) -> dict[str, float]:
    """Cancels every entry, SAVE_LIMIT per transaction; rates from the first commit."""
    with psycopg.connect(url, autocommit=True) as conn:
        sent_before = _sent_count(conn)
        entries = [svc.app.entry(one.entry_id) for one in joined]
        now = harness.db_now(conn)
        first: float | None = None
        for start in range(0, len(entries), harness.SAVE_LIMIT):
            batch = entries[start:start + harness.SAVE_LIMIT]
            for entry in batch:
                entry.cancel(now, None)
            svc.app.save(*batch)
            first = first or time.monotonic()
        recorded = time.monotonic()
        assert first is not None
        done = harness.wait_until(
            lambda: _sent_count(conn) - sent_before >= len(joined), 120, 0.01)
        all_sent = time.monotonic()
    got = _received(fake, [one.phone for one in joined], 30)
    if not done or len(got) < len(joined):
        raise RuntimeError(f"burst: {len(got)} of {len(joined)} texts reached the fake")
    return {"provider": len(joined) / (max(got.values()) - first),
            "recorded": len(joined) / (all_sent - first), "record_seconds": recorded - first}


def _reference(fake: FakeTwilio, count: int, concurrency: int) -> float:
    """The fake's own request rate under a plain client in a process of its own."""
    done = subprocess.run(  # noqa: S603 - this interpreter, this script
        [sys.executable, str(Path(__file__).resolve()), "client", fake.base_url, str(count),
         str(concurrency)], capture_output=True, text=True, timeout=300, check=True)
    answer = json.loads(done.stdout)
    if answer["ok"] != count:
        raise RuntimeError(f"reference client: {answer}")
    return float(count / answer["seconds"])


def client(base: str, count: int, concurrency: int) -> int:
    """The reference: `count` Messages requests, `concurrency` threads, a session each."""
    url = f"{base}/2010-04-01/Accounts/{SID}/Messages.json"
    left = iter(range(count))
    lock, ok = threading.Lock(), [0]

    def post() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    n = next(left, None)
                if n is None:
                    return
                answer = session.post(url, auth=(SID, TOKEN), timeout=10, data={
                    "To": f"+1808{7000000 + n:07d}", "From": FROM, "Body": BODY,
                    "StatusCallback": "http://127.0.0.1:9/v1/webhooks/twilio/status"})
                with lock:
                    ok[0] += answer.status_code == 201

    threads = [threading.Thread(target=post) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"seconds": time.perf_counter() - started, "ok": ok[0]}))
    return 0


def _one_run(svc: Any, url: str, fake: FakeTwilio, args: Any, rng: random.Random, run: int
             ) -> dict[str, Any]:
    first = run * (args.messages + args.burst)
    joined = _join(svc, args.messages + args.burst, first)
    harness.progress(f"run {run + 1}: {args.messages} messages ~{args.every:g} s apart")
    out: dict[str, Any] = _latency(svc, fake, joined[:args.messages], args.every, rng)
    harness.progress(f"run {run + 1}: a burst of {args.burst} messages")
    out["burst"] = _burst(svc, url, fake, joined[args.messages:])
    out["reference"] = _reference(fake, args.burst, args.concurrency)
    return out


def main() -> int:
    if sys.argv[1:2] == ["client"]:
        return client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    p = common.parser(__doc__, runs=3, quick_runs=1)
    common.sized(p, "--messages", int, 300, 40, "messages recorded one at a time, per run")
    common.sized(p, "--burst", int, 1000, 200, "messages in the burst, per run")
    p.add_argument("--every", type=float, default=0.1,
                   help="mean seconds between two messages recorded one at a time (default 0.1)")
    p.add_argument("--concurrency", type=int, default=4,
                   help="the worker's SLOTQUEUE_DELIVERY_CONCURRENCY, and the reference "
                        "client's threads (default 4, the setting's default)")
    p.add_argument("--seed", type=int, default=9, help="random seed (default 9)")
    args = common.parse(p)
    repeats = common.runs(args)
    figures = common.Figures("deliveries: message recorded → provider called; deliveries/s",
                             command="python " + " ".join(sys.argv))
    fake = FakeTwilio().start()
    try:
        with harness.fresh_database("bench_deliveries", args.server_url, keep=args.keep) as url, \
                harness.service(url) as svc:
            figures.info.update(common.machine(url))
            figures.info["worker"] = (f"one `slotqueue deliver`, {args.concurrency} senders, "
                                      "fake Twilio answering 201 at once")
            figures.info["messages"] = (f"{args.messages} one at a time ~{args.every:g} s "
                                        f"apart, then a burst of {args.burst}; "
                                        f"{repeats} run(s)")
            proc = _worker(url, fake, args.concurrency)
            rng = random.Random(args.seed)
            runs = [_one_run(svc, url, fake, args, rng, n) for n in range(repeats)]
            figures.info["worker exit on SIGTERM"] = harness.stop(proc)
    finally:
        fake.stop()
    _report(figures, runs)
    figures.print(args.json)
    return 0


def _report(figures: common.Figures, runs: list[dict[str, Any]]) -> None:
    for p in (50, 95, 99):
        figures.add(f"commit → provider called p{p}",
                    [common.percentile(r["commit"], p) for r in runs], "s",
                    goal=GOAL_SECONDS if p == 99 else None)
    figures.add("command start → provider called p99",
                [common.percentile(r["start"], 99) for r in runs], "s",
                note="includes the cancel's own save")
    figures.add("cancel command (load, save, commit) p50",
                [common.median(r["command"]) for r in runs], "s")
    figures.add("messages measured", [len(r["commit"]) for r in runs], "",
                note=f"missing {sum(len(r['missing']) for r in runs)}")
    reference = [r["reference"] for r in runs]
    ref = f"fake's own rate {common.median(reference):.0f}/s"
    figures.add("burst: provider called", [r["burst"]["provider"] for r in runs], "msg/s",
                reference=ref)
    figures.add("burst: recorded sent", [r["burst"]["recorded"] for r in runs], "msg/s",
                reference=ref)
    figures.add("burst: ratio to the reference",
                [r["burst"]["provider"] / r["reference"] for r in runs], "")
    figures.add("reference: plain client → fake", reference, "req/s",
                note="same concurrency, own process")
    figures.add("burst: recording it (100 per transaction)",
                [r["burst"]["record_seconds"] for r in runs], "s")


if __name__ == "__main__":
    sys.exit(main())
