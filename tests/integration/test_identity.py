"""Two records are two tasks, and nothing on disk is ever lost (issue 14), on a real server.

Each test runs the real CLI (`python -m lsimport ...`) against Label Studio 1.23.2 and reads
back what landed from the server itself: repeated data become tasks of their own, a rerun and
overlapping files create nothing twice, `--dedupe` skips repeats, the failure report fed back
as its own input loses no record, one input goes to two projects with a journal each, refused
reads exit 3, and credentials in the URL are never printed or written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from clirun import Cli
from faultproxy import Fault, FaultProxy

TEXT_CONFIG = """
<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="positive"/>
    <Choice value="negative"/>
  </Choices>
</View>
"""
KEY_FIELD = "lsimport_key"


@pytest.fixture
def cli(ls_server: Any, tmp_path: Path) -> Cli:
    return Cli(ls_server, tmp_path, timeout=180)


def write_jsonl(path: Path, items: list[Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in items))
    return path


def jsonl_count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def project_tasks(http: httpx.Client, pid: int) -> list[dict[str, Any]]:
    """Every task of the project, with its predictions, by id."""
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


def choice(label: str, version: str) -> dict[str, Any]:
    region = {
        "from_name": "sentiment",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": [label]},
    }
    return {"model_version": version, "result": [region]}


# --------------------------------------------------------------------------- identity


def test_repeated_data_are_tasks_of_their_own_and_a_rerun_creates_none(
    cli: Cli, make_project: Callable[..., int], ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(TEXT_CONFIG)
    # The same text three times (two models' predictions written as two records, and a
    # plain repeat, as scraped datasets have), and one other text.
    records = [
        {"data": {"text": "same"}, "predictions": [choice("positive", "model-a")]},
        {"data": {"text": "same"}, "predictions": [choice("negative", "model-b")]},
        {"data": {"text": "same"}},
        {"data": {"text": "other"}},
    ]
    write_jsonl(tmp_path / "tasks.jsonl", records)

    first = cli("upload", "tasks.jsonl", "-p", str(pid), "-o", "json").json()
    assert (first["tasks_created"], first["predictions_created"], first["skipped"]) == (4, 2, 0)
    assert "repeated" not in first
    tasks = project_tasks(ls_http, pid)
    keys = [t["meta"][KEY_FIELD] for t in tasks]
    assert keys[1] == keys[0] + "#2" and keys[2] == keys[0] + "#3" and "#" not in keys[3], keys
    assert [[p["model_version"] for p in t["predictions"]] for t in tasks] == [
        ["model-a"],
        ["model-b"],
        [],
        [],
    ]

    again = cli("upload", "tasks.jsonl", "-p", str(pid), "-o", "json").json()
    assert (again["tasks_created"], again["skipped"]) == (0, 4)
    # verify matches each record to its own task: all exact, none "present more than once".
    checked = cli("verify", "tasks.jsonl", "-p", str(pid), "-o", "json")
    assert checked.status == 0, checked.stdout
    assert (checked.json()["exact"], checked.json()["duplicated"]) == (4, 0)

    # Another file that overlaps this one: only what is new lands.
    write_jsonl(
        tmp_path / "more.jsonl",
        [{"data": {"text": "other"}}, {"data": {"text": "same"}}, {"data": {"text": "new"}}],
    )
    more = cli("upload", "more.jsonl", "tasks.jsonl", "-p", str(pid), "-o", "json").json()
    assert (more["tasks_created"], more["skipped"]) == (1, 6)
    assert len(project_tasks(ls_http, pid)) == 5

    # --key data.FIELD is unchanged: one task per field value; a repeat is not sent.
    pid2 = make_project(TEXT_CONFIG)
    keyed = cli("upload", "tasks.jsonl", "-p", str(pid2), "--key", "data.text", "-o", "json")
    doc = keyed.json()
    assert (doc["tasks_created"], doc["skipped"], doc["repeated"]) == (2, 0, 2)
    assert sorted(t["meta"][KEY_FIELD] for t in project_tasks(ls_http, pid2)) == ["other", "same"]


def test_dedupe_skips_data_already_there_or_earlier_in_the_input(
    cli: Cli, make_project: Callable[..., int], ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(TEXT_CONFIG)
    write_jsonl(tmp_path / "before.jsonl", [{"data": {"text": "there"}}])
    assert cli("upload", "before.jsonl", "-p", str(pid), "-o", "json").json()["tasks_created"] == 1
    write_jsonl(
        tmp_path / "tasks.jsonl",
        [{"data": {"text": t}} for t in ("there", "new", "new", "there", "new")],
    )
    doc = cli("upload", "tasks.jsonl", "-p", str(pid), "--dedupe", "-o", "json").json()
    # The second "there" is in the project and earlier in the input: counted as a repeat.
    assert (doc["tasks_created"], doc["skipped"], doc["repeated"]) == (1, 1, 3), doc
    assert sorted(t["data"]["text"] for t in project_tasks(ls_http, pid)) == ["new", "there"]

    text = cli("upload", "tasks.jsonl", "-p", str(pid), "--dedupe")
    assert text.status == 0, text.stderr
    assert "2 skipped (already in the project), 3 repeats of earlier data" in text.stdout, (
        text.stdout
    )


def test_two_records_for_one_task_are_two_predictions(
    cli: Cli, make_project: Callable[..., int], ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(TEXT_CONFIG)
    write_jsonl(tmp_path / "tasks.jsonl", [{"data": {"text": "one item"}}])
    assert cli("upload", "tasks.jsonl", "-p", str(pid), "-o", "json").json()["tasks_created"] == 1
    (task,) = project_tasks(ls_http, pid)
    write_jsonl(
        tmp_path / "preds.jsonl",
        [
            {"task": task["id"], **choice("positive", "model-a")},
            {"task": task["id"], **choice("negative", "model-a")},
        ],
    )
    doc = cli("predictions", "preds.jsonl", "-p", str(pid), "-o", "json").json()
    assert (doc["predictions_created"], doc["skipped"], doc["file_errors"]) == (2, 0, 0), doc
    (task,) = project_tasks(ls_http, pid)
    assert sorted(p["result"][0]["value"]["choices"][0] for p in task["predictions"]) == [
        "negative",
        "positive",
    ]
    again = cli("predictions", "preds.jsonl", "-p", str(pid), "-o", "json").json()
    assert (again["predictions_created"], again["skipped"]) == (0, 2)


# --------------------------------------------------------------------------- files


def test_the_failure_report_fed_back_as_its_own_input_loses_nothing(
    cli: Cli, make_project: Callable[..., int], ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(TEXT_CONFIG)
    records: list[Any] = []
    for i in range(30):
        label = "positive" if i % 3 else "POSITIVE"  # 10 of 30 name a label the config lacks
        text = f"review {i // 2}"  # every text twice: repeats must survive the loop too
        records.append({"data": {"text": text}, "predictions": [choice(label, "m")]})
    tasks = write_jsonl(tmp_path / "tasks.jsonl", records)
    failed = tmp_path / "failed.jsonl"

    first = cli("upload", "tasks.jsonl", "-p", str(pid), "--failures", "failed.jsonl")
    assert first.status == 1, first.stderr
    landed, on_disk = len(project_tasks(ls_http, pid)), jsonl_count(failed)
    assert (landed, on_disk) == (20, 10)

    # Half fixed: the loop goes on with the report as input and output at once.
    lines = failed.read_text().splitlines()
    fixed = [
        line.replace('"POSITIVE"', '"positive"') if n % 2 else line for n, line in enumerate(lines)
    ]
    failed.write_text("\n".join(fixed) + "\n")
    before = jsonl_count(failed)
    second = cli("upload", "failed.jsonl", "-p", str(pid), "--failures", "failed.jsonl")
    assert second.status == 1, second.stderr
    landed, on_disk = len(project_tasks(ls_http, pid)), jsonl_count(failed)
    assert (before, landed, on_disk) == (10, 25, 5), second.stdout
    assert landed + on_disk == 30

    failed.write_text(failed.read_text().replace('"POSITIVE"', '"positive"'))
    third = cli("upload", "failed.jsonl", "-p", str(pid), "--failures", "failed.jsonl")
    assert third.status == 0, third.stderr
    assert len(project_tasks(ls_http, pid)) == 30
    assert not failed.exists()
    assert "no failures: removed the old report failed.jsonl" in third.stdout, third.stdout
    # Every record is its own task: the 15 texts twice each, and the input never changed.
    texts = sorted(t["data"]["text"] for t in project_tasks(ls_http, pid))
    assert texts == sorted(f"review {i // 2}" for i in range(30))
    assert tasks.read_bytes() == b"".join(orjson.dumps(r) + b"\n" for r in records)


def test_a_journal_that_is_an_input_is_refused_before_anything_is_sent(
    cli: Cli, make_project: Callable[..., int], ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(TEXT_CONFIG)
    tasks = write_jsonl(tmp_path / "tasks.jsonl", [{"data": {"text": "x"}}])
    ran = cli("upload", "tasks.jsonl", "-p", str(pid), "--journal", "tasks.jsonl")
    assert ran.status == 2, ran.stderr
    assert "--journal tasks.jsonl is also an input" in ran.stderr, ran.stderr
    assert tasks.read_bytes() == orjson.dumps({"data": {"text": "x"}}) + b"\n"
    assert project_tasks(ls_http, pid) == []

    # Another project's journal is not truncated either.
    other = make_project(TEXT_CONFIG)
    assert cli("upload", "tasks.jsonl", "-p", str(other), "--journal", "j").status == 0
    kept = (tmp_path / "j").read_bytes()
    ran = cli("upload", "tasks.jsonl", "-p", str(pid), "--journal", "j")
    assert ran.status == 2 and f"is not the journal of project {pid}" in ran.stderr, ran.stderr
    assert (tmp_path / "j").read_bytes() == kept
    assert project_tasks(ls_http, pid) == []


# --------------------------------------------------------------------------- journal


def test_one_input_to_two_projects_keeps_a_journal_for_each(
    cli: Cli, make_project: Callable[..., int], ls_server: Any, tmp_path: Path
) -> None:
    one, two = make_project(TEXT_CONFIG), make_project(TEXT_CONFIG)
    write_jsonl(tmp_path / "tasks.jsonl", [{"data": {"text": f"t{i}"}} for i in range(3)])
    # A journal of an earlier version for project one, at the old default path.
    old = tmp_path / "tasks.jsonl.lsimport-journal"
    old.write_bytes(orjson.dumps({"v": 1, "url": ls_server.url, "project": one}) + b"\n")

    for pid in (one, two, one):
        assert cli("upload", "tasks.jsonl", "-p", str(pid), "-o", "json").status == 0
    journals = sorted(p.name for p in tmp_path.glob("tasks.jsonl*journal"))
    assert len(journals) == 2, journals  # the old one (project one) and project two's
    assert old.name in journals
    headers = {name: json.loads((tmp_path / name).read_text().splitlines()[0]) for name in journals}
    assert {h["project"] for h in headers.values()} == {one, two}
    # The old journal was found and used: both runs into project one appended to it.
    assert sum(b'"event":"begin"' in line for line in old.read_bytes().splitlines()) == 1


# --------------------------------------------------------------------------- server answers


@pytest.mark.parametrize("status", [403, 400, 429])
def test_a_refused_read_exits_3(
    cli: Cli, make_project: Callable[..., int], ls_server: Any, tmp_path: Path, status: int
) -> None:
    pid = make_project(TEXT_CONFIG)
    write_jsonl(tmp_path / "tasks.jsonl", [{"data": {"text": "never sent"}}])
    with FaultProxy(ls_server.url) as proxy:
        times = 5 if status == 429 else 1  # 429 is retried: refuse every attempt
        proxy.add(
            Fault("status", method="GET", path=r"^/api/projects/\d+/?$", status=status, times=times)
        )
        ran = cli("upload", "tasks.jsonl", "-p", str(pid), url=proxy.url)
    assert ran.status == 3, (ran.status, ran.stderr)
    assert f"HTTP {status}" in ran.stderr, ran.stderr


def test_credentials_in_the_url_are_never_shown_or_written(
    cli: Cli, make_project: Callable[..., int], ls_server: Any, tmp_path: Path
) -> None:
    pid = make_project(TEXT_CONFIG)
    secret = "s3cret-pw-in-url"
    scheme, rest = ls_server.url.split("://", 1)
    url = f"{scheme}://someone:{secret}@{rest}"
    write_jsonl(tmp_path / "tasks.jsonl", [{"data": {"text": "x"}}, "not a task"])

    who = cli("whoami", url=url, secret=secret)
    assert who.status == 0, who.stderr
    assert f"{scheme}://{rest}" in who.stdout, who.stdout
    up = cli(
        "upload",
        "tasks.jsonl",
        "-p",
        str(pid),
        "--journal",
        "j",
        "--failures",
        "f.jsonl",
        url=url,
        secret=secret,
    )
    assert up.status == 1, up.stderr
    for written in (tmp_path / "j", tmp_path / "f.jsonl"):
        assert secret not in written.read_text(), written
    missing = cli("upload", "tasks.jsonl", "-p", "987654", url=url, secret=secret)
    assert missing.status == 3 and "does not exist" in missing.stderr, missing.stderr


def test_file_errors_in_the_json_output(
    cli: Cli, make_project: Callable[..., int], tmp_path: Path
) -> None:
    pid = make_project(TEXT_CONFIG)
    # UTF-16 (PowerShell's `>`): a problem with the file as a whole, no record is read.
    (tmp_path / "utf16.jsonl").write_bytes('{"text": "x"}\n'.encode("utf-16"))
    write_jsonl(tmp_path / "tasks.jsonl", [{"data": {"text": "x"}}])
    up = cli("upload", "utf16.jsonl", "tasks.jsonl", "-p", str(pid), "-o", "json")
    assert up.status == 1 and up.json()["file_errors"] == 1 and up.json()["invalid"] == 0, up.stdout
    pred = cli("predictions", "utf16.jsonl", "-p", str(pid), "-o", "json")
    assert pred.status == 1 and pred.json()["file_errors"] == 1, pred.stdout


def test_the_library_api_keys_records_as_the_cli_does(
    ls_server: Any, make_project: Callable[..., int], ls_http: httpx.Client
) -> None:
    import lsimport

    pid = make_project(TEXT_CONFIG)
    tasks = [{"data": {"text": "a"}}, {"data": {"text": "a"}}, {"data": {"text": "b"}}]
    conn = {"url": ls_server.url, "api_key": ls_server.pat}
    first = lsimport.upload(tasks, project=pid, **conn)
    assert (first.tasks_created, first.skipped, first.repeated) == (3, 0, 0)
    again = lsimport.upload(tasks, project=pid, dedupe=True, **conn)
    assert (again.tasks_created, again.skipped, again.repeated) == (0, 2, 1)
    assert len(project_tasks(ls_http, pid)) == 3
