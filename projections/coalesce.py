"""Folds a batch of row writes into one write per row, grouped by table.

Replaying 500 events writes most rows several times (a queue entry is inserted, then updated
by its deposit request and its payment). Folding them first leaves one write per row with
the same final state, and lets rows of one table go to PostgreSQL as one batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from slotqueue.projections.writes import Delete, InsertOnce, ReplaceSet, Update, Upsert, Write


def _identity(write: Write) -> tuple[Any, ...]:
    if isinstance(write, Upsert | InsertOnce):
        return (write.table, "row", tuple(sorted((k, write.row[k]) for k in write.key)))
    if isinstance(write, Update):
        return (write.table, "row", tuple(sorted(write.where.items())))
    if isinstance(write, Delete):
        return (write.table, "delete", tuple(sorted(write.where.items())))
    return (write.table, "set", tuple(sorted(write.where.items())))


def _fold(before: Write | None, write: Write) -> Write:
    """The one write with the effect of `before` followed by `write` on the same row."""
    if before is None or isinstance(write, ReplaceSet | Delete):
        return write
    if isinstance(write, InsertOnce):
        return before  # a message is never overwritten: the first one stays
    if isinstance(write, Upsert):
        base = before.values if isinstance(before, Update) else getattr(before, "row", {})
        return Upsert(write.table, write.key, {**base, **write.row})
    if isinstance(before, Upsert):
        return Upsert(before.table, before.key, {**before.row, **write.values})
    if isinstance(before, Update):
        return Update(write.table, write.where, {**before.values, **write.values})
    return write


def coalesce(writes: Iterable[Write], table_order: Sequence[str]) -> list[Write]:
    """One write per row (or per replaced set), tables in `table_order` (parents first),
    writes within a table in the order of their last change.

    The last change, not the first: a row written, deleted and written again (a choice made,
    its location retired, made again; a mode set, cleared, set) folds into one write of the
    row and one delete, and the delete must not come after the final write."""
    folded: dict[tuple[Any, ...], Write] = {}
    for write in writes:
        key = _identity(write)
        before = folded.get(key)
        after = _fold(before, write)
        if after is before:
            continue  # a message kept as first written, where it was
        folded.pop(key, None)
        folded[key] = after
    rank = {table: n for n, table in enumerate(table_order)}
    return sorted(folded.values(), key=lambda w: rank.get(w.table, len(rank)))
