"""The LegacyRow aggregate: one row an earlier implementation wrote to a table slotqueue now
projects, for history no aggregate of ours describes (booking attempts, messages, locks).

Recorded once by `slotqueue migrate`, so a rebuild writes the row again exactly; it takes no
commands. Its id is derived from the table and the row's key.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from slotqueue.aggregates.ids import stable_id


class LegacyRow(Aggregate):
    @staticmethod
    def create_id(table: str, key: str) -> UUID:
        return stable_id("legacy-row", table, key)

    @event("Imported")
    def __init__(self, table: str, key: str, row: dict[str, Any]) -> None:
        self.table, self.key, self.row = table, key, row
