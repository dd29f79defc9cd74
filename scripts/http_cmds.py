"""`slotqueue serve` and `slotqueue api-keys create|list|revoke`."""

from __future__ import annotations

from typing import Annotated

import typer

from slotqueue.projections.queries import api_keys
from slotqueue.scripts.common import JsonOption, cli_actor, emit, errors, long_running, service

keys = typer.Typer(help="Create, list and revoke the API keys operators and auditors use.",
                   no_args_is_help=True)


def serve(
    host: Annotated[str | None, typer.Option(
        help="Address to listen on (default SLOTQUEUE_HTTP_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Port (default SLOTQUEUE_HTTP_PORT, 8000).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the HTTP API (docs at /docs) with the dispatcher and the projections beside it;
    stop with SIGTERM or Ctrl-C (requests and the tick under way finish first)."""
    from slotqueue.bootstrap import serve as run_server  # noqa: PLC0415 - loads the web stack

    with errors(as_json):
        settings, url = long_running(as_json)
        run_server(settings, url, host or settings.http_host, port or settings.http_port)


@keys.command("create")
def create(
    name: Annotated[str, typer.Option(help="A name for the key, e.g. ops-alice.")],
    role: Annotated[str, typer.Option(help="operator (reads and acts) or auditor (reads).")],
    as_json: JsonOption = False,
) -> None:
    """Create a key; it is printed once (only its hash is kept)."""
    with service(as_json) as svc:
        key = svc.app.create_api_key(name, role.strip().lower(), svc.clock.now(), cli_actor())
    emit(as_json, {"name": name.strip(), "role": role.strip().lower(), "key": key},
         f"{key}\n(shown once: send it as `Authorization: Bearer <key>`)")


@keys.command("list")
def list_keys(as_json: JsonOption = False) -> None:
    """The keys by name and role, when made and by whom, and when revoked (never the key)."""
    with service(as_json, catch_up=False) as svc, svc.connect() as conn:
        found = api_keys(conn)
    emit(as_json, {"keys": found}, lambda: "\n".join(
        f"{k['name']:<24} {k['role']:<9} created {k['created_at']:%Y-%m-%d %H:%M} "
        + (f"REVOKED {k['revoked_at']:%Y-%m-%d %H:%M}" if k["revoked_at"] else "active")
        for k in found) or "no API keys")


@keys.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The key's name.")],
    as_json: JsonOption = False,
) -> None:
    """Revoke a key at once: requests with it are refused from now on."""
    with service(as_json) as svc:
        svc.app.revoke_api_key(name.strip(), svc.clock.now(), cli_actor())
    emit(as_json, {"name": name.strip(), "revoked": True}, f"revoked {name.strip()}")


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(keys, name="api-keys")
