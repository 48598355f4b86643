"""Shared test settings.

In CI (CI=true) hypothesis runs derandomized: the same examples every run, so a submission
is judged on the code, not on the luck of a seed. Locally it explores new examples each run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


CHROMIUM = Path("/usr/bin/chromium")  # Debian's; scripts/test installs it when missing
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    """Debian's headless Chromium, driven by Playwright from PyPI (its own browser download is
    not reachable here). One per session: Playwright's sync API runs one event loop per
    thread, so the editor oracle and the convert editor test share it."""
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        pytest.fail(
            f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def editor_login(chromium_browser: Any) -> Callable[[Any], Any]:
    """`editor_login(server)`: a page of its own browser context, logged in to `server` (an
    lsserver.ServerInfo) as its admin; close it with `page.context.close()`."""

    def login(server: Any) -> Any:
        page = chromium_browser.new_context().new_page()
        page.goto(server.url + "/user/login/")
        page.fill("input[name=email]", server.username)
        page.fill("input[name=password]", server.password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        return page

    return login
