"""Database fixtures: DATABASE_URL's server when set, else the embedded PostgreSQL."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql

from slotqueue.bootstrap import migrate_database
from slotqueue.database import connect, embedded_url, with_dbname

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)


def _unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def _admin(server_url: str, statement: sql.Composed) -> None:
    with connect(server_url, autocommit=True) as conn:
        conn.execute(statement)


def _create_database(server_url: str, name: str, template: str | None = None) -> None:
    statement = sql.SQL("create database {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("{} template {}").format(statement, sql.Identifier(template))
    _admin(server_url, statement)


def _drop_database(server_url: str, name: str) -> None:
    _admin(
        server_url, sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
    )


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """A server to create test databases on; the URL names its maintenance database."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    default_dir = tempfile.gettempdir() + "/slotqueue-test-pg"
    return embedded_url(Path(os.environ.get("SLOTQUEUE_TEST_PGDATA", default_dir)) / "pgdata")


@pytest.fixture
def fresh_database_url(pg_server_url: str) -> Iterator[str]:
    """An empty database, dropped after the test."""
    name = _unique_name("sq_t")
    _create_database(pg_server_url, name)
    yield with_dbname(pg_server_url, name)
    _drop_database(pg_server_url, name)


@pytest.fixture(scope="session")
def template_database(pg_server_url: str) -> Iterator[str]:
    """Name of a database migrated once per session, copied by `database_url`."""
    name = _unique_name("sq_tpl")
    _create_database(pg_server_url, name)
    try:
        migrate_database(with_dbname(pg_server_url, name))
        yield name
    finally:
        _drop_database(pg_server_url, name)


@pytest.fixture
def database_url(pg_server_url: str, template_database: str) -> Iterator[str]:
    """A migrated database (a copy of the session's template), dropped after the test."""
    name = _unique_name("sq_t")
    _create_database(pg_server_url, name, template=template_database)
    yield with_dbname(pg_server_url, name)
    _drop_database(pg_server_url, name)


@pytest.fixture(scope="module")
def module_database_url(pg_server_url: str, template_database: str) -> Iterator[str]:
    """A migrated database shared by a whole test module (its tests share one server, as a
    site's visitors or a fuzzer's operations do), dropped after it."""
    name = _unique_name("sq_m")
    _create_database(pg_server_url, name, template=template_database)
    yield with_dbname(pg_server_url, name)
    _drop_database(pg_server_url, name)
