"""Who is calling: `Authorization: Bearer <secret>` → a customer, an operator or an auditor,
looked up by the secret's hash in the projected credentials. Providers are authenticated by
their signatures instead (api/webhooks.py). No secret is ever logged."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

from fastapi import Depends, Request

from slotqueue.aggregates.credential import AUDITOR, CUSTOMER, OPERATOR, secret_hash
from slotqueue.api.errors import Problem
from slotqueue.projections.queries import credential

BEARER = "bearer "


@dataclass(frozen=True)
class Principal:
    role: str
    subject: str  # a customer id, or an API key's name

    @property
    def customer_id(self) -> UUID:
        return UUID(self.subject)

    @property
    def actor(self) -> str:
        """What events record as who acted."""
        return f"key:{self.subject}" if self.role != CUSTOMER else f"customer:{self.subject}"


def _secret(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith(BEARER):
        return None
    secret = header[len(BEARER):].strip()
    return secret or None


def signed_in(request: Request) -> Principal:
    secret = _secret(request)
    if secret is None:
        raise Problem(401, "sign in: send Authorization: Bearer <token or API key>",
                      headers={"WWW-Authenticate": "Bearer"})
    with request.app.state.deps.reads.connection() as conn:
        found = credential(conn, secret_hash(secret))
    if found is None:
        raise Problem(401, "the token or API key is not known, or was revoked",
                      headers={"WWW-Authenticate": "Bearer"})
    principal = Principal(*found)
    request.state.principal = principal
    return principal


def role(*allowed: str) -> Callable[..., Awaitable[Principal]]:
    # async: a check that never blocks runs on the event loop, not on a worker thread
    async def check(principal: Principal = Depends(signed_in)) -> Principal:  # noqa: B008
        if principal.role not in allowed:
            own = (" (a customer token reads only its own customer: GET /v1/me, "
                   "GET /v1/me/history)" if principal.role == CUSTOMER else "")
            raise Problem(403, f"a {principal.role} may not do this: it needs "
                               f"{' or '.join(allowed)}{own}")
        return principal
    return check


customer = role(CUSTOMER)
reader = role(OPERATOR, AUDITOR)
operator = role(OPERATOR)
