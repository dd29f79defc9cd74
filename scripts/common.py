"""What every command shares: the service, `--json` output, errors as one line and exit 1."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any, NoReturn
from uuid import UUID

import psycopg
import typer

from slotqueue.aggregates.errors import DomainError, InvalidInput
from slotqueue.bootstrap import NotMigrated, Service, build
from slotqueue.migrate import MigrationError
from slotqueue.projections.wording import utc_iso
from slotqueue.settings import ConfigError, load_settings

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
EXPECTED = (DomainError, ConfigError, NotMigrated, MigrationError, psycopg.OperationalError)


def parse_id(text: str, label: str) -> UUID:
    try:
        return UUID(text.strip())
    except (ValueError, AttributeError):
        raise InvalidInput(f"invalid {label} {text!r}: not a UUID") from None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)  # ISO 8601 in UTC with Z
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(type(value).__name__)


def emit(as_json: bool, payload: dict[str, Any], text: str | Callable[[], str]) -> None:
    if as_json:
        typer.echo(json.dumps(payload, default=_plain, sort_keys=True))
    else:
        typer.echo(text() if callable(text) else text)


def fail(message: str, as_json: bool = False, **extra: Any) -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"error": message, **extra}, default=_plain, sort_keys=True))
    for line in message.strip().splitlines() or ["failed"]:
        typer.echo(f"error: {line}", err=True)  # one line per bad value
    raise typer.Exit(1)


@contextmanager
def errors(as_json: bool) -> Iterator[None]:
    """Expected failures become one line on stderr and exit 1."""
    try:
        yield
    except EXPECTED as exc:
        fail(str(exc), as_json)


@contextmanager
def service(as_json: bool, *, catch_up: bool = True) -> Iterator[Service]:
    """Builds the service and leaves the projections current, so readers see the command's
    effect at once."""
    with errors(as_json):
        svc = build(load_settings())
        try:
            yield svc
            if catch_up:
                svc.catch_up()
        finally:
            svc.close()


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
