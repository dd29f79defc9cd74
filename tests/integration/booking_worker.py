"""A booking worker on 127.0.0.1 for the `http` booking adapter's tests: it speaks the contract
of the README ("The booking worker") — checks the signature, its age and the idempotency key,
keeps the first answer per key — and answers as the test scripts it to."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "booker-test-secret"


@dataclass
class Seen:
    key: str | None
    signature_ok: bool
    body: dict[str, Any]
    timestamp: int


@dataclass
class Worker:
    url: str
    script: list[str] = field(default_factory=list)  # one behaviour per request; last repeats
    seen: list[Seen] = field(default_factory=list)
    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)


def signature_holds(header: str | None, body: bytes, secret: str = SECRET) -> tuple[bool, int]:
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    try:
        stamp = int(parts.get("t", ""))
    except ValueError:
        return False, 0
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - stamp) <= 300
    return hmac.compare_digest(expected, parts.get("v1", "")) and fresh, stamp


ANSWERS: dict[str, tuple[int, Any]] = {
    "success": (200, {"result": "success", "confirmation": "DMV-123"}),
    "fail": (200, {"result": "fail", "error_code": "slot_gone",
                   "error_message": "the DMV no longer lists the slot"}),
    "refuse": (409, {"error_code": "slot_taken", "error_message": "someone else booked it"}),
    "refuse_bare": (422, b""),
    "error": (500, {"error": "database down"}),
    "busy": (429, b""),
    "garbage": (200, b"<html>not json</html>"),
    "unknown_result": (200, {"result": "maybe"}),
    "redirect": (302, b""),
}


class _Handler(BaseHTTPRequestHandler):
    worker: Worker

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok, stamp = signature_holds(self.headers.get("X-Slotqueue-Signature"), raw)
        body = json.loads(raw)
        key = self.headers.get("Idempotency-Key")
        w = self.worker
        w.seen.append(Seen(key, ok, body, stamp))
        if not ok:
            return self._answer(401, {"error_code": "bad_signature"})
        if key != body.get("attempt_id") or self.headers.get("Content-Type") != \
                "application/json":
            return self._answer(400, {"error_code": "bad_request"})
        if key in w.answers:  # the first answer for a key, as a real worker keeps it
            return self._answer(*w.answers[key])
        behaviour = w.script[min(len(w.seen) - 1, len(w.script) - 1)] if w.script else "success"
        if behaviour == "hang":
            w.release.wait(10)
            return None
        if behaviour == "not_http":
            self.wfile.write(b"hello there\r\n\r\n")
            return None
        status, payload = ANSWERS[behaviour]
        if behaviour in ("success", "fail", "refuse"):
            w.answers[key] = (status, payload)
        return self._answer(status, payload)

    def _answer(self, status: int, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def booking_worker(*script: str) -> Iterator[Worker]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    worker = Worker(f"http://127.0.0.1:{server.server_address[1]}/book", list(script))
    server.RequestHandlerClass = type("Handler", (_Handler,), {"worker": worker})
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.release.set()
        server.shutdown()
        server.server_close()
