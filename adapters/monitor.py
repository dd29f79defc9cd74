"""The monitor's tables, read only: `slot_states` rows by `last_seen`, and location names.

One indexed query a tick: the database's clock comes back with the rows. Values PostgreSQL
holds but Python cannot (an `infinity` date or time stamp) arrive as NULL or text, so one odd
row is skipped with a warning, once, instead of failing the whole read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from slotqueue.aggregates.errors import InvalidInput
from slotqueue.aggregates.slot_listing import Sighting, read_row

log = logging.getLogger("slotqueue.monitor")

POLL_SQL = """
SELECT t.now, s.location_id, s.date::text, s.time,
       CASE WHEN isfinite(s.first_seen) THEN s.first_seen END,
       CASE WHEN isfinite(s.last_seen) THEN s.last_seen END
FROM (SELECT now() AS now) t
LEFT JOIN slot_states s ON s.last_seen > %s
"""


@dataclass(frozen=True)
class Poll:
    now: datetime
    sightings: list[Sighting]
    read_up_to: datetime | None  # the freshest last_seen among the rows read


class MonitorReader:
    def __init__(self, conn: psycopg.Connection[Any], timezone: str) -> None:
        self.conn, self.timezone = conn, timezone
        self._warned: set[tuple[Any, ...]] = set()
        self._names: dict[UUID, str] = {}

    def poll(self, since: datetime) -> Poll:
        """Rows whose last_seen is after `since`, as sightings, with the database's now()."""
        rows = self.conn.execute(POLL_SQL, (since,)).fetchall()
        now = rows[0][0]
        found, newest = [], None
        for _, location_id, day, time_text, first_seen, last_seen in rows:
            if location_id is None:
                continue  # no rows: the clock came back alone
            try:
                seen = read_row(location_id, day, time_text, first_seen, last_seen,
                                now.date(), self.timezone)
            except InvalidInput as exc:
                self._warn(location_id, day, time_text, str(exc))
                continue
            found.append(seen)
            newest = seen.last_seen if newest is None else max(newest, seen.last_seen)
        return Poll(now, found, newest)

    def _warn(self, location_id: UUID, day: object, time_text: object, why: str) -> None:
        row = (location_id, day, time_text, why)
        if row not in self._warned:
            self._warned.add(row)
            log.warning("skipping an unreadable slot_states row", extra={"fields": {
                "location_id": str(location_id), "date": day, "time": time_text,
                "reason": why}})

    def location_name(self, location_id: UUID) -> str:
        """The location's name ("" for one never seen); names are read again when an id is
        not known yet. A removed location keeps the name it had."""
        if location_id not in self._names:
            self.locations()
        return self._names.get(location_id, "")

    def locations(self) -> set[UUID]:
        """The ids of the locations the monitor lists now."""
        rows = self.conn.execute("SELECT id, name FROM locations").fetchall()
        self._names.update({row[0]: str(row[1]) for row in rows})
        return {row[0] for row in rows}
