"""The drills of scripts/drills/, run as an operator runs them: fast variants on every CI run,
the long ones (their real defaults) only with SLOTQUEUE_SLOW=1."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from slotqueue.scripts.cli import app

DRILLS = Path(__file__).resolve().parents[2] / "scripts" / "drills"


def _corpus() -> tuple[Any, ...]:
    """bad_inputs.CASES, imported without leaving the drills' generic module names (`common`)
    in sys.modules or their folder on sys.path for other tests."""
    names = ("bad_inputs", "common")
    saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.path.insert(0, str(DRILLS))
    try:
        return importlib.import_module("bad_inputs").CASES
    finally:
        sys.path.remove(str(DRILLS))
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


CASES = _corpus()

only_when_slow = pytest.mark.skipif(os.environ.get("SLOTQUEUE_SLOW") != "1",
                                    reason="long drill: set SLOTQUEUE_SLOW=1 to run it")


def _drill(name: str, *args: str, timeout: float) -> str:
    """Runs a drill to completion; its output when it printed PASS and exited 0."""
    done = subprocess.run([sys.executable, str(DRILLS / f"{name}.py"), *args,
                           "--timeout", str(timeout)], capture_output=True, text=True,
                          timeout=timeout + 120, check=False)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert lines[-1] == "PASS", done.stdout[-6000:]
    return done.stdout


def _commands() -> set[str]:
    """Every command of the CLI, `projections status` and the like counted apart."""
    root = typer.main.get_command(app)
    names = set()
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        names |= {f"{name} {sub}" for sub in subcommands} if subcommands else {name}
        if subcommands and getattr(command, "invoke_without_command", False):
            names.add(name)  # a group that does something alone (`messages` lists)
    return names


def test_the_bad_input_corpus_has_thirty_cases_over_every_command():
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)
    assert {case.command for case in CASES} == _commands()


def test_every_bad_input_exits_1_names_the_value_and_changes_nothing(database_url):
    out = _drill("bad_inputs", "--database-url", database_url, timeout=240)
    assert sum(line.startswith("ok   ") for line in out.splitlines()) == len(CASES)


def test_four_concurrent_dispatchers_never_duplicate_anything(database_url):
    out = _drill("concurrent_dispatchers", "--database-url", database_url,
                 "--slots", "120", "--customers", "200", timeout=240)
    assert "duplicates: 0" in out


def test_run_killed_three_times_loses_and_doubles_nothing(database_url):
    _drill("sigkill_run", "--database-url", database_url, "--times", "3", timeout=240)


def _figures(out: str) -> dict[str, str]:
    return dict(line.strip().split(": ", 1) for line in out.splitlines() if ": " in line)


def test_serve_killed_three_times_fires_every_timer_once_and_loses_none(database_url):
    """Deposit deadlines and offers (expiry, reminder, priority window → broadcast, cooldown)
    falling due while serve is killed: each kind fired, none twice, none lost."""
    out = _drill("sigkill_serve", "--database-url", database_url, "--times", "3", timeout=240)
    figures = _figures(out)
    assert figures["ended_twice"] == "0"
    assert figures["lost"] == "0"
    for name in ("expiry_fired", "reminder_fired", "cooldown_fired", "priority_window_fired"):
        assert int(figures[name]) > 0, f"no {name} in {out[-3000:]}"
    assert "'broadcast'" in figures["offers_by_policy"]


def test_run_recovers_from_a_postgresql_restart_and_loses_nothing():
    # The 10 s bound is the long variant's: a run in flight when PostgreSQL stops can stall
    # past it now and then (docs/drills.md), which would make this quick one flaky.
    _drill("postgres_restart", "--times", "1", "--recovery-limit", "30", timeout=240)


def test_two_delivery_workers_one_killed_send_every_text_once_and_lose_none(database_url):
    out = _drill("deliveries", "--database-url", database_url, "--messages", "200",
                 timeout=240)
    assert "sent_twice: 0" in out
    assert "lost: 0" in out


@pytest.mark.slow
@only_when_slow
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("name", ["concurrent_dispatchers", "sigkill_run", "sigkill_serve",
                                  "postgres_restart", "deliveries"])
def test_long_drill_with_its_defaults(name, pg_server_url):
    args = [] if name == "postgres_restart" else ["--server-url", pg_server_url]
    _drill(name, *args, timeout=1200)
