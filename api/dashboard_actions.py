"""What an operator does from the dashboard (spec service §5): pause, resume or cancel an
entry, set its priority, book it into a slot, send a delivery again. Each posts a form with
the session's CSRF token and runs what the operator API runs (the application's command, or
the API's own handler where the API adds more than the command), recorded with the key's
name (`key:<name>`); then back to the page with a notice of what happened or why it was
refused. An auditor's session is refused (403), as is a form without the token."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from slotqueue.aggregates.errors import DomainError
from slotqueue.api import models, operator, overrides
from slotqueue.api.dashboard_session import PATH, Session, acting_session, form_of, leave_notice
from slotqueue.api.deps import Deps, deps
from slotqueue.api.errors import Problem

router = APIRouter()
Acting, D, Form = Depends(acting_session), Depends(deps), Depends(form_of)
ENTRY_ACTIONS = {"pause": "paused", "resume": "resumed", "cancel": "canceled"}


def _back(form: dict[str, str], fallback: str) -> str:
    """Where the form came from: a dashboard page of this site, never anywhere else."""
    back = form.get("back", "")
    ok = back.startswith(f"{PATH}/") and "//" not in back and "\\" not in back
    return back if ok else fallback


def _done(d: Deps, session: Session, form: dict[str, str], fallback: str,
          act: Callable[[], str]) -> RedirectResponse:
    """Runs the action; leaves what it did, or why it was refused, for the next page."""
    try:
        notice = act()
    except DomainError as exc:
        notice = f"Refused: {exc}"
    except Problem as exc:
        notice = f"Refused: {exc.detail}"
    except ValidationError as exc:
        notice = "Refused: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                          for e in exc.errors())
    leave_notice(d.reads, session, notice)
    return RedirectResponse(_back(form, fallback), status_code=303)


def _entry_action(action: str) -> Callable[..., RedirectResponse]:
    def act(id: UUID, session: Session = Acting, form: dict[str, str] = Form, d: Deps = D
            ) -> RedirectResponse:
        def run() -> str:
            getattr(d.svc.app, action)(id, d.now(), by=session.principal.actor)
            d.settle()
            return f"Entry {id} {ENTRY_ACTIONS[action]} by {session.principal.actor}."

        return _done(d, session, form, f"{PATH}/queue", run)

    act.__name__ = f"dashboard_{action}_entry"
    return act


for _action in ENTRY_ACTIONS:
    router.post(f"/entries/{{id}}/{_action}")(_entry_action(_action))


@router.post("/entries/{id}/priority")
def set_priority(id: UUID, session: Session = Acting, form: dict[str, str] = Form,
                 d: Deps = D) -> RedirectResponse:
    def run() -> str:
        body = models.PriorityIn.model_validate(
            {"score": _number(form.get("score")), "reason": form.get("reason", "")})
        overrides.set_priority(id, body, session.principal, d, None)
        return f"Entry {id}: priority {body.score} set by {session.principal.actor}."

    return _done(d, session, form, f"{PATH}/queue", run)


@router.post("/entries/{id}/book")
def book(id: UUID, session: Session = Acting, form: dict[str, str] = Form, d: Deps = D
         ) -> RedirectResponse:
    def run() -> str:
        body = models.BookIn.model_validate(
            {k: form.get(k, "") for k in ("location_id", "date", "time")})
        overrides.book_entry(id, body, session.principal, d, None)
        return f"Entry {id} booked by {session.principal.actor}."

    return _done(d, session, form, f"{PATH}/queue", run)


@router.post("/messages/{id}/retry")
def retry(id: UUID, session: Session = Acting, form: dict[str, str] = Form,
          d: Deps = D) -> RedirectResponse:
    def run() -> str:
        operator.retry_message(id, session.principal, d, None)
        d.settle()
        return f"Delivery {id} queued again by {session.principal.actor}."

    return _done(d, session, form, f"{PATH}/messages", run)


def _number(text: str | None) -> int | str | None:
    try:
        return int(text or "")
    except ValueError:
        return text
