"""The monitor's `locations`, read only: every location, and what a person types (a name, the
start of one, or an id) resolved to location ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.aggregates.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class Location:
    id: UUID
    name: str


def all_locations(conn: psycopg.Connection[Any]) -> list[Location]:
    """Every location, by name (extra columns of the monitor's table are never read)."""
    rows = conn.execute("SELECT id, name FROM locations ORDER BY name, id").fetchall()
    return [Location(row[0], str(row[1])) for row in rows]


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def _matches(text: str, known: Sequence[Location]) -> list[Location]:
    """An id; else names equal to `text` ignoring case and spacing; else names it begins."""
    try:
        wanted = UUID(text)
    except ValueError:
        folded = _folded(text)
        exact = [loc for loc in known if _folded(loc.name) == folded]
        return exact or [loc for loc in known if _folded(loc.name).startswith(folded)]
    return [loc for loc in known if loc.id == wanted]


def one_location(text: str, known: Sequence[Location]) -> Location:
    """The location a name or an id names: NotFound when none does (an id that is not in the
    table too), InvalidInput when the start of a name fits several."""
    if not text.strip():
        raise InvalidInput("no location given: a name or an id", field="location_id")
    matches = _matches(text.strip(), known)
    if len(matches) > 1:
        raise InvalidInput(f"ambiguous location {text.strip()!r} "
                           f"({', '.join(loc.name for loc in matches)})", field="location_id")
    if not matches:
        raise NotFound(f"unknown location {text.strip()!r} (`slotqueue locations-list` names "
                       "them all)")
    return matches[0]


def resolve(texts: Iterable[str], known: Sequence[Location]) -> list[UUID]:
    """Location ids for names or ids, in the order given; refuses every unknown or ambiguous
    one in a single line that names them."""
    found, problems = [], []
    for text in (t.strip() for t in texts):
        matches = _matches(text, known)
        if len(matches) == 1:
            found.append(matches[0].id)
        elif matches:
            problems.append(f"ambiguous location {text!r} "
                            f"({', '.join(loc.name for loc in matches)})")
        else:
            problems.append(f"unknown location {text!r}")
    if problems:
        raise InvalidInput("; ".join(problems) + " (`slotqueue locations-list` names them all)")
    return found
