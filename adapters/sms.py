"""Where a text message goes. `console` (the default, for the demo and tests) writes one line
per message on the process's output: a JSON object with channel, to, type and body when the
output is not a terminal (spec service §3). Later providers (Twilio) live beside it."""

from __future__ import annotations

import json
import sys
import threading
from typing import Protocol, TextIO


class SmsSender(Protocol):
    name: str

    def send(self, to: str, kind: str, body: str) -> None: ...


class ConsoleSms:
    name = "console"

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out
        self._lock = threading.Lock()

    def send(self, to: str, kind: str, body: str) -> None:
        out = self.out or sys.stdout
        line = (f"[sms to {to}] {kind}: {body}" if out.isatty() else
                json.dumps({"channel": "sms", "to": to, "type": kind, "body": body}))
        with self._lock:
            out.write(line + "\n")
            out.flush()
