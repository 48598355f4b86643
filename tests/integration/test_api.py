"""The library API against a real Label Studio: the README's examples run as written, and
upload / attach_predictions keep the CLI's guarantees (a rerun creates nothing)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_upload import project_tasks, texts

from lsimport import attach_predictions, upload

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
NER_CONFIG = (REPO / "sample_data" / "ner" / "config.xml").read_text()
API_BLOCK = re.compile(r"<!--\s*test:\s*api\s*-->\s*\n```python\n(?P<code>.*?)```", re.S)
EXPECTED = re.compile(r"print\(.*\)\s+# (?P<out>.+)$")


def api_blocks() -> list[str]:
    return [m.group("code") for m in API_BLOCK.finditer(README.read_text())]


def test_the_readme_has_api_examples() -> None:
    assert len(api_blocks()) == 2
    assert all(EXPECTED.search(line) for b in api_blocks() for line in b.splitlines()[-1:])


@pytest.mark.parametrize("index", range(len(api_blocks())))
def test_readme_api_example_runs_and_prints_what_it_says(
    index: int, ls_server: Any, make_project: Any, tmp_path: Path
) -> None:
    code = api_blocks()[index]
    pid = make_project(NER_CONFIG)
    script = tmp_path / "example.py"
    script.write_text(f"PROJECT = {pid}\n" + code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    env |= {
        "LABEL_STUDIO_URL": ls_server.url,
        "LABEL_STUDIO_API_KEY": ls_server.pat,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    done = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    expected = [m.group("out") for line in code.splitlines() if (m := EXPECTED.search(line))]
    assert done.stdout.splitlines() == expected
    assert done.stderr == ""  # the library prints nothing


def _env(ls_server: Any) -> dict[str, Any]:
    return {"url": ls_server.url, "api_key": ls_server.pat}


def test_upload_from_threads_shards_into_two_projects_each_exactly_once(
    ls_server: Any, make_project: Any, ls_http: httpx.Client
) -> None:
    projects = make_project(NER_CONFIG), make_project(NER_CONFIG)
    tasks = [{"data": {"text": f"thread text {i}"}} for i in range(30)]
    shards = [tasks[i::3] for i in range(3)]
    jobs = [(pid, shard) for pid in projects for shard in shards]

    def run(job: tuple[int, list[dict[str, Any]]]) -> int:
        pid, shard = job
        return upload(iter(shard), project=pid, batch_size=4, **_env(ls_server)).tasks_created

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(run, jobs)) == 60
    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(run, jobs)) == 0  # run again: nothing created
    for pid in projects:
        assert texts(project_tasks(ls_http, pid)) == sorted(t["data"]["text"] for t in tasks)


def test_upload_reports_invalid_tasks_and_lands_the_rest(
    ls_server: Any, make_project: Any, ls_http: httpx.Client
) -> None:
    pid = make_project(NER_CONFIG)
    bad = {
        "data": {"text": "Ada"},
        "predictions": [
            {
                "result": [
                    {
                        "from_name": "label",
                        "to_name": "text",
                        "type": "labels",
                        "value": {"start": 0, "end": 3, "labels": ["City"]},
                    }
                ]
            }
        ],
    }
    result = upload([{"data": {"text": "fine"}}, bad], project=pid, **_env(ls_server))
    assert (result.tasks_created, result.invalid, result.ok) == (1, 1, False)
    assert result.failures[0].record == 2 and result.failures[0].stage == "validate"
    assert texts(project_tasks(ls_http, pid)) == ["fine"]


def test_attach_predictions_by_a_data_field_once(
    ls_server: Any, make_project: Any, ls_http: httpx.Client
) -> None:
    pid = make_project(NER_CONFIG)
    upload([{"data": {"text": "Ada Lovelace", "doc": "d1"}}], project=pid, **_env(ls_server))
    prediction = {
        "doc": "d1",
        "model_version": "v1",
        "result": [
            {
                "from_name": "label",
                "to_name": "text",
                "type": "labels",
                "value": {"start": 0, "end": 3, "labels": ["Person"]},
            }
        ],
    }
    first = attach_predictions([prediction], project=pid, match_on="data.doc", **_env(ls_server))
    again = attach_predictions([prediction], project=pid, match_on="data.doc", **_env(ls_server))
    assert (first.predictions_created, again.predictions_created, again.skipped) == (1, 0, 1)
    [task] = project_tasks(ls_http, pid)
    assert [p["model_version"] for p in task["predictions"]] == ["v1"]
