"""Opaque page cursors: a position in a list's order (a time and an id; in the queue, a
priority score first), base64url-encoded. A client passes `next_cursor` back as `cursor`; it
is not meant to be read or built."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.queue_policy import NO_PRIORITY, valid_priority

T = TypeVar("T")


def encode(position: tuple[datetime, UUID] | tuple[int, datetime, UUID]) -> str:
    text = "|".join(p.isoformat() if isinstance(p, datetime) else str(p) for p in position)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _parts(cursor: str) -> list[str]:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")


def _position(at: str, id_: str) -> tuple[datetime, UUID]:
    moment = datetime.fromisoformat(at)
    if moment.tzinfo is None:
        raise ValueError(at)
    return moment, UUID(id_)


def _refused(cursor: str) -> InvalidInput:
    return InvalidInput(f"invalid cursor {cursor[:60]!r}: pass back a next_cursor of this "
                        "list", field="cursor")


def decode(cursor: str | None) -> tuple[datetime, UUID] | None:
    if cursor is None:
        return None
    try:
        at, id_ = _parts(cursor)
        return _position(at, id_)
    except ValueError:  # binascii.Error and UnicodeDecodeError among them
        raise _refused(cursor) from None


def decode_ranked(cursor: str | None) -> tuple[int, datetime, UUID] | None:
    """A position in rank order: priority score, join time, id (a cursor made before scores
    existed has score 0)."""
    if cursor is None:
        return None
    try:
        parts = _parts(cursor)
        score = int(parts.pop(0)) if len(parts) == 3 else NO_PRIORITY
        valid_priority(score)
        return (score, *_position(*parts))
    except (ValueError, TypeError, InvalidInput):
        raise _refused(cursor) from None


def next_cursor(rows: Sequence[T], limit: int, position: Callable[[T], tuple[Any, ...]]
                ) -> str | None:
    """The cursor of the next page when `rows` (`limit` + 1 asked for) holds one more row."""
    return encode(position(rows[limit - 1])) if len(rows) > limit else None
