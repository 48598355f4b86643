"""Server answers a real Label Studio never gives, from a scripted loopback server.

Proxies, login pages, old servers and broken networks answer in ways the real server in
tests/integration cannot be made to. fakeserver.FakeServer plays them; the real CLI
(`python -m lsimport upload/whoami --url http://127.0.0.1:PORT`) meets them, except for the
answer that never ends, driven through the library with a half-second timeout. Every run
must end with a clear message and the documented exit code, never a traceback, and an
upload must leave every task in the project exactly once or name it as not sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakeserver import (
    LEGACY,
    LOGIN_PAGE,
    NGINX_413,
    PAT,
    FakeServer,
    Reply,
    Seen,
    Stall,
    Trickle,
)

from lsimport.errors import OutcomeUnknown, ServerUnreachable
from lsimport.send.client import LabelStudioClient, RetryPolicy

IMPORT = "/api/projects/1/import"
CORPUS = Path(__file__).parent / "corpus"


@dataclass
class Run:
    exit: int
    stdout: str
    stderr: str


def lsimport(tmp_path: Path, *args: str, timeout: float = 60) -> Run:
    """The real CLI; it must never print a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "LSIMPORT"))}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # journals go here
    proc = subprocess.run(
        [sys.executable, "-m", "lsimport", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr, proc.stderr
    return Run(proc.returncode, proc.stdout, proc.stderr)


def upload(tmp_path: Path, server: FakeServer, path: Path, *extra: str, key: str = LEGACY) -> Run:
    args = ["upload", str(path), "--project", "1", "--url", server.url, "--api-key", key]
    return lsimport(tmp_path, *args, "--quiet", "--workers", "1", *extra)


def whoami(tmp_path: Path, server: FakeServer, key: str = LEGACY) -> Run:
    return lsimport(tmp_path, "whoami", "--url", server.url, "--api-key", key)


def write_tasks(tmp_path: Path, n: int, *, size: int = 0) -> Path:
    path = tmp_path / "tasks.jsonl"
    lines = (json.dumps({"data": {"text": f"task {i} " + "x" * size}}) for i in range(n))
    path.write_text("".join(line + "\n" for line in lines))
    return path


def stored(server: FakeServer) -> Counter[str]:
    """How often each task text is in the project."""
    return Counter(t["data"]["text"].split(" x")[0].strip() for t in server.tasks)


def once(n: int) -> Counter[str]:
    return Counter(f"task {i}" for i in range(n))


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as s:
        yield s


# --- an HTML page where JSON was expected; a 200 with a body that is not JSON ---


def test_login_page_instead_of_whoami(tmp_path: Path, server: FakeServer) -> None:
    server.script("GET", "/api/current-user/whoami", Reply.html(200, LOGIN_PAGE))

    run = whoami(tmp_path, server)

    assert run.exit == 3
    assert run.stderr.startswith(
        "lsimport: error: GET /api/current-user/whoami answered with something other than "
        "Label Studio's API (not JSON): HTTP 200 OK with an HTML page: Sign in - Corporate SSO\n"
    )
    assert "not a proxy or a login page" in run.stderr


@pytest.mark.parametrize(
    "answer",
    [Reply.html(200, LOGIN_PAGE), Reply(200, b'{"id": 1, "label_config": "<View>', {})],
    ids=["html-page", "cut-off-json"],
)
def test_project_answer_that_is_not_json_stops_before_sending(
    tmp_path: Path, server: FakeServer, answer: Reply
) -> None:
    server.script("GET", "/api/projects/1/", answer)

    run = upload(tmp_path, server, write_tasks(tmp_path, 3))

    assert run.exit == 3
    assert "GET /api/projects/1/ answered with something other than Label Studio's API" in (
        run.stderr
    )
    assert server.seen("POST", IMPORT) == []


@pytest.mark.parametrize("saved", [True, False], ids=["saved", "not-saved"])
@pytest.mark.parametrize(
    "answer",
    [
        Reply.html(502, b"<html><head><title>502 Bad Gateway</title></head></html>"),
        Reply(201, b'{"task_count": 5, "task_ids": [1, 2,', {"Content-Type": "application/json"}),
        Reply(200, b"OK", {"Content-Type": "text/plain"}),
    ],
    ids=["html-502", "cut-off-201", "plain-200"],
)
def test_unreadable_import_answer_is_reconciled_not_resent_blindly(
    tmp_path: Path, server: FakeServer, answer: Reply, saved: bool
) -> None:
    def once_then(srv: FakeServer, seen: Seen) -> Reply:
        if saved:
            srv.save(seen.body)  # the server did the work; only its answer got lost
        return answer

    server.script("POST", IMPORT, once_then)

    run = upload(tmp_path, server, write_tasks(tmp_path, 5))

    assert run.exit == 0, run.stderr
    assert stored(server) == once(5)
    assert len(server.seen("POST", IMPORT)) == (1 if saved else 2)
    assert "5 task(s) created" in run.stdout


# --- a redirect to another host: the token must never go there ---


@pytest.fixture(params=["127.0.0.2", "127.0.0.1"], ids=["other-address", "other-port"])
def other_host(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
    try:
        other = FakeServer(host=request.param)
    except OSError:  # only Linux routes all of 127.0.0.0/8 to loopback by default
        pytest.skip(f"cannot listen on {request.param}")
    with other:
        yield other


def _to(other: FakeServer, path: str, status: int = 302) -> Reply:
    return Reply(status, b"", {"Location": other.url + path})


def assert_never_contacted(other: FakeServer) -> None:
    assert [r.headers.get("authorization") for r in other.requests] == []
    assert other.requests == []


def test_redirect_of_whoami_to_another_host(
    tmp_path: Path, server: FakeServer, other_host: FakeServer
) -> None:
    server.script("GET", "/api/current-user/whoami", _to(other_host, "/api/current-user/whoami"))

    run = whoami(tmp_path, server)

    assert run.exit == 3
    assert (
        f"was redirected (HTTP 302) to {other_host.url}/api/current-user/whoami; lsimport does "
        "not follow redirects, so the token was not sent there" in run.stderr
    )
    assert_never_contacted(other_host)


def test_redirect_of_the_token_refresh_to_another_host(
    tmp_path: Path, server: FakeServer, other_host: FakeServer
) -> None:
    server.script("POST", "/api/token/refresh/", _to(other_host, "/api/token/refresh/", 307))

    run = whoami(tmp_path, server, key=PAT)

    assert run.exit == 3
    assert "the token refresh was redirected to" in run.stderr
    assert "the token is not sent there" in run.stderr
    assert_never_contacted(other_host)


def test_redirect_of_an_import_to_another_host(
    tmp_path: Path, server: FakeServer, other_host: FakeServer
) -> None:
    server.script("POST", IMPORT, _to(other_host, IMPORT, 307))

    run = upload(tmp_path, server, write_tasks(tmp_path, 3))

    assert run.exit == 3
    assert "so the token was not sent there" in run.stderr
    assert_never_contacted(other_host)
    assert server.tasks == []


# --- an answer that never ends ---


def _client(server: FakeServer) -> LabelStudioClient:
    # The CLI's read timeout is 300 s (imports can take minutes): half a second here.
    return LabelStudioClient(
        server.url, LEGACY, timeout=0.5, retry=RetryPolicy(attempts=2, wait_initial=0.01)
    )


NEVER_ENDING = [
    Stall(),
    Stall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99\r\n\r\n{"),
    Trickle(every=0.1),
]
NEVER_ENDING_IDS = ["no-answer", "headers-then-silence", "a-byte-now-and-then"]


@pytest.mark.parametrize("answer", NEVER_ENDING, ids=NEVER_ENDING_IDS)
def test_a_read_that_never_ends_times_out(server: FakeServer, answer: Stall | Trickle) -> None:
    server.script("GET", "/api/current-user/whoami", answer, answer)
    started = time.monotonic()

    with _client(server) as client, pytest.raises(ServerUnreachable) as caught:
        client.whoami()

    assert time.monotonic() - started < 10
    assert "no answer from" in caught.value.message
    assert "ReadTimeout" in caught.value.message
    assert len(server.seen("GET", "/api/current-user/whoami")) == 2  # a GET is retried


@pytest.mark.parametrize("answer", NEVER_ENDING, ids=NEVER_ENDING_IDS)
def test_an_import_that_never_ends_is_an_unknown_outcome_sent_once(
    server: FakeServer, answer: Stall | Trickle
) -> None:
    server.script("POST", IMPORT, answer)
    started = time.monotonic()

    with _client(server) as client, pytest.raises(OutcomeUnknown) as caught:
        client.import_tasks(1, b'[{"data": {"text": "a"}}]')

    assert time.monotonic() - started < 10
    assert "the server may or may not have applied it" in caught.value.message
    assert len(server.seen("POST", IMPORT)) == 1  # never resent blindly


# --- 413: split the batch and send smaller ---


def _body_limit(limit: int) -> object:
    def answer(srv: FakeServer, seen: Seen) -> Reply:
        return Reply.html(413, NGINX_413) if len(seen.body) > limit else srv.default(seen)

    return answer


def test_413_splits_the_batch_and_every_task_lands_once(tmp_path: Path, server: FakeServer) -> None:
    server.script("POST", IMPORT, *[_body_limit(600)] * 100)

    run = upload(tmp_path, server, write_tasks(tmp_path, 20, size=40), "--batch-size", "20")

    sizes = [len(r.body) for r in server.seen("POST", IMPORT)]
    assert run.exit == 0, run.stderr
    assert stored(server) == once(20)
    assert sizes[0] > 600  # the first request was refused...
    assert len(sizes) > 20 // 5  # ...and the batch was split until the pieces fit
    assert "20 task(s) created" in run.stdout


def test_413_for_one_task_fails_only_that_task(tmp_path: Path, server: FakeServer) -> None:
    path = tmp_path / "tasks.jsonl"
    small = [{"data": {"text": f"task {i}"}} for i in range(4)]
    big = {"data": {"text": "big " + "x" * 2000}}
    path.write_text("".join(json.dumps(t) + "\n" for t in [*small[:2], big, *small[2:]]))
    server.script("POST", IMPORT, *[_body_limit(1000)] * 100)

    run = upload(tmp_path, server, path, "--failures", "failed.jsonl")

    failed = [json.loads(line) for line in (tmp_path / "failed.jsonl").read_text().splitlines()]
    assert run.exit == 1
    assert stored(server) == once(4)
    assert [(f["record"], f["task"]["data"]["text"][:4]) for f in failed] == [(3, "big ")]
    assert failed[0]["messages"][0].startswith("too large for the server:")
    assert "413 Request Entity Too Large" in failed[0]["messages"][0]


# --- 401 in the middle of a run ---


def _refuse(srv: FakeServer, seen: Seen) -> Reply:
    return Reply.json(401, {"detail": "Given token not valid for any token type"})


def _revoke(srv: FakeServer, seen: Seen) -> Reply:
    srv.access_tokens.clear()  # e.g. the server restarted with a new signing key
    return _refuse(srv, seen)


def _accept(srv: FakeServer, seen: Seen) -> Reply:
    return srv.default(seen)


def test_401_mid_run_renews_the_token_once_and_goes_on(tmp_path: Path, server: FakeServer) -> None:
    server.script("POST", IMPORT, _accept, _revoke)  # the second batch meets a stale token

    run = upload(tmp_path, server, write_tasks(tmp_path, 10), "--batch-size", "3", key=PAT)

    assert run.exit == 0, run.stderr
    assert stored(server) == once(10)
    assert server.refreshes == 2
    assert len(server.seen("POST", IMPORT)) == 5  # 4 batches, the second one twice


def test_401_mid_run_after_renewal_stops_with_exit_3(tmp_path: Path, server: FakeServer) -> None:
    server.script("POST", IMPORT, _accept, _revoke, _refuse)  # the renewed token is refused too

    run = upload(
        tmp_path,
        server,
        write_tasks(tmp_path, 10),
        "--batch-size",
        "3",
        "--failures",
        "failed.jsonl",
        key=PAT,
    )

    failed = [json.loads(line) for line in (tmp_path / "failed.jsonl").read_text().splitlines()]
    assert run.exit == 3
    assert (
        "lsimport: error: the server refused the access token obtained with the personal "
        "access token, even after renewing it (HTTP 401: Given token not valid for any token "
        "type)" in run.stderr
    )
    assert server.refreshes == 2  # renewed once, not in a loop
    assert len(server.seen("POST", IMPORT)) == 3  # nothing sent after the second refusal
    assert stored(server) == once(3)
    # Nothing valid is lost: every task that did not get in is in the failures file.
    assert [f["record"] for f in failed] == [4, 5, 6, 7, 8, 9, 10]


# --- a project that does not exist; a server older than personal access tokens ---


def test_project_that_does_not_exist(tmp_path: Path, server: FakeServer) -> None:
    run = lsimport(
        tmp_path,
        "upload",
        str(write_tasks(tmp_path, 2)),
        "--project",
        "99",
        "--url",
        server.url,
        "--api-key",
        LEGACY,
    )

    assert run.exit == 3
    assert run.stderr == (
        f"lsimport: error: project 99 does not exist on {server.url} (or this user cannot see "
        "it)\n  hint: check the project id and the server URL\n"
    )
    assert server.seen("POST", "/api/projects/99/import") == []


@pytest.mark.parametrize("command", ["whoami", "upload"])
def test_server_without_token_refresh_suggests_a_legacy_token(
    tmp_path: Path, server: FakeServer, command: str
) -> None:
    server.has_refresh_endpoint = False  # Label Studio before personal access tokens

    if command == "whoami":
        run = whoami(tmp_path, server, key=PAT)
    else:
        run = upload(tmp_path, server, write_tasks(tmp_path, 2), key=PAT)

    assert run.exit == 3
    assert "this server has no token refresh endpoint" in run.stderr
    assert "it is a Label Studio older than personal access tokens" in run.stderr
    assert "on an older server use a legacy token" in run.stderr
    assert server.tasks == []


# --- what the server hands over is input too ---


def test_a_projects_config_with_an_entity_bomb_is_refused(
    tmp_path: Path, server: FakeServer
) -> None:
    server.label_config = (CORPUS / "config-entity-bomb.xml").read_text()

    run = upload(tmp_path, server, write_tasks(tmp_path, 2))

    assert run.exit == 2
    assert run.stderr.startswith(
        "lsimport: error: project 1: refused: the config declares a DTD or entities"
    )
    assert server.seen("POST", IMPORT) == []


def test_huge_integers_are_sent_as_the_doubles_they_were_read_as(
    tmp_path: Path, server: FakeServer
) -> None:
    path = tmp_path / "huge-integer.jsonl"
    path.write_bytes((CORPUS / path.name).read_bytes())

    run = upload(tmp_path, server, path, "--no-config-check")

    body = server.seen("POST", IMPORT)[0].body
    assert run.exit == 0, run.stderr
    assert [t["data"]["id"] for t in server.tasks] == [1.2345678901234568e29, -1e20]
    assert b'"id":1.2345678901234568e+29' in body
    assert b'"id":-1e+20' in body
