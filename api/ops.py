"""Operations: liveness, readiness and Prometheus metrics (spec service §2.5). No credentials:
probes and scrapers call them; they show counts and check names, never customers' data."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from slotqueue.api import health
from slotqueue.api.deps import Deps, deps
from slotqueue.api.errors import Problem, documented, problem
from slotqueue.api.metrics import CONTENT_TYPE
from slotqueue.api.output import Json, ok

router = APIRouter(tags=["operations"])
D = Depends(deps)


class Alive(BaseModel):
    status: str = Field(examples=["alive"])


class Ready(BaseModel):
    status: str = Field(examples=["ready"])
    checks: dict[str, str] = Field(description="Each check and what it found.", examples=[{
        "database": "answered in 1 ms", "migrations": "current",
        "projections": "0 events behind, the oldest waiting 0.0 s",
        "dispatcher": "last run finished 0.1 s ago (runs every 0.2 s; stale after 5 s)"}])


@router.get("/healthz", response_model=Alive)
def healthz() -> Json:
    """Alive: the process answers (nothing else is checked)."""
    return ok({"status": "alive"})


@router.get("/readyz", response_model=Ready, responses=documented(503))
def readyz(d: Deps = D) -> Json:
    """200 only when the database answers, migrations are current, the projection is less
    than 5 s behind and the dispatcher's last run is recent; otherwise 503 naming each
    failing check in `errors`."""
    checks = health.readiness(d, d.wall_clock())
    failed = [c for c in checks if not c.ok]
    if failed:
        return problem(503, "not ready: " + "; ".join(f"{c.name}: {c.detail}" for c in failed),
                       [{"field": c.name, "message": c.detail} for c in failed])
    return ok({"status": "ready", "checks": {c.name: c.detail for c in checks}})


@router.get("/metrics", response_class=Response, responses={
    200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}},
          "description": "Prometheus text exposition format."}, **documented(404)})
def metrics(d: Deps = D) -> Response:
    """Prometheus metrics: HTTP requests by route and status; dispatcher runs, their
    duration, openings, decisions by outcome, booking attempts, bookings and deposits; the
    projection's lag; queue entries by status."""
    if d.metrics is None:
        raise Problem(404, "metrics are not collected in this process")
    body = d.metrics.render(health.readings(d, d.wall_clock()))
    return Response(body, media_type=CONTENT_TYPE)
