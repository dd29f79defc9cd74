"""`slotqueue deliver` (the delivery worker alone) and `slotqueue messages [--status S]`,
`slotqueue messages retry ID` (what became of the messages, and sending one again)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import typer

from slotqueue.aggregates.delivery_states import STATUSES
from slotqueue.aggregates.errors import InvalidInput, NotFound
from slotqueue.projections.delivery_queries import deliveries_of_message, delivery_list
from slotqueue.projections.wording import local_time
from slotqueue.scripts.common import JsonOption, cli_actor, emit, errors, long_running, service

messages = typer.Typer(help="What became of each message on each channel; `retry ID` sends "
                       "an unknown or failed one again.", invoke_without_command=True)


def deliver(as_json: JsonOption = False) -> None:
    """Run the delivery worker alone (what `serve` and `run` run beside the dispatcher):
    sends every message recorded from now on; stop with SIGTERM or Ctrl-C."""
    from slotqueue.bootstrap import delivery_worker  # noqa: PLC0415
    from slotqueue.processes.service import run_alone  # noqa: PLC0415

    with errors(as_json):
        settings, url = long_running(as_json)
        run_alone(delivery_worker(settings, url))


def _status(value: str | None) -> str | None:
    if value is None:
        return None
    status = value.strip().lower()
    if status not in STATUSES:
        raise InvalidInput(f"unknown status {value!r}: one of {', '.join(STATUSES)}")
    return status


def _line(d: dict[str, Any], timezone: str) -> str:
    when = local_time(d["created_at"], timezone)
    error = f"  ({d['last_error']})" if d["last_error"] else ""
    return (f"{d['delivery_id']}  {when:<22} {d['message_type']:<18} {d['channel']:<5} "
            f"{d['recipient']:<18} {d['status']:<10} tries {d['attempts']}{error}")


@messages.callback()
def listing(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        help=f"Only deliveries in this status ({', '.join(STATUSES)}).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Deliveries newest first: type, channel, masked recipient, status, tries, last error."""
    if ctx.invoked_subcommand is not None:
        return
    with service(as_json, catch_up=False) as svc, svc.connect() as conn:
        found = delivery_list(conn, _status(status), limit=limit)
    emit(as_json, {"deliveries": found}, lambda: "\n".join(
        _line(d, svc.settings.timezone) for d in found) or "no deliveries")


@messages.command("retry")
def retry(
    delivery: Annotated[str, typer.Argument(
        help="A delivery's id (or a message's: its unknown and failed deliveries).")],
    as_json: JsonOption = False,
) -> None:
    """Send an unknown or failed delivery again, with a fresh set of tries."""
    actor = cli_actor()
    with service(as_json) as svc:
        try:
            wanted = UUID(delivery.strip())
        except ValueError:
            raise InvalidInput(f"not a delivery or message id: {delivery!r}") from None
        with svc.connect() as conn:
            ids = deliveries_of_message(conn, wanted) or [wanted]
        retried = []
        for one in ids:
            try:
                retried.append(svc.app.retry_delivery(one, actor, svc.clock.now()))
            except NotFound:
                raise NotFound(f"unknown delivery or message {wanted}") from None
    emit(as_json, {"retried": [str(d.id) for d in retried]},
         "\n".join(f"{d.id}: queued again ({d.channel})" for d in retried))


def register(app: typer.Typer) -> None:
    app.command()(deliver)
    app.add_typer(messages, name="messages")
