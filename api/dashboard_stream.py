"""The dashboard's live updates (spec service §5): server-sent events from the process's one
listener on the event store (processes/live.py), one stream per open page. Each event is a
change's id (its notification id: the page drops one it has seen), kind and name, never a
customer's data; the page fetches what changed. A stream that reconnects with `after` (or
Last-Event-ID) is told the changes it missed. While live updates are off in the process the
stream answers 503 and the page keeps itself current by polling."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from slotqueue.api.dashboard_session import reader_session
from slotqueue.api.errors import Problem
from slotqueue.processes.live import Change, LiveEvents, Unavailable

router = APIRouter()
KEEPALIVE_SECONDS = 15.0


def _event(change: Change) -> str:
    data = json.dumps({"id": change.id, "kind": change.kind, "name": change.name,
                       "aggregate_id": change.aggregate_id}, separators=(",", ":"))
    return f"id: {change.id}\nevent: change\ndata: {data}\n\n"


def _off(poll_seconds: float) -> Problem:
    return Problem(503, "live updates are off in this process; the page refreshes itself "
                        f"every {poll_seconds:g} s", headers={"Retry-After": "5"})


@router.get("/events")
async def events(request: Request, after: int | None = Query(None, ge=0, le=2**62)
                 ) -> StreamingResponse:
    """Server-sent events: `change` for every event recorded from now on."""
    await run_in_threadpool(reader_session, request)
    deps = request.app.state.deps
    live: LiveEvents | None = getattr(deps, "live", None)
    poll = deps.svc.settings.dashboard_poll_seconds
    if live is None:
        raise _off(poll)
    header = request.headers.get("last-event-id", "")
    after = after if after is not None else (int(header) if header.isdigit() else None)
    loop, queue = asyncio.get_running_loop(), asyncio.Queue[Change | None]()
    try:
        unsubscribe = live.subscribe(lambda c: loop.call_soon_threadsafe(queue.put_nowait, c),
                                     after)
    except Unavailable:
        raise _off(poll) from None

    async def stream() -> AsyncIterator[str]:
        try:
            yield f"event: ready\ndata: {json.dumps({'position': live.position})}\n\n"
            while True:
                try:
                    change = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if change is None:
                    return  # the listener stopped: the page reconnects, then polls
                yield _event(change)
        finally:
            unsubscribe()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
