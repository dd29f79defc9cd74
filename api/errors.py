"""Every error as application/problem+json (RFC 9457), built in one place from the domain's
own errors: 400/422 bad input naming the field, 401, 403, 404, 409, 429 with Retry-After.
Bad input never gives a 500, and nothing unexpected leaves more than one line in the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from slotqueue.aggregates.errors import DomainError, InvalidInput, NotFound, TransitionRefused
from slotqueue.aggregates.phone_verification import TooManyCodes
from slotqueue.api.output import Json

log = logging.getLogger("slotqueue.api")
PROBLEM = "application/problem+json"
TITLES = {400: "Bad request", 401: "Not signed in", 403: "Not allowed", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 413: "Too large", 415: "Unsupported media",
          422: "Invalid input", 429: "Too many requests", 500: "Internal error",
          503: "Not ready"}


@contextmanager
def named(field: str) -> Iterator[None]:
    """Bad input from inside the block is about `field` (unless it says which already)."""
    try:
        yield
    except InvalidInput as exc:
        if exc.field is None:
            raise InvalidInput(str(exc), field=field) from None
        raise


class FieldError(BaseModel):
    field: str
    message: str


class ProblemBody(BaseModel):
    """An error as `application/problem+json` (RFC 9457), as every route answers one."""

    type: str = Field(examples=["about:blank"])
    title: str = Field(examples=["Invalid input"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["phone: not a phone number"])
    errors: list[FieldError] | None = None


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses: problem+json bodies."""
    schema = {"$ref": "#/components/schemas/ProblemBody"}
    return {status: {"description": TITLES.get(status, "Error"), "model": ProblemBody,
                     "content": {PROBLEM: {"schema": schema}}} for status in statuses}


class Problem(Exception):
    """An HTTP error with a problem+json body."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers


def problem(status: int, detail: str, errors: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"),
                            "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return Json(body, status_code=status, media_type=PROBLEM, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[-1] if loc else "request")


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _location(tuple(e.get("loc", ()))),
               "message": str(e.get("msg", "invalid")).removeprefix("Value error, ")}
              for e in exc.errors()]
    return problem(422, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)


def _domain(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, TooManyCodes):
        seconds = max(1, int(exc.retry_after.total_seconds()) + 1)
        return problem(429, str(exc), headers={"Retry-After": str(seconds)})
    if isinstance(exc, NotFound):
        return problem(404, str(exc))
    if isinstance(exc, InvalidInput):
        field = exc.field or "request"
        return problem(422, str(exc), [{"field": field, "message": str(exc)}])
    if isinstance(exc, TransitionRefused):
        return problem(409, str(exc))
    return problem(400, str(exc))


def _problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem(exc.status, exc.detail, exc.errors, exc.headers)


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    route = getattr(request.scope.get("route"), "path", "unmatched")  # a path may carry ids
    log.error("request failed", extra={"fields": {
        "route": route, "error": f"{type(exc).__name__}: {exc}"[:500]}})
    return problem(500, "the request could not be completed; it was logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
