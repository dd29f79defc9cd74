"""Benchmark 7: peak RSS of `slotqueue run` with a 100,000-entry queue while it dispatches.

Seeds the queue with `slotqueue seed --customers 100000 --paid-fraction 0.5` (the command path,
then a projection catch-up), then starts `slotqueue run` (sim booker) and inserts opened slots
into slot_states one at a time while sampling the RSS of its process tree every 100 ms (psutil).
Each run lasts --seconds; the service is stopped with SIGTERM and its kernel peak (ru_maxrss from
wait4) is read too. Figures are medians over --runs runs.

References, measured the same way in the same run: a bare `python -c "import
slotqueue.scripts.cli"`, and `slotqueue run` for the same time on the empty database before
seeding. Goal: peak ≤ 300 MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import common
import psutil
import psycopg

from slotqueue.scripts import harness

GOAL_MB = 300.0
MB = 1024 * 1024


@dataclass
class Sampler:
    """RSS of a process and its descendants, every `every` seconds, in a thread."""

    pid: int
    every: float = 0.1
    samples: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._loop, name="rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0
            try:
                for proc in [root, *root.children(recursive=True)]:
                    total += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                if not root.is_running():
                    return
                continue
            self.samples.append(total / MB)
            self._stop.wait(self.every)

    @property
    def peak(self) -> float:
        return max(self.samples, default=0.0)


def _reap(proc: subprocess.Popen[str]) -> float:
    """Waits for the process; its peak RSS in MB as the kernel counted it (ru_maxrss, KiB)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024


def _bare_import() -> tuple[float, float]:
    log = harness.workdir() / "bare.log"
    proc = harness.ProcessSet.start(
        [sys.executable, "-c", "import slotqueue.scripts.cli, time; time.sleep(1.5)"],
        dict(os.environ), log)
    with Sampler(proc.pid) as sampler:
        kernel = _reap(proc)
    return sampler.peak, kernel


def _service_run(url: str, seconds: float, slots: int, interval: float, tag: str
                 ) -> dict[str, Any]:
    """`slotqueue run` for `seconds`, with `slots` openings inserted one at a time."""
    log = harness.workdir() / f"run-{tag}.log"
    env = harness.cli_env(url, SLOTQUEUE_BOOKER="sim",
                          SLOTQUEUE_DISPATCH_INTERVAL_SECONDS=f"{interval:g}")
    with psycopg.connect(url, autocommit=True) as conn:
        places = [row[0] for row in conn.execute("SELECT id FROM locations ORDER BY name")]
        opened = common.Weekdays(places, harness.honolulu_today(conn))
        skip = conn.execute("SELECT count(*) FROM slot_states").fetchone()[0]  # type: ignore[index]
        for _ in range(skip):  # later runs open slots the earlier ones did not
            opened.next()
        proc = harness.ProcessSet.slotqueue(["run"], env, log)
        started = time.monotonic()
        with Sampler(proc.pid) as sampler:
            gap = seconds * 0.7 / max(slots, 1)
            for _ in range(slots):
                time.sleep(gap)
                common.insert_opened(conn, *opened.next())
            time.sleep(max(seconds - (time.monotonic() - started), 0))
            end = sampler.samples[-1] if sampler.samples else 0.0  # before shutting down
            proc.terminate()
            kernel = _reap(proc)
    runs = harness.log_events(log, "dispatch run")
    return {"peak": sampler.peak, "kernel": kernel, "samples": len(sampler.samples),
            "median": common.median(sampler.samples), "runs": len(runs),
            "end": end,
            "decided": sum(e.get("slots_decided_count", 0) for e in runs),
            "attempts": sum(e.get("booking_attempt_count", 0) for e in runs),
            "exit": proc.returncode, "log": str(log)}


def main() -> int:
    p = common.parser(__doc__, runs=3, quick_runs=1)
    common.sized(p, "--customers", int, 100_000, 5_000, "queue size")
    common.sized(p, "--seconds", float, 40, 15, "seconds of each `slotqueue run`")
    common.sized(p, "--slots", int, 20, 5, "openings inserted during each run")
    p.add_argument("--interval", type=float, default=0.2,
                   help="SLOTQUEUE_DISPATCH_INTERVAL_SECONDS (default 0.2, the default setting)")
    args = common.parse(p)
    customers, seconds, slots = args.customers, args.seconds, args.slots
    repeats = common.runs(args)
    figures = common.Figures(f"memory: peak RSS of `slotqueue run` with a {customers:,}-entry "
                             "queue while it dispatches", command="python " + " ".join(sys.argv))
    with harness.fresh_database("bench_memory", args.server_url, keep=args.keep) as url:
        figures.info.update(common.machine(url))
        harness.progress("references: bare import, then `slotqueue run` on the empty database")
        bare = [_bare_import() for _ in range(repeats)]
        empty = [_service_run(url, seconds, 0, args.interval, f"empty-{n}")
                 for n in range(repeats)]
        harness.progress(f"slotqueue seed --customers {customers} --paid-fraction 0.5")
        started = time.perf_counter()
        done = harness.slotqueue(url, "seed", "--customers", str(customers),
                                 "--paid-fraction", "0.5", "--json", timeout=7200, check=True)
        seeded = time.perf_counter() - started
        figures.info["seed"] = f"{done.stdout.strip()} ({seeded:.0f} s wall)"
        loaded = []
        for n in range(repeats):
            harness.progress(f"run {n + 1}/{repeats}: slotqueue run {seconds:g} s, {slots} slots")
            loaded.append(_service_run(url, seconds, slots, args.interval, f"loaded-{n}"))
    reference = (f"bare import {common.median([b[0] for b in bare]):.0f} MB; "
                 f"run on an empty queue {common.median([e['peak'] for e in empty]):.0f} MB")
    figures.info["runs"] = "; ".join(
        f"{r['runs']} dispatch runs, {r['decided']} slots decided, {r['attempts']} attempts, "
        f"exit {r['exit']}" for r in loaded)
    figures.add("peak RSS, process tree (100 ms samples)", [r["peak"] for r in loaded], "MB",
                reference=reference, goal=GOAL_MB)
    figures.add("peak RSS, kernel ru_maxrss", [r["kernel"] for r in loaded], "MB",
                reference=f"bare import {common.median([b[1] for b in bare]):.0f} MB; empty "
                          f"queue {common.median([e['kernel'] for e in empty]):.0f} MB",
                goal=GOAL_MB)
    figures.add("median RSS over the run", [r["median"] for r in loaded], "MB")
    figures.add("RSS at the end of the run (before SIGTERM)", [r["end"] for r in loaded], "MB")
    figures.add("reference: bare import peak", [b[0] for b in bare], "MB")
    figures.add("reference: run on an empty queue, peak", [e["peak"] for e in empty], "MB")
    figures.print(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
