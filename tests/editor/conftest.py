"""A real Label Studio 1.23.2 and its editor in headless Chromium, for tests/editor/.

Chromium is Debian's (/usr/bin/chromium; scripts/test installs it when missing), driven by
Playwright from PyPI through `executable_path`: Playwright's own browser download is not
used. One server and one logged-in page per session.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def _lsserver() -> ModuleType:
    if "lsserver" in sys.modules:
        return sys.modules["lsserver"]
    spec = importlib.util.spec_from_file_location("lsserver", REPO / "scripts" / "lsserver.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lsserver"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def say(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Print on the terminal even while output is captured (what the oracle costs)."""
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def say(message: str) -> None:
        if capture is None:
            print(message, file=sys.stderr)
            return
        with capture.global_and_fixture_disabled():
            print(message, file=sys.stderr, flush=True)

    return say


@pytest.fixture(scope="session")
def editor_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    lsserver = _lsserver()
    state = tmp_path_factory.mktemp("editor-ls-state")
    lsserver.ensure_installed()
    info = lsserver.start(tmp_path_factory.mktemp("editor-ls-data"), state=state)
    try:
        yield info
    finally:
        lsserver.stop(info, state=state)


@pytest.fixture(scope="session")
def editor_page(editor_server: Any, editor_login: Callable[[Any], Any]) -> Iterator[Any]:
    """A Chromium page logged in to the server as its admin."""
    page = editor_login(editor_server)
    try:
        yield page
    finally:
        page.context.close()
