"""The `slotqueue` command line: one entry point, a subcommand per operator task."""

from __future__ import annotations

import sys

import typer

from slotqueue.bootstrap import message_texts, migrate_database
from slotqueue.database import resolve_url
from slotqueue.scripts import (
    audit_cmd,
    entry_cmds,
    http_cmds,
    message_cmds,
    operator_cmds,
    projection_cmds,
    seed_cmd,
    service_cmds,
    view_cmds,
)
from slotqueue.scripts.common import JsonOption, emit, errors
from slotqueue.scripts.failures import check_arguments, keep_logs_off_stderr
from slotqueue.sessions import Timeouts, bounded_url
from slotqueue.settings import load_settings

app = typer.Typer(
    name="slotqueue",
    help="Event-sourced, fair booking queue for Honolulu DMV appointment slots.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
entry_cmds.register(app)
operator_cmds.register(app)
view_cmds.register(app)
http_cmds.register(app)
audit_cmd.register(app)
service_cmds.register(app)
message_cmds.register(app)
app.command()(seed_cmd.seed)
app.add_typer(projection_cmds.app, name="projections")


@app.command()
def migrate(as_json: JsonOption = False) -> None:
    """Bring the database to this release: existing queue tables to the spec, pending
    migrations, the event store, an earlier implementation's rows as events (safe to rerun)."""
    with errors(as_json):
        settings = load_settings()
        url = resolve_url(settings.database_url, settings.data_dir)
        timeouts = Timeouts.of(settings)
        done = migrate_database(bounded_url(url, timeouts), message_texts(settings),
                                lock_timeout_ms=timeouts.statement_ms)
    emit(as_json, {"applied": done.applied, "definitions": done.definitions,
                   "imported": {"customers": done.imported.customers,
                                "queue_entries": done.imported.entries,
                                "rows": done.imported.rows, "notes": done.imported.notes}},
         "\n".join(done.lines()))


def main() -> None:
    """Every failure is one line on stderr and exit 1, whatever raised it (usage errors: 2)."""
    keep_logs_off_stderr()
    try:
        with errors(as_json="--json" in sys.argv[1:]):
            check_arguments(sys.argv[1:])
            app()
    except typer.Exit as done:
        sys.exit(done.exit_code)

