"""The composition root: settings, database, event store, projections, in one place."""

from __future__ import annotations

from slotqueue.migrate import apply_migrations


def migrate_database(url: str) -> list[str]:
    """Applies pending SQL migrations; returns the names applied now."""
    return apply_migrations(url)
