"""What every command shares: the service, `--json` output, errors as one line and exit 1."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any, NoReturn
from uuid import UUID

import typer

from slotqueue import logs
from slotqueue.aggregates.contact import normalise_phone
from slotqueue.aggregates.errors import InvalidInput, NotFound
from slotqueue.bootstrap import Service, build
from slotqueue.database import resolve_url
from slotqueue.projections.wording import utc_iso
from slotqueue.redact import redact
from slotqueue.scripts.failures import catch_up_after, describe
from slotqueue.settings import Settings, load_settings

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def parse_id(text: str, label: str) -> UUID:
    try:
        return UUID(text.strip())
    except (ValueError, AttributeError):
        raise InvalidInput(f"invalid {label} {text!r}: not a UUID") from None


def parse_customer(svc: Service, text: str) -> UUID:
    """A customer id, or the phone number a customer joined with (`808-555-0101`)."""
    try:
        return UUID(text.strip())
    except (ValueError, AttributeError):
        pass
    try:
        phone = normalise_phone(text)
    except InvalidInput:
        raise InvalidInput(f"invalid customer {text!r}: not a customer id or a phone "
                           "number") from None
    found = svc.app.customer_for_phone(phone)
    if found is None:
        raise NotFound(f"no customer joined with phone {text.strip()!r}")
    return found.id


def parse_entry(svc: Service, text: str) -> UUID:
    """A queue entry id, or a customer's phone number for that customer's latest entry."""
    try:
        return UUID(text.strip())
    except (ValueError, AttributeError):
        pass
    try:
        customer = svc.app.customer(parse_customer(svc, text))
    except InvalidInput:
        raise InvalidInput(f"invalid queue entry {text!r}: not an entry id or a phone "
                           "number") from None
    entries = customer.entry_ids()
    if not entries:
        raise NotFound(f"customer {customer.id} has no queue entry")
    return customer.open_entry_id or entries[-1]


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
    message = redact(message)
    if as_json:
        typer.echo(json.dumps({"error": message, **extra}, default=_plain, sort_keys=True))
    for line in message.strip().splitlines() or ["failed"]:
        typer.echo(f"error: {line}", err=True)  # one line per bad value
    raise typer.Exit(1)


@contextmanager
def errors(as_json: bool) -> Iterator[None]:
    """Every failure becomes one line on stderr and exit 1 (scripts/failures.py)."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise  # an exit code already chosen, or a usage error (exit 2)
    except Exception as exc:
        fail(describe(exc), as_json)


@contextmanager
def service(as_json: bool, *, catch_up: bool = True) -> Iterator[Service]:
    """Builds the service and leaves the projections current, so readers see the command's
    effect at once."""
    with errors(as_json):
        svc = build(load_settings())
        try:
            yield svc
            if catch_up:
                catch_up_after(svc)
        finally:
            svc.close()


def long_running(as_json: bool) -> tuple[Settings, str]:
    """What `serve`, `run` and `deliver` do before they start: the settings, logging as they
    say, the database's URL, and a refusal of a database that is not migrated. Call inside
    `errors(as_json)`."""
    settings = load_settings()
    logs.configure("json" if as_json else settings.log_format)
    with service(as_json, catch_up=False):
        pass  # refuses an unmigrated database before anything starts
    return settings, resolve_url(settings.database_url, settings.data_dir)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def cli_actor() -> str:
    """Who acts from the command line, as events record it: `cli:<user>`."""
    return f"cli:{os.environ.get('USER') or 'operator'}"
