"""The dashboard in a real browser, for its tests, its screenshots (`scripts/screenshots.py`)
and its benchmark (`scripts/bench/dashboard.py`): what `slotqueue serve` runs, served from a
thread on 127.0.0.1 (so a caller can reach the process's live updates), and the system's
headless Chromium driven by Playwright (Playwright's own browser download is not used)."""

from __future__ import annotations

import os
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slotqueue.bootstrap import Serving, serving
from slotqueue.scripts.harness import free_port
from slotqueue.settings import Settings

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium() -> str | None:
    """The system's Chromium (SLOTQUEUE_CHROMIUM names another), None where there is none."""
    named = os.environ.get("SLOTQUEUE_CHROMIUM")
    if named:
        return named if os.access(named, os.X_OK) else None
    return next((p for p in CHROMIUM_PATHS if os.access(p, os.X_OK)),
                shutil.which("chromium"))


@dataclass
class Served:
    base: str  # http://127.0.0.1:PORT
    running: Serving

    @property
    def live(self) -> Any:
        return self.running.deps.live

    @property
    def svc(self) -> Any:
        return self.running.svc


@contextmanager
def served(settings: Settings, url: str) -> Iterator[Served]:
    """`slotqueue serve` on a free port in a thread, until the block ends."""
    port = free_port()
    running = serving(settings, url, "127.0.0.1", port)
    thread = threading.Thread(target=running.run, name="serve", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310 - loopback
                break
        except OSError:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the served app did not answer /healthz") from None
            time.sleep(0.05)
    try:
        yield Served(base, running)
    finally:
        running.deps.live.stop()  # as SIGTERM does: the streams end first
        running.server.should_exit = True
        thread.join(30)


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (the system's), closed afterwards."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - scripts and tests only

    path = chromium()
    if path is None:
        raise RuntimeError("no Chromium: apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def sign_in(page: Any, base: str, key: str, then: str = "/dashboard/queue") -> None:
    """Signs the page in with an API key through the sign-in form."""
    page.goto(f"{base}/dashboard/sign-in?next={then}")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{then}*")
