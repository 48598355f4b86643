"""What must hold on every Label Studio release lsimport supports: 1.13.1, 1.17.0, 1.20.0, 1.23.2.

The full suite runs on 1.23.2; this file runs there too, and scripts/test-versions runs it on
the older releases (``LSIMPORT_LS_VERSION=1.13.1 ...``), each installed from PyPI into its own
venv and started by the fixtures. Everything goes through the real command line, and what landed
is read back from the server itself.

Where a release behaves differently, the test says which one does what (``RELEASES`` below
and the README's table of supported versions hold the same facts, measured on these servers):

- 1.13 has legacy tokens only: no /api/token/refresh/, /api/token/ or /api/jwt/settings.
  A personal access token there stops lsimport before it sends anything (exit 3, one hint).
- 1.17 and later have both kinds, and an organization switch for each (legacy tokens are off
  for a new organization unless the server was started with --enable-legacy-api-token, an
  option `label-studio start` has from 1.20).
- 1.23 checks predictions sent to the bulk endpoint against the labeling config and drops the
  ones that fail without saying which; 1.20 and older store them. lsimport reads back and
  reports what was dropped.
- 1.23 answers 500 to an import with a prediction region that is not an object, and keeps the
  tasks; 1.20 and older refuse it (400). lsimport's structure check refuses such a region on
  every release before it is sent.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from clirun import Cli, CliRun

from lsimport.send.client import LabelStudioClient
from lsimport.send.keys import KEY_FIELD, data_hash
from lsimport.send.tasks import keys_above, latest_task_id

DATA = Path(__file__).resolve().parent.parent / "data" / "upload"

CONFIG = """
<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="positive"/>
    <Choice value="negative"/>
  </Choices>
</View>
"""


@dataclass(frozen=True)
class Release:
    """What one Label Studio release has, as measured on it (see the module docstring)."""

    personal_access_tokens: bool
    legacy_token_start_option: bool  # `label-studio start --enable-legacy-api-token`
    checks_bulk_predictions: bool  # the bulk endpoint drops predictions its config check fails
    keeps_tasks_of_a_broken_region: bool  # /import answers 500 and saves the tasks anyway


RELEASES = {
    "1.13.1": Release(False, False, False, False),
    "1.17.0": Release(True, False, False, False),
    "1.20.0": Release(True, True, False, False),
    "1.23.2": Release(True, True, True, True),
}


@pytest.fixture(scope="module")
def release(ls_server: Any) -> Release:
    if ls_server.version not in RELEASES:
        pytest.fail(f"Label Studio {ls_server.version} is not one lsimport is tested on")
    found = RELEASES[ls_server.version]
    # The harness found the token kinds on its own (scripts/lsserver.py): the two must agree.
    assert bool(ls_server.pat) == found.personal_access_tokens, ls_server.version
    return found


def token_kinds(server: Any) -> dict[str, str]:
    """Every kind of token this server has, by the name lsimport gives it."""
    kinds = {"legacy token": server.legacy_token}
    if server.pat:
        kinds["personal access token"] = server.pat
    return kinds


# --------------------------------------------------------------------------- the CLI


def summary(run: CliRun) -> dict[str, Any]:
    """The `--output json` summary, without its duration."""
    doc = run.json()
    doc.pop("duration_s")
    return doc


def counts_of(run: CliRun, keys: tuple[str, ...]) -> dict[str, Any]:
    """Those counts of the summary; no problem with a file as a whole."""
    doc = summary(run)
    assert doc.get("file_errors", 0) == 0, doc
    return {k: doc[k] for k in keys}


@pytest.fixture
def cli(ls_server: Any, tmp_path: Path) -> Cli:
    return Cli(ls_server, tmp_path)


# --------------------------------------------------------------------------- reading back


def tasks_of(http: httpx.Client, pid: int) -> list[dict[str, Any]]:
    """Every task of a project with its predictions, by id."""
    tasks: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = http.get(
            "/api/tasks", params={"project": pid, "page": page, "page_size": 100, "fields": "all"}
        )
        if answer.status_code == 404 and page > 1:
            break
        assert answer.status_code == 200, answer.text
        body = answer.json()
        tasks.extend(body["tasks"])
        if len(tasks) >= body["total"] or not body["tasks"]:
            break
        page += 1
    return sorted(tasks, key=lambda t: t["id"])


def texts_and_predictions(http: httpx.Client, pid: int) -> list[tuple[str, list[Any]]]:
    """(text, [(choices, model_version), ...]) of every task."""
    return [
        (
            t["data"]["text"],
            [
                ([r["value"]["choices"] for r in p["result"]], p["model_version"])
                for p in t["predictions"]
            ],
        )
        for t in tasks_of(http, pid)
    ]


def task_number(http: httpx.Client, pid: int) -> int:
    answer = http.get(f"/api/projects/{pid}")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["task_number"])


def choice(label: str) -> dict[str, Any]:
    return {
        "from_name": "sentiment",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": [label]},
    }


def write_jsonl(path: Path, items: list[Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in items))
    return path


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def a_pat_shaped_token() -> str:
    """What a personal access token looks like (a JWT refresh token), for a server that has none."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"token_type": "refresh", "exp": 4102444800, "iat": 1735689600, "user_id": "1"}
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.{'A' * 43}"


# --------------------------------------------------------------------------- tokens


def test_whoami_with_every_token_kind_the_server_has(
    cli: Cli, ls_server: Any, ls_http: httpx.Client, release: Release
) -> None:
    me = ls_http.get("/api/current-user/whoami").json()
    kinds = token_kinds(ls_server)

    runs = {kind: cli("whoami", "-o", "json", token=token) for kind, token in kinds.items()}

    assert len(kinds) == (2 if release.personal_access_tokens else 1)
    for kind, run in runs.items():
        assert (run.status, run.stderr) == (0, ""), (kind, run.stderr)
        assert json.loads(run.stdout) == {
            "url": ls_server.url,
            "token_kind": kind,
            "id": me["id"],
            "email": me["email"],
            "username": me["username"],
        }


def test_a_personal_access_token_works_where_the_server_has_them_and_stops_cleanly_where_not(
    cli: Cli,
    ls_server: Any,
    ls_http: httpx.Client,
    make_project: Callable[..., int],
    release: Release,
    tmp_path: Path,
) -> None:
    pid = make_project(CONFIG)
    write_jsonl(tmp_path / "tasks.jsonl", [{"text": "one"}, {"text": "two"}])
    token = ls_server.pat or a_pat_shaped_token()

    who = cli("whoami", token=token)
    upload = cli("upload", "tasks.jsonl", "-p", str(pid), "-o", "json", token=token)

    if release.personal_access_tokens:
        assert (who.status, upload.status) == (0, 0), who.stderr + upload.stderr
        assert who.stdout.endswith(", with a personal access token\n")
        assert task_number(ls_http, pid) == 2
        return
    # 1.13: the refresh endpoint is missing; nothing is sent, and the hint names the way out.
    expected = [
        f"lsimport: error: Label Studio {ls_server.version} at {ls_server.url} has no personal "
        "access tokens (its token refresh endpoint answered HTTP 404)",
        "  hint: use its legacy token instead (on this release: Account & Settings -> Access "
        "Token)",
    ]
    for run in (who, upload):
        assert (run.status, run.stdout) == (3, ""), run.stderr
        assert run.stderr.splitlines() == expected
    assert task_number(ls_http, pid) == 0


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
        yield browser, {"X-CSRFToken": browser.cookies["csrftoken"], "Referer": login}


def test_token_kinds_switched_off_for_the_organization_exit_3_with_the_way_out(
    cli: Cli, ls_server: Any, release: Release
) -> None:
    if not ls_server.password:
        pytest.skip("an external server without the admin's login: cannot change its settings")
    with browser_session(ls_server) as (browser, csrf):
        settings = browser.get("/api/jwt/settings")
        if not release.personal_access_tokens:
            # 1.13: no switches at all; its legacy tokens are always on.
            assert settings.status_code == 404, settings.text
            return
        assert settings.status_code == 200, settings.text
        saved = settings.json()
        runs = {}
        try:
            for off in ("legacy_api_tokens_enabled", "api_tokens_enabled"):
                both = {"api_tokens_enabled": True, "legacy_api_tokens_enabled": True}
                switched = browser.post(
                    "/api/jwt/settings", json={**both, off: False}, headers=csrf
                )
                assert switched.status_code in (200, 201), switched.text
                runs[off] = {
                    kind: cli("whoami", token=token)
                    for kind, token in token_kinds(ls_server).items()
                }
        finally:
            back = browser.post("/api/jwt/settings", json=saved, headers=csrf)
            assert back.status_code in (200, 201), back.text

    legacy_off = runs["legacy_api_tokens_enabled"]
    assert legacy_off["personal access token"].status == 0
    assert (legacy_off["legacy token"].status, legacy_off["legacy token"].stderr.splitlines()) == (
        3,
        [
            "lsimport: error: legacy token authentication has been disabled for this organization",
            "  hint: use a personal access token instead (Label Studio: Account & Settings -> "
            "Personal Access Token), or have an organization owner enable legacy tokens in "
            "Organization settings (Organization -> API Tokens Settings)",
        ],
    )
    pats_off = runs["api_tokens_enabled"]
    assert pats_off["legacy token"].status == 0
    refused = pats_off["personal access token"]
    assert (refused.status, len(refused.stderr.splitlines())) == (3, 2), refused.stderr
    assert refused.stderr.startswith(
        "lsimport: error: the server refused the access token obtained with the personal access "
        "token, even after renewing it (HTTP 401: "
    ), refused.stderr
    assert "personal access tokens may be disabled for this organization" in refused.stderr


def test_the_token_switches_a_new_organization_starts_with(
    ls_server: Any, release: Release
) -> None:
    """Legacy tokens are off for a new organization from 1.17 (it has no start option to turn
    them on; 1.20 and later do, and scripts/lsserver.py passes it); 1.13 has no switches."""
    if ls_server.pid == 0:
        pytest.skip("an external server: its organization is not new")
    first = ls_server.first_token_settings
    if not release.personal_access_tokens:
        assert first is None
        return
    assert first == {
        "api_tokens_enabled": True,
        "legacy_api_tokens_enabled": release.legacy_token_start_option,
    }


# --------------------------------------------------------------------------- upload


def test_upload_of_tasks_with_predictions_then_again_creates_nothing(
    cli: Cli,
    ls_server: Any,
    ls_http: httpx.Client,
    make_project: Callable[..., int],
    tmp_path: Path,
) -> None:
    tasks = [
        {
            "data": {"text": f"task {i}"},
            "predictions": [{"model_version": "m1", "result": [choice(c)]}],
        }
        for i, c in enumerate(["positive", "negative", "positive"])
    ] + [{"data": {"text": "task 3"}}]
    write_jsonl(tmp_path / "tasks.jsonl", tasks)
    counts = ("records", "invalid", "skipped", "tasks_created", "predictions_created", "failed")

    for kind, token in token_kinds(ls_server).items():  # a project and a journal for each
        pid = make_project(CONFIG)
        upload = ("upload", "tasks.jsonl", "-p", str(pid), "--journal", kind, "-o", "json")

        first = cli(*upload, token=token)
        again = cli(*upload, token=token)

        assert (first.status, again.status) == (0, 0), (kind, first.stderr + again.stderr)
        assert counts_of(first, counts) == dict(zip(counts, (4, 0, 0, 4, 3, 0), strict=True)), kind
        assert counts_of(again, counts) == dict(zip(counts, (4, 0, 4, 0, 0, 0), strict=True)), kind
        assert texts_and_predictions(ls_http, pid) == [
            ("task 0", [([["positive"]], "m1")]),
            ("task 1", [([["negative"]], "m1")]),
            ("task 2", [([["positive"]], "m1")]),
            ("task 3", []),
        ], kind
        assert [t["meta"] for t in tasks_of(ls_http, pid)] == [
            {KEY_FIELD: data_hash(t["data"])} for t in tasks
        ], kind
        assert task_number(ls_http, pid) == 4, kind


def test_the_data_manager_filter_the_reconciliation_relies_on(
    ls_server: Any, ls_http: httpx.Client, make_project: Callable[..., int]
) -> None:
    """After a lost answer, upload asks which of its keys landed above a task id (a data manager
    filter on tasks:id and an ordering, with sparse fields): every release must answer exactly."""
    pid = make_project(CONFIG)
    other = make_project(CONFIG)
    keyed = [{"data": {"text": f"t{i}"}, "meta": {KEY_FIELD: f"key-{i}"}} for i in range(5)]
    answer = ls_http.post(
        f"/api/projects/{pid}/import", params={"return_task_ids": "true"}, json=keyed
    )
    assert answer.status_code == 201, answer.text
    ids = answer.json()["task_ids"]
    unkeyed = ls_http.post(
        f"/api/projects/{pid}/import",
        params={"return_task_ids": "true"},
        json=[{"data": {"text": "no key"}}],
    )
    assert unkeyed.status_code == 201, unkeyed.text
    [last] = unkeyed.json()["task_ids"]
    assert ls_http.post(f"/api/projects/{other}/import", json=keyed[:1]).status_code == 201

    with LabelStudioClient(ls_server.url, ls_server.api_key) as client:
        latest = latest_task_id(client, pid)
        above = [(f.key, f.id, f.predictions) for f in keys_above(client, pid, ids[2])]
        everything = [(f.key, f.id, f.predictions) for f in keys_above(client, pid, 0)]
        empty = latest_task_id(client, make_project(CONFIG))

    assert latest == last
    assert above == [("key-3", ids[3], 0), ("key-4", ids[4], 0), ("", last, 0)]
    assert everything == [*((f"key-{i}", tid, 0) for i, tid in enumerate(ids)), ("", last, 0)]
    assert empty == 0


def test_a_region_that_is_not_an_object_is_refused_before_it_is_sent(
    cli: Cli,
    ls_http: httpx.Client,
    make_project: Callable[..., int],
    tmp_path: Path,
    release: Release,
) -> None:
    broken = {"data": {"text": "broken region"}, "predictions": [{"result": [1]}]}
    pid = make_project(CONFIG)
    write_jsonl(tmp_path / "t.jsonl", [{"text": "fine"}, broken])

    run = cli(
        "upload", "t.jsonl", "-p", str(pid), "--no-config-check", "--failures", "failed.jsonl",
        "-o", "json",
    )  # fmt: skip
    # What the server does with it when it is sent anyway.
    other = make_project(CONFIG)
    direct = ls_http.post(f"/api/projects/{other}/import", json=[broken])

    assert run.status == 1, run.stderr
    assert (summary(run)["tasks_created"], summary(run)["invalid"]) == (1, 1)
    [failure] = lines_of(tmp_path / "failed.jsonl")
    assert (failure["record"], failure["stage"]) == (2, "validate")
    assert failure["messages"][0].endswith("[schema.region]"), failure["messages"]
    assert [text for text, _ in texts_and_predictions(ls_http, pid)] == ["fine"]
    if release.keeps_tasks_of_a_broken_region:
        assert (direct.status_code, task_number(ls_http, other)) == (500, 1), direct.text
    else:
        assert (direct.status_code, task_number(ls_http, other)) == (400, 0), direct.text


# --------------------------------------------------------------------------- predictions


def test_predictions_matched_by_a_data_field_then_again_adds_nothing(
    cli: Cli, ls_http: httpx.Client, make_project: Callable[..., int], tmp_path: Path
) -> None:
    pid = make_project(CONFIG)
    answer = ls_http.post(
        f"/api/projects/{pid}/import",
        params={"return_task_ids": "true"},
        json=[{"data": {"text": t}} for t in ("alpha", "beta", "gamma")],
    )
    assert answer.status_code == 201, answer.text
    write_jsonl(
        tmp_path / "preds.jsonl",
        [
            {"text": "alpha", "result": [choice("positive")], "score": 0.5},
            {"data": {"text": "gamma"}, "result": [choice("negative")]},
            {"text": "nowhere", "result": [choice("negative")]},
        ],
    )
    args = ("predictions", "preds.jsonl", "-p", str(pid), "--match-on", "data.text")
    more = ("--model-version", "v2", "--failures", "unmatched.jsonl", "-o", "json")

    first = cli(*args, *more)
    again = cli(*args, *more, "--set-project-model-version")

    counts = ("records", "invalid", "unmatched", "predictions_created", "failed", "skipped")
    assert (first.status, again.status) == (1, 1), first.stderr + again.stderr
    assert counts_of(first, counts) == dict(zip(counts, (3, 0, 1, 2, 0, 0), strict=True))
    assert counts_of(again, (*counts, "model_version_set")) == {
        **dict(zip(counts, (3, 0, 1, 0, 0, 2), strict=True)),
        "model_version_set": True,
    }
    assert texts_and_predictions(ls_http, pid) == [
        ("alpha", [([["positive"]], "v2")]),
        ("beta", []),
        ("gamma", [([["negative"]], "v2")]),
    ]
    assert [(f["record"], f["stage"]) for f in lines_of(tmp_path / "unmatched.jsonl")] == [
        (3, "match")
    ]
    assert ls_http.get(f"/api/projects/{pid}").json()["model_version"] == "v2"


def test_the_bulk_endpoint_checks_predictions_against_the_config_from_1_23(
    cli: Cli,
    ls_http: httpx.Client,
    make_project: Callable[..., int],
    tmp_path: Path,
    release: Release,
) -> None:
    """Without lsimport's own config check, a label the config lacks reaches the server: 1.23
    drops it (lsimport reads back and reports it); 1.20 and older store it as sent."""
    pid = make_project(CONFIG)
    answer = ls_http.post(
        f"/api/projects/{pid}/import",
        params={"return_task_ids": "true"},
        json=[{"data": {"text": "a"}}, {"data": {"text": "b"}}],
    )
    ids = answer.json()["task_ids"]
    write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"task": ids[0], "result": [choice("positive")]},
            {"task": ids[1], "result": [choice("neutral")]},  # not a label of the config
        ],
    )

    run = cli(
        "predictions", "p.jsonl", "-p", str(pid), "--no-config-check", "--model-version", "v1",
        "--failures", "failed.jsonl", "-o", "json",
    )  # fmt: skip

    stored = texts_and_predictions(ls_http, pid)
    if release.checks_bulk_predictions:
        assert run.status == 1, run.stderr
        assert (summary(run)["predictions_created"], summary(run)["failed"]) == (1, 1)
        assert stored == [("a", [([["positive"]], "v1")]), ("b", [])]
        [failure] = lines_of(tmp_path / "failed.jsonl")
        assert failure["record"] == 2
        assert failure["messages"][0].startswith("the bulk endpoint created 1 of the 2")
    else:
        assert run.status == 0, run.stderr
        assert (summary(run)["predictions_created"], summary(run)["failed"]) == (2, 0)
        assert stored == [("a", [([["positive"]], "v1")]), ("b", [([["neutral"]], "v1")])]


# --------------------------------------------------------------------------- validate, failures


def test_validate_against_the_project_config(
    cli: Cli, make_project: Callable[..., int], tmp_path: Path
) -> None:
    pid = make_project(CONFIG)
    (tmp_path / "mixed.jsonl").write_bytes((DATA / "mixed.jsonl").read_bytes())

    run = cli("validate", "mixed.jsonl", "--project", str(pid), "-o", "json")

    assert run.status == 1, run.stderr
    report = json.loads(run.stdout)
    assert (report["records"], report["valid"], report["invalid"]) == (7, 3, 4)
    assert [(p["record"], p["code"]) for p in report["problems"]] == [
        (3, "config.data-missing"),
        (4, "config.label"),
        (5, "read.json"),
        (7, "schema.predictions"),
    ]


def test_a_failure_report_fixed_and_fed_back_in(
    cli: Cli, ls_http: httpx.Client, make_project: Callable[..., int], tmp_path: Path
) -> None:
    pid = make_project(CONFIG)
    (tmp_path / "mixed.jsonl").write_bytes((DATA / "mixed.jsonl").read_bytes())

    first = cli("upload", "mixed.jsonl", "-p", str(pid), "--failures", "failed.jsonl", "-o", "json")
    report = lines_of(tmp_path / "failed.jsonl")
    fixed = [{**f, "task": {"data": {"text": f"fixed {f['record']}"}}} for f in report]
    write_jsonl(tmp_path / "failed.jsonl", fixed)
    again = cli("upload", "failed.jsonl", "-p", str(pid), "-o", "json")

    assert (first.status, again.status) == (1, 0), first.stderr + again.stderr
    assert (summary(first)["tasks_created"], summary(first)["invalid"]) == (3, 4)
    assert [(f["record"], f["stage"]) for f in report] == [
        (3, "validate"),
        (4, "validate"),
        (5, "read"),
        (7, "validate"),
    ]
    assert (summary(again)["tasks_created"], summary(again)["invalid"]) == (4, 0)
    assert sorted(text for text, _ in texts_and_predictions(ls_http, pid)) == [
        "fixed 3",
        "fixed 4",
        "fixed 5",
        "fixed 7",
        "good one",
        "good three, flat",
        "good two",
    ]
    assert task_number(ls_http, pid) == 7


# ----------------------------------------------------------------------- what lsimport relies on


def test_the_server_answers_as_lsimport_expects(
    ls_server: Any, ls_http: httpx.Client, make_project: Callable[..., int]
) -> None:
    """The answers every release gives alike: a synchronous import with task ids (an
    asynchronous one, `{"import": id}`, is Enterprise's), task pages and what comes past the
    last, the bulk predictions endpoint's count, and /api/version without a token."""
    pid = make_project(CONFIG)
    tasks = [
        {"data": {"text": f"t{i}"}, "predictions": [{"result": [choice("positive")]}]}
        for i in range(3)
    ]

    imported = ls_http.post(
        f"/api/projects/{pid}/import", params={"return_task_ids": "true"}, json=tasks
    )
    page = ls_http.get(
        "/api/tasks", params={"project": pid, "page": 1, "page_size": 2, "include": "id"}
    )
    past = ls_http.get("/api/tasks", params={"project": pid, "page": 3, "page_size": 2})
    bulk = ls_http.post(
        f"/api/projects/{pid}/import/predictions",
        json=[{"task": t, "result": [choice("negative")]} for t in imported.json()["task_ids"]],
    )
    version = httpx.get(f"{ls_server.url}/api/version")

    assert imported.status_code == 201, imported.text
    assert {k: imported.json()[k] for k in ("task_count", "prediction_count")} == {
        "task_count": 3,
        "prediction_count": 3,
    }
    assert len(imported.json()["task_ids"]) == 3
    assert page.status_code == 200, page.text
    assert {k: page.json()[k] for k in ("total", "total_predictions", "tasks")} == {
        "total": 3,
        "total_predictions": 3,
        "tasks": [{"id": t} for t in imported.json()["task_ids"][:2]],
    }
    assert (past.status_code, past.json()["detail"]) == (404, "Invalid page.")
    assert (bulk.status_code, bulk.json()) == (201, {"created": 3})
    assert (version.status_code, version.json()["release"]) == (200, ls_server.version)
