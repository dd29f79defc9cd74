"""`slotqueue serve` as a real process (spec service §1, §2.5): ready once its dispatcher has
run, its metrics count what it did, and SIGTERM stops it cleanly (the background work stops
after the HTTP server, exit 0)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def test_serve_gets_ready_counts_its_runs_and_stops_cleanly_on_sigterm(database_url, tmp_path):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "CI": "true",
           "SLOTQUEUE_LOG_FORMAT": "json", "SLOTQUEUE_HTTP_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "slotqueue", "serve"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _status(base + "/readyz") != 200 and proc.poll() is None:
            assert time.monotonic() < deadline, "serve was not ready within 60 s"
            time.sleep(0.1)
        assert httpx.get(base + "/healthz").json() == {"status": "alive"}
        metrics = httpx.get(base + "/metrics").text
        [runs] = [line for line in metrics.splitlines()
                  if line.startswith('slotqueue_dispatcher_runs_total{result="ok"}')]
        assert float(runs.split()[-1]) >= 1
        assert 'slotqueue_http_requests_total{method="GET",route="/readyz",status="200"}' \
            in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    assert events[-1] == "stopped", events[-5:]
