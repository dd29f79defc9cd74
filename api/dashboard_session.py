"""Who is using the dashboard (spec service §5): an operator or auditor signs in with their API
key once; the browser then holds an opaque session token in an HttpOnly, SameSite=Strict
cookie. Sessions are kept server-side (slotqueue.dashboard_sessions, the token's SHA-256 hash
only), end at sign-out, at expiry, or when the key is revoked, and each carries the CSRF token
every action must send back."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from psycopg_pool import ConnectionPool

from slotqueue.aggregates.credential import AUDITOR, OPERATOR, secret_hash
from slotqueue.api.auth import Principal
from slotqueue.api.errors import Problem
from slotqueue.projections.queries import credential

COOKIE = "sq_dashboard"
PATH = "/dashboard"
CSRF_FIELD, CSRF_HEADER = "csrf_token", "x-csrf-token"
FORM, MAX_FORM = "application/x-www-form-urlencoded", 16_384

_FIND = """
SELECT c.role, c.subject, s.csrf_token FROM slotqueue.dashboard_sessions s
JOIN slotqueue.credentials c ON c.secret_hash = s.key_hash AND c.revoked_at IS NULL
WHERE s.token_hash = %s AND s.expires_at > now() AND c.role = ANY(%s)
"""


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str
    key: str  # the session's row: its token's hash

    @property
    def may_act(self) -> bool:
        return self.principal.role == OPERATOR


class SignInNeeded(Exception):
    """No live session: a page sends the browser to the sign-in form."""


def _hash(token: str) -> str:
    return hashlib.sha256(b"sq-dashboard-session:" + token.encode()).hexdigest()


def open_session(pool: ConnectionPool, key: str, lifetime: timedelta) -> tuple[str, Session] | None:
    """A new session for this operator or auditor key (None for any other secret)."""
    token, csrf, hashed = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secret_hash(key)
    with pool.connection() as conn:
        found = credential(conn, hashed)
        if found is None or found[0] not in (OPERATOR, AUDITOR):
            return None
        conn.execute("DELETE FROM slotqueue.dashboard_sessions WHERE expires_at < now()")
        conn.execute("INSERT INTO slotqueue.dashboard_sessions (token_hash, key_hash, "
                     "csrf_token, expires_at) VALUES (%s, %s, %s, now() + %s)",
                     (_hash(token), hashed, csrf, lifetime))
    return token, Session(Principal(*found), csrf, _hash(token))


def close_session(pool: ConnectionPool, token: str) -> None:
    with pool.connection() as conn:
        conn.execute("DELETE FROM slotqueue.dashboard_sessions WHERE token_hash = %s",
                     (_hash(token),))


def leave_notice(pool: ConnectionPool, session: Session, text: str) -> None:
    """What the action did (or why it was refused), for the page it returns to."""
    with pool.connection() as conn:
        conn.execute("UPDATE slotqueue.dashboard_sessions SET notice = %s WHERE token_hash = %s",
                     (text[:500], session.key))


def take_notice(pool: ConnectionPool, session: Session) -> str | None:
    with pool.connection() as conn:
        row = conn.execute(
            "UPDATE slotqueue.dashboard_sessions s SET notice = NULL FROM (SELECT token_hash, "
            "notice FROM slotqueue.dashboard_sessions WHERE token_hash = %s FOR UPDATE) old "
            "WHERE s.token_hash = old.token_hash AND old.notice IS NOT NULL "
            "RETURNING old.notice", (session.key,)).fetchone()
    return None if row is None else str(row[0])


def current(request: Request) -> Session | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    with request.app.state.deps.reads.connection() as conn:
        row = conn.execute(_FIND, (_hash(token), [OPERATOR, AUDITOR])).fetchone()
    if row is None:
        return None
    session = Session(Principal(str(row[0]), str(row[1])), str(row[2]), _hash(token))
    request.state.principal = session.principal
    return session


def page_session(request: Request) -> Session:
    """A page's reader: signed in, else off to the sign-in form."""
    session = current(request)
    if session is None:
        raise SignInNeeded
    return session


def reader_session(request: Request) -> Session:
    """What a page's scripts call (fragments, the stream): signed in, else 401."""
    session = current(request)
    if session is None:
        raise Problem(401, "sign in to the dashboard first: /dashboard/sign-in")
    return session


def check_csrf(session: Session, sent: str | None) -> None:
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise Problem(403, "the form's CSRF token is missing or wrong: reload the page and "
                           "try again")


async def form_of(request: Request) -> dict[str, str]:
    """A posted form's fields (urlencoded, as the pages send them; the last of a repeated
    name), at most 16 KB."""
    if not request.headers.get("content-type", "").startswith(FORM):
        return {}
    body = await request.body()
    if len(body) > MAX_FORM:
        raise Problem(413, f"a dashboard form is at most {MAX_FORM} bytes")
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def posting_session(request: Request, form: dict[str, str] = Depends(form_of)  # noqa: B008
                    ) -> Session:
    """A form's sender: signed in, with the session's CSRF token (form field or header)."""
    session = reader_session(request)
    check_csrf(session, request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD))
    return session


def acting_session(session: Session = Depends(posting_session)) -> Session:  # noqa: B008
    """An action's caller: an operator's session (an auditor's is refused, 403)."""
    if not session.may_act:
        raise Problem(403, f"an {session.principal.role} reads the dashboard but may not act")
    return session


def to_sign_in(request: Request, _: Exception) -> RedirectResponse:
    """The handler of SignInNeeded: the sign-in form, then back to this page."""
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PATH}/sign-in?next={quote(back, safe='')}", status_code=303)


def cookie_args(secure: bool, lifetime: timedelta) -> dict[str, Any]:
    return {"key": COOKIE, "httponly": True, "samesite": "strict", "path": PATH,
            "secure": secure, "max_age": int(lifetime.total_seconds())}
