"""`lsimport upload` against a real Label Studio 1.23.2, through the real command line.

Every run is `python -m lsimport upload ...` in a subprocess, with LABEL_STUDIO_URL and
LABEL_STUDIO_API_KEY in its environment and its journal in the test's tmp dir; what landed is
read back from the server itself. The one in-process test drives LabelStudioClient with an
injected clock, to renew a personal access token's access token mid-run without waiting the
server's five minutes, and once with one access token spoiled on its way so that Label Studio's
own 401 is met by one renewal and one resend; its traffic is real, counted by a transport
wrapping httpx's own.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from clirun import Cli, CliRun

from lsimport.send.client import LabelStudioClient
from lsimport.send.keys import KEY_FIELD, data_hash

DATA = Path(__file__).resolve().parent.parent / "data" / "upload"
SUMMARY_KEYS = (
    "records",
    "invalid",
    "skipped",
    "tasks_created",
    "predictions_created",
    "failed",
    "duplicates_removed",
    "duration_s",
)

TEXT_CONFIG = """
<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="positive"/>
    <Choice value="negative"/>
  </Choices>
</View>
"""

NER_CONFIG = """
<View>
  <Text name="text" value="$text"/>
  <Labels name="ner" toName="text"><Label value="PER"/><Label value="ORG"/></Labels>
  <Choices name="sentiment" toName="text">
    <Choice value="positive"/>
    <Choice value="negative"/>
  </Choices>
  <TextArea name="summary" toName="text"/>
  <Rating name="quality" toName="text"/>
</View>
"""


# --------------------------------------------------------------------------- helpers


def check_timing(timing: dict[str, Any]) -> None:
    """An upload's `timing`: the time waiting for the server and the rest add up to its wall
    time, and at least the project was read."""
    assert set(timing) == {"wall_s", "server_s", "client_s", "requests"}, timing
    assert 0 <= timing["server_s"] <= timing["wall_s"] < 120, timing
    assert timing["server_s"] + timing["client_s"] == pytest.approx(timing["wall_s"], abs=0.002)
    assert timing["requests"] >= 1, timing


def summary(run: CliRun, keys: tuple[str, ...] = SUMMARY_KEYS) -> dict[str, Any]:
    """A run's `--output json` document (its first keys `keys`), with duration_s checked and
    then dropped."""
    doc = run.json()
    assert tuple(doc)[: len(keys)] == keys, doc
    assert doc.pop("duplicates_removed") == 0, doc  # no batch was sent twice
    duration = doc.pop("duration_s")
    assert isinstance(duration, float | int) and 0 <= duration < 120, duration
    if "timing" in doc:  # upload's: where the wall time went (the real server: varies)
        check_timing(doc.pop("timing"))
    # Always there (issue 14); dropped when 0, so a file problem shows in comparisons.
    if doc.get("file_errors", None) == 0:
        del doc["file_errors"]
    return doc


class UploadCli(Cli):
    def upload(
        self, *args: str, project: int | None = None, journal: str = "journal", **kwargs: Any
    ) -> CliRun:
        """`lsimport upload ARGS [--project N] --journal <tmp>/JOURNAL --output json`."""
        more = ("--project", str(project)) if project is not None else ()
        return self("upload", *args, *more, "--journal", journal, "--output", "json", **kwargs)


@pytest.fixture
def cli(ls_server: Any, tmp_path: Path) -> UploadCli:
    return UploadCli(ls_server, tmp_path)


def copy_data(name: str, into: Path) -> Path:
    """A data file copied into the test's dir, so reports name it as `name`."""
    return Path(shutil.copy(DATA / name, into / name))


def project_tasks(http: httpx.Client, pid: int) -> list[dict[str, Any]]:
    """Every task of a project, with predictions (`fields=all`), by id."""
    tasks: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = http.get(
            "/api/tasks",
            params={"project": pid, "page": page, "page_size": 100, "fields": "all"},
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


def task_number(http: httpx.Client, pid: int) -> int:
    answer = http.get(f"/api/projects/{pid}")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["task_number"])


def texts(tasks: list[dict[str, Any]]) -> list[str]:
    return sorted(t["data"]["text"] for t in tasks)


def as_sent(prediction: dict[str, Any]) -> dict[str, Any]:
    """The part of a prediction read back from the server that was sent."""
    return {k: prediction[k] for k in ("result", "score", "model_version")}


def failure_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


_MESSAGE = re.compile(r"^(?:(?P<pointer>/\S*): )?.+ \[(?P<code>[\w.-]+)\]$", re.DOTALL)


def pointer_and_code(message: str) -> tuple[str, str]:
    """('/data/text', 'config.data-missing') from a finding's message line."""
    match = _MESSAGE.match(message)
    assert match, message
    return match.group("pointer") or "", match.group("code")


def write_jsonl(path: Path, items: list[Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in items))
    return path


def keyed(task: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    """A task as lsimport sends it: its key in meta."""
    meta = dict(task.get("meta") or {})
    meta[KEY_FIELD] = key if key is not None else data_hash(task["data"])
    return {**task, "meta": meta}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --------------------------------------------------------------------------- both token kinds


def test_pat_import_lands_predictions_exactly_as_sent(
    cli: UploadCli, make_project: Callable[..., int], ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(NER_CONFIG)
    copy_data("predictions.json", tmp_path)
    sent = json.loads((DATA / "predictions.json").read_text())

    run = cli.upload("predictions.json", "--project", str(pid))

    assert run.status == 0, run.stderr
    assert summary(run) == {
        "records": 3,
        "invalid": 0,
        "skipped": 0,
        "tasks_created": 3,
        "predictions_created": 3,
        "failed": 0,
    }
    tasks = project_tasks(ls_http, pid)
    assert [t["data"] for t in tasks] == [s["data"] for s in sent]
    assert [t["meta"] for t in tasks] == [keyed(s)["meta"] for s in sent]
    assert [[as_sent(p) for p in t["predictions"]] for t in tasks] == [
        [{"score": None, **p} for p in s.get("predictions", [])] for s in sent
    ]
    assert task_number(ls_http, pid) == 3


def test_legacy_token_import_lands(
    cli: UploadCli,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    ls_server: Any,
    tmp_path: Path,
) -> None:
    pid = make_project(TEXT_CONFIG)
    write_jsonl(tmp_path / "tasks.jsonl", [{"text": "legacy one"}, {"text": "legacy two"}])

    run = cli.upload("tasks.jsonl", "-p", str(pid), token=ls_server.legacy_token)

    assert run.status == 0, run.stderr
    assert summary(run) == {
        "records": 2,
        "invalid": 0,
        "skipped": 0,
        "tasks_created": 2,
        "predictions_created": 0,
        "failed": 0,
    }
    assert texts(project_tasks(ls_http, pid)) == ["legacy one", "legacy two"]
    assert task_number(ls_http, pid) == 2


# --------------------------------------------------------------------------- good and bad mixed


def test_mixed_file_good_tasks_land_bad_ones_reported_and_reuploadable(
    cli: UploadCli, make_project: Callable[..., int], ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(TEXT_CONFIG)
    copy_data("mixed.jsonl", tmp_path)
    original = (DATA / "mixed.jsonl").read_text().splitlines()

    run = cli.upload("mixed.jsonl", "-p", str(pid), "--failures", "failed.jsonl")

    assert run.status == 1, run.stderr
    assert summary(run) == {
        "records": 7,
        "invalid": 4,
        "skipped": 0,
        "tasks_created": 3,
        "predictions_created": 1,
        "failed": 0,
    }
    tasks = project_tasks(ls_http, pid)
    assert texts(tasks) == ["good one", "good three, flat", "good two"]
    assert task_number(ls_http, pid) == 3

    report = failure_lines(tmp_path / "failed.jsonl")
    assert [(f["file"], f["record"], f["line"], f["stage"]) for f in report] == [
        ("mixed.jsonl", 3, 3, "validate"),
        ("mixed.jsonl", 4, 4, "validate"),
        ("mixed.jsonl", 5, 5, "read"),
        ("mixed.jsonl", 7, 7, "validate"),
    ]
    assert [[pointer_and_code(m) for m in f["messages"]] for f in report] == [
        [("/data/text", "config.data-missing")],
        [("/predictions/0/result/0/value/choices", "config.label")],
        [("", "read.json")],
        [("/predictions", "schema.predictions")],
    ]
    assert report[0]["task"] == json.loads(original[2])
    assert report[1]["task"] == json.loads(original[3])
    assert report[2]["task"] is None
    assert report[2]["raw"] == original[4] + "\n"
    assert report[3]["task"] == json.loads(original[6])

    # Fix the tasks inside the report and feed the report itself back in.
    fixes = [
        {"data": {"text": "fixed three"}},
        {
            "data": {"text": "fixed four"},
            "predictions": [
                {
                    "result": [
                        {
                            "from_name": "sentiment",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": ["negative"]},
                        }
                    ]
                }
            ],
        },
        {"data": {"text": "fixed five"}},
        {"data": {"text": "fixed seven"}, "predictions": []},
    ]
    write_jsonl(
        tmp_path / "failed.jsonl",
        [{**f, "task": fix} for f, fix in zip(report, fixes, strict=True)],
    )

    again = cli.upload("failed.jsonl", "-p", str(pid), journal="journal-fixed")

    assert again.status == 0, again.stderr
    assert summary(again) == {
        "records": 4,
        "invalid": 0,
        "skipped": 0,
        "tasks_created": 4,
        "predictions_created": 1,
        "failed": 0,
    }
    tasks = project_tasks(ls_http, pid)
    assert texts(tasks) == [
        "fixed five",
        "fixed four",
        "fixed seven",
        "fixed three",
        "good one",
        "good three, flat",
        "good two",
    ]
    assert task_number(ls_http, pid) == 7
    by_text = {t["data"]["text"]: t for t in tasks}
    # A prediction sent without a model_version gets the server's own default.
    assert [as_sent(p) for p in by_text["fixed four"]["predictions"]] == [
        {"score": None, "model_version": "undefined", **fixes[1]["predictions"][0]}
    ]


def test_tasks_the_server_refuses_are_split_out_and_reported(
    cli: UploadCli, make_project: Callable[..., int], ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(TEXT_CONFIG)
    copy_data("server_refuses.jsonl", tmp_path)
    original = [
        json.loads(line) for line in (DATA / "server_refuses.jsonl").read_text().split("\n") if line
    ]

    # Without the config check only the server can tell: all five go in one request first.
    run = cli.upload(
        "server_refuses.jsonl",
        "-p",
        str(pid),
        "--no-config-check",
        "--batch-size",
        "10",
        "--failures",
        "failed.jsonl",
    )

    assert run.status == 1, run.stderr
    assert summary(run) == {
        "records": 5,
        "invalid": 0,
        "skipped": 0,
        "tasks_created": 3,
        "predictions_created": 0,
        "failed": 2,
    }
    assert texts(project_tasks(ls_http, pid)) == ["s1", "s3", "s5"]
    assert task_number(ls_http, pid) == 3
    report = failure_lines(tmp_path / "failed.jsonl")
    assert [(f["file"], f["record"], f["line"], f["stage"]) for f in report] == [
        ("server_refuses.jsonl", 2, 2, "server"),
        ("server_refuses.jsonl", 4, 4, "server"),
    ]
    # The server names the first bad item of each request: item 1 of five, then item 2 of
    # the four sent again.
    assert [len(f["messages"]) for f in report] == [1, 1]
    assert report[0]["messages"][0].startswith(
        'server refused the task: Error at item 1: "text" key is expected in task data'
    ), report[0]["messages"]
    assert report[1]["messages"][0].startswith("server refused the task: Error at item 2: "), (
        report[1]["messages"]
    )
    assert [f["task"] for f in report] == [keyed(original[1]), keyed(original[3])]


# --------------------------------------------------------------------------- inputs


def test_csv_flat_rows_become_predictions_from_the_project_config(
    cli: UploadCli, make_project: Callable[..., int], ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(TEXT_CONFIG)
    copy_data("inference.csv", tmp_path)

    run = cli.upload(
        "inference.csv",
        "-p",
        str(pid),
        "--preannotated-from-fields",
        "label,score",
        "--model-version",
        "v3",
        "--failures",
        "failed.jsonl",
    )

    assert run.status == 1, run.stderr
    assert summary(run) == {
        "records": 5,
        "invalid": 2,
        "skipped": 0,
        "tasks_created": 3,
        "predictions_created": 2,
        "failed": 0,
    }
    tasks = project_tasks(ls_http, pid)
    # CSV values stay strings, as Label Studio's own CSV import keeps them.
    assert [t["data"] for t in tasks] == [
        {"text": "Great, would buy again", "label": "positive", "score": "0.93"},
        {"text": "Terrible", "label": "negative", "score": "0.71"},
        {"text": "No model output", "label": "", "score": ""},
    ]

    def choice(label: str, score: float) -> list[dict[str, Any]]:
        region = {
            "from_name": "sentiment",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": [label]},
        }
        return [{"result": [region], "score": score, "model_version": "v3"}]

    assert [[as_sent(p) for p in t["predictions"]] for t in tasks] == [
        choice("positive", 0.93),
        choice("negative", 0.71),
        [],
    ]
    assert task_number(ls_http, pid) == 3
    report = failure_lines(tmp_path / "failed.jsonl")
    assert [(f["record"], f["line"], f["stage"]) for f in report] == [
        (4, 5, "validate"),
        (5, 6, "validate"),
    ]
    assert [[pointer_and_code(m) for m in f["messages"]] for f in report] == [
        [("/predictions/0/result/0/value/choices", "config.label")],
        [("/data/score", "preannotate.score")],
    ]


def test_stdin_input_with_model_version_stamped(
    cli: UploadCli, make_project: Callable[..., int], ls_http: httpx.Client
) -> None:
    pid = make_project(TEXT_CONFIG)
    region = {
        "from_name": "sentiment",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": ["positive"]},
    }
    lines = [
        {"data": {"text": "piped 1"}, "predictions": [{"model_version": "m1", "result": [region]}]},
        {"data": {"text": "piped 2"}, "predictions": [{"score": 0.5, "result": [region]}]},
        {"data": {"text": "piped 3"}},
    ]
    stdin = b"".join(orjson.dumps(line) + b"\n" for line in lines)

    run = cli.upload("-", "-p", str(pid), "--model-version", "v9", stdin=stdin)

    assert run.status == 0, run.stderr
    assert summary(run) == {
        "records": 3,
        "invalid": 0,
        "skipped": 0,
        "tasks_created": 3,
        "predictions_created": 2,
        "failed": 0,
    }
    tasks = project_tasks(ls_http, pid)
    assert texts(tasks) == ["piped 1", "piped 2", "piped 3"]
    assert [[as_sent(p) for p in t["predictions"]] for t in tasks] == [
        [{"result": [region], "score": None, "model_version": "v9"}],
        [{"result": [region], "score": 0.5, "model_version": "v9"}],
        [],
    ]
    assert task_number(ls_http, pid) == 3


# --------------------------------------------------------------------------- exactly once


def test_rerun_skips_what_is_there_and_allow_duplicates_imports_again(
    cli: UploadCli, make_project: Callable[..., int], ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(TEXT_CONFIG)
    write_jsonl(
        tmp_path / "tasks.jsonl",
        [{"text": "r1"}, {"text": "r2"}, {"text": "r1"}, {"text": "r3"}],
    )
    first = cli.upload("tasks.jsonl", "-p", str(pid))
    assert first.status == 0, first.stderr
    assert summary(first) == {
        "records": 4,
        "invalid": 0,
        "skipped": 0,  # the second r1 is a task of its own: the same data, key r1's #2
        "tasks_created": 4,
        "predictions_created": 0,
        "failed": 0,
    }

    with ThreadPoolExecutor(max_workers=2) as pool:
        again_running = pool.submit(cli.upload, "tasks.jsonl", "-p", str(pid))
        # Another machine, no journal: the keys on the server are enough.
        elsewhere = cli.upload("tasks.jsonl", "-p", str(pid), journal="other-journal")
        again = again_running.result()

    skipped_all = {
        "records": 4,
        "invalid": 0,
        "skipped": 4,
        "tasks_created": 0,
        "predictions_created": 0,
        "failed": 0,
    }
    assert (again.status, summary(again)) == (0, skipped_all), again.stderr
    assert (elsewhere.status, summary(elsewhere)) == (0, skipped_all), elsewhere.stderr
    assert task_number(ls_http, pid) == 4

    dupes = cli.upload("tasks.jsonl", "-p", str(pid), "--allow-duplicates")

    assert dupes.status == 0, dupes.stderr
    assert summary(dupes) == {
        "records": 4,
        "invalid": 0,
        "skipped": 0,
        "tasks_created": 4,
        "predictions_created": 0,
        "failed": 0,
    }
    assert texts(project_tasks(ls_http, pid)) == ["r1"] * 4 + ["r2", "r2", "r3", "r3"]
    assert task_number(ls_http, pid) == 8


def test_key_from_a_data_field(
    cli: UploadCli, make_project: Callable[..., int], ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(TEXT_CONFIG)
    write_jsonl(
        tmp_path / "tasks.jsonl",
        [
            {"id": "doc-1", "text": "first"},
            {"id": 2, "text": "second"},
            {"id": "doc-1", "text": "first, edited"},  # same key: a repeat, not sent
            {"text": "no id"},
        ],
    )

    run = cli.upload("tasks.jsonl", "-p", str(pid), "--key", "data.id", "--failures", "f.jsonl")

    assert run.status == 1, run.stderr
    assert summary(run) == {
        "records": 4,
        "invalid": 1,
        "skipped": 0,
        "tasks_created": 2,
        "predictions_created": 0,
        "failed": 0,
        "repeated": 1,
    }
    tasks = project_tasks(ls_http, pid)
    assert [(t["data"]["text"], t["meta"]) for t in tasks] == [
        ("first", {KEY_FIELD: "doc-1"}),
        ("second", {KEY_FIELD: "2"}),
    ]
    report = failure_lines(tmp_path / "f.jsonl")
    assert [(f["record"], f["stage"]) for f in report] == [(4, "validate")]
    assert [pointer_and_code(m) for m in report[0]["messages"]] == [("/data/id", "key.missing")]

    write_jsonl(
        tmp_path / "more.jsonl", [{"id": 2, "text": "second, again"}, {"id": 3, "text": "third"}]
    )
    more = cli.upload("more.jsonl", "-p", str(pid), "--key", "data.id", journal="journal-more")

    assert more.status == 0, more.stderr
    assert (summary(more)["skipped"], summary(more)["tasks_created"]) == (1, 1)
    assert texts(project_tasks(ls_http, pid)) == ["first", "second", "third"]


def test_dry_run_writes_nothing(
    cli: UploadCli, make_project: Callable[..., int], ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(TEXT_CONFIG)
    copy_data("mixed.jsonl", tmp_path)

    run = cli.upload("mixed.jsonl", "-p", str(pid), "--dry-run")

    assert run.status == 1, run.stderr  # the invalid records are still reported
    assert summary(run) == {
        "records": 7,
        "invalid": 4,
        "skipped": 0,
        "tasks_created": 0,
        "predictions_created": 0,
        "failed": 0,
        "dry_run": True,
        "would_create": 3,
    }
    assert task_number(ls_http, pid) == 0
    assert not (tmp_path / "journal").exists()
    assert not (tmp_path / "state").exists()


def test_small_batches_and_several_workers_land_everything_once(
    cli: UploadCli, make_project: Callable[..., int], ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(TEXT_CONFIG)
    long_text = "x" * 600  # two of these never fit in 1024 bytes
    good = [{"text": f"t{i:02d}"} for i in range(20)] + [
        {"text": f"long{i} {long_text}"} for i in range(3)
    ]
    bad = [{"txt": "lacks $text"}, {"text": ["ok"], "extra": {"nested": True}}]
    items = good[:7] + bad[:1] + good[7:15] + bad[1:] + good[15:]
    write_jsonl(tmp_path / "tasks.jsonl", items)

    run = cli.upload(
        "tasks.jsonl",
        "-p",
        str(pid),
        "--no-config-check",
        "--batch-size",
        "4",
        "--max-batch-bytes",
        "1024",
        "--workers",
        "3",
        "--failures",
        "failed.jsonl",
    )

    # The second "bad" task is fine for the server (Text takes a list): only one is refused.
    assert run.status == 1, run.stderr
    assert summary(run) == {
        "records": 25,
        "invalid": 0,
        "skipped": 0,
        "tasks_created": 24,
        "predictions_created": 0,
        "failed": 1,
    }
    tasks = project_tasks(ls_http, pid)
    assert sorted(orjson.dumps(t["data"], option=orjson.OPT_SORT_KEYS) for t in tasks) == sorted(
        orjson.dumps(d, option=orjson.OPT_SORT_KEYS) for d in good + bad[1:]
    )
    assert task_number(ls_http, pid) == 24
    assert [(f["record"], f["stage"]) for f in failure_lines(tmp_path / "failed.jsonl")] == [
        (8, "server")
    ]
    # The journal shows the batches: none over 4 tasks, no two long tasks together.
    long_keys = {data_hash(d) for d in good[20:]}
    batches = [
        entry["keys"]
        for entry in map(json.loads, (tmp_path / "journal").read_text().splitlines()[1:])
        if entry.get("event") == "begin"
    ]
    assert len(batches) >= 8
    assert all(1 <= len(keys) <= 4 for keys in batches), batches
    assert all(len(long_keys.intersection(keys)) <= 1 for keys in batches), batches


# --------------------------------------------------------------------------- exit statuses


def test_server_that_cannot_be_used_exits_3(
    cli: UploadCli, make_project: Callable[..., int], tmp_path: Path
) -> None:
    write_jsonl(tmp_path / "tasks.jsonl", [{"text": "never sent"}])
    pid = make_project(TEXT_CONFIG)

    # In parallel: the unreachable case waits out its connect retries (a few seconds).
    with ThreadPoolExecutor(max_workers=3) as pool:
        missing, refused, unreachable = pool.map(
            lambda kwargs: cli.upload("tasks.jsonl", **kwargs),
            [
                {"project": 987654, "journal": "j1"},
                {"project": pid, "token": "0" * 40, "journal": "j2"},
                {"project": pid, "url": f"http://127.0.0.1:{closed_port()}", "journal": "j3"},
            ],
        )

    assert (missing.status, missing.stdout) == (3, "")
    assert "lsimport: error: project 987654 does not exist on " in missing.stderr
    assert (refused.status, refused.stdout) == (3, "")
    assert "lsimport: error: the server refused the legacy token (HTTP 401" in refused.stderr
    assert (unreachable.status, unreachable.stdout) == (3, "")
    assert "lsimport: error: cannot connect to http://127.0.0.1:" in unreachable.stderr


def test_usage_errors_exit_2(cli: UploadCli, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "tasks.jsonl", [{"text": "never sent"}])

    with ThreadPoolExecutor(max_workers=3) as pool:
        no_file, bad_size, bad_key = pool.map(
            lambda args: cli.upload(*args),
            [
                ("nowhere.jsonl", "-p", "1"),
                ("tasks.jsonl", "-p", "1", "--batch-size", "0"),
                ("tasks.jsonl", "-p", "1", "--key", "text"),
            ],
        )

    assert [r.status for r in (no_file, bad_size, bad_key)] == [2, 2, 2]
    assert [r.stdout for r in (no_file, bad_size, bad_key)] == ["", "", ""]
    assert "nowhere.jsonl" in no_file.stderr
    assert "--batch-size must be at least 1" in bad_size.stderr
    assert "--key must look like data.FIELD" in bad_key.stderr


# --------------------------------------------------------------------------- token renewal


class CountingTransport(httpx.BaseTransport):
    """httpx's own transport, recording each exchange; can spoil one access token on request."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.exchanges: list[tuple[str, str, int]] = []
        self.spoil_next_bearer = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("Authorization", "")
        if self.spoil_next_bearer and auth.startswith("Bearer "):
            # An access token the server no longer takes while our clock still trusts it (a
            # suspended laptop: the monotonic clock stood still; a server restarted with a new
            # key): Label Studio's own 401, to an otherwise real request.
            head, payload, _signature = auth.removeprefix("Bearer ").split(".")
            request.headers["Authorization"] = f"Bearer {head}.{payload}.{'A' * 43}"
            self.spoil_next_bearer = False
        response = self.inner.handle_request(request)
        kind = "refresh" if request.url.path == "/api/token/refresh/" else request.url.path
        self.exchanges.append((request.method, kind, response.status_code))
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def counted_client(
    ls_server: Any,
) -> Iterator[tuple[LabelStudioClient, CountingTransport, list[float]]]:
    now = [1000.0]
    transport = CountingTransport()
    client = LabelStudioClient(
        ls_server.url, ls_server.pat, transport=transport, clock=lambda: now[0]
    )
    with client:
        yield client, transport, now


def test_pat_access_token_renewed_when_it_expires_mid_run(
    counted_client: tuple[LabelStudioClient, CountingTransport, list[float]],
    make_project: Callable[..., int],
    ls_http: httpx.Client,
) -> None:
    client, transport, now = counted_client
    pid = make_project(TEXT_CONFIG)
    path = f"/api/projects/{pid}/import"

    def send(text: str) -> list[tuple[str, str, int]]:
        before = len(transport.exchanges)
        outcome = client.import_tasks(pid, orjson.dumps([{"data": {"text": text}}]))
        assert outcome.task_count == 1
        return transport.exchanges[before:]

    assert send("at 0 s") == [("POST", "refresh", 200), ("POST", path, 201)]
    now[0] += 200  # the access token (5 min, renewed a minute early) is still good
    assert send("at 200 s") == [("POST", path, 201)]
    now[0] += 101  # past its expiry: renewed before the request is sent, no 401 at all
    assert send("at 301 s") == [("POST", "refresh", 200), ("POST", path, 201)]
    # The server refuses an access token our clock still trusts: renewed once, sent again.
    transport.spoil_next_bearer = True
    assert send("refused once") == [
        ("POST", path, 401),
        ("POST", "refresh", 200),
        ("POST", path, 201),
    ]

    assert client.auth.refresh_count == 3
    assert texts(project_tasks(ls_http, pid)) == ["at 0 s", "at 200 s", "at 301 s", "refused once"]
    assert task_number(ls_http, pid) == 4
