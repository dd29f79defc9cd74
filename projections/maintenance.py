"""Keeping projections current, and rebuilding and verifying them from the event store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Tracking
from psycopg import Cursor, sql

from slotqueue.projections import writes
from slotqueue.projections.coalesce import coalesce
from slotqueue.projections.messages import DEFAULT_TEXTS, Texts
from slotqueue.projections.queue_projection import TABLES, QueueTablesView, event_writes

BATCH = 500
Progress = Callable[[int], None]


def _batches(
    app: Application[Any], after: int, texts: Texts, stop: int | None = None
) -> Iterator[tuple[int, list[writes.Write], int]]:
    """(last notification id, the writes of the batch, events in it), oldest first; message
    texts rendered with `texts`."""
    while True:
        notes = app.recorder.select_notifications(start=after + 1, limit=BATCH, stop=stop)
        if not notes:
            return
        changes = [w for n in notes
                   for w in event_writes(app.mapper.to_domain_event(n), texts)]
        after = notes[-1].id
        yield after, changes, len(notes)


def catch_up(app: Application[Any], view: QueueTablesView, texts: Texts = DEFAULT_TEXTS) -> int:
    """Applies every event past the view's position, a batch per transaction; returns how
    many events it applied. Safe beside a running projection (see QueueTablesView.apply)."""
    applied = 0
    for last, changes, count in _batches(app, view.max_tracking_id(app.name) or 0, texts):
        if view.apply(Tracking(app.name, last), changes):
            applied += count
    return applied


def _live(table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(writes.live_schema(table)),
                                   sql.Identifier(table))


def _empty_tables(curs: Cursor[Any]) -> None:
    """TRUNCATE, not DELETE: re-inserting every key over its own deleted rows in one
    transaction makes each unique check visit the dead versions (2.5x slower at 200k events).
    TRUNCATE is transactional; readers wait for the rebuild's commit instead of reading the
    old rows."""
    curs.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(_live, TABLES))))


def rebuild(app: Application[Any], view: QueueTablesView, progress: Progress | None = None,
            texts: Texts = DEFAULT_TEXTS) -> int:
    """Deletes the view's rows and its position and replays every event, in one transaction.

    Readers wait for the commit and then see the new tables. Message texts are rendered
    anew with `texts` (the current settings), not copied from the old rows. The library's
    `__migration__` tracking row stays (without it the next start would rename the tracking
    table).
    """
    replayed = 0
    with view.datastore.transaction(commit=True) as curs:
        curs.execute(
            sql.SQL("DELETE FROM {}.{} WHERE application_name = %s").format(
                sql.Identifier(view.datastore.schema), sql.Identifier(view.tracking_table_name)
            ),
            (app.name,),
        )
        _empty_tables(curs)
        last = 0
        for position, changes, count in _batches(app, 0, texts):
            writes.execute(curs, coalesce(changes, TABLES))
            last = position
            replayed += count
            if progress:
                progress(count)
        if last:
            view._insert_tracking(curs, Tracking(app.name, last))
    return replayed


def replay_table(app: Application[Any], view: QueueTablesView, table: str) -> int:
    """Rewrites one of the view's tables from the events up to the view's position, in one
    transaction; returns the events read. For a table added to a projection whose events are
    already recorded (`slotqueue migrate`). TRUNCATE comes first: a projection that writes the
    table meanwhile waits for the commit and applies its later events on top; one that wrote
    it before has committed, so the position read next includes it."""
    replayed = 0
    with view.datastore.transaction(commit=True) as curs:
        curs.execute(sql.SQL("TRUNCATE {}").format(_live(table)))
        position = view._max_tracking_id(app.name, curs) or 0
        for _, changes, count in _batches(app, 0, DEFAULT_TEXTS, stop=position):
            writes.execute(curs, coalesce([w for w in changes if w.table == table], TABLES))
            replayed += count
    return replayed


@dataclass(frozen=True)
class Difference:
    table: str
    side: str  # "live only" or "replay only"
    row: dict[str, Any]


def verify(app: Application[Any], view: QueueTablesView, limit: int = 20,
           texts: Texts = DEFAULT_TEXTS) -> list[Difference]:
    """Replays the events up to the view's position into temporary tables and compares them
    row by row with the live tables, all in one snapshot. Changes nothing."""
    with view.datastore.get_connection() as conn, conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        curs = conn.cursor()
        position = view._max_tracking_id(app.name, curs) or 0
        for table in TABLES:
            curs.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING ALL)")
                         .format(sql.Identifier(table), _live(table)))
        for _, changes, _ in _batches(app, 0, texts, stop=position):
            writes.execute(curs, coalesce(changes, TABLES), schema="pg_temp")
        return [d for table in TABLES for d in _compare(curs, table, limit)]


def _compare(curs: Cursor[Any], table: str, limit: int) -> list[Difference]:
    found = []
    scratch = sql.SQL("pg_temp.{}").format(sql.Identifier(table))
    for side, first, second in (("live only", _live(table), scratch),
                                ("replay only", scratch, _live(table))):
        curs.execute(sql.SQL("SELECT * FROM {} EXCEPT ALL SELECT * FROM {} LIMIT %s").format(
            first, second), (limit,))
        found += [Difference(table, side, dict(row)) for row in curs.fetchall()]
    return found


@dataclass(frozen=True)
class Status:
    name: str
    position: int
    head: int

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


def status(app: Application[Any], view: QueueTablesView, name: str) -> Status:
    head = app.recorder.max_notification_id() or 0
    return Status(name, view.max_tracking_id(app.name) or 0, head)


def waiting_since(app: Application[Any], position: int) -> datetime | None:
    """When the oldest event a projection at `position` has not applied was recorded (the
    saving host's clock, as the library stamps events); None when nothing waits."""
    notes = app.recorder.select_notifications(start=position + 1, limit=1)
    if not notes:
        return None
    return app.mapper.to_domain_event(notes[0]).timestamp  # type: ignore[no-any-return]
