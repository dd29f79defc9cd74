"""What the HTTP benchmarks (`http_me.py`, `http_audit.py`, `join_storm.py`) share: `slotqueue
serve` as a subprocess whose console SMS lines (stdout) are read for verification codes, a bare
FastAPI app on the same uvicorn settings as the reference, an open-loop load generator at a
fixed rate (wrk2-style: latency counted from when each request was due, so a stall delays the
requests behind it instead of hiding them), and wrk for throughput at saturation.

    python scripts/bench/http_common.py bare PORT     # the reference server alone
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from slotqueue.scripts import harness

BARE_PATH = "/bare"


# --- the servers ------------------------------------------------------------------------------

def serve_bare(port: int) -> int:
    """The reference: a FastAPI endpoint returning a constant, on uvicorn configured as
    `slotqueue serve` configures it (one process, no access log, no lifespan)."""
    import uvicorn  # noqa: PLC0415
    from fastapi import FastAPI  # noqa: PLC0415

    app = FastAPI()

    @app.get(BARE_PATH)
    def bare() -> dict[str, bool]:
        return {"ok": True}

    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                  access_log=False, lifespan="off", server_header=False)).run()
    return 0


@dataclass
class Served:
    """`slotqueue serve` in a subprocess; its stdout (one JSON line per SMS) is read for codes,
    its stderr (JSON logs) goes to `log`."""

    proc: subprocess.Popen[str]
    base: str
    log: Path
    codes: dict[str, str] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)
    exit_code: int | None = None

    def _read_sms(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                text = json.loads(line)
            except ValueError:
                continue
            found = re.search(r"\b(\d{6})\b", str(text.get("body", "")))
            if found:
                with self.changed:
                    self.codes[str(text.get("to"))] = found.group(1)
                    self.changed.notify_all()

    def _copy_log(self) -> None:
        assert self.proc.stderr is not None
        with self.log.open("a") as out:
            for line in self.proc.stderr:
                out.write(line)

    def code(self, e164: str, seconds: float = 30) -> str:
        """The latest code sent to the phone (waits for its SMS line)."""
        with self.changed:
            if not self.changed.wait_for(lambda: e164 in self.codes, seconds):
                raise RuntimeError(f"no code for {e164} within {seconds} s")
            return self.codes.pop(e164)


@contextmanager
def serve(url: str, **settings: str) -> Iterator[Served]:
    """`slotqueue serve` on a free port with these SLOTQUEUE_* settings, ready (readyz 200)
    when yielded; stopped with SIGTERM afterwards."""
    port = harness.free_port()
    env = harness.cli_env(url, SLOTQUEUE_HTTP_PORT=str(port), **settings)
    log = harness.workdir() / f"serve-{port}.log"
    proc = harness.ProcessSet.start([sys.executable, "-m", "slotqueue", "serve"], env)
    served = Served(proc, f"http://127.0.0.1:{port}", log)
    for target in (served._read_sms, served._copy_log):
        threading.Thread(target=target, daemon=True).start()
    try:
        if not harness.wait_until(lambda: _status(served.base + "/readyz") == 200, 90, 0.2):
            raise RuntimeError(f"slotqueue serve was not ready in 90 s: see {log}")
        yield served
    finally:
        served.exit_code = harness.stop(proc)


@contextmanager
def bare() -> Iterator[str]:
    """The reference server; yields its endpoint's URL."""
    port = harness.free_port()
    proc = harness.ProcessSet.start([sys.executable, str(Path(__file__).resolve()), "bare",
                                     str(port)],
                                    harness.cli_env(""))
    endpoint = f"http://127.0.0.1:{port}{BARE_PATH}"
    try:
        if not harness.wait_until(lambda: _status(endpoint) == 200, 30, 0.1):
            raise RuntimeError("the bare reference server did not start")
        yield endpoint
    finally:
        harness.stop(proc)


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


# --- load -------------------------------------------------------------------------------------

@dataclass
class Load:
    """One open-loop run: each request's latency from when it was due (seconds), failures by
    kind, and how late the generator sent (its own lag)."""

    latencies: list[float]
    failures: dict[str, int]
    sent_late: list[float]
    seconds: float

    @property
    def errors(self) -> int:
        return sum(self.failures.values())

    @property
    def rate(self) -> float:
        return (len(self.latencies) + self.errors) / self.seconds


def open_loop(url: str, rate: float, seconds: float, headers: dict[str, str] | None = None,
              connections: int = 64) -> Load:
    """GET `url` at a fixed `rate` for `seconds`, whatever the answers' pace, over at most
    `connections` keep-alive connections (as wrk2 does): a request due while every connection
    is busy waits for one, and its wait counts in its latency."""
    return asyncio.run(_open_loop(url, rate, seconds, headers or {}, connections))


class _Connection:
    """One keep-alive HTTP/1.1 connection, as little client work per request as can be (httpx
    costs several times more CPU per request, and the generator shares the machine)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        if length is None:
            raise ValueError("an answer without Content-Length")
        await self.reader.readexactly(int(length.group(1)))
        return status


async def _open_loop(url: str, rate: float, seconds: float, headers: dict[str, str],
                     connections: int) -> Load:
    target = httpx.URL(url)
    lines = [f"GET {target.raw_path.decode()} HTTP/1.1", f"Host: {target.host}:{target.port}",
             *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    idle: asyncio.Queue[_Connection | None] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(None)  # a slot for a connection, opened on first use
    latencies: list[float] = []
    late: list[float] = []
    failures: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2

    async def one(due: float) -> None:
        await asyncio.sleep(max(0.0, due - loop.time()))
        late.append(loop.time() - due)
        conn = await idle.get()
        try:
            if conn is None:
                conn = _Connection(*await asyncio.open_connection(target.host, target.port))
            status = await asyncio.wait_for(conn.get(request), 30)
        except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError) as exc:
            kind = type(exc).__name__
            failures[kind] = failures.get(kind, 0) + 1
            idle.put_nowait(None)  # the connection is dropped; its slot opens a new one
            return
        idle.put_nowait(conn)
        if status == 200:
            latencies.append(loop.time() - due)
        else:
            failures[str(status)] = failures.get(str(status), 0) + 1

    count = int(rate * seconds)
    await asyncio.gather(*(one(start + n / rate) for n in range(count)))
    took = max(loop.time() - start, 1e-9)
    while not idle.empty():
        conn = idle.get_nowait()
        if conn is not None:
            conn.writer.close()
    return Load(latencies, failures, late, took)


@dataclass
class Saturation:
    requests_per_second: float
    errors: int
    p50_ms: float | None
    p99_ms: float | None


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def wrk(url: str, seconds: float, connections: int, headers: dict[str, str] | None = None,
        threads: int = 1) -> Saturation:
    """Throughput at saturation (closed loop, `connections` kept busy), by wrk."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            "--latency"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    done = subprocess.run([*argv, url], capture_output=True, text=True, check=True)  # noqa: S603
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Saturation(rps, errors, _wrk_ms(out, "50%"), _wrk_ms(out, "99%"))


def _wrk_ms(out: str, label: str) -> float | None:
    found = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if not found:
        return None
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
    return float(found.group(1)) * scale


def join(served: Served, client: httpx.Client, phone: str, e164: str) -> dict[str, Any]:
    """A verified join over HTTP: ask for a code, read it from the SMS line, join with it."""
    asked = client.post(served.base + "/v1/verifications", json={"phone": phone})
    if asked.status_code != 202:
        raise RuntimeError(f"verification {asked.status_code}: {asked.text[:200]}")
    joined = client.post(served.base + "/v1/customers",
                         json={"phone": phone, "code": served.code(e164)})
    if joined.status_code != 201:
        raise RuntimeError(f"join {joined.status_code}: {joined.text[:200]}")
    return joined.json()  # type: ignore[no-any-return]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "bare":
        sys.exit(serve_bare(int(sys.argv[2])))
    sys.exit(f"usage: {sys.argv[0]} bare PORT")
