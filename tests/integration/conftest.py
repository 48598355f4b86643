"""Fixtures that give integration tests a real Label Studio (1.23.2 unless told otherwise).

By default one server is started per test session on a fresh data dir (about 10 s, plus a
one-time install and template migration; see scripts/lsserver.py). To use a server of your own
instead, set LSIMPORT_TEST_LS_URL, LSIMPORT_TEST_LS_PAT and LSIMPORT_TEST_LS_LEGACY (the legacy
token must be enabled for its organization).

LSIMPORT_TEST_LS_SHAPE picks the shape of the session's own server: ``sqlite`` (default, the dev
server) or ``postgres`` (PostgreSQL + gunicorn with 3 workers, as teams run it; see
scripts/test-postgres). LSIMPORT_LS_VERSION picks its release (default 1.23.2, the one the full
suite runs on; scripts/test-versions runs tests/integration/test_versions.py on the older ones).
On 1.13, which has no personal access tokens, ``ls_server.pat`` is empty and ``ls_http`` uses
the legacy token.

Deliberately free of lsimport imports: the harness must not depend on the code it tests.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
LSSERVER_PATH = HERE.parent.parent / "scripts" / "lsserver.py"
EXTERNAL_ENV = ("LSIMPORT_TEST_LS_URL", "LSIMPORT_TEST_LS_PAT", "LSIMPORT_TEST_LS_LEGACY")
SHAPE_ENV = "LSIMPORT_TEST_LS_SHAPE"


def _load_lsserver() -> ModuleType:
    """Import scripts/lsserver.py by path (scripts/ is not a package)."""
    if "lsserver" in sys.modules:
        return sys.modules["lsserver"]
    spec = importlib.util.spec_from_file_location("lsserver", LSSERVER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lsserver"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


lsserver_module = _load_lsserver()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


def _terminal_say(config: pytest.Config) -> Callable[[str], None]:
    """Progress of installing/starting the server, shown even while output is captured."""
    capture = config.pluginmanager.getplugin("capturemanager")

    def say(message: str) -> None:
        if capture is None:
            print(message, file=sys.stderr)
            return
        with capture.global_and_fixture_disabled():
            print(message, file=sys.stderr, flush=True)

    return say


@pytest.fixture(scope="session")
def lsserver() -> ModuleType:
    """The scripts/lsserver.py module (ServerInfo, running(), create_project(), ...)."""
    return lsserver_module


@pytest.fixture(scope="session")
def ls_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """Where the session's own server is recorded; None when an external server is used.

    Never the repository's .ls/: a test run must not replace or stop the demo's server.
    """
    if all(os.environ.get(name) for name in EXTERNAL_ENV):
        return None
    return tmp_path_factory.mktemp("ls-state")


@pytest.fixture(scope="session")
def ls_shape() -> str:
    """The shape of the session's server, from $LSIMPORT_TEST_LS_SHAPE: sqlite or postgres."""
    shape = os.environ.get(SHAPE_ENV) or "sqlite"
    if shape not in lsserver_module.SHAPES:
        pytest.fail(f"{SHAPE_ENV}={shape!r}: use one of {lsserver_module.SHAPES}", pytrace=False)
    return shape


@pytest.fixture(scope="session")
def ls_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    ls_state_dir: Path | None,
    ls_shape: str,
) -> Iterator[Any]:
    """A running Label Studio as an lsserver.ServerInfo; every token kind it has works."""
    if ls_state_dir is None:
        url = os.environ["LSIMPORT_TEST_LS_URL"].rstrip("/")
        legacy = os.environ["LSIMPORT_TEST_LS_LEGACY"]
        info = lsserver_module.ServerInfo(
            url=url,
            pat=os.environ["LSIMPORT_TEST_LS_PAT"],
            legacy_token=legacy,
            username="",
            password="",
            pid=0,
            data_dir=None,
            log_path=None,
            version=lsserver_module.release(url, f"Token {legacy}"),
        )
        lsserver_module.verify(info)
        yield info
        return
    say = _terminal_say(request.config)
    version = lsserver_module.ls_version()
    lsserver_module.ensure_installed(say=say, version=version)
    info = lsserver_module.start(
        tmp_path_factory.mktemp("ls-data"),
        shape=ls_shape,
        state=ls_state_dir,
        say=say,
        version=version,
    )
    try:
        yield info
    finally:
        lsserver_module.stop(info, state=ls_state_dir)


class LegacyAuth(httpx.Auth):
    """`Authorization: Token KEY`, for a server without personal access tokens (1.13)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Token {self._token}"
        yield request


class PatAuth(httpx.Auth):
    """Bearer auth from a personal access token; fetches a new access token on 401 (5 min TTL)."""

    requires_response_body = True

    def __init__(self, base_url: str, pat: str) -> None:
        self._refresh_url = f"{base_url.rstrip('/')}/api/token/refresh/"
        self._pat = pat
        self._access: str | None = None

    def _refresh(self) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield httpx.Request("POST", self._refresh_url, json={"refresh": self._pat})
        response.raise_for_status()
        self._access = str(response.json()["access"])

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._access is None:
            yield from self._refresh()
        request.headers["Authorization"] = f"Bearer {self._access}"
        response = yield request
        if response.status_code == 401:
            yield from self._refresh()
            request.headers["Authorization"] = f"Bearer {self._access}"
            yield request


@pytest.fixture
def ls_http(ls_server: Any) -> Iterator[httpx.Client]:
    """An httpx client on the server, authenticated with the PAT (else the legacy token), to read
    back what landed."""
    auth: httpx.Auth = (
        PatAuth(ls_server.url, ls_server.pat)
        if ls_server.pat
        else LegacyAuth(ls_server.legacy_token)
    )
    with httpx.Client(base_url=ls_server.url, auth=auth, timeout=60) as client:
        yield client


def _unique_title(base: str) -> str:
    """A project title of 3-50 characters, unique across runs on a shared server."""
    base = re.sub(r"\s+", " ", base).strip()[:41] or "lsimport test"
    return f"{base} {secrets.token_hex(4)}"


@pytest.fixture
def make_project(ls_server: Any, request: pytest.FixtureRequest) -> Callable[..., int]:
    """``make_project(label_config, title=None) -> project id``; titles default to the test name."""

    def make(label_config: str, title: str | None = None) -> int:
        return int(
            lsserver_module.create_project(
                ls_server, _unique_title(title or request.node.name), label_config
            )
        )

    return make
