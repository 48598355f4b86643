"""`lsimport whoami` against a real Label Studio 1.23.2, through the real command line.

It must name the user for both token kinds, and for every way the server cannot be used say
what is wrong and exit 3; the token itself never appears in anything it prints.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from clirun import CliRun, run_cli


def whoami(server: Any, token: str, *args: str, url: str | None = None) -> CliRun:
    """`python -m lsimport whoami ARGS` with the URL and token in the environment."""
    return run_cli(server, "whoami", *args, token=token, url=url)


@pytest.fixture
def me(ls_http: httpx.Client) -> dict[str, Any]:
    """The admin user, as the server describes it."""
    answer = ls_http.get("/api/current-user/whoami")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def access_token(server: Any) -> str:
    answer = httpx.post(f"{server.url}/api/token/refresh/", json={"refresh": server.pat})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access"])


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --------------------------------------------------------------------------- who you are


def test_personal_access_token(ls_server: Any, me: dict[str, Any]) -> None:
    text = whoami(ls_server, ls_server.pat)
    as_json = whoami(ls_server, ls_server.pat, "--output", "json")

    assert (text.status, text.stderr) == (0, "")
    assert text.stdout == (
        f"{me['email']} (user {me['id']}) on {ls_server.url}, with a personal access token\n"
    )
    assert (as_json.status, as_json.stderr) == (0, "")
    assert json.loads(as_json.stdout) == {
        "url": ls_server.url,
        "token_kind": "personal access token",
        "id": me["id"],
        "email": me["email"],
        "username": me["username"],
    }


def test_legacy_token(ls_server: Any, me: dict[str, Any]) -> None:
    text = whoami(ls_server, ls_server.legacy_token)
    as_json = whoami(ls_server, ls_server.legacy_token, "-o", "json")

    assert (text.status, text.stderr) == (0, "")
    assert (
        text.stdout == f"{me['email']} (user {me['id']}) on {ls_server.url}, with a legacy token\n"
    )
    assert (as_json.status, as_json.stderr) == (0, "")
    assert json.loads(as_json.stdout) == {
        "url": ls_server.url,
        "token_kind": "legacy token",
        "id": me["id"],
        "email": me["email"],
        "username": me["username"],
    }


# --------------------------------------------------------------------------- what is wrong


def _first_line(run: CliRun) -> str:
    return run.stderr.splitlines()[0] if run.stderr else ""


def test_every_unusable_server_or_token_exits_3_with_what_is_wrong(ls_server: Any) -> None:
    port = closed_port()
    head, payload, _signature = ls_server.pat.split(".")
    cases = {
        "unreachable": (ls_server.pat, f"http://127.0.0.1:{port}"),
        "wrong legacy token": ("f" * 40, None),
        "forged PAT": (f"{head}.{payload}.{'A' * 43}", None),
        "access token as PAT": (access_token(ls_server), None),
    }
    # In parallel: the unreachable case waits out its connect retries (a few seconds).
    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        futures = {
            name: pool.submit(whoami, ls_server, token, url=url)
            for name, (token, url) in cases.items()
        }
        runs = {name: future.result() for name, future in futures.items()}

    assert {name: (r.status, r.stdout) for name, r in runs.items()} == {
        name: (3, "") for name in cases
    }
    assert _first_line(runs["unreachable"]).startswith(
        f"lsimport: error: cannot connect to http://127.0.0.1:{port}: ConnectError: "
    ), runs["unreachable"].stderr
    assert _first_line(runs["wrong legacy token"]) == (
        "lsimport: error: the server refused the legacy token (HTTP 401: Invalid token.)"
    )
    assert _first_line(runs["forged PAT"]).startswith(
        "lsimport: error: the personal access token was refused: it is invalid, expired or "
        "revoked (HTTP 401: "
    ), runs["forged PAT"].stderr
    assert _first_line(runs["access token as PAT"]) == (
        "lsimport: error: the API key is a short-lived access token, not a personal access token"
    )
    for run in runs.values():
        assert len(run.stderr.splitlines()) == 2, run.stderr
        assert run.stderr.splitlines()[1].startswith("  hint: "), run.stderr


# --------------------------------------------------------------------------- legacy tokens off


@contextmanager
def browser_session(server: Any) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """Logged in as the admin like a browser (as scripts/lsserver.py does); CSRF headers."""
    login = f"{server.url}/user/login/"
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        page = browser.get("/user/login/", headers={"Accept": "text/html"})
        assert page.status_code == 200, page.status_code
        browser.post(
            "/user/login/",
            data={
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
                "email": server.username,
                "password": server.password,
            },
            headers={"Referer": login, "Accept": "text/html"},
        )
        assert "sessionid" in browser.cookies, "logging in as the admin failed"
        # Django rotates the CSRF token at login.
        yield browser, {"X-CSRFToken": browser.cookies["csrftoken"], "Referer": login}


@contextmanager
def legacy_tokens_disabled(server: Any) -> Iterator[None]:
    """The organization's legacy tokens turned off, and its settings put back afterwards."""
    with browser_session(server) as (browser, csrf):
        before = browser.get("/api/jwt/settings")
        assert before.status_code == 200, before.text
        saved = before.json()
        off = browser.post(
            "/api/jwt/settings",
            json={"api_tokens_enabled": True, "legacy_api_tokens_enabled": False},
            headers=csrf,
        )
        assert off.status_code in (200, 201), off.text
        try:
            yield
        finally:
            back = browser.post("/api/jwt/settings", json=saved, headers=csrf)
            assert back.status_code in (200, 201), back.text


def test_legacy_tokens_disabled_for_the_organization(ls_server: Any, me: dict[str, Any]) -> None:
    if not ls_server.password:
        pytest.skip("an external server without the admin's login: cannot change its settings")

    with legacy_tokens_disabled(ls_server):
        refused = whoami(ls_server, ls_server.legacy_token)
        pat_still_works = whoami(ls_server, ls_server.pat)
    restored = whoami(ls_server, ls_server.legacy_token)

    assert (refused.status, refused.stdout) == (3, "")
    assert refused.stderr.splitlines() == [
        "lsimport: error: legacy token authentication has been disabled for this organization",
        "  hint: use a personal access token instead (Label Studio: Account & Settings -> "
        "Personal Access Token), or have an organization owner enable legacy tokens in "
        "Organization settings (Organization -> API Tokens Settings)",
    ]
    assert (pat_still_works.status, pat_still_works.stderr) == (0, "")
    assert pat_still_works.stdout.startswith(f"{me['email']} (user {me['id']}) on ")
    assert (restored.status, restored.stderr) == (0, "")


def test_no_token_at_all_is_a_usage_error(ls_server: Any) -> None:
    run = whoami(ls_server, "")

    assert (run.status, run.stdout) == (2, "")
    assert _first_line(run) == "lsimport: error: no API token"
