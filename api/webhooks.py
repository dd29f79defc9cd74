"""Provider webhooks, authenticated by the provider's signature only (spec service §2.3)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
