"""The `http` booking adapter (issue 9 item 5): each attempt is a signed JSON POST to the
operator's own booking worker at SLOTQUEUE_BOOKER_URL, and its answer is read as success,
fail with a code, or — after a few tries with the same attempt id — `booker_unavailable`.

The contract (README, "The booking worker"): body `{customer_id, location_id,
slot_datetime_utc, attempt_id}`; `Idempotency-Key: <attempt_id>`; `X-Slotqueue-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with SLOTQUEUE_BOOKER_SECRET>`. A 2xx
`{"result": "success"}` books; `{"result": "fail", "error_code", "error_message"}` or a 4xx
refuses; a 5xx, 408, 425, 429, a timeout or a refused connection is tried again; anything else
is `booker_bad_answer`. Standard library only: one POST per try needs no client library.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from slotqueue import __version__
from slotqueue.adapters.booking import BookingResult

SIGNATURE_HEADER = "X-Slotqueue-Signature"
TRIES = 3
PAUSES = (0.5, 1.0)  # seconds before the second and the third try
RETRIED = frozenset({408, 425, 429})
MAX_ANSWER = 64 * 1024
CODE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def worst_case_seconds(timeout: float) -> float:
    """How long one attempt can take when every try times out (settings check it fits the
    lock and the run's timeout)."""
    return TRIES * timeout + sum(PAUSES)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is an answer, not a place to send the booking again


class _Unavailable(Exception):
    """This try got no answer worth reading: try again."""


def _refusal(status: int, answer: Any) -> BookingResult:
    found = answer.get("error_code") if isinstance(answer, dict) else None
    code = found.strip().lower() if isinstance(found, str) else ""
    message = answer.get("error_message") if isinstance(answer, dict) else None
    return BookingResult(
        "fail", code if CODE.fullmatch(code) else f"booker_refused_{status}",
        message[:500] if isinstance(message, str) and message else
        f"the booking worker refused the booking (HTTP {status})")


def _bad_answer(why: str) -> BookingResult:
    return BookingResult("fail", "booker_bad_answer", why[:500])


def read_answer(status: int, raw: bytes) -> BookingResult:
    """A booking worker's answer (any status but a retried one) as the attempt's result."""
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if 400 <= status < 500:
        return _refusal(status, answer)
    if not 200 <= status < 300:
        return _bad_answer(f"HTTP {status} from the booking worker")
    result = answer.get("result") if isinstance(answer, dict) else None
    if result == "success":
        return BookingResult("success")
    if result == "fail":
        return _refusal(status, answer)
    return _bad_answer(f"HTTP {status} without a result of success or fail: {raw[:200]!r}")


class HttpBooker:
    """Books through the operator's booking worker; never raises for what the network does."""

    name = "http"

    def __init__(self, url: str, secret: str, timeout: float,
                 clock: Callable[[], float] = time.time,
                 pause: Callable[[float], None] = time.sleep) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"SLOTQUEUE_BOOKER_URL={url!r}: not an http(s) address")
        self.url, self.timeout, self._clock, self._pause = url, timeout, clock, pause
        self._secret = secret
        self._opener = urllib.request.build_opener(_NoRedirects)

    def __repr__(self) -> str:
        return f"HttpBooker(url={self.url!r}, timeout={self.timeout})"  # never the secret

    def book_slot(self, customer_id: UUID, location_id: UUID, slot_datetime_utc: datetime,
                  attempt_id: UUID) -> BookingResult:
        when = slot_datetime_utc.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = json.dumps({"customer_id": str(customer_id), "location_id": str(location_id),
                           "slot_datetime_utc": when, "attempt_id": str(attempt_id)},
                          separators=(",", ":")).encode()
        why = ""
        for number in range(TRIES):
            if number:
                self._pause(PAUSES[number - 1])
            try:
                return self._try(body, str(attempt_id))
            except _Unavailable as exc:
                why = str(exc)
        return BookingResult("fail", "booker_unavailable",
                             f"the booking worker did not answer after {TRIES} tries: {why}")

    def _try(self, body: bytes, key: str) -> BookingResult:
        request = urllib.request.Request(self.url, data=body, method="POST", headers={  # noqa: S310 - http(s) only (__init__)
            "Content-Type": "application/json", "Accept": "application/json",
            "Idempotency-Key": key, "User-Agent": f"slotqueue/{__version__}",
            SIGNATURE_HEADER: signature(self._secret, int(self._clock()), body)})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read(MAX_ANSWER)
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, _body(exc)
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out
            raise _Unavailable(_reason(exc)) from None
        except HTTPException as exc:  # it answered, but not in HTTP
            return _bad_answer(f"not an HTTP answer: {type(exc).__name__}")
        if status >= 500 or status in RETRIED:
            raise _Unavailable(f"HTTP {status}")
        return read_answer(status, raw)


def _body(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read(MAX_ANSWER)
    except (OSError, HTTPException):
        return b""


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, TimeoutError):
        return "timed out"
    return f"{type(reason).__name__}: {reason}"[:200]
