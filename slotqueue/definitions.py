"""Brings queue tables an earlier implementation created to the spec's definitions (issue 8).

The spec's definitions are what slotqueue's own migrations create: they are run in a scratch
schema inside a transaction that is rolled back, and the two catalogs are compared table by
table. Every difference goes into one report. The safe ones are fixed in one transaction
(a constraint or index renamed, a redundant index dropped, a default, a NOT NULL or an extra
CHECK relaxed, a missing constraint added that every row meets, a function with another
result type replaced); if one is not safe, nothing is changed and `migrate` stops naming it.
The monitor's tables (`locations`, `slot_states`) are never compared or changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

COMPAT_TABLES = (
    "customers", "queue_entries", "target_window_presets", "user_target_window_selections",
    "user_location_preferences", "queue_watermarks", "booking_attempts", "booking_locks",
    "message_log",
)
FUNCTIONS = ("acquire_booking_lock", "fetch_opened_slots_since")
SPEC = "slotqueue_spec"


class Unsafe(Exception):
    """Differences that cannot be brought to the spec without losing or inventing data."""


@dataclass(frozen=True)
class Difference:
    table: str
    what: str  # a sentence an operator reads
    fix: tuple[str, ...] = ()  # statements that bring it to the spec; none when unsafe
    safe: bool = True

    def line(self) -> str:
        action = "fixed" if self.fix else ("kept" if self.safe else "NOT SAFE")
        return f"{self.table}: {self.what} [{action}]"


@dataclass
class Table:
    columns: dict[str, tuple[str, bool, str | None]] = field(default_factory=dict)
    constraints: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (type, def)
    indexes: dict[str, str] = field(default_factory=dict)  # name -> normalised definition
    key_indexes: set[str] = field(default_factory=set)  # shapes of the keys' own indexes
    rls: bool = False
    rows: int = 0


def _normal(text: str) -> str:
    return re.sub(rf"\b(public|{SPEC})\.", "", text)


def _index_shape(definition: str) -> str:
    """`CREATE [UNIQUE] INDEX name ON schema.table USING ...` → `[UNIQUE] USING ...`."""
    found = re.match(r"CREATE (UNIQUE )?INDEX \S+ ON \S+ (.*)", definition)
    return f"{(found.group(1) or '')}{found.group(2)}" if found else definition


def _table(conn: psycopg.Connection[Any], schema: str, name: str) -> Table | None:
    oid = conn.execute("SELECT to_regclass(%s)::oid", (f"{schema}.{name}",)).fetchone()
    if oid is None or oid[0] is None:
        return None
    table = Table()
    for col, typ, notnull, default in conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a LEFT JOIN pg_attrdef d "
            "ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped", (oid[0],)):
        table.columns[col] = (typ, notnull, None if default is None else _normal(default))
    for con, kind, definition in conn.execute(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s AND contype <> 'n'", (oid[0],)):  # NOT NULL: the columns
        table.constraints[con] = (kind, _normal(definition))
    backing = {c for c, (k, _) in table.constraints.items() if k in "pu"}
    for index, definition in conn.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s", (oid[0],)):
        shape = _index_shape(_normal(definition))
        if index in backing:
            table.key_indexes.add(shape.removeprefix("UNIQUE "))
        else:
            table.indexes[index] = shape
    rls = conn.execute("SELECT relrowsecurity FROM pg_class WHERE oid = %s", (oid[0],))
    table.rls = bool(rls.fetchone()[0])  # type: ignore[index]
    count = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema),
                                                         sql.Identifier(name))
    table.rows = conn.execute(count).fetchone()[0]  # type: ignore[index]
    return table


def _functions(conn: psycopg.Connection[Any], schema: str) -> dict[str, tuple[str, str, str]]:
    """name -> (arguments, result, full definition) of the functions slotqueue owns."""
    rows = conn.execute(
        "SELECT p.proname, pg_get_function_identity_arguments(p.oid), "
        "pg_get_function_result(p.oid), pg_get_functiondef(p.oid) FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s "
        "AND p.proname = ANY(%s)", (schema, list(FUNCTIONS)))
    return {name: (args, _normal(result), definition) for name, args, result, definition in rows}


def spec_catalog(conn: psycopg.Connection[Any], migrations: Iterable[Any]
                 ) -> tuple[dict[str, Table], dict[str, tuple[str, str, str]]]:
    """What slotqueue's migrations create, read from a scratch schema that is rolled back."""
    tables: dict[str, Table] = {}
    with conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SPEC)))
        for migration in migrations:
            conn.execute(migration.sql.decode().replace("public.", f"{SPEC}."))
        for name in COMPAT_TABLES:
            found = _table(conn, SPEC, name)
            if found is not None:
                tables[name] = found
        functions = _functions(conn, SPEC)
    return tables, functions


def _column_differences(name: str, live: Table, spec: Table) -> list[Difference]:
    found = []
    ident = sql.Identifier("public", name).as_string(None)
    for col, (typ, notnull, default) in spec.columns.items():
        column = sql.Identifier(col).as_string(None)
        if col not in live.columns:
            add = f"ALTER TABLE {ident} ADD COLUMN {column} {typ}"
            add += f" DEFAULT {default}" if default else ""
            safe = not notnull or default is not None or live.rows == 0
            fix = (add + (" NOT NULL" if notnull else ""),) if safe else ()
            found.append(Difference(name, f"column {col} is missing", fix, safe))
            continue
        live_type, live_notnull, live_default = live.columns[col]
        if live_type != typ:
            found.append(Difference(name, f"column {col} is {live_type}, the spec says {typ}",
                                    safe=False))
        if live_notnull and not notnull:
            found.append(Difference(name, f"column {col} is NOT NULL where the spec allows "
                                          "null", (f"ALTER TABLE {ident} ALTER COLUMN {column} "
                                                   "DROP NOT NULL",)))
        elif notnull and not live_notnull:
            found.append(Difference(name, f"column {col} allows null where the spec does not",
                                    (f"ALTER TABLE {ident} ALTER COLUMN {column} SET NOT NULL",)))
        if live_default != default:
            change = f"SET DEFAULT {default}" if default else "DROP DEFAULT"
            found.append(Difference(
                name, f"column {col} defaults to {live_default or 'nothing'}, the spec to "
                      f"{default or 'nothing'}",
                (f"ALTER TABLE {ident} ALTER COLUMN {column} {change}",)))
    for col in live.columns.keys() - spec.columns.keys():
        _, notnull, _ = live.columns[col]
        column = sql.Identifier(col).as_string(None)
        relax = (f"ALTER TABLE {ident} ALTER COLUMN {column} DROP NOT NULL",) if notnull else ()
        found.append(Difference(name, f"column {col} is not in the spec: kept, but slotqueue "
                                      "does not write it (a rebuild leaves it empty)",
                                relax, safe=True))
    return found


def _constraint_differences(name: str, live: Table, spec: Table) -> list[Difference]:
    found, later = [], []
    ident = sql.Identifier("public", name).as_string(None)
    unmatched = dict(live.constraints)
    for con, (kind, definition) in spec.constraints.items():
        twin = next((c for c, d in unmatched.items() if d == (kind, definition)), None)
        if twin is None:
            later.append(Difference(name, f"constraint {definition} is missing", (
                f"ALTER TABLE {ident} ADD CONSTRAINT {sql.Identifier(con).as_string(None)} "
                f"{definition.replace('REFERENCES ', 'REFERENCES public.')}",)))
            continue
        del unmatched[twin]
        if twin != con:
            later.append(Difference(name, f"constraint {twin} is named {con} in the spec", (
                f"ALTER TABLE {ident} RENAME CONSTRAINT {sql.Identifier(twin).as_string(None)} "
                f"TO {sql.Identifier(con).as_string(None)}",)))
    for con, (_, definition) in unmatched.items():  # dropped first: a name may be reused
        found.append(Difference(name, f"constraint {con} ({definition}) is not in the spec", (
            f"ALTER TABLE {ident} DROP CONSTRAINT {sql.Identifier(con).as_string(None)}",)))
    return found + later


def _index_differences(name: str, live: Table, spec: Table) -> list[Difference]:
    found = []
    unmatched = dict(live.indexes)
    keys = live.key_indexes | spec.key_indexes
    for index, shape in spec.indexes.items():
        twins = [i for i, s in unmatched.items() if s == shape]
        if not twins:
            continue  # the migration creates it
        keep = index if index in twins else twins[0]
        for twin in twins:
            del unmatched[twin]
            quoted = sql.Identifier("public", twin).as_string(None)
            if twin == keep and twin != index:
                found.append(Difference(name, f"index {twin} is named {index} in the spec", (
                    f"ALTER INDEX {quoted} RENAME TO {sql.Identifier(index).as_string(None)}",)))
            elif twin != keep:
                found.append(Difference(name, f"index {twin} repeats index {keep}",
                                        (f"DROP INDEX {quoted}",)))
    for index, shape in unmatched.items():
        quoted = sql.Identifier("public", index).as_string(None)
        if shape.removeprefix("UNIQUE ") in keys:
            found.append(Difference(name, f"index {index} repeats a key's own index",
                                    (f"DROP INDEX {quoted}",)))
        else:
            found.append(Difference(name, f"index {index} ({shape}) is not in the spec: kept"))
    return found


def _function_differences(live: dict[str, tuple[str, str, str]],
                          spec: dict[str, tuple[str, str, str]]) -> list[Difference]:
    found = []
    for fn, (args, result, definition) in spec.items():
        if fn not in live or live[fn][:2] == (args, result):
            continue
        old_args, old_result, _ = live[fn]
        create = definition.replace(f"{SPEC}.", "public.")
        found.append(Difference(fn, f"function {fn}({old_args}) returns {old_result}, the "
                                    f"spec's returns {result}: replaced",
                                (f"DROP FUNCTION public.{fn}({old_args})", create)))
    return found


def differences(conn: psycopg.Connection[Any], migrations: Iterable[Any]) -> list[Difference]:
    spec, spec_functions = spec_catalog(conn, migrations)
    found: list[Difference] = []
    for name, wanted in spec.items():
        live = _table(conn, "public", name)
        if live is None:
            continue
        found += _column_differences(name, live, wanted)
        found += _constraint_differences(name, live, wanted)
        found += _index_differences(name, live, wanted)
        if wanted.rls and not live.rls:
            found.append(Difference(name, "row level security is off", (
                f"ALTER TABLE {sql.Identifier('public', name).as_string(None)} "
                "ENABLE ROW LEVEL SECURITY",)))
    return found + _function_differences(_functions(conn, "public"), spec_functions)


def _try(conn: psycopg.Connection[Any], found: list[Difference]) -> list[Difference]:
    """Runs every fix in a transaction that is rolled back; a fix the data refuses (a NOT
    NULL over nulls, a constraint some row breaks) makes its difference unsafe."""
    checked = []
    with conn.transaction(force_rollback=True):
        for diff in found:
            try:
                with conn.transaction():
                    for statement in diff.fix:
                        conn.execute(statement.encode())
                checked.append(diff)
            except psycopg.Error as exc:
                reason = str(exc).strip().splitlines()[0]
                checked.append(Difference(diff.table, f"{diff.what} ({reason})", safe=False))
    return checked


def adopt(conn: psycopg.Connection[Any], migrations: Iterable[Any]) -> list[Difference]:
    """Brings the existing queue tables to the spec in one transaction and returns the report;
    raises Unsafe (changing nothing) when a difference cannot be fixed safely."""
    found = _try(conn, differences(conn, list(migrations)))
    unsafe = [d for d in found if not d.safe]
    if unsafe:
        raise Unsafe("\n".join(d.line() for d in unsafe))
    with conn.transaction():
        for diff in found:
            for statement in diff.fix:
                conn.execute(statement.encode())
    return found
