"""A fake Twilio for tests and drills: a real HTTP server on 127.0.0.1 that speaks the part of
the Messages API we use (`POST /2010-04-01/Accounts/{sid}/Messages.json`, a form body, HTTP
basic auth with the account sid and auth token) and answers as Twilio does: 201 with the
message resource, or Twilio's error body.

Answers can be scripted, one per request in order (for one recipient, or for any): `OK`,
`Fail(400, 21211)`, `Fail(400, 21610)`, `Fail(429, retry_after=2)`, `Fail(500)`, `HANG` (no
answer for longer than the client waits; the message counts as taken, as it may at Twilio).
Unscripted requests succeed, or fail at random at the rates given to `failing(…)`. `latency`
holds every answer that long (Twilio's API takes a tenth of a second or more), so a client
killed meanwhile leaves a request the fake still takes.

Every request is recorded (`received`), so tests can assert exact recipients, bodies and no
duplicates. With `callbacks` set, every accepted message with a StatusCallback is reported to
it (`sent`, then `delivered`, or `undelivered` with an ErrorCode when scripted with
`Fail(…, later=True)`), signed with X-Twilio-Signature by the `twilio` package's validator.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

from twilio.request_validator import RequestValidator

SID = "AC" + "f" * 32
TOKEN = "fake-twilio-auth-token-0123456789"
FROM = "+18085550000"
MESSAGES = {21211: "The 'To' number {to} is not a valid phone number.",
            21610: "Attempt to send to unsubscribed recipient",
            21614: "'To' number is not a valid mobile number",
            20429: "Too Many Requests", 20500: "Internal Server Error",
            20003: "Authenticate", 30003: "Unreachable destination handset",
            21603: "A 'From' or 'MessagingServiceSid' parameter is required"}
Poster = Callable[[str, dict[str, str], dict[str, str]], Any]


@dataclass(frozen=True)
class Fail:
    status: int
    code: int | None = None
    retry_after: float | None = None
    later: bool = False  # accepted now (201), reported `undelivered` with `code` afterwards

    def body(self, to: str) -> dict[str, Any]:
        code = self.code or {429: 20429, 401: 20003}.get(self.status, 20500)
        return {"code": code, "message": MESSAGES.get(code, "Error").format(to=to),
                "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": self.status}


OK, HANG = "ok", "hang"
Answer = Fail | str


@dataclass
class Received:
    to: str
    from_: str
    body: str
    status_callback: str | None
    answered: int | None = None  # the HTTP status (201 after a hang too: it took the text)
    sid: str | None = None
    hung: bool = False
    at: float = field(default_factory=time.monotonic)


class FakeTwilio:
    def __init__(self, account_sid: str = SID, auth_token: str = TOKEN,
                 callbacks: Poster | None = None, hang_seconds: float = 30.0,
                 latency: float = 0.0) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.callbacks, self.hang_seconds, self.latency = callbacks, hang_seconds, latency
        self.received: list[Received] = []
        self.reported: list[tuple[str, dict[str, str], Any]] = []  # (url, params, answer)
        self._scripts: dict[str | None, list[Answer]] = {}
        self._rates = (0.0, 0.0)
        self._random = random.Random(0)
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeTwilio:
        threading.Thread(target=self._server.serve_forever, name="fake-twilio",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def script(self, *answers: Answer, to: str | None = None) -> None:
        """The next answers, in order: to requests for `to`, or to any request."""
        with self._lock:
            self._scripts.setdefault(to, []).extend(answers)

    def failing(self, transient: float = 0.0, permanent: float = 0.0, seed: int = 0) -> None:
        """Unscripted requests fail at random: a 500 at `transient`, a 21211 at `permanent`."""
        with self._lock:
            self._rates, self._random = (transient, permanent), random.Random(seed)

    def to(self, phone: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.to == phone]

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.answered == 201]

    # the server's side --------------------------------------------------------------------

    def _next(self, to: str) -> Answer:
        with self._lock:
            for key in (to, None):
                if self._scripts.get(key):
                    return self._scripts[key].pop(0)
            roll = self._random.random()
            transient, permanent = self._rates
            if roll < transient:
                return Fail(500)
            return Fail(400, 21211) if roll < transient + permanent else OK

    def _authorized(self, header: str | None, path_sid: str) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}" and path_sid == self.account_sid

    def _message(self, form: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        to, body = form.get("To", ""), form.get("Body", "")
        if not to or not body:
            return 400, Fail(400, 21604 if not to else 21602).body(to), {}
        sender = form.get("From") or form.get("MessagingServiceSid", "")
        if not sender:
            return 400, Fail(400, 21603).body(to), {}
        seen = Received(to, sender, body, form.get("StatusCallback"))
        with self._lock:
            self.received.append(seen)
        answer = self._next(to)
        if self.latency:
            self._released.wait(self.latency)
        if answer == HANG:
            seen.hung = True
            self._released.wait(self.hang_seconds)
        if isinstance(answer, Fail) and not answer.later:
            seen.answered = answer.status
            headers = ({"Retry-After": f"{answer.retry_after:g}"}
                       if answer.retry_after is not None else {})
            return answer.status, answer.body(to), headers
        seen.sid, seen.answered = "SM" + uuid.uuid4().hex, 201
        if self.callbacks is not None and seen.status_callback:
            threading.Thread(target=self._report, args=(seen, answer), daemon=True).start()
        return 201, self._resource(seen), {}

    def _resource(self, seen: Received) -> dict[str, Any]:
        now = formatdate(usegmt=True).replace("GMT", "+0000")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{seen.sid}"
        return {"account_sid": self.account_sid, "api_version": "2010-04-01",
                "body": seen.body, "date_created": now, "date_sent": None,
                "date_updated": now, "direction": "outbound-api", "error_code": None,
                "error_message": None, "from": seen.from_, "messaging_service_sid": None,
                "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD",
                "sid": seen.sid, "status": "queued", "to": seen.to, "uri": uri + ".json",
                "subresource_uris": {"media": uri + "/Media.json"}}

    def _report(self, seen: Received, answer: Answer) -> None:
        final = ({"MessageStatus": "undelivered", "ErrorCode": str(answer.code)}
                 if isinstance(answer, Fail) else {"MessageStatus": "delivered"})
        for status in ({"MessageStatus": "sent"}, final):
            params = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01",
                      "From": seen.from_, "To": seen.to, "MessageSid": str(seen.sid),
                      "SmsSid": str(seen.sid), "SmsStatus": status["MessageStatus"], **status}
            self.post_signed(str(seen.status_callback), params)

    def post_signed(self, url: str, params: dict[str, str]) -> Any:
        """Posts `params` to `url` as Twilio does, signed with the auth token."""
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        headers = {"X-Twilio-Signature": signature,
                   "Content-Type": "application/x-www-form-urlencoded"}
        answer = (self.callbacks or post_form)(url, params, headers)
        with self._lock:
            self.reported.append((url, params, answer))
        return answer


def post_form(url: str, params: dict[str, str], headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, urlencode(params).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status)


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = self.path.split("?")[0].strip("/").split("/")
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
            if len(parts) != 4 or parts[:2] != ["2010-04-01", "Accounts"] or \
                    parts[3] != "Messages.json":
                return self._answer(404, {"code": 20404, "message": "Not Found",
                                          "status": 404}, {})
            if not fake._authorized(self.headers.get("Authorization"), parts[2]):
                return self._answer(401, Fail(401).body(""), {})
            return self._answer(*fake._message(form))

        def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up waiting (a hang)

        def log_message(self, *_args: Any) -> None:
            return None

    return Handler
