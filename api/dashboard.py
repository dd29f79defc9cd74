"""The operator dashboard at /dashboard (spec service §5): sign-in with an operator or auditor
API key, sign-out, the static files it ships (no CDN: everything comes from this process),
and its pages (api/dashboard_pages.py), actions (api/dashboard_actions.py) and live stream
(api/dashboard_stream.py). HTML, not part of the OpenAPI schema."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from slotqueue.api import dashboard_actions, dashboard_pages, dashboard_stream
from slotqueue.api.dashboard_session import (
    COOKIE,
    PATH,
    Session,
    SignInNeeded,
    close_session,
    cookie_args,
    current,
    form_of,
    open_session,
    posting_session,
    to_sign_in,
)
from slotqueue.api.dashboard_view import STATIC, render
from slotqueue.api.deps import Deps, client, deps
from slotqueue.api.errors import Problem

router = APIRouter(prefix=PATH, include_in_schema=False, tags=["dashboard"])
D = Depends(deps)
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def _next(text: str | None) -> str:
    """Where to go after signing in: a dashboard page of this site, else the queue."""
    ok = bool(text) and text.startswith(f"{PATH}/") and "//" not in text and "\\" not in text
    return text if ok and text else f"{PATH}/queue"  # type: ignore[return-value]


@router.get("")
def home() -> RedirectResponse:
    return RedirectResponse(f"{PATH}/queue", status_code=303)


@router.get("/sign-in")
def sign_in_form(request: Request, next: str | None = Query(None, max_length=500)) -> Response:
    if current(request) is not None:
        return RedirectResponse(_next(next), status_code=303)
    return render(request, "sign_in.html", None, next=_next(next))


@router.post("/sign-in")
def sign_in(request: Request, form: dict[str, str] = Depends(form_of), d: Deps = D  # noqa: B008
            ) -> Response:
    """An operator's or auditor's API key → a session cookie (HttpOnly, SameSite=Strict)."""
    d.limits.address(client(request))  # a key is not guessed by trying
    lifetime = timedelta(minutes=d.svc.settings.dashboard_session_minutes)
    opened = open_session(d.reads, form.get("key", "").strip(), lifetime)
    if opened is None:
        return render(request, "sign_in.html", None, http_status=401, next=_next(form.get("next")),
                      refused="That key is not an operator's or auditor's key, or it was "
                              "revoked.")
    token, _ = opened
    answer = RedirectResponse(_next(form.get("next")), status_code=303)
    secure = d.svc.settings.public_url.startswith("https://")
    answer.set_cookie(value=token, **cookie_args(secure, lifetime))
    return answer


@router.post("/sign-out")
def sign_out(request: Request, _: Session = Depends(posting_session),  # noqa: B008
             d: Deps = D) -> RedirectResponse:
    close_session(d.reads, request.cookies.get(COOKIE, ""))
    answer = RedirectResponse(f"{PATH}/sign-in", status_code=303)
    answer.delete_cookie(COOKIE, path=PATH)
    return answer


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    path = STATIC / name
    kind = STATIC_TYPES.get(path.suffix)
    if kind is None or path.parent != STATIC or not path.is_file():
        raise Problem(404, f"no dashboard file {name!r}")
    return FileResponse(path, media_type=kind, headers={
        "Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})


router.include_router(dashboard_pages.router)
router.include_router(dashboard_actions.router)
router.include_router(dashboard_stream.router)


def install(app: FastAPI) -> None:
    """The dashboard's routes, and a page's answer to a browser that is not signed in."""
    app.include_router(router)
    app.add_exception_handler(SignInNeeded, to_sign_in)
