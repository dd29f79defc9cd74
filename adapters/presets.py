"""Reference data operators edit with SQL: the target-window presets (spec §3.2)."""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from slotqueue.aggregates.matcher import Presets

log = logging.getLogger("slotqueue.presets")

# rules_json is read as text and decoded here, so a connection's own jsonb loaders or row
# factory cannot change what the matcher sees; extra columns of the table are never selected.
_ACTIVE_PRESETS = """
    select preset_type, key, rules_json::text
    from target_window_presets
    where active
    order by preset_type, sort_order, key
"""


def _rows(conn: psycopg.Connection[Any]) -> list[tuple[str, str, Any]]:
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(_ACTIVE_PRESETS)
        return [(preset_type, key, json.loads(rules)) for preset_type, key, rules in cur]


def load_presets(conn: psycopg.Connection[Any]) -> Presets:
    """Reads the ACTIVE presets; a malformed rules_json raises InvalidInput naming the row."""
    return Presets.from_rows(_rows(conn))


def load_labels(conn: psycopg.Connection[Any]) -> dict[tuple[str, str], tuple[int, str]]:
    """Every preset's label and sort order by (preset_type, key), inactive ones too: a choice
    made before an operator switched its preset off still reads as its label."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("select preset_type, key, sort_order, label from target_window_presets")
        return {(kind, key): (order, label) for kind, key, order, label in cur}


class PresetSource:
    """The presets as the dispatcher reads them: a malformed active row is set aside (only the
    customers who chose it stop matching) and logged once, not every run."""

    def __init__(self) -> None:
        self._reported: frozenset[tuple[str, str]] = frozenset()

    def load(self, conn: psycopg.Connection[Any]) -> Presets:
        presets = Presets.tolerant(_rows(conn))
        broken = frozenset(presets.broken)
        for preset_type, key in sorted(broken - self._reported):
            log.warning("malformed active preset: customers who chose it match no slot",
                        extra={"fields": {"preset_type": preset_type, "key": key,
                                          "reason": presets.broken[(preset_type, key)]}})
        self._reported = broken
        return presets


def active_presets(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """The active presets as people choose them: type, key, label and rules, in sort order."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("select preset_type, key, label, rules_json::text from "
                    "target_window_presets where active order by preset_type, sort_order, key")
        return [{"preset_type": t, "key": k, "label": label, "rules": json.loads(rules)}
                for t, k, label, rules in cur]
