"""Texts through Twilio's REST API (`SLOTQUEUE_SMS_PROVIDER=twilio`), with the `twilio`
package's own client, and what each answer means for the delivery worker:

- 2xx → sent (the message sid);
- 400 naming the recipient (invalid, unreachable, not mobile, region blocked) → permanent;
  21610 (the recipient texted STOP to our number) → permanent, opted out;
- 400 naming our From number, 401/403 (credentials), 404 (account), 429 (Retry-After), 5xx →
  transient: fixing the configuration, or waiting, makes the next try work;
- no connection (refused, connect timeout, TLS) → transient: nothing went out;
- no answer after the request went out (read timeout, connection dropped) → unknown: Twilio
  may have it, so it is never sent again without an operator.

Errors name Twilio's code and message, phone numbers masked; never the auth token.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import MaxRetryError

from slotqueue.adapters.messaging import PERMANENT, TRANSIENT, UNKNOWN, Outcome, Outgoing
from slotqueue.redact import mask_phones

TWILIO_API = "https://api.twilio.com"
# The recipient can never get a text from us: invalid, unreachable, landline, blocked region.
RECIPIENT_CODES = frozenset({21211, 21214, 21217, 21401, 21407, 21408, 21421, 21612, 21614,
                             21635, 30003, 30005, 30006})
UNSUBSCRIBED = 21610  # the recipient texted STOP to our number: Twilio refuses until START
FROM_CODES = frozenset({21212, 21606, 21659, 21660})  # our From number: a configuration fix
# The twilio package logs every request's URL and headers at INFO: not in our logs.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)


class _Rebased(TwilioHttpClient):
    """Twilio's HTTP client, sending to `base` instead of api.twilio.com (a local fake in
    tests) and keeping each thread's last response headers (Retry-After)."""

    def __init__(self, base: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base = base.rstrip("/")
        self._last = threading.local()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.startswith(TWILIO_API):
            url = self.base + url[len(TWILIO_API):]
        self._last.headers = {}
        response = super().request(method, url, *args, **kwargs)
        self._last.headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        return response

    def last_header(self, name: str) -> str | None:
        return getattr(self._last, "headers", {}).get(name.lower())

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


class TwilioSms:
    """The `twilio` SMS provider; one instance is shared by the worker's sender threads."""

    name = "twilio"
    channel = "sms"

    def __init__(self, account_sid: str, auth_token: str, from_: str,
                 api_base: str = TWILIO_API, timeout: float = 10.0) -> None:
        self.from_, self.timeout = from_, timeout
        self.host = urlsplit(api_base).hostname or api_base
        self.http = _Rebased(api_base, timeout)
        self.client = Client(account_sid, auth_token, http_client=self.http)

    def send(self, message: Outgoing) -> Outcome:
        extra = {"status_callback": message.callback_url} if message.callback_url else {}
        # A Messaging Service SID (MG…) sends from the service's numbers; anything else is the
        # sender's own number.
        sender = ({"messaging_service_sid": self.from_} if self.from_.startswith("MG")
                  else {"from_": self.from_})
        try:
            sent = self.client.messages.create(to=message.to, body=message.body, **sender,
                                               **extra)
        except (TwilioRestException, TwilioServiceException) as exc:
            return self._refused(exc)
        except requests.exceptions.ConnectTimeout:
            return Outcome(TRANSIENT, error=f"could not connect to Twilio at {self.host} "
                           f"within {self.timeout:g} s; nothing was sent")
        except requests.exceptions.ReadTimeout:
            return Outcome(UNKNOWN, error=f"no answer from Twilio within {self.timeout:g} s "
                           "after the request went out: it may have sent the text")
        except requests.exceptions.ConnectionError as exc:
            return _connection_lost(exc, self.host)
        return Outcome.sent(sent.sid)

    def _refused(self, exc: TwilioRestException | TwilioServiceException) -> Outcome:
        status, code = int(exc.status), _code(exc)
        said = f"twilio {code}: {_message(exc)}" if code else f"HTTP {status}: {_message(exc)}"
        if status == 429:
            return Outcome(TRANSIENT, error=f"Twilio asked us to slow down ({said})",
                           retry_after=retry_after(self.http.last_header("Retry-After")))
        fix = _our_configuration(status, code)
        if fix is not None:
            return Outcome(TRANSIENT, error=f"{fix[0]} ({said}): check {fix[1]}")
        if status >= 500:
            return Outcome(TRANSIENT, error=f"Twilio failed (HTTP {status}, {said})")
        # The recipient's (21211, 21610, …), or a request that can never be valid.
        return Outcome(PERMANENT, error=said, opted_out=code == UNSUBSCRIBED)

    def close(self) -> None:
        self.http.close()


def _our_configuration(status: int, code: int | None) -> tuple[str, str] | None:
    """What Twilio refused of ours, and the settings to check; None when it was not ours."""
    if status in (401, 403):
        return ("Twilio refused our credentials",
                "SLOTQUEUE_TWILIO_ACCOUNT_SID and SLOTQUEUE_TWILIO_AUTH_TOKEN")
    if status == 404:
        return "Twilio does not know our account", "SLOTQUEUE_TWILIO_ACCOUNT_SID"
    if code in FROM_CODES:
        return "Twilio refused our From number", "SLOTQUEUE_TWILIO_FROM"
    return None


def _code(exc: TwilioRestException | TwilioServiceException) -> int | None:
    code = exc.code
    return int(code) if isinstance(code, int) and code != exc.status else None


def _message(exc: TwilioRestException | TwilioServiceException) -> str:
    text = (exc.detail or exc.title) if isinstance(exc, TwilioServiceException) else exc.msg
    text = str(text or "").removeprefix("Unable to create record: ")
    return mask_phones(text)[:300]


def _connection_lost(exc: requests.exceptions.ConnectionError, host: str) -> Outcome:
    """Refused, unresolved or a failed TLS handshake: nothing went out. Dropped after the
    request was written: Twilio may have it."""
    reason = exc.args[0] if exc.args else exc
    if isinstance(exc, requests.exceptions.SSLError) or isinstance(reason, MaxRetryError):
        cause = type(getattr(reason, "reason", None) or reason).__name__
        return Outcome(TRANSIENT, error=f"could not connect to Twilio at {host} ({cause}); "
                       "nothing was sent")
    return Outcome(UNKNOWN, error=f"the connection to Twilio broke after the request went out "
                   f"({type(reason).__name__}): it may have sent the text")


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (a number of seconds, or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
