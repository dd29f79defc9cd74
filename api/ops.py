"""Operations: liveness, readiness and Prometheus metrics (spec service §2.5)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["operations"])
