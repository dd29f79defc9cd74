"""Benchmark 8: CPU of an idle `slotqueue run` (a queue, no openings), as % of one core.

On a fresh database with --customers paid customers and no openings, starts `slotqueue run`
(SLOTQUEUE_DISPATCH_INTERVAL_SECONDS = --interval, 0.2 s, the default setting of issue 7) and,
beside it, the reference; waits until the service logged "dispatcher ready" and --settle more
seconds, then measures --runs windows of --seconds each. CPU time is read from
/proc/<pid>/stat (utime + stime of the process and its live descendants, plus what its
waited-for children used), at the start and the end of each window.

Reference, measured in the same windows: a bare Python process running an APScheduler
interval job at the same interval that does one `SELECT 1` on a psycopg connection: the floor
of polling at all. The PostgreSQL backends serving each of the two are measured the same way
(by application_name; only when the server's processes are on this machine and readable).
Goal (issue 7 §2): ≤ 3 % of one core.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import common
import psycopg

from slotqueue.scripts import harness
from slotqueue.scripts.seeding import seed_customers

GOAL_PERCENT = 3.0
TICK = os.sysconf("SC_CLK_TCK")
REFERENCE_APP = "bench-idle-reference"


def serve_reference(url: str, interval: float) -> int:
    """The reference process: one `SELECT 1` every `interval` seconds until SIGTERM."""
    from apscheduler.schedulers.background import BackgroundScheduler  # noqa: PLC0415

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with psycopg.connect(url, autocommit=True, application_name=REFERENCE_APP) as conn:
        scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        scheduler.add_job(lambda: conn.execute("SELECT 1").fetchone(), "interval",
                          seconds=interval)
        scheduler.start()
        stop.wait()
        scheduler.shutdown()
    return 0


# --- CPU time from /proc ----------------------------------------------------------------------

def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from the 3rd on (state)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(c) for c in task.read_text().split()]
        except OSError:
            continue
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its live descendants, and the children it waited for."""
    total, todo, root = 0.0, [pid], True
    while todo:
        current = todo.pop()
        fields = _stat(current)
        if fields is None:
            continue
        used = int(fields[11]) + int(fields[12])  # utime, stime
        if root:
            used += int(fields[13]) + int(fields[14])  # cutime, cstime
            root = False
        total += used / TICK
        todo += _children(current)
    return total


def backend_pids(url: str) -> dict[str, set[int]]:
    """This database's server processes by role: the reference's, and the service's."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, application_name = %s FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
            (REFERENCE_APP,)).fetchall()
    return {"reference": {pid for pid, ref in rows if ref},
            "service": {pid for pid, ref in rows if not ref}}


def backends_cpu(pids: set[int]) -> dict[int, float]:
    return {pid: tree_cpu(pid) for pid in pids if _stat(pid) is not None}


# --- the measurement --------------------------------------------------------------------------

def _start(url: str, interval: float) -> tuple[Any, Any, Path]:
    log = harness.workdir() / "run.log"
    env = harness.cli_env(url, SLOTQUEUE_DISPATCH_INTERVAL_SECONDS=f"{interval:g}",
                          SLOTQUEUE_BOOKER="off")
    service = harness.ProcessSet.slotqueue(["run"], env, log)
    reference = harness.ProcessSet.start(
        [sys.executable, __file__, "--serve-reference", url, f"{interval:g}"],
        harness.cli_env(url), harness.workdir() / "reference.log")
    return service, reference, log


def _window(url: str, procs: dict[str, Any], seconds: float) -> dict[str, float]:
    """% of one core over one window, for each process and its backends."""
    pids = backend_pids(url)
    before = {name: tree_cpu(proc.pid) for name, proc in procs.items()}
    backends = {name: backends_cpu(pids[name]) for name in procs}
    started = time.monotonic()
    time.sleep(seconds)
    after = {name: tree_cpu(proc.pid) for name, proc in procs.items()}
    elapsed = time.monotonic() - started
    out = {}
    for name, proc in procs.items():
        if proc.poll() is not None:
            raise RuntimeError(f"the {name} process exited ({proc.returncode})")
        out[name] = 100 * (after[name] - before[name]) / elapsed
        now = backends_cpu(pids[name])
        used = [now[pid] - backends[name][pid] for pid in now if pid in backends[name]]
        out[f"{name} backends"] = 100 * sum(used) / elapsed if used else float("nan")
    return out


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-reference":
        return serve_reference(sys.argv[2], float(sys.argv[3]))
    p = common.parser(__doc__, runs=5, quick_runs=2)
    common.sized(p, "--customers", int, 3000, 500, "queue size")
    common.sized(p, "--seconds", float, 60, 10, "length of one measured window")
    common.sized(p, "--settle", float, 15, 3, "seconds to wait after 'dispatcher ready'")
    p.add_argument("--interval", type=float, default=0.2,
                   help="SLOTQUEUE_DISPATCH_INTERVAL_SECONDS of both processes (default 0.2)")
    args = common.parse(p)
    customers, seconds, settle = args.customers, args.seconds, args.settle
    figures = common.Figures("idle CPU of `slotqueue run` (a queue, no openings)",
                             command="python " + " ".join(sys.argv))
    windows = []
    with harness.fresh_database("bench_idle", args.server_url, keep=args.keep) as url:
        figures.info.update(common.machine(url))
        with harness.service(url) as svc:
            harness.progress(f"seeding {customers} customers (half paid)")
            seed_customers(svc, customers, 0.5, 3)
            svc.catch_up()
        service, reference, log = _start(url, args.interval)
        try:
            if not harness.wait_until(lambda: bool(harness.log_events(log, "dispatcher ready")),
                                      60, 0.2):
                raise RuntimeError(f"slotqueue run was not ready in 60 s: {log}")
            time.sleep(settle)
            for run in range(common.runs(args)):
                windows.append(_window(url, {"service": service, "reference": reference},
                                       seconds))
                harness.progress(f"window {run + 1}: " + ", ".join(
                    f"{k} {v:.2f} %" for k, v in windows[-1].items()))
        finally:
            codes = {"service": harness.stop(service), "reference": harness.stop(reference)}
        lines = {e.get("event") for e in harness.log_events(log)}
    _report(figures, windows, args.interval, customers, seconds, codes, lines)
    figures.print(args.json)
    return 0


def _report(figures: common.Figures, windows: list[dict[str, float]], interval: float,
            customers: int, seconds: float, codes: dict[str, int], lines: set[Any]) -> None:
    def series(key: str) -> list[float]:
        return [w[key] for w in windows]

    figures.info["set-up"] = (f"{customers} customers (half paid), no openings; interval "
                              f"{interval:g} s; {len(windows)} windows of {seconds:g} s")
    figures.info["exit codes"] = codes
    figures.info["service log events"] = sorted(str(e) for e in lines)
    reference = (f"APScheduler + SELECT 1 every {interval:g} s: "
                 f"{common.median(series('reference')):.2f} %")
    figures.add("slotqueue run, % of one core", series("service"), "%", reference=reference,
                goal=GOAL_PERCENT)
    figures.add("  its PostgreSQL backends", series("service backends"), "%",
                reference=f"the reference's backend "
                          f"{common.median(series('reference backends')):.2f} %")
    figures.add("reference process, % of one core", series("reference"), "%")
    figures.add("reference's backend", series("reference backends"), "%")


if __name__ == "__main__":
    sys.exit(main())
