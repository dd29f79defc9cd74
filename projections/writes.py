"""Row writes as data, so one event's effect can go to the live tables or a scratch schema."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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


Write = Upsert | InsertOnce | Update | ReplaceSet

# Tables outside `public`: the dispatcher's private read model.
PRIVATE_TABLES = {"opened_slots": "slotqueue"}


def live_schema(table: str) -> str:
    return PRIVATE_TABLES.get(table, "public")


def _adapt(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict) else value


def _insert(schema: str, table: str, row: Mapping[str, Any]) -> sql.Composed:
    return sql.SQL("INSERT INTO {}.{} ({}) VALUES ({})").format(
        sql.Identifier(schema), sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, row)),
        sql.SQL(", ").join(sql.Placeholder() * len(row)),
    )


def _pairs(columns: Iterable[str], joiner: str) -> sql.Composed:
    return sql.SQL(joiner).join(
        sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns
    )


def statements(write: Write, schema: str | None) -> list[tuple[sql.Composable, list[Any]]]:
    """The SQL and parameters that carry out one write in `schema` (None: the live tables)."""
    schema = schema or live_schema(write.table)
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(write.table))
    if isinstance(write, Upsert | InsertOnce):
        values = [_adapt(v) for v in write.row.values()]
        conflict = sql.SQL(" ON CONFLICT ({}) ").format(
            sql.SQL(", ").join(map(sql.Identifier, write.key))
        )
        rest = [c for c in write.row if c not in write.key]
        if isinstance(write, InsertOnce) or not rest:
            action = sql.SQL("DO NOTHING")
        else:
            action = sql.SQL("DO UPDATE SET ") + sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in rest
            )
        return [(_insert(schema, write.table, write.row) + conflict + action, values)]
    if isinstance(write, Update):
        query = sql.SQL("UPDATE {} SET {} WHERE {}").format(
            target, _pairs(write.values, ", "), _pairs(write.where, " AND ")
        )
        params = [_adapt(v) for v in (*write.values.values(), *write.where.values())]
        return [(query, params)]
    delete = sql.SQL("DELETE FROM {} WHERE {}").format(target, _pairs(write.where, " AND "))
    out: list[tuple[sql.Composable, list[Any]]] = [(delete, list(write.where.values()))]
    out += [(_insert(schema, write.table, r), [_adapt(v) for v in r.values()]) for r in write.rows]
    return out


def execute(curs: Cursor[Any], writes: Iterable[Write], schema: str | None = None) -> None:
    for write in writes:
        for query, params in statements(write, schema):
            curs.execute(query, params)
