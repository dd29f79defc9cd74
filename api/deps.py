"""What the HTTP handlers share, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from psycopg_pool import ConnectionPool

from slotqueue.adapters.sms import SmsSender
from slotqueue.api.idempotency import Idempotency
from slotqueue.api.limits import RateLimits


@dataclass
class Deps:
    svc: Any  # slotqueue.bootstrap.Service: the application, its clock, settings, catch-up
    reads: ConnectionPool
    sms: SmsSender
    limits: RateLimits
    idempotency: Idempotency

    @property
    def timezone(self) -> str:
        return str(self.svc.settings.timezone)

    @property
    def brand(self) -> str:
        return str(self.svc.settings.brand_name)

    def now(self) -> datetime:
        return self.svc.clock.now()  # type: ignore[no-any-return]

    def settle(self) -> None:
        """The projected tables show what the request recorded (read-your-writes)."""
        self.svc.catch_up()


def deps(request: Request) -> Deps:
    return request.app.state.deps  # type: ignore[no-any-return]


def client(request: Request) -> str:
    return request.client.host if request.client else "unknown"
