"""Migrations against a real Label Studio 1.23.2, through the real command line: Label
Studio's own exports as input, `verify`, `--ids`, and `predictions` on task-format records
with `--replace`.

A source project gets tasks with annotations (by two users) and predictions, and a draft,
through the server's own API; its exports are made by the server (`/export`, and a snapshot of
`/exports`); every `lsimport` run is `python -m lsimport ...` in a subprocess; what landed is
read back from the server itself, never from lsimport's report.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from clirun import Cli, CliRun, run_cli

CONFIG = """
<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="positive"/><Choice value="negative"/>
  </Choices>
</View>
"""


def choice(value: str) -> list[dict[str, Any]]:
    return [
        {
            "from_name": "sentiment",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": [value]},
        }
    ]


@pytest.fixture
def cli(ls_server: Any, tmp_path: Path) -> Cli:
    return Cli(ls_server, tmp_path, timeout=180)


def make_user(http: httpx.Client) -> tuple[int, str]:
    email = f"ann-{secrets.token_hex(4)}@example.com"
    answer = http.post("/api/users/", json={"email": email, "username": email.split("@")[0]})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"]), email


def import_source(http: httpx.Client, pid: int, annotator: str) -> list[int]:
    """Four tasks: annotations by the admin and by `annotator`, two predictions, a draft."""
    tasks = [
        {
            "data": {"text": "great"},
            "meta": {"origin": "crawl-1"},
            "annotations": [{"result": choice("positive")}],
            "predictions": [
                {"result": choice("positive"), "score": 0.9, "model_version": "m1"},
                {"result": choice("negative"), "score": 0.2, "model_version": "m2"},
            ],
        },
        {
            "data": {"text": "awful"},
            "annotations": [{"result": choice("negative"), "completed_by": {"email": annotator}}],
        },
        {
            "data": {"text": "meh"},
            "predictions": [{"result": choice("negative"), "score": 0.5, "model_version": "m1"}],
        },
        {"data": {"text": "fine"}},
    ]
    answer = http.post(
        f"/api/projects/{pid}/import", params={"return_task_ids": "true"}, json=tasks
    )
    assert answer.status_code == 201, answer.text
    ids = list(answer.json()["task_ids"])
    draft = http.post(f"/api/tasks/{ids[3]}/drafts", json={"result": choice("negative")})
    assert draft.status_code == 201, draft.text
    return ids


def export_json(http: httpx.Client, pid: int, export_type: str = "JSON") -> bytes:
    answer = http.get(
        f"/api/projects/{pid}/export",
        params={"exportType": export_type, "download_all_tasks": "true"},
    )
    assert answer.status_code == 200, answer.text
    return answer.content


def export_snapshot(http: httpx.Client, pid: int) -> bytes:
    options = {"predictions": {"only_id": False}, "annotations__completed_by": {"only_id": False}}
    made = http.post(
        f"/api/projects/{pid}/exports", json={"title": "snap", "serialization_options": options}
    )
    assert made.status_code == 201, made.text
    eid = made.json()["id"]
    for _ in range(60):
        if http.get(f"/api/projects/{pid}/exports/{eid}").json()["status"] == "completed":
            break
        time.sleep(0.5)
    answer = http.get(f"/api/projects/{pid}/exports/{eid}/download", params={"exportType": "JSON"})
    assert answer.status_code == 200, answer.text
    return answer.content


def read_back(http: httpx.Client, pid: int) -> dict[str, dict[str, Any]]:
    """Each task of a project by its text: meta (without lsimport's key), annotations (result
    and author) and predictions (result, score, model version), in id order."""
    answer = http.get(
        "/api/tasks", params={"project": pid, "page": 1, "page_size": 100, "fields": "all"}
    )
    assert answer.status_code == 200, answer.text
    out = {}
    for t in answer.json()["tasks"]:
        meta = {k: v for k, v in t["meta"].items() if k != "lsimport_key"}
        out[t["data"]["text"]] = {
            "meta": meta,
            "annotations": [
                {"result": a["result"], "completed_by": a["completed_by"]}
                for a in sorted(t["annotations"], key=lambda a: a["id"])
            ],
            "predictions": [
                {k: p[k] for k in ("result", "score", "model_version")}
                for p in sorted(t["predictions"], key=lambda p: p["id"])
            ],
            "drafts": len(t.get("drafts") or []),
        }
    return out


@pytest.fixture
def source(ls_http: httpx.Client, make_project: Callable[..., int]) -> tuple[int, dict[str, Any]]:
    """A project with annotations by two users, predictions and a draft; what it holds."""
    pid = make_project(CONFIG, title="export source")
    uid, email = make_user(ls_http)
    import_source(ls_http, pid, email)
    return pid, {"user": uid, "email": email, "tasks": read_back(ls_http, pid)}


def test_a_snapshot_export_uploaded_into_a_new_project_is_the_same_project(
    cli: Cli,
    ls_http: httpx.Client,
    make_project: Callable[..., int],
    source: tuple[int, dict[str, Any]],
    tmp_path: Path,
) -> None:
    pid, held = source
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_bytes(export_snapshot(ls_http, pid))
    target = make_project(CONFIG, title="snapshot target")

    validated = cli("validate", snapshot, "--project", target)
    first = cli("upload", snapshot, "--project", target, "--output", "json")
    again = cli("upload", snapshot, "--project", target, "--output", "json")

    assert (validated.status, validated.stdout.splitlines()[-1]) == (
        0,
        "ok: 4 record(s) in 1 file(s): 4 valid, 0 invalid, 0 warning(s)",
    ), validated.stdout
    assert first.status == 0, first.stdout + first.stderr
    assert (first.json()["tasks_created"], first.json()["predictions_created"]) == (4, 3)
    assert (again.status, again.json()["skipped"], again.json()["tasks_created"]) == (0, 4, 0)
    copied = read_back(ls_http, target)
    expected = {text: {**task, "drafts": 0} for text, task in held["tasks"].items()}
    assert copied == expected  # tasks, annotations (authors by email) and predictions
    assert copied["awful"]["annotations"][0]["completed_by"] == held["user"]


def test_a_json_export_keeps_annotations_and_says_how_to_carry_the_predictions(
    cli: Cli,
    ls_http: httpx.Client,
    make_project: Callable[..., int],
    source: tuple[int, dict[str, Any]],
    tmp_path: Path,
) -> None:
    pid, held = source
    export = tmp_path / "export.json"
    export.write_bytes(export_json(ls_http, pid))
    target = make_project(CONFIG, title="json export target")

    validated = cli("validate", export, "--project", target, "--output", "json")
    uploaded = cli("upload", export, "--project", target)

    codes = sorted((p["record"], p["code"]) for p in validated.json()["problems"])
    assert codes == [
        (1, "export.annotator-id"),
        (1, "export.prediction-ids"),
        (2, "export.annotator-id"),
        (3, "export.prediction-ids"),
    ]
    assert validated.status == 0 and validated.json()["invalid"] == 0
    assert uploaded.status == 0, uploaded.stdout + uploaded.stderr
    assert uploaded.stdout.startswith("4 task(s) created with 0 prediction(s)")
    assert "2 task(s) of a Label Studio export list their predictions by id only" in (
        uploaded.stderr
    )
    assert "snapshot" in uploaded.stderr and "lsimport copy" in uploaded.stderr
    copied = read_back(ls_http, target)
    admin = ls_http.get("/api/current-user/whoami").json()["id"]
    for text, task in held["tasks"].items():
        assert copied[text]["meta"] == task["meta"]
        assert copied[text]["predictions"] == []
        assert copied[text]["drafts"] == 0
        # The export names authors by the source's ids only: credited to the importing user.
        assert copied[text]["annotations"] == [
            {**a, "completed_by": admin} for a in task["annotations"]
        ]


def test_an_unknown_annotator_is_an_error_before_anything_is_sent(
    cli: Cli,
    ls_http: httpx.Client,
    make_project: Callable[..., int],
    source: tuple[int, dict[str, Any]],
    tmp_path: Path,
) -> None:
    pid, held = source
    raw = export_snapshot(ls_http, pid).replace(held["email"].encode(), b"nobody@example.org")
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_bytes(raw)
    target = make_project(CONFIG, title="unknown annotator")

    uploaded = cli("upload", snapshot, "--project", target, "--failures", "failed.jsonl")

    assert uploaded.status == 1, uploaded.stdout + uploaded.stderr
    assert "/annotations/0/completed_by: no user of the target server has the email " in (
        uploaded.stderr
    )
    assert "'nobody@example.org'" in uploaded.stderr
    assert sorted(read_back(ls_http, target)) == ["fine", "great", "meh"]
    [line] = (tmp_path / "failed.jsonl").read_text().splitlines()
    assert orjson.loads(line)["task"]["data"] == {"text": "awful"}


def test_min_and_csv_exports_are_plain_tasks(
    cli: Cli,
    ls_http: httpx.Client,
    make_project: Callable[..., int],
    source: tuple[int, dict[str, Any]],
    tmp_path: Path,
) -> None:
    pid, _ = source
    target = make_project(CONFIG, title="min export target")
    runs = []
    for export_type, name in (("JSON_MIN", "min.json"), ("CSV", "e.csv"), ("TSV", "e.tsv")):
        (tmp_path / name).write_bytes(export_json(ls_http, pid, export_type))
        runs.append(cli("upload", tmp_path / name, "--project", target, "--output", "json"))

    assert [(r.status, r.json()["tasks_created"], r.json()["skipped"]) for r in runs] == [
        (0, 4, 0),
        (0, 0, 4),
        (0, 0, 4),
    ], [r.stderr for r in runs]
    copied = read_back(ls_http, target)
    assert sorted(copied) == ["awful", "fine", "great", "meh"]
    tasks = ls_http.get("/api/tasks", params={"project": target, "fields": "all"}).json()
    assert all(set(t["data"]) == {"text"} for t in tasks["tasks"])
    assert "read as plain tasks" in runs[0].stderr


# --------------------------------------------------------------------------- verify


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in items))
    return path


def verify_input(tmp_path: Path) -> str:
    """Five tasks with a prediction each, in tasks.jsonl of the CLI's working directory."""
    tasks = [
        {
            "data": {"text": f"review {i}", "rid": f"R-{i}"},
            "predictions": [{"result": choice("positive"), "score": 0.8, "model_version": "m1"}],
        }
        for i in range(1, 6)
    ]
    return write_jsonl(tmp_path / "tasks.jsonl", tasks).name


def test_verify_before_and_after_a_task_is_deleted(
    cli: Cli, ls_http: httpx.Client, make_project: Callable[..., int], tmp_path: Path
) -> None:
    path = verify_input(tmp_path)
    pid = make_project(CONFIG, title="verify")
    uploaded = cli("upload", path, "--project", pid)
    assert uploaded.status == 0, uploaded.stdout + uploaded.stderr

    before = cli("verify", path, "--project", pid)
    by_field = cli("verify", path, "--project", pid, "--match-on", "data.rid", "--output", "json")
    tasks = ls_http.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]
    third = next(t["id"] for t in tasks if t["data"]["rid"] == "R-3")
    assert ls_http.delete(f"/api/tasks/{third}/").status_code == 204
    after = cli("verify", path, "--project", pid)
    after_json = cli("verify", path, "--project", pid, "--output", "json")
    after_github = cli("verify", path, "--project", pid, "--output", "github")

    assert (before.status, before.stdout) == (
        0,
        f"exact: 5 record(s) in 1 file(s) against project {pid} (5 task(s)): 5 exact, 0 missing, "
        "0 duplicated, 0 with other predictions, 0 not verified\n",
    )
    assert (by_field.status, by_field.json()["exact"]) == (0, 5)
    assert after.status == 1
    assert after.stdout.splitlines() == [
        f"{path}:3: record 3: missing: no task of project {pid} has this data",
        f"NOT EXACT: 5 record(s) in 1 file(s) against project {pid} (4 task(s)): 4 exact, "
        "1 missing, 0 duplicated, 0 with other predictions, 0 not verified",
    ]
    doc = after_json.json()
    assert (after_json.status, doc["missing"], doc["exact"], doc["project_tasks"]) == (1, 1, 4, 4)
    assert [(p["record"], p["kind"]) for p in doc["problems"]] == [(3, "missing")]
    assert after_github.status == 1
    assert after_github.stdout.startswith(
        f"::error file={path},line=3,title=lsimport verify missing::record 3: "
    )


def test_verify_finds_copies_other_predictions_and_a_model_version_that_hides_them(
    cli: Cli, ls_http: httpx.Client, make_project: Callable[..., int], tmp_path: Path
) -> None:
    path = verify_input(tmp_path)
    pid = make_project(CONFIG, title="verify copies")
    assert cli("upload", path, "--project", pid).status == 0
    # A second copy of record 2 (another tool, or --allow-duplicates), and another model's
    # prediction on record 4's task.
    copy = {"data": {"text": "review 2", "rid": "R-2"}}
    assert ls_http.post(f"/api/projects/{pid}/import", json=[copy]).status_code == 201
    tasks = ls_http.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]
    fourth = next(t["id"] for t in tasks if t["data"]["rid"] == "R-4")
    other = {"task": fourth, "result": choice("negative"), "model_version": "m2"}
    assert ls_http.post("/api/predictions/", json=other).status_code == 201
    assert ls_http.patch(f"/api/projects/{pid}/", json={"model_version": "m2"}).status_code == 200

    run = cli("verify", path, "--project", pid, "--output", "json")

    assert run.status == 1, run.stderr
    doc = run.json()
    assert (doc["exact"], doc["duplicated"], doc["predictions_differ"]) == (3, 1, 1)
    problems = {p["record"]: (p["kind"], p["message"]) for p in doc["problems"]}
    assert problems[2][0] == "duplicated" and problems[2][1].startswith(
        f"in project {pid} 2 times (tasks "
    )
    assert problems[4] == (
        "predictions",
        f"task {fourth} has 1 prediction(s) the input does not (model version 'm2')",
    )
    [note] = doc["project"]
    assert note.startswith(
        f"project {pid} shows model version 'm2', which none of the input's 5 prediction(s) "
        "carry (model version 'm1')"
    )


# --------------------------------------------------------------------------- --ids


def ids_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ids_name_the_task_of_every_record_created_or_skipped(
    cli: Cli, ls_http: httpx.Client, make_project: Callable[..., int], tmp_path: Path
) -> None:
    tasks = [{"data": {"text": f"t{i}", "rid": f"R-{i}"}} for i in range(1, 5)]
    tasks.insert(2, {"data": {"text": "bad"}, "predictions": [{"result": choice("maybe")}]})
    path = write_jsonl(tmp_path / "tasks.jsonl", tasks)
    pid = make_project(CONFIG, title="ids")
    write_jsonl(tmp_path / "first.jsonl", tasks[:2])
    assert cli("upload", "first.jsonl", "--project", pid).status == 0

    run = cli("upload", path.name, "--project", pid, "--ids", "ids.jsonl")
    refused = cli("upload", path.name, "--project", pid, "--ids", path.name)

    assert run.status == 1, run.stdout + run.stderr  # record 3 is invalid
    assert "task ids: ids.jsonl (4 record(s) in the project)" in run.stdout
    on_server = {
        t["data"]["rid"]: t["id"]
        for t in ls_http.get("/api/tasks", params={"project": pid}).json()["tasks"]
        if "rid" in t["data"]
    }
    lines = ids_lines(tmp_path / "ids.jsonl")
    assert [(x["file"], x["record"], x["line"]) for x in lines] == [
        ("tasks.jsonl", n, n) for n in (1, 2, 4, 5)
    ]
    assert [x["task"] for x in lines] == [on_server[f"R-{i}"] for i in range(1, 5)]
    keys = {
        t["id"]: t["meta"]["lsimport_key"]
        for t in ls_http.get("/api/tasks", params={"project": pid}).json()["tasks"]
    }
    assert all(keys[x["task"]] == x["key"] for x in lines)
    assert refused.status == 2
    assert "--ids tasks.jsonl is one of the inputs" in refused.stderr
    assert path.read_bytes().count(b"\n") == 5  # untouched


# --------------------------------------------------------------------------- predictions


def test_task_format_predictions_attach_by_match_on_or_id_and_replace_twice(
    cli: Cli, ls_http: httpx.Client, make_project: Callable[..., int], tmp_path: Path
) -> None:
    pid = make_project(CONFIG, title="replace")
    tasks = [
        {
            "data": {"text": f"t{i}", "rid": f"R-{i}"},
            "predictions": [
                {"result": choice("positive"), "model_version": "m1"},
                {"result": choice("negative"), "model_version": "other"},
            ],
        }
        for i in range(1, 4)
    ]
    assert cli("upload", write_jsonl(tmp_path / "tasks.jsonl", tasks).name, "-p", pid).status == 0

    def rerun(label: str, name: str) -> Path:
        items = [
            {
                "data": {"text": t["data"]["text"], "rid": t["data"]["rid"]},
                "predictions": [{"result": choice(label), "score": 0.7, "model_version": "m1"}],
            }
            for t in tasks
        ]
        return write_jsonl(tmp_path / name, items)

    def versions() -> dict[str, list[tuple[str, str]]]:
        found = ls_http.get("/api/tasks", params={"project": pid, "fields": "all"}).json()
        return {
            t["data"]["rid"]: sorted(
                (p["model_version"], p["result"][0]["value"]["choices"][0])
                for p in t["predictions"]
            )
            for t in found["tasks"]
        }

    first = cli(
        "predictions",
        rerun("negative", "run1.jsonl").name,
        "-p",
        pid,
        "--match-on",
        "data.rid",
        "--replace",
        "--output",
        "json",
        "--ids",
        "p.jsonl",
    )
    after_first = versions()
    second = cli(
        "predictions",
        rerun("positive", "run2.jsonl").name,
        "-p",
        pid,
        "--match-on",
        "data.rid",
        "--replace",
        "--output",
        "json",
    )
    after_second = versions()
    again = cli(
        "predictions",
        "run2.jsonl",
        "-p",
        pid,
        "--match-on",
        "data.rid",
        "--replace",
        "--output",
        "json",
    )

    assert first.status == 0, first.stderr
    assert (first.json()["predictions_created"], first.json()["replaced"]) == (3, 3)
    assert after_first == {
        f"R-{i}": [("m1", "negative"), ("other", "negative")] for i in range(1, 4)
    }
    assert second.status == 0, second.stderr
    assert (second.json()["predictions_created"], second.json()["replaced"]) == (3, 3)
    assert after_second == {
        f"R-{i}": [("m1", "positive"), ("other", "negative")] for i in range(1, 4)
    }
    assert again.json()["skipped"] == 3 and again.json()["replaced"] == 0
    assert versions() == after_second
    by_rid = {
        t["data"]["rid"]: t["id"]
        for t in ls_http.get("/api/tasks", params={"project": pid}).json()["tasks"]
    }
    lines = ids_lines(tmp_path / "p.jsonl")
    assert sorted((x["record"], x["task"]) for x in lines) == [
        (i, by_rid[f"R-{i}"]) for i in range(1, 4)
    ]


def test_a_snapshot_export_attaches_its_predictions_by_task_id(
    cli: Cli,
    ls_http: httpx.Client,
    source: tuple[int, dict[str, Any]],
    tmp_path: Path,
) -> None:
    """Predictions deleted from the source come back from its own snapshot, matched by id."""
    pid, held = source
    (tmp_path / "snapshot.json").write_bytes(export_snapshot(ls_http, pid))
    for p in ls_http.get("/api/predictions/", params={"project": pid}).json():
        assert ls_http.delete(f"/api/predictions/{p['id']}/").status_code == 204
    assert all(not t["predictions"] for t in read_back(ls_http, pid).values())

    run = cli("predictions", "snapshot.json", "--project", pid, "--output", "json")

    assert run.status == 0, run.stderr
    assert (run.json()["predictions_created"], run.json()["records"]) == (3, 3)
    assert read_back(ls_http, pid) == held["tasks"]


# --------------------------------------------------------------------------- copy


def titled(http: httpx.Client, title: str) -> list[int]:
    found = http.get("/api/projects", params={"page_size": 100, "title": title}).json()
    return [p["id"] for p in found["results"] if p["title"] == title]


def test_copy_on_one_server_is_the_same_project_and_a_rerun_copies_nothing(
    cli: Cli,
    ls_server: Any,
    ls_http: httpx.Client,
    source: tuple[int, dict[str, Any]],
) -> None:
    pid, held = source
    title = f"copy {secrets.token_hex(4)}"

    first = cli("copy", "--from-project", pid, "--create-project", title, "--output", "json")
    [target] = titled(ls_http, title)
    again = cli("copy", "--from-project", pid, "--create-project", title, "--output", "json")
    # The source's token given as its own (LABEL_STUDIO_FROM_API_KEY): never printed.
    by_env = cli(
        "copy",
        "--from-url",
        ls_server.url,
        "--from-project",
        str(pid),
        "--project",
        str(target),
        env={"LABEL_STUDIO_FROM_API_KEY": ls_server.legacy_token},
    )

    assert first.status == 0, first.stderr
    assert (first.json()["tasks_created"], first.json()["predictions_created"]) == (4, 3)
    assert f"created project {target} {title!r} with the labeling config of project {pid}" in (
        first.stderr
    )
    assert (again.status, again.json()["tasks_created"], again.json()["skipped"]) == (0, 0, 4)
    assert titled(ls_http, title) == [target]
    assert by_env.status == 0, by_env.stderr
    assert by_env.stdout.startswith("0 task(s) created with 0 prediction(s)")
    assert ls_server.legacy_token not in by_env.stdout + by_env.stderr
    config = ls_http.get(f"/api/projects/{target}").json()["label_config"]
    assert config == ls_http.get(f"/api/projects/{pid}").json()["label_config"]
    expected = {text: {**task, "drafts": 0} for text, task in held["tasks"].items()}
    assert read_back(ls_http, target) == expected


# The target of a copy to another server: the same release, and an older one (issue 18's
# matrix installs it; here it is installed when missing, once, and reused by that matrix).
SECOND_SERVER_VERSIONS = ("1.23.2", "1.20.0")


@pytest.fixture(scope="module", params=SECOND_SERVER_VERSIONS)
def second_server(
    request: pytest.FixtureRequest,
    lsserver: Any,
    tmp_path_factory: pytest.TempPathFactory,
    ls_state_dir: Path | None,
) -> Any:
    """Another Label Studio (its own users, ids and tokens): the target of a migration."""
    if ls_state_dir is None:
        pytest.skip("a second server is started only beside the session's own")
    version = request.param
    lsserver.ensure_installed(version=version)
    state = tmp_path_factory.mktemp("ls-state-2")
    info = lsserver.start(tmp_path_factory.mktemp("ls-data-2"), state=state, version=version)
    try:
        yield info
    finally:
        lsserver.stop(info, state=state)


def test_copy_to_another_server_matches_annotators_by_email(
    cli: Cli,
    ls_server: Any,
    ls_http: httpx.Client,
    second_server: Any,
    source: tuple[int, dict[str, Any]],
) -> None:
    pid, held = source
    with httpx.Client(
        base_url=second_server.url,
        headers={"Authorization": f"Token {second_server.legacy_token}"},
        timeout=60,
    ) as other:
        # Users enough that the annotator's id on the new server is another one.
        while make_user(other)[0] < held["user"]:
            pass
        title = f"migrated {secrets.token_hex(4)}"

        def copy() -> CliRun:
            return run_cli(
                second_server,
                "copy",
                "--from-url",
                ls_server.url,
                "--from-project",
                str(pid),
                "--create-project",
                title,
                "--output",
                "json",
                "--failures",
                "failed.jsonl",
                cwd=cli.cwd,
                env={"LABEL_STUDIO_FROM_API_KEY": ls_server.pat},
                secret=ls_server.pat,
                timeout=180,
            )

        without = copy()  # the annotator has no account on the new server yet
        report = ids_lines(cli.cwd / "failed.jsonl")
        created = other.post("/api/users/", json={"email": held["email"], "username": "ann-again"})
        assert created.status_code == 201, created.text
        with_user = copy()
        [target] = titled(other, title)
        copied = read_back(other, target)

    for run in (without, with_user):
        assert ls_server.pat not in run.stdout + run.stderr
        assert second_server.pat not in run.stdout + run.stderr
    assert without.status == 1, without.stderr
    assert json.loads(without.stdout)["tasks_created"] == 3
    [failed] = report
    assert failed["task"]["data"] == {"text": "awful"}
    assert failed["stage"] == "validate"
    message = failed["messages"][0]
    assert f"no user of the target server has the email {held['email']!r}" in message
    assert with_user.status == 0, with_user.stderr
    assert not (cli.cwd / "failed.jsonl").exists()  # nothing left to report: the old one goes
    assert (
        json.loads(with_user.stdout)["tasks_created"],
        json.loads(with_user.stdout)["skipped"],
    ) == (1, 3)
    new_id = created.json()["id"]
    assert new_id != held["user"]
    expected = {text: {**task, "drafts": 0} for text, task in held["tasks"].items()}
    admin_ids = {held["tasks"]["great"]["annotations"][0]["completed_by"]}
    assert admin_ids == {1}  # the admin is user 1 on both servers
    expected["awful"]["annotations"][0]["completed_by"] = new_id
    assert copied == expected


# --------------------------------------------------------------------------- the library API


def test_the_library_takes_task_format_predictions_replace_and_ids(
    ls_server: Any, ls_http: httpx.Client, make_project: Callable[..., int], tmp_path: Path
) -> None:
    from lsimport import attach_predictions, upload

    server = {"url": ls_server.url, "api_key": ls_server.pat}
    pid = make_project(CONFIG, title="library")
    tasks = [{"data": {"text": f"t{i}", "rid": f"R-{i}"}} for i in range(3)]
    made = upload(tasks, project=pid, ids=str(tmp_path / "ids.jsonl"), **server)

    def rerun(label: str) -> list[dict[str, Any]]:
        return [
            {**t, "predictions": [{"result": choice(label), "model_version": "m1"}]} for t in tasks
        ]

    first = attach_predictions(rerun("negative"), project=pid, match_on="data.rid", **server)
    second = attach_predictions(
        rerun("positive"), project=pid, match_on="data.rid", replace=True, **server
    )

    assert made.tasks_created == 3
    assert [x["record"] for x in ids_lines(tmp_path / "ids.jsonl")] == [1, 2, 3]
    assert (first.predictions_created, first.replaced) == (3, None)
    assert (second.predictions_created, second.replaced, second.ok) == (3, 3, True)
    found = ls_http.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]
    assert [[p["result"] for p in t["predictions"]] for t in found] == [[choice("positive")]] * 3
