"""Runs a benchmark on a commit instead of the working tree.

The working tree is shared with other work: a change saved during a long benchmark reaches
the `slotqueue` processes it starts later (a new migration, a half-made refactoring), and the
figures mix two versions or the run fails. This copies the commit's files (`git archive`) to a
temporary folder, lays the packages out as pyproject's package-dir maps them, and runs the
benchmark from there with PYTHONPATH pointing at that copy (ahead of the editable install), so
the benchmark and every process it starts import that commit only.

    python scripts/bench/pinned.py HEAD latency.py --intervals 0.2
    python scripts/bench/pinned.py HEAD drills/sigkill_run.py --times 10
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True,  # noqa: S603, S607
                          capture_output=True).stdout


def _lay_out(src: Path, pkg: Path) -> None:
    """The installed layout: `slotqueue.aggregates` from `aggregates/`, and so on."""
    config = tomllib.loads((src / "pyproject.toml").read_text())
    folders = config["tool"]["setuptools"]["package-dir"]
    for name in sorted(folders, key=lambda n: n.count(".")):
        shutil.copytree(src / folders[name], pkg / name.replace(".", "/"), dirs_exist_ok=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.strip().splitlines()[1:]))
    p.add_argument("rev", help="the commit to run (e.g. HEAD)")
    p.add_argument("benchmark", help="a script of scripts/bench (latency.py), or a path under "
                   "scripts/ (drills/sigkill_run.py)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the benchmark's own options")
    args = p.parse_args()
    commit = _git("rev-parse", "--short", args.rev).decode().strip()
    with tempfile.TemporaryDirectory(prefix=f"slotqueue-pinned-{commit}-") as tmp:
        src, pkg = Path(tmp) / "src", Path(tmp) / "pkg"
        with tarfile.open(fileobj=io.BytesIO(_git("archive", commit))) as archive:
            archive.extractall(src, filter="data")
        _lay_out(src, pkg)
        env = {**os.environ, "PYTHONPATH": str(pkg), "BENCH_COMMIT": f"{commit} (pinned)"}
        folder = src / "scripts" / ("" if "/" in args.benchmark else "bench")
        script = folder / args.benchmark
        return subprocess.call([sys.executable, str(script), *args.args], env=env)  # noqa: S603


if __name__ == "__main__":
    sys.exit(main())
