"""Operator and auditor endpoints (an API key): the queue, entries and their actions, the
audits, openings and messages (spec service §2.4). Auditors read; operators read and act."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["operator"])
