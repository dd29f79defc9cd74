"""What every message provider speaks: an `Outgoing` message in, an `Outcome` out, and the
`console` providers (the default, for the demo and tests: one line per message on the
process's output; a JSON object with channel, to, type and body when it is not a terminal).

Outcomes tell the delivery worker what to do next:
- `sent`: the provider took it (its id in `provider_id`);
- `transient`: it did not, and trying later may work (timeouts before sending, 5xx, 429);
- `permanent`: it never will (an invalid or unsubscribed number, a refused address);
- `unknown`: the provider may have taken it but did not say so (no answer after the request
  went out): never sent again without an operator.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from typing import Protocol, TextIO
from uuid import UUID

SENT, TRANSIENT, PERMANENT, UNKNOWN = "sent", "transient", "permanent", "unknown"


@dataclass(frozen=True)
class Outgoing:
    channel: str  # sms | email
    to: str
    kind: str  # the message type (deposit_needed, booked, …, or verification)
    body: str
    subject: str | None = None
    delivery_id: UUID | None = None  # None for texts that are not deliveries (codes)
    callback_url: str | None = None  # where the provider reports delivery (Twilio)


@dataclass(frozen=True)
class Outcome:
    kind: str
    provider_id: str | None = None
    error: str | None = None  # what went wrong, in words (never the full address)
    retry_after: float | None = None  # seconds the provider asked us to wait
    opted_out: bool = False  # the provider says the recipient unsubscribed

    @classmethod
    def sent(cls, provider_id: str | None = None) -> Outcome:
        return cls(SENT, provider_id=provider_id)


class Sender(Protocol):
    name: str
    channel: str

    def send(self, message: Outgoing) -> Outcome: ...

    def close(self) -> None: ...


class Console:
    """Writes each message as one line on the process's output (stdout unless `out`)."""

    name = "console"

    def __init__(self, channel: str, out: TextIO | None = None) -> None:
        self.channel, self.out = channel, out
        self._lock = threading.Lock()

    def send(self, message: Outgoing) -> Outcome:
        out = self.out or sys.stdout
        line = (f"[{message.channel} to {message.to}] {message.kind}: {message.body}"
                if out.isatty() else json.dumps(
                    {"channel": message.channel, "to": message.to, "type": message.kind,
                     "body": message.body}))
        with self._lock:
            out.write(line + "\n")
            out.flush()
        return Outcome.sent(f"console-{message.delivery_id}" if message.delivery_id else None)

    def close(self) -> None:
        return None
