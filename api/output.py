"""JSON out: times as ISO 8601 UTC with `Z`, ids as strings; every handler answers through
`ok`, so no response depends on FastAPI's own encoder."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi.responses import JSONResponse

from slotqueue.projections.wording import utc_iso


def _scalar(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value) if isinstance(value, UUID | Decimal) else value


def plain(value: Any) -> Any:
    """`value` with datetimes as `…Z` strings and other non-JSON types made plain."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if hasattr(value, "model_dump"):
        return plain(value.model_dump())
    return _scalar(value)


class Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(plain(content), ensure_ascii=False, separators=(",", ":")).encode()


def ok(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Json:
    return Json(payload, status_code=status, headers=headers)
