"""Row writes as data, so one event's effect can go to the live tables or a scratch schema."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from psycopg import Cursor, sql
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class Upsert:
    """Insert the row; on a key conflict overwrite the other columns."""

    table: str
    key: tuple[str, ...]
    row: Mapping[str, Any]


@dataclass(frozen=True)
class InsertOnce:
    """Insert the row unless one with this key exists (messages are never overwritten)."""

    table: str
    key: tuple[str, ...]
    row: Mapping[str, Any]


@dataclass(frozen=True)
class Update:
    table: str
    where: Mapping[str, Any]
    values: Mapping[str, Any]


@dataclass(frozen=True)
class ReplaceSet:
    """Delete the rows matching `where`, then insert `rows` (a set replaced as a whole)."""

    table: str
    where: Mapping[str, Any]
    rows: Sequence[Mapping[str, Any]] = field(default_factory=tuple)


@dataclass(frozen=True)
class Delete:
    """Delete the rows matching `where`."""

    table: str
    where: Mapping[str, Any]


Write = Upsert | InsertOnce | Update | ReplaceSet | Delete


@dataclass(frozen=True)
class Ref:
    """A value that must name an existing row of `table` in `public` (a location the monitor
    may have removed): written as NULL when it does not, or, `required`, the row is not
    written at all. Judged when the row is written, so a rebuild writes what is left."""

    table: str
    value: Any
    required: bool = False

# Tables outside `public`: the dispatcher's private read model.
PRIVATE_TABLES = {"entry_priorities": "slotqueue",
                  "opened_slots": "slotqueue", "booking_conflicts": "slotqueue",
                  "credentials": "slotqueue", "payments": "slotqueue",
                  "phone_opt_outs": "slotqueue", "timers": "slotqueue", "offers": "slotqueue",
                  "customer_booking_modes": "slotqueue", "customer_locations": "slotqueue"}


def live_schema(table: str) -> str:
    return PRIVATE_TABLES.get(table, "public")


def _adapt(value: Any) -> Any:
    if isinstance(value, Ref):
        return value.value
    return Jsonb(value) if isinstance(value, dict) else value


def _refs(row: Mapping[str, Any]) -> tuple[tuple[str, str, bool] | None, ...]:
    """The shape of a row's references: (table, column, required) per column, or None."""
    return tuple((v.table, c, v.required) if isinstance(v, Ref) else None
                 for c, v in row.items())


def _value_sql(ref: tuple[str, str, bool] | None) -> sql.Composable:
    if ref is None:
        return sql.Placeholder()
    return sql.SQL("(SELECT id FROM public.{} WHERE id = %s)").format(sql.Identifier(ref[0]))


def _identifiers(names: Iterable[str]) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, names))


def _pairs(columns: Iterable[str], joiner: str) -> sql.Composed:
    return sql.SQL(joiner).join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns)


@lru_cache(maxsize=512)
def _insert_sql(schema: str, table: str, columns: tuple[str, ...], key: tuple[str, ...],
                update: bool, refs: tuple[tuple[str, str, bool] | None, ...] = ()) -> str:
    """INSERT … ON CONFLICT, composed once per shape (composing costs more than running)."""
    refs = refs or (None,) * len(columns)
    query = sql.SQL("INSERT INTO {}.{} ({}) SELECT {}").format(
        sql.Identifier(schema), sql.Identifier(table), _identifiers(columns),
        sql.SQL(", ").join(_value_sql(r) for r in refs))
    required = [r for r in refs if r is not None and r[2]]
    if required:
        query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(
            sql.SQL("EXISTS (SELECT 1 FROM public.{} WHERE id = %s)").format(
                sql.Identifier(r[0])) for r in required)
    if key:
        query += sql.SQL(" ON CONFLICT ({}) ").format(_identifiers(key))
        rest = [c for c in columns if c not in key]
        if update and rest:
            query += sql.SQL("DO UPDATE SET ") + sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in rest)
        else:
            query += sql.SQL("DO NOTHING")
    return query.as_string(None)


@lru_cache(maxsize=512)
def _update_sql(schema: str, table: str, columns: tuple[str, ...], where: tuple[str, ...],
                refs: tuple[tuple[str, str, bool] | None, ...] = ()) -> str:
    refs = refs or (None,) * len(columns)
    sets = sql.SQL(", ").join(sql.SQL("{} = ").format(sql.Identifier(c)) + _value_sql(r)
                              for c, r in zip(columns, refs, strict=True))
    return sql.SQL("UPDATE {}.{} SET {} WHERE {}").format(
        sql.Identifier(schema), sql.Identifier(table), sets,
        _pairs(where, " AND ")).as_string(None)


@lru_cache(maxsize=512)
def _delete_sql(schema: str, table: str, where: tuple[str, ...]) -> str:
    return sql.SQL("DELETE FROM {}.{} WHERE {}").format(
        sql.Identifier(schema), sql.Identifier(table), _pairs(where, " AND ")).as_string(None)


def _values(row: Mapping[str, Any]) -> list[Any]:
    values = [_adapt(v) for v in row.values()]
    return values + [v.value for v in row.values() if isinstance(v, Ref) and v.required]


def statements(write: Write, schema: str | None) -> list[tuple[str, list[Any]]]:
    """The SQL and parameters that carry out one write in `schema` (None: the live tables)."""
    schema = schema or live_schema(write.table)
    if isinstance(write, Upsert | InsertOnce):
        query = _insert_sql(schema, write.table, tuple(write.row), write.key,
                            isinstance(write, Upsert), _refs(write.row))
        return [(query, _values(write.row))]
    if isinstance(write, Update):
        query = _update_sql(schema, write.table, tuple(write.values), tuple(write.where),
                            _refs(write.values))
        return [(query, [*_values(write.values), *_values(write.where)])]
    out = [(_delete_sql(schema, write.table, tuple(write.where)), _values(write.where))]
    if isinstance(write, Delete):
        return out
    out += [(_insert_sql(schema, write.table, tuple(r), (), False, _refs(r)), _values(r))
            for r in write.rows]
    return out


CHUNK = 64  # statements per pipeline sync: small enough never to fill a socket buffer


def _ordered(writes: Iterable[Write], schema: str | None) -> Iterable[tuple[str, list[Any]]]:
    """The statements of `writes` in order, except that a run of set replacements in one
    table deletes all its sets first, then inserts (so like statements sit together)."""
    inserts: list[tuple[str, list[Any]]] = []
    for write in writes:
        found = statements(write, schema)
        if isinstance(write, ReplaceSet):
            yield found[0]
            inserts += found[1:]
            continue
        yield from inserts
        inserts = []
        yield from found
    yield from inserts


def execute(curs: Cursor[Any], writes: Iterable[Write], schema: str | None = None) -> None:
    """Runs the writes in order, pipelined, like statements sent together (executemany)."""
    with curs.connection.pipeline() as pipeline:
        query, batch = None, []
        for next_query, params in _ordered(writes, schema):
            if next_query != query or len(batch) >= CHUNK:
                if batch:
                    curs.executemany(query, batch)  # type: ignore[arg-type]
                    pipeline.sync()
                query, batch = next_query, []
            batch.append(params)
        if batch:
            curs.executemany(query, batch)  # type: ignore[arg-type]
