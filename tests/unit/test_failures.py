"""What a failing command prints: one line, passwords masked, a bug's details in the log."""

from __future__ import annotations

import json

import psycopg
import psycopg.errors
import pytest
import typer
from eventsourcing.persistence import OperationalError
from psycopg_pool import PoolTimeout

from slotqueue.aggregates.errors import InvalidInput
from slotqueue.redact import redact
from slotqueue.scripts.common import errors
from slotqueue.scripts.failures import check_arguments, describe
from slotqueue.sessions import GaveUp


@pytest.fixture(autouse=True)
def data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SLOTQUEUE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:Sup3r-Secret@db.example:6543/app")
    return tmp_path


def wrapped(error: Exception) -> Exception:
    """As the event store library raises it: its own class, the psycopg error as cause."""
    try:
        try:
            raise error
        except psycopg.Error as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError as outer:
        return outer


@pytest.mark.parametrize(("error", "line"), [
    (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
     "the database did not finish in time: canceling statement due to statement timeout "
     "(SLOTQUEUE_STATEMENT_TIMEOUT_SECONDS)"),
    (psycopg.errors.QueryCanceled("canceling statement due to user request"),
     "the database did not finish in time: canceling statement due to user request"),
    (psycopg.errors.ConnectionTimeout("connection timeout expired"),
     "the database at db.example:6543 did not answer in time: connection timeout expired "
     "(SLOTQUEUE_CONNECT_TIMEOUT_SECONDS)"),
    (PoolTimeout("couldn't get a connection after 5.00 sec"),
     "the database gave no connection in time (it went away, or is full): couldn't get a "
     "connection after 5.00 sec (SLOTQUEUE_CONNECT_TIMEOUT_SECONDS)"),
    (psycopg.OperationalError('connection failed: connection to server at "10.0.0.1", port '
                              "5432 failed: Connection refused\n\tIs the server running on "
                              "that host and accepting TCP/IP connections?"),
     'the database is unavailable: connection failed: connection to server at "10.0.0.1", '
     "port 5432 failed: Connection refused; Is the server running on that host and accepting "
     "TCP/IP connections?"),
    (psycopg.errors.UniqueViolation('duplicate key value violates unique constraint "k"'),
     'the database refused the change: duplicate key value violates unique constraint "k"'),
    (psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
     "the database refused a value: PostgreSQL text fields cannot contain NUL (0x00) bytes"),
])
def test_a_database_error_is_one_line_saying_what_happened_however_it_was_wrapped(error, line):
    assert describe(error) == line
    assert describe(wrapped(error)) == line


def test_a_timeout_the_library_would_retry_is_raised_as_final():
    canceled = psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
    final = GaveUp("x")
    final.__cause__ = canceled
    assert not isinstance(final, OperationalError)
    assert describe(final).startswith("the database did not finish in time")


def test_a_password_in_a_database_message_is_masked():
    error = psycopg.OperationalError("invalid connection option near Sup3r-Secret in "
                                     "postgresql://app:Sup3r-Secret@db.example/app")
    assert "Sup3r-Secret" not in describe(error)
    assert "postgresql://app:***@db.example/app" in describe(error)


@pytest.mark.parametrize(("text", "shown"), [
    ("postgresql://u:pw1@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("host=h password=pw1 dbname=d", "host=h password=*** dbname=d"),
    ("host=h password='p w\\' 1' dbname=d", "host=h password=*** dbname=d"),
    ("postgresql://h/db?password=pw1&sslmode=require", "postgresql://h/db?password=***&"
                                                       "sslmode=require"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
    ("failed near Sup3r-Secret", "failed near ***"),
])
def test_passwords_are_masked_in_urls_conninfo_and_anywhere_the_given_one_appears(text, shown):
    assert redact(text) == shown


def test_a_password_that_is_also_the_user_name_is_left_to_the_patterns(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres:postgres@h/postgres")
    assert redact('database "postgres" does not exist') == 'database "postgres" does not exist'


@pytest.mark.parametrize(("args", "line"), [
    (["join", "--phone", "808\udcff"], "--phone '808\\udcff': not valid UTF-8 text"),
    (["deposit-paid", "x", "--payment-ref=\udcfe"],
     "--payment-ref '\\udcfe': not valid UTF-8 text"),
    (["status", "--json", "\udcff"], "argument '\\udcff': not valid UTF-8 text"),
])
def test_an_argument_that_is_not_valid_utf8_is_refused_naming_its_option(args, line):
    with pytest.raises(InvalidInput) as refused:
        check_arguments(args)
    assert str(refused.value) == line


def test_an_unexpected_error_is_one_line_on_stderr_and_its_traceback_one_line_in_the_log(
        capsys, data_dir):
    def buggy() -> None:
        raise KeyError("no such thing: postgresql://app:Sup3r-Secret@db.example/app")

    with pytest.raises(typer.Exit) as done, errors(as_json=False):
        buggy()
    assert done.value.exit_code == 1
    log = data_dir / "slotqueue.log"
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: internal error (KeyError: ")
    assert line.endswith(f"details in {log}")
    [logged] = log.read_text().splitlines()
    record = json.loads(logged)
    assert record["level"] == "error"
    assert "Traceback" in record["error"]
    assert "in buggy" in record["error"]
    assert "Sup3r-Secret" not in logged + line


def test_json_output_carries_the_same_line(capsys):
    with pytest.raises(typer.Exit), errors(as_json=True):
        raise psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
    out, err = capsys.readouterr()
    assert json.loads(out) == {"error": err.strip().removeprefix("error: ")}


def test_an_exit_chosen_by_the_command_passes_through():
    with pytest.raises(typer.Exit) as done, errors(as_json=False):
        raise typer.Exit(3)
    assert done.value.exit_code == 3
