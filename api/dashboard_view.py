"""How the dashboard's pages are drawn: Jinja2 templates shipped in the package
(api/templates), filters for local times with the zone and countdowns, what every page
knows (who is signed in, the CSRF token, the zone, the poll interval, a notice left by the
last action), a page's live region alone for the page's own refreshes (`?fragment=1`), and
the headers that keep the pages to what the process serves (CSP: nothing from elsewhere)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from slotqueue.aggregates.lifecycle import allowed_triggers
from slotqueue.api.dashboard_session import Session
from slotqueue.projections.wording import check_in_words, local_time, mask_phone, utc_iso

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
STATIC = HERE / "static"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY", "Cache-Control": "no-store",
}
NAV = (("queue", "Queue"), ("openings", "Openings"), ("offers", "Offers"),
       ("timers", "Timers"), ("messages", "Messages"), ("charts", "Charts"))


def _local(moment: datetime | None, tz: str) -> str:
    return "" if moment is None else local_time(moment, tz)


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else utc_iso(moment)


def _dt(value: Any) -> Any:
    return value if isinstance(value, datetime) else None


TEMPLATES.env.filters.update(iso=_iso, check=check_in_words, dt=_dt, mask=mask_phone)


def can(status: str, action: str) -> bool:
    """Whether the lifecycle lets an entry in `status` take this action (its buttons)."""
    return action.replace("-", "_") in allowed_triggers(status)


def zone_name(tz: str) -> str:
    """The zone as people read it beside a time: `HST (Pacific/Honolulu)`."""
    return f"{datetime.now(ZoneInfo(tz)):%Z} ({tz})"


def render(request: Request, template: str, session: Session | None, http_status: int = 200,
           **context: Any) -> HTMLResponse:
    deps = request.app.state.deps
    tz = deps.timezone
    notice = context.pop("notice", None)
    response = TEMPLATES.TemplateResponse(request, template, {
        "session": session, "csrf": session.csrf if session else "", "tz": tz,
        "zone": zone_name(tz), "local": lambda m: _local(m, tz), "nav": NAV,
        "poll_seconds": deps.svc.settings.dashboard_poll_seconds, "notice": notice,
        "fragment": request.query_params.get("fragment") == "1", "brand": deps.brand,
        "page": template.removesuffix(".html"), "now": datetime.now(UTC), "can": can,
        **context},
        status_code=http_status)
    response.headers.update(HEADERS)
    return response
