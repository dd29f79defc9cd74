"""The `slotqueue` command line: one entry point, a subcommand per operator task."""

from __future__ import annotations

import typer

from slotqueue.bootstrap import migrate_database
from slotqueue.database import resolve_url
from slotqueue.scripts import (
    audit_cmd,
    entry_cmds,
    projection_cmds,
    seed_cmd,
    service_cmds,
    view_cmds,
)
from slotqueue.scripts.common import JsonOption, emit, errors
from slotqueue.settings import load_settings

app = typer.Typer(
    name="slotqueue",
    help="Event-sourced, fair booking queue for Honolulu DMV appointment slots.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
entry_cmds.register(app)
view_cmds.register(app)
audit_cmd.register(app)
service_cmds.register(app)
app.command()(seed_cmd.seed)
app.add_typer(projection_cmds.app, name="projections")


@app.command()
def migrate(as_json: JsonOption = False) -> None:
    """Apply pending SQL migrations and create the event store (safe to run twice)."""
    with errors(as_json):
        settings = load_settings()
        applied = migrate_database(resolve_url(settings.database_url, settings.data_dir))
    emit(as_json, {"applied": applied},
         "\n".join(f"applied {name}" for name in applied) or "database is up to date")


def main() -> None:
    app()

