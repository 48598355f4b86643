"""`lsimport predictions` against a real Label Studio 1.23.2, through the real command line.

Every run is `python -m lsimport predictions ...` in a subprocess with LABEL_STUDIO_URL and
LABEL_STUDIO_API_KEY in its environment; what landed is read back from the server itself
(`GET /api/tasks?fields=all`), never from lsimport's own report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from clirun import Cli, CliRun
from test_upload import summary as upload_summary

CONFIG = """
<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="box" toName="image">
    <Label value="cat"/><Label value="dog"/>
  </RectangleLabels>
  <Choices name="scene" toName="image">
    <Choice value="indoor"/><Choice value="outdoor"/>
  </Choices>
</View>
"""
SUMMARY_KEYS = (
    "records",
    "invalid",
    "unmatched",
    "predictions_created",
    "failed",
    "skipped",
    "duplicates_removed",
    "duration_s",
)


def box(label: str, x: float = 10.5, width: float = 20.25) -> dict[str, Any]:
    return {
        "id": f"r-{label}",
        "from_name": "box",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": 640,
        "original_height": 480,
        "image_rotation": 0,
        "value": {
            "x": x,
            "y": 5.0,
            "width": width,
            "height": 30.125,
            "rotation": 0,
            "rectanglelabels": [label],
        },
    }


def scene(choice: str) -> dict[str, Any]:
    return {
        "from_name": "scene",
        "to_name": "image",
        "type": "choices",
        "value": {"choices": [choice]},
    }


def summary(run: CliRun) -> dict[str, Any]:
    """The `--output json` document, checked as upload's is (test_upload.summary)."""
    return upload_summary(run, SUMMARY_KEYS)


@pytest.fixture
def cli(ls_server: Any, tmp_path: Path) -> Cli:
    return Cli(ls_server, tmp_path, prefix=("predictions",))


def import_tasks(http: httpx.Client, pid: int, images: list[str]) -> list[int]:
    answer = http.post(
        f"/api/projects/{pid}/import",
        params={"return_task_ids": "true"},
        json=[{"data": {"image": image}} for image in images],
    )
    assert answer.status_code == 201, answer.text
    return list(answer.json()["task_ids"])


def predictions_by_task(http: httpx.Client, pid: int) -> dict[int, list[dict[str, Any]]]:
    """Each task's predictions as read back through GET /api/tasks?fields=all: the sent part."""
    answer = http.get(
        "/api/tasks", params={"project": pid, "page": 1, "page_size": 100, "fields": "all"}
    )
    assert answer.status_code == 200, answer.text
    return {
        t["id"]: [
            {k: p[k] for k in ("result", "score", "model_version")}
            for p in sorted(t["predictions"], key=lambda p: p["id"])
        ]
        for t in answer.json()["tasks"]
    }


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in items))
    return path


def failure_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_attach_by_task_id_reads_back_equal_and_a_rerun_adds_nothing(
    cli: Cli, make_project: Any, ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(CONFIG)
    ids = import_tasks(ls_http, pid, ["s3://b/0.jpg", "s3://b/1.jpg", "s3://b/2.jpg"])
    preds = [
        {"task": ids[0], "result": [box("cat"), scene("indoor")], "score": 0.875},
        {"task": ids[1], "result": [box("dog", x=0.1, width=99.9)], "score": 0.5},
        {"task": ids[2], "result": [scene("outdoor")]},
    ]
    path = write_jsonl(tmp_path / "preds.jsonl", preds)

    first = cli(str(path), "--project", str(pid), "--model-version", "m1", "-o", "json")

    assert first.status == 0, first.stderr
    assert summary(first) == {
        "records": 3,
        "invalid": 0,
        "unmatched": 0,
        "predictions_created": 3,
        "failed": 0,
        "skipped": 0,
    }
    expected = {
        ids[0]: [{"result": preds[0]["result"], "score": 0.875, "model_version": "m1"}],
        ids[1]: [{"result": preds[1]["result"], "score": 0.5, "model_version": "m1"}],
        ids[2]: [{"result": preds[2]["result"], "score": None, "model_version": "m1"}],
    }
    assert predictions_by_task(ls_http, pid) == expected

    again = cli(str(path), "--project", str(pid), "--model-version", "m1", "-o", "json")

    assert again.status == 0, again.stderr
    assert summary(again)["skipped"] == 3
    assert predictions_by_task(ls_http, pid) == expected


def test_match_on_a_data_field_reports_unmatched_and_ambiguous_records(
    cli: Cli, make_project: Any, ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(CONFIG)
    ids = import_tasks(
        ls_http, pid, ["s3://b/a.jpg", "s3://b/b.jpg", "s3://b/twin.jpg", "s3://b/twin.jpg"]
    )
    records = [
        {"data": {"image": "s3://b/a.jpg"}, "result": [scene("indoor")], "score": 0.25},
        {"image": "s3://b/b.jpg", "result": [box("cat")]},
        {"image": "s3://b/missing.jpg", "result": [scene("indoor")]},
        {"image": "s3://b/twin.jpg", "result": [scene("outdoor")]},
    ]
    failures = tmp_path / "failed.jsonl"

    run = cli(
        "-",
        "--project",
        str(pid),
        "--match-on",
        "data.image",
        "--failures",
        str(failures),
        "-o",
        "json",
        stdin=b"".join(orjson.dumps(r) + b"\n" for r in records),
    )

    assert run.status == 1, run.stderr
    assert summary(run) == {
        "records": 4,
        "invalid": 0,
        "unmatched": 2,
        "predictions_created": 2,
        "failed": 0,
        "skipped": 0,
    }
    assert predictions_by_task(ls_http, pid) == {
        ids[0]: [{"result": [scene("indoor")], "score": 0.25, "model_version": "undefined"}],
        ids[1]: [{"result": [box("cat")], "score": None, "model_version": "undefined"}],
        ids[2]: [],
        ids[3]: [],
    }
    assert failure_lines(failures) == [
        {
            "file": "<stdin>",
            "record": 3,
            "line": 3,
            "stage": "match",
            "messages": [f"no task of project {pid} has data.image = 's3://b/missing.jpg'"],
            "task": records[2],
        },
        {
            "file": "<stdin>",
            "record": 4,
            "line": 4,
            "stage": "match",
            "messages": [
                f"data.image = 's3://b/twin.jpg' matches 2 tasks (ids {ids[2]}, {ids[3]}): "
                "match on a field that is unique, or name the task by `task`"
            ],
            "task": records[3],
        },
    ]


def test_match_on_from_a_csv_file(
    cli: Cli, make_project: Any, ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(CONFIG)
    ids = import_tasks(ls_http, pid, ["s3://b/a.jpg", "s3://b/b.jpg"])
    result = orjson.dumps([scene("outdoor")]).decode().replace('"', '""')
    path = tmp_path / "preds.csv"
    path.write_text(
        f'image,result,score,model_version\ns3://b/b.jpg,"{result}",0.625,csv-1\n', "utf-8"
    )

    run = cli(str(path), "-p", str(pid), "--match-on", "data.image", "-o", "json")

    assert run.status == 0, run.stderr
    assert summary(run)["predictions_created"] == 1
    assert predictions_by_task(ls_http, pid) == {
        ids[0]: [],
        ids[1]: [{"result": [scene("outdoor")], "score": 0.625, "model_version": "csv-1"}],
    }


def test_invalid_predictions_are_reported_and_not_sent(
    cli: Cli, make_project: Any, ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(CONFIG)
    ids = import_tasks(ls_http, pid, ["s3://b/a.jpg", "s3://b/b.jpg", "s3://b/c.jpg"])
    wrong_name = {**scene("indoor"), "from_name": "weather"}
    preds = [
        {"task": ids[0], "result": [box("horse")]},
        {"task": ids[1], "result": [wrong_name], "score": 0.5},
        {"task": ids[2], "result": [scene("indoor")], "score": 1.5},
    ]
    failures = tmp_path / "failed.jsonl"

    run = cli(
        str(write_jsonl(tmp_path / "p.jsonl", preds)),
        "-p",
        str(pid),
        "--failures",
        str(failures),
        "-o",
        "json",
    )

    assert run.status == 1, run.stderr
    assert summary(run) == {
        "records": 3,
        "invalid": 3,
        "unmatched": 0,
        "predictions_created": 0,
        "failed": 0,
        "skipped": 0,
    }
    assert predictions_by_task(ls_http, pid) == {ids[0]: [], ids[1]: [], ids[2]: []}
    lines = failure_lines(failures)
    assert [(line["record"], line["stage"], line["task"]) for line in lines] == [
        (1, "validate", preds[0]),
        (2, "validate", preds[1]),
        (3, "validate", preds[2]),
    ]
    assert lines[0]["messages"] == [
        "/result/0/value/rectanglelabels: 'horse' not among the labels of 'box' ('cat', "
        "'dog'): the editor shows the region without this label, and /import/predictions drops "
        "the prediction [config.label]"
    ]
    assert lines[1]["messages"][0].startswith(
        "/result/0/from_name: from_name 'weather' is not a control of the labeling config"
    )
    assert lines[2]["messages"] == [
        "/score: `score` must be between 0 and 1, got 1.5 [schema.score]"
    ]


def test_predictions_the_bulk_endpoint_skips_are_found_and_reported(
    cli: Cli, make_project: Any, ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(CONFIG)
    ids = import_tasks(ls_http, pid, ["s3://b/a.jpg", "s3://b/b.jpg"])
    preds = [
        {"task": ids[0], "result": [scene("indoor")]},
        {"task": ids[1], "result": [scene("underwater")]},  # the server's own check refuses it
    ]
    failures = tmp_path / "failed.jsonl"

    run = cli(
        str(write_jsonl(tmp_path / "p.jsonl", preds)),
        "-p",
        str(pid),
        "--no-config-check",
        "--model-version",
        "v2",
        "--failures",
        str(failures),
        "-o",
        "json",
    )

    assert run.status == 1, run.stderr
    assert summary(run) == {
        "records": 2,
        "invalid": 0,
        "unmatched": 0,
        "predictions_created": 1,
        "failed": 1,
        "skipped": 0,
    }
    assert predictions_by_task(ls_http, pid) == {
        ids[0]: [{"result": [scene("indoor")], "score": None, "model_version": "v2"}],
        ids[1]: [],
    }
    [line] = failure_lines(failures)
    assert (line["record"], line["stage"]) == (2, "server")
    assert line["task"] == {**preds[1], "model_version": "v2"}
    assert line["messages"][0].startswith(
        "the bulk endpoint created 1 of the 2 predictions sent and skipped this one"
    )


def test_set_project_model_version_after_importing(
    cli: Cli, make_project: Any, ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(CONFIG)
    [tid] = import_tasks(ls_http, pid, ["s3://b/a.jpg"])
    path = write_jsonl(tmp_path / "p.jsonl", [{"task": tid, "result": [scene("indoor")]}])

    run = cli(
        str(path),
        "-p",
        str(pid),
        "--model-version",
        "yolo-7",
        "--set-project-model-version",
    )

    assert run.status == 0, run.stderr
    assert run.stdout.splitlines()[1] == f"project {pid} now shows model version 'yolo-7'"
    assert ls_http.get(f"/api/projects/{pid}").json()["model_version"] == "yolo-7"


def test_a_project_that_does_not_exist_is_exit_3(cli: Cli, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [{"task": 1, "result": []}])

    run = cli(str(path), "-p", "987654")

    assert run.status == 3
    assert "project 987654 does not exist" in run.stderr
    assert run.stdout == ""


def test_a_task_id_the_project_lacks_is_reported_unmatched(
    cli: Cli, make_project: Any, ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(CONFIG)
    ids = import_tasks(ls_http, pid, ["s3://b/a.jpg", "s3://b/b.jpg"])
    missing = max(ids) + 1000
    preds = [
        {"task": ids[0], "result": [scene("indoor")]},
        {"task": missing, "result": [scene("indoor")]},
        {"task": ids[1], "result": [scene("outdoor")]},
    ]
    failures = tmp_path / "failed.jsonl"

    write_jsonl(tmp_path / "p.jsonl", preds)

    run = cli("p.jsonl", "-p", str(pid), "--failures", str(failures), "-o", "json")

    assert run.status == 1, run.stderr
    assert summary(run) == {
        "records": 3,
        "invalid": 0,
        "unmatched": 1,
        "predictions_created": 2,
        "failed": 0,
        "skipped": 0,
    }
    assert predictions_by_task(ls_http, pid) == {
        ids[0]: [{"result": [scene("indoor")], "score": None, "model_version": "undefined"}],
        ids[1]: [{"result": [scene("outdoor")], "score": None, "model_version": "undefined"}],
    }
    assert failure_lines(failures) == [
        {
            "file": "p.jsonl",
            "record": 2,
            "line": 2,
            "stage": "match",
            "messages": [f"task {missing} is not in project {pid}"],
            "task": preds[1],
        }
    ]
