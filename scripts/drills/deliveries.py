"""Drill: two `slotqueue deliver` workers send 1,000 texts through a fake Twilio that fails 5 %
of requests transiently (500) and 1 % permanently (21211); one worker is SIGKILLed mid-run.

The fake Twilio (tests/integration/fake_twilio.py, in this process) reports every text it
accepts to `slotqueue serve` (SLOTQUEUE_DELIVERY_WORKER=false, SLOTQUEUE_PUBLIC_URL pointing at
itself), whose status webhook settles it `delivered`. The messages are `status` texts (a
customer joins, then cancels), recorded one after another in this process while the workers
run. Once the fake has accepted --kill-at of them, worker 1 is SIGKILLed and, after
--restart-after seconds, started again (a supervisor's restart: its new process resumes from
the stored intake position and finds its old claims still `sending`). PASS when every message
has its SMS delivery, every delivery ends delivered, failed or unknown within
--settle-timeout, the fake accepted no text twice (per delivery, per phone), every text it
accepted is recorded delivered, sent or unknown, no delivery counts an attempt the fake did not
receive (or is recorded sent without the fake having it), nothing logged an error, every
process exits 0 on SIGTERM, and `slotqueue projections verify` passes.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import common
import httpx
import psycopg

from slotqueue.aggregates.delivery import Delivery
from slotqueue.scripts import harness

# The fake Twilio the tests use, from this checkout (a drill runs from the repository).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
from fake_twilio import FROM, SID, TOKEN, FakeTwilio, Received, post_form

SETTLED = {"delivered", "failed", "unknown"}
PHONES = 4_000_000  # texts go to +1 808 400-0000 and up, one message per phone


def _callback(url: str, params: dict[str, str], headers: dict[str, str]) -> int | str:
    """The fake's status callback to serve; its answer (an HTTP status, or the error's name)
    is kept in `fake.reported` instead of raising in the fake's thread."""
    try:
        return post_form(url, params, headers)
    except HTTPError as exc:
        return exc.code
    except OSError as exc:
        return type(exc).__name__


def _serve(url: str, deadline: common.Deadline) -> tuple[Any, str]:
    """`slotqueue serve` without a delivery worker, ready; its public URL is its own. Its
    dispatcher ticks once an hour: each tick asks the first ranks for deposits, which would
    add deposit requests (suppressed once the drill cancels the entry) to the drill's texts."""
    port = harness.free_port()
    public = f"http://127.0.0.1:{port}"
    env = harness.cli_env(url, SLOTQUEUE_HTTP_PORT=str(port), SLOTQUEUE_PUBLIC_URL=public,
                          SLOTQUEUE_DELIVERY_WORKER="false", SLOTQUEUE_TWILIO_AUTH_TOKEN=TOKEN,
                          SLOTQUEUE_DISPATCH_INTERVAL_SECONDS="3600")
    proc = harness.ProcessSet.slotqueue(["serve"], env, harness.workdir() / "serve.log")

    def ready() -> bool:
        if proc.poll() is not None:
            raise common.DrillFailed(f"slotqueue serve exited ({proc.returncode}); logs in "
                                     f"{harness.workdir()}")
        try:
            return httpx.get(public + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    if not harness.wait_until(ready, min(90, deadline.left()), 0.2):
        raise common.DrillFailed("slotqueue serve was not ready in 90 s")
    return proc, public


class Workers:
    """The `slotqueue deliver` processes, each logging to its own file per life."""

    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.url, self.env = url, env
        self.procs: dict[int, Any] = {}
        self.logs: list[Path] = []

    def start(self, n: int) -> str:
        """Starts worker `n`; its name once it logged that it started."""
        log = harness.workdir() / f"deliver-{n}-{len(self.logs)}.log"
        self.logs.append(log)
        proc = self.procs[n] = harness.ProcessSet.slotqueue(["deliver"], self.env, log)

        def started() -> bool:
            if proc.poll() is not None:
                raise common.DrillFailed(f"worker {n} exited ({proc.returncode}): {log}")
            return bool(harness.log_events(log, "delivery worker started"))

        if not harness.wait_until(started, 60, 0.1):
            raise common.DrillFailed(f"worker {n} did not start in 60 s: {log}")
        return str(harness.log_events(log, "delivery worker started")[0]["worker"])

    def kill(self, n: int) -> None:
        self.procs[n].send_signal(signal.SIGKILL)
        self.procs[n].wait(30)

    def stop_all(self) -> dict[int, int]:
        return {n: harness.stop(proc, 30) for n, proc in self.procs.items()}


class Recorder(threading.Thread):
    """Records the messages, one join and one cancel after another, in this process."""

    def __init__(self, url: str, count: int) -> None:
        super().__init__(name="recorder", daemon=True)
        self.url, self.count = url, count
        self.phones: dict[UUID, str] = {}  # customer id → phone
        self.seconds = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        started = time.monotonic()
        try:
            with harness.service(self.url) as svc:
                for n in range(self.count):
                    phone = f"+1808{PHONES + n:07d}"
                    joined = svc.app.join(phone, None)
                    svc.app.cancel(joined.queue_entry_id, svc.clock.now())
                    self.phones[joined.customer_id] = phone
        except BaseException as exc:  # handed to the main thread
            self.error = exc
        self.seconds = time.monotonic() - started


def _statuses(url: str) -> tuple[int, int, Counter[str]]:
    """Messages, their SMS deliveries, and the deliveries by status (the tables serve
    projects)."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        messages = conn.execute("SELECT count(*) FROM message_log").fetchone()[0]  # type: ignore[index]
        rows = conn.execute("SELECT status, count(*) FROM message_deliveries GROUP BY 1")
        by_status = Counter({str(s): int(c) for s, c in rows.fetchall()})
    return int(messages), sum(by_status.values()), by_status


def _settle(url: str, count: int, seconds: float) -> tuple[float, str | None]:
    """Seconds until every message has a delivery and none is queued, sending or sent; what
    was left when that did not happen within `seconds`."""
    started = time.monotonic()

    def settled() -> bool:
        messages, deliveries, by_status = _statuses(url)
        return messages == deliveries == count and set(by_status) <= SETTLED

    if harness.wait_until(settled, seconds, 0.25):
        return time.monotonic() - started, None
    messages, deliveries, by_status = _statuses(url)
    return seconds, (f"not settled {seconds:g} s after the last message: {messages} messages, "
                     f"{deliveries} deliveries {dict(by_status)}")


def _delivery_of(request: Received, by_phone: dict[str, UUID]) -> UUID | None:
    """The delivery a request to the fake was for: its StatusCallback names it."""
    query = parse_qs(urlsplit(request.status_callback or "").query)
    found = query.get("delivery", [None])[0]
    return UUID(found) if found else by_phone.get(request.to)


def _deliveries(url: str, phones: dict[UUID, str]) -> tuple[dict[UUID, dict[str, Any]], int,
                                                             dict[str, UUID]]:
    """Every SMS delivery by id, the messages without one, and phone → delivery."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT m.id, m.customer_id, d.id, d.status, d.attempts, d.last_error "
            "FROM message_log m LEFT JOIN message_deliveries d "
            "ON d.message_id = m.id AND d.channel = 'sms'").fetchall()
    found, missing, by_phone = {}, 0, {}
    for message_id, customer_id, delivery_id, status, attempts, error in rows:
        if delivery_id is None or delivery_id != Delivery.create_id(message_id, "sms"):
            missing += 1
            continue
        found[delivery_id] = {"status": status, "attempts": attempts, "error": error or ""}
        if customer_id in phones:
            by_phone[phones[customer_id]] = delivery_id
    return found, missing, by_phone


CLAIMS_SQL = """SELECT originator_id::text, convert_from(state, 'UTF8')::jsonb->>'attempt'
FROM slotqueue.queue_events WHERE topic = %s
  AND convert_from(state, 'UTF8')::jsonb->>'worker' = %s"""


def _in_flight(url: str, worker: str, log: Path) -> Counter[str]:
    """The killed worker's claims it never settled (no `delivery` line in its log, which it
    writes once the outcome is saved), by the status each delivery ended in."""
    logged = {(e["delivery_id"], str(e["attempt"])) for e in harness.log_events(log, "delivery")}
    with psycopg.connect(url) as conn:
        claims = conn.execute(CLAIMS_SQL, (common.TOPIC.format(
            "delivery:Delivery.SendingStarted"), worker)).fetchall()
        cut = [UUID(i) for i, attempt in claims if (i, attempt) not in logged]
        rows = conn.execute("SELECT status FROM message_deliveries WHERE id = ANY(%s)", (cut,))
        return Counter(str(row[0]) for row in rows.fetchall())


def _check(url: str, fake: FakeTwilio, phones: dict[UUID, str], killed: str
           ) -> tuple[dict[str, Any], list[str]]:
    """The figures and the broken invariants, from the tables and what the fake received."""
    harness.catch_up(url)
    deliveries, missing, by_phone = _deliveries(url, phones)
    requests: Counter[UUID | None] = Counter()
    accepted: Counter[UUID | None] = Counter()
    accepted_to: Counter[str] = Counter()
    answers: Counter[str] = Counter()
    for request in list(fake.received):
        delivery = _delivery_of(request, by_phone)
        requests[delivery] += 1
        answers[str(request.answered)] += 1
        if request.answered == 201:
            accepted[delivery] += 1
            accepted_to[request.to] += 1
    statuses = Counter(d["status"] for d in deliveries.values())
    unknown = [i for i, d in deliveries.items() if d["status"] == "unknown"]
    twice = [i for i, n in accepted.items() if n > 1]
    twice_to = [p for p, n in accepted_to.items() if n > 1]
    lost = [i for i in accepted if i not in deliveries
            or deliveries[i]["status"] not in ("sent", "delivered", "unknown")]
    phantom = [i for i, d in deliveries.items() if d["status"] in ("sent", "delivered")
               and accepted[i] != 1]
    miscounted = [i for i, d in deliveries.items() if d["status"] != "unknown"
                  and d["attempts"] != requests[i]]
    callbacks = Counter(f"{p.get('MessageStatus')} {answer}" for _, p, answer in fake.reported)
    figures = {
        "messages": len(phones), "message_log_rows": len(deliveries) + missing,
        "deliveries": dict(sorted(statuses.items())),
        "fake_requests": sum(requests.values()), "fake_answers": dict(sorted(answers.items())),
        "fake_accepted": sum(accepted.values()),
        "retried_deliveries": sum(1 for d in deliveries.values() if d["attempts"] > 1),
        "attempts_max": max((d["attempts"] for d in deliveries.values()), default=0),
        "failed_permanently": sum(1 for d in deliveries.values() if d["status"] == "failed"
                                  and d["error"].startswith("twilio 21211")),
        "unknown": len(unknown),
        "unknown_interrupted_by_the_kill": sum(killed in deliveries[i]["error"]
                                               for i in unknown),
        "unknown_the_fake_accepted": sum(accepted[i] for i in unknown),
        "unknown_requests_the_fake_received": sum(requests[i] for i in unknown),
        "status_callbacks": dict(sorted(callbacks.items())),
        "sent_twice": len(twice), "phones_texted_twice": len(twice_to),
        "lost": missing + len(lost), "phantom_sends": len(phantom),
    }
    problems = [f"{len(twice)} texts accepted twice (e.g. {twice[:3]})"] if twice else []
    if twice_to:
        problems.append(f"{len(twice_to)} phones got their text twice")
    if missing:
        problems.append(f"{missing} messages without their SMS delivery")
    if lost:
        problems.append(f"{len(lost)} texts the fake accepted recorded otherwise (e.g. "
                        f"{[(str(i), deliveries.get(i, {}).get('status')) for i in lost[:3]]})")
    if phantom:
        problems.append(f"{len(phantom)} deliveries recorded sent that the fake did not accept "
                        f"exactly once (e.g. {phantom[:3]})")
    if miscounted:
        problems.append(f"{len(miscounted)} deliveries whose attempts differ from the requests "
                        f"the fake received (e.g. {miscounted[:3]})")
    if set(statuses) - SETTLED:
        problems.append(f"deliveries not settled: {dict(statuses)}")
    if len(deliveries) + missing != len(phones):
        problems.append(f"{len(deliveries) + missing} message_log rows for {len(phones)} "
                        "messages recorded")
    failed = common.verify(url)
    figures["projections_verify"] = "fail" if failed else "ok"
    return figures, problems + ([failed] if failed else [])


def _errors_logged() -> dict[str, int]:
    """Error lines in each process's log."""
    found = {}
    for log in sorted(harness.workdir().glob("*.log")):
        errors = [e for e in harness.log_events(log) if e.get("level") in ("error", "critical")]
        if errors:
            found[log.name] = len(errors)
    return found


def run(args: Any, deadline: common.Deadline) -> dict[str, Any]:
    fake = FakeTwilio(callbacks=_callback, latency=args.provider_latency).start()
    fake.failing(transient=args.transient, permanent=args.permanent, seed=args.seed)
    try:
        with common.drill_database(args, "deliveries") as url:
            return _drill(url, fake, args, deadline)
    finally:
        fake.stop()


def _drill(url: str, fake: FakeTwilio, args: Any, deadline: common.Deadline) -> dict[str, Any]:
    serve, public = _serve(url, deadline)
    workers = Workers(url, harness.cli_env(
        url, SLOTQUEUE_SMS_PROVIDER="twilio", SLOTQUEUE_TWILIO_ACCOUNT_SID=SID,
        SLOTQUEUE_TWILIO_AUTH_TOKEN=TOKEN, SLOTQUEUE_TWILIO_FROM=FROM,
        SLOTQUEUE_TWILIO_API_BASE=fake.base_url, SLOTQUEUE_PUBLIC_URL=public,
        SLOTQUEUE_DELIVERY_TIMEOUT_SECONDS=f"{args.provider_timeout:g}",
        SLOTQUEUE_DELIVERY_CONCURRENCY=str(args.concurrency)))
    killed = workers.start(1)
    workers.start(2)
    recorder, kill = _record_and_kill(url, fake, workers, args, deadline)
    settle, unsettled = _settle(url, args.messages, min(args.settle_timeout, deadline.left()))
    exits = {**{f"worker {n}": code for n, code in workers.stop_all().items()},
             "serve": harness.stop(serve, 60)}
    figures, problems = _check(url, fake, recorder.phones, killed)
    kill["its_sends_in_flight_ended"] = dict(_in_flight(url, killed, workers.logs[0]))
    errors = _errors_logged()
    figures = {"workers": 2, "senders_per_worker": args.concurrency, "kill": kill, **figures,
               "record_seconds": round(recorder.seconds, 1),
               "settle_seconds_after_last_message": round(settle, 1),
               "sends_logged_per_worker_life": {log.name: common.logged(log, "delivery")
                                                for log in workers.logs},
               "errors_logged": errors, "exits": exits}
    problems = [*([unsettled] if unsettled else []), *problems,
                *(f"{what} exited {code}" for what, code in exits.items() if code != 0),
                *([f"errors logged: {errors}"] if errors else [])]
    if problems:
        raise common.DrillFailed("; ".join(problems), figures)
    return figures


def _record_and_kill(url: str, fake: FakeTwilio, workers: Workers, args: Any,
                     deadline: common.Deadline) -> tuple[Recorder, dict[str, Any]]:
    """Records the messages in a thread; SIGKILLs worker 1 once the fake has accepted
    --kill-at of them, and restarts it after --restart-after seconds."""
    recorder = Recorder(url, args.messages)
    started = time.monotonic()
    recorder.start()
    threshold = max(1, int(args.messages * args.kill_at))
    if not harness.wait_until(lambda: len(fake.accepted()) >= threshold or
                              not recorder.is_alive(), deadline.left(), 0.01):
        raise common.DrillFailed("timed out before the kill")
    workers.kill(1)
    kill = {"at_seconds": round(time.monotonic() - started, 2),
            "fake_accepted_then": len(fake.accepted()), "restarted": args.restart_after >= 0}
    if args.restart_after >= 0:
        time.sleep(args.restart_after)
        workers.start(1)
    recorder.join(deadline.left())
    if recorder.error is not None or recorder.is_alive():
        raise common.DrillFailed(f"recording the messages failed: {recorder.error!r}")
    return recorder, kill


def main() -> int:
    p = common.parser(__doc__, timeout=600)
    p.add_argument("--messages", type=int, default=1000, help="messages (default 1000)")
    p.add_argument("--transient", type=float, default=0.05,
                   help="share of the fake's answers that are 500 (default 0.05)")
    p.add_argument("--permanent", type=float, default=0.01,
                   help="share of the fake's answers that are 400 21211 (default 0.01)")
    p.add_argument("--kill-at", type=float, default=0.4,
                   help="SIGKILL worker 1 once the fake accepted this share of the messages")
    p.add_argument("--restart-after", type=float, default=2.0,
                   help="restart the killed worker after this many seconds (negative: never)")
    p.add_argument("--provider-latency", type=float, default=0.1,
                   help="seconds the fake takes to answer a text (default 0.1, about Twilio's)")
    p.add_argument("--provider-timeout", type=float, default=2.0,
                   help="SLOTQUEUE_DELIVERY_TIMEOUT_SECONDS (default 2: a claim's lease is "
                        "twice that plus 5 s, the wait before a killed send becomes unknown)")
    p.add_argument("--concurrency", type=int, default=4,
                   help="SLOTQUEUE_DELIVERY_CONCURRENCY of each worker (default 4)")
    p.add_argument("--settle-timeout", type=float, default=90.0,
                   help="bound on the wait for every delivery to settle after the last "
                        "message (default 90)")
    return common.main(run, p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
