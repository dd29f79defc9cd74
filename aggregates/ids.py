"""Deterministic identities: recording the same fact twice is a version conflict."""

from __future__ import annotations

from uuid import UUID, uuid5

NAMESPACE = UUID("6f1c2a3e-3f4b-5c6d-8e9f-0a1b2c3d4e5f")


def stable_id(kind: str, *parts: object) -> UUID:
    return uuid5(NAMESPACE, ":".join([kind, *map(str, parts)]))
