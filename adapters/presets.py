"""Reference data operators edit with SQL: the target-window presets (spec §3.2)."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from slotqueue.aggregates.matcher import Presets

# rules_json is read as text and decoded here, so a connection's own jsonb loaders or row
# factory cannot change what the matcher sees; extra columns of the table are never selected.
_ACTIVE_PRESETS = """
    select preset_type, key, rules_json::text
    from target_window_presets
    where active
    order by preset_type, sort_order, key
"""


def load_presets(conn: psycopg.Connection[Any]) -> Presets:
    """Reads the ACTIVE presets; a malformed rules_json raises InvalidInput naming the row."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(_ACTIVE_PRESETS)
        rows = [(preset_type, key, json.loads(rules)) for preset_type, key, rules in cur]
    return Presets.from_rows(rows)
