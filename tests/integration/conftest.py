"""Fixtures for tests that drive the application on a real, migrated database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import psycopg
import pytest

from slotqueue.bootstrap import Service, build
from slotqueue.settings import Settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
def service(settings: Settings, database_url: str) -> Iterator[Service]:
    svc = build(settings, database_url)
    yield svc
    svc.close()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def add_location(db: psycopg.Connection[Any]) -> Callable[[str], UUID]:
    def add(name: str) -> UUID:
        row = db.execute("INSERT INTO locations (name) VALUES (%s) RETURNING id", (name,))
        return row.fetchone()[0]  # type: ignore[index]

    return add
