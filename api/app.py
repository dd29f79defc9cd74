"""The HTTP API as a FastAPI application: one router per audience, problem+json errors, and a
log line per request that carries the route and status (never a query string, a token or a
full phone number). Built by the composition root with the handlers' shared `Deps`."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from fastapi import APIRouter, FastAPI, Request, Response

from slotqueue import __version__
from slotqueue.api import (
    booking_modes,
    customer,
    dashboard,
    errors,
    offers,
    operator,
    ops,
    public,
    twilio_webhooks,
    webhooks,
)
from slotqueue.api.deps import Deps

log = logging.getLogger("slotqueue.http")
DESCRIPTION = """The slotqueue HTTP API: customers join the queue by proving their phone and
manage their place; operators and auditors read and act with API keys; payment and SMS
providers report by signed webhooks. Errors are `application/problem+json`; every POST that
creates something accepts `Idempotency-Key`."""


# Errors each audience's routes may answer (problem+json), documented in the OpenAPI schema.
PUBLIC_ERRORS = (400, 409, 422, 429)
SIGNED_IN_ERRORS = (400, 401, 403, 404, 409, 422)
WEBHOOK_ERRORS = (400, 401, 404, 409, 422)


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")


def create_app(deps: Deps, routers: Iterable[APIRouter] = ()) -> FastAPI:
    app = FastAPI(title="slotqueue", version=__version__, description=DESCRIPTION,
                  openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)
    app.state.deps = deps
    errors.install(app)
    for router, statuses in ((public.router, PUBLIC_ERRORS), (customer.router, SIGNED_IN_ERRORS),
                             (operator.router, SIGNED_IN_ERRORS),
                             (booking_modes.router, SIGNED_IN_ERRORS),
                             (offers.router, (400, 422)),  # its refusals: api/offers.py
                             (webhooks.router, WEBHOOK_ERRORS),
                             (twilio_webhooks.router, WEBHOOK_ERRORS), (ops.router, ()),
                             *((r, ()) for r in routers)):
        app.include_router(router, responses=errors.documented(*statuses))
    dashboard.install(app)  # HTML for people, outside the OpenAPI schema

    def record(request: Request, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        route = _route(request)
        observe = getattr(deps, "observe", None)
        if observe is not None:
            observe(request.method, route, status, elapsed)
        log.info("request", extra={"fields": {
            "method": request.method, "route": route, "status": status,
            "ms": round(elapsed * 1000, 1)}})

    @app.middleware("http")
    async def request_line(request: Request,
                           call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # answered 500 by the outermost handler (errors._unexpected)
            record(request, 500, started)
            raise
        record(request, response.status_code, started)
        return response

    return app
