"""Credential events → slotqueue.credentials (hashes only), which the HTTP API signs in with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slotqueue.aggregates.credential import Credential
from slotqueue.projections.writes import Update, Upsert, Write


def _issued(e: Any) -> list[Write]:
    return [Upsert("credentials", ("id",), {
        "id": e.originator_id, "secret_hash": e.secret_hash, "role": e.role,
        "subject": e.subject, "issued_at": e.at, "issued_by": e.by, "revoked_at": None})]


def _revoked(e: Any) -> list[Write]:
    return [Update("credentials", {"id": e.originator_id}, {"revoked_at": e.at})]


HANDLERS: dict[type, Callable[[Any], list[Write]]] = {
    Credential.Issued: _issued,  # type: ignore[attr-defined]
    Credential.Revoked: _revoked,  # type: ignore[attr-defined]
}


def identity_writes(event: Any) -> list[Write]:
    handler = HANDLERS.get(type(event))
    return handler(event) if handler else []
