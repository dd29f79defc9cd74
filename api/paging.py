"""Opaque page cursors: a position in a list's order (a time and an id), base64url-encoded.
A client passes `next_cursor` back as `cursor`; it is not meant to be read or built."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from slotqueue.aggregates.errors import InvalidInput

T = TypeVar("T")


def encode(position: tuple[datetime, UUID]) -> str:
    at, id_ = position
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{id_}".encode()).decode().rstrip("=")


def decode(cursor: str | None) -> tuple[datetime, UUID] | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, id_ = text.partition("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError(at)
        return moment, UUID(id_)
    except ValueError:  # binascii.Error and UnicodeDecodeError among them
        raise InvalidInput(f"invalid cursor {cursor[:60]!r}: pass back a next_cursor of this "
                           "list", field="cursor") from None


def next_cursor(rows: Sequence[T], limit: int, position: Callable[[T], tuple[datetime, UUID]]
                ) -> str | None:
    """The cursor of the next page when `rows` (`limit` + 1 asked for) holds one more row."""
    return encode(position(rows[limit - 1])) if len(rows) > limit else None
