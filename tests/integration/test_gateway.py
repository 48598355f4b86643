"""Exactly once behind a real gateway that gives up before Label Studio has finished saving.

nginx (gateway.Gateway) sits between lsimport and the real server with a 1 s
proxy_read_timeout: an import bigger than about 1,500 tasks gets 504 (or 502) while the server
goes on and commits it a few seconds later. Reading the project back at once shows none of it;
sending it again then lands it twice. Every scenario ends by reading the whole project back:
each input task (and prediction) exactly once, nothing else.

The scenarios of issue 15: a gateway answer before the server finished (504 and 502, upload and
predictions); a gateway timeout shorter than every batch; a crash while the dead run's last
request is still being saved, then a rerun at once; a slow producer on stdin.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from gateway import Gateway
from test_exactly_once import (
    CONFIG,
    Cli,
    assert_exactly_once,
    journal_dones,
    make_tasks,
    project_tasks,
    summary_of,
    task_count,
    wait_for,
    write_jsonl,
)

from lsimport.send.journal import default_journal_path

IMPORT_PATH = r"^/api/projects/\d+/import$"
PREDICTIONS_PATH = r"^/api/projects/\d+/import/predictions$"
# Short enough that a batch of 4,000 tasks outlasts it on both shapes (measured: 1,000 tasks
# with a prediction each take 0.6 s on the SQLite dev server, 4,000 take 3-4 s).
GATEWAY_TIMEOUT = 1.0


@pytest.fixture
def cli(ls_server: Any, tmp_path: Path) -> Cli:
    return Cli(ls_server, tmp_path / "state")


@pytest.fixture(params=[504, 502], ids=["504", "502"])
def gateway(request: pytest.FixtureRequest, ls_server: Any) -> Iterator[Gateway]:
    with Gateway(ls_server.url, timeout=GATEWAY_TIMEOUT, answer=request.param) as gw:
        yield gw


def gave_up(gw: Gateway, path: str) -> int:
    """How many of these requests the gateway answered with its own 502/504."""
    return sum(1 for r in gw.requests("POST", path) if r.status == gw.answer)


def test_upload_through_a_gateway_that_gives_up_while_the_server_saves(
    gateway: Gateway,
    cli: Cli,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    project = make_project(CONFIG)
    tasks = make_tasks(8000)
    path = write_jsonl(tmp_path / "tasks.jsonl", tasks)

    status, summary, stderr = cli.run(
        gateway.url, project, str(path), "--batch-size", "4000", "--workers", "1"
    )

    assert gave_up(gateway, IMPORT_PATH) >= 1, gateway.requests()
    assert status == 0, (json.dumps(summary), stderr[-3000:])
    assert (summary["tasks_created"], summary["predictions_created"]) == (8000, 8000)
    assert (summary["failed"], summary["skipped"]) == (0, 0)
    assert_exactly_once(ls_http, project, tasks)
    assert summary["duplicates_removed"] == 0  # settled by waiting, not by resending


def test_every_batch_outlasts_the_gateway_and_later_batches_are_made_smaller(
    ls_server: Any,
    ls_shape: str,
    cli: Cli,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    project = make_project(CONFIG)
    tasks = make_tasks(18000)
    path = write_jsonl(tmp_path / "tasks.jsonl", tasks)

    # A shorter timeout, and bigger batches, than the other tests': on an idle machine a batch
    # of 4,000 can be saved in about 1 s, and one already there at the first look teaches
    # nothing. On the PostgreSQL shape an import costs about 0.5 s more once the project
    # holds 10,000 tasks (measured: requests of 300 to 440 tasks took 0.46 to 0.63 s at the
    # end of this test), so no batch could finish in half of 0.6 s: the gateway waits 1.5 s
    # there, which a batch of 6,000 (4 to 5 s) still outlasts.
    timeout = 1.5 if ls_shape == "postgres" else 0.6
    with Gateway(ls_server.url, timeout=timeout) as gw:
        status, summary, stderr = cli.run(
            gw.url, project, str(path), "--batch-size", "6000", "--workers", "1"
        )
        imports = gw.requests("POST", IMPORT_PATH)

    assert status == 0, (json.dumps(summary), stderr[-3000:])
    assert (summary["tasks_created"], summary["predictions_created"]) == (18000, 18000)
    assert summary["failed"] == 0
    learned = summary["gateway"]
    assert 0.8 * timeout <= learned["timeout_s"] <= timeout + 0.9, (timeout, learned)
    assert learned["batch_size"] < 6000, learned
    # Without learning every batch would time out. After the first, the batches are cut to
    # finish in half the timeout: on a busy machine one now and then still does not.
    timed_out = sum(1 for r in imports if r.status == 504)
    assert timed_out <= max(2, len(imports) // 5), imports
    assert sum(1 for r in imports if r.status == 201) >= 3
    assert_exactly_once(ls_http, project, tasks)


def test_predictions_through_a_gateway_that_gives_up_while_the_server_saves(
    gateway: Gateway,
    ls_server: Any,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    project = make_project(CONFIG)
    answer = ls_http.post(
        f"/api/projects/{project}/import",
        params={"return_task_ids": "true"},
        json=[{"data": {"text": f"text {i}"}} for i in range(6000)],
        timeout=300,
    )
    assert answer.status_code == 201, answer.text
    ids = answer.json()["task_ids"]
    preds = [
        {
            "task": tid,
            "model_version": "gw",
            "score": 0.5,
            "result": [
                {
                    "from_name": "sentiment",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": ["positive" if i % 2 else "negative"]},
                }
            ],
        }
        for i, tid in enumerate(ids)
    ]
    path = tmp_path / "preds.jsonl"
    path.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in preds))
    env = {**Cli(ls_server, tmp_path / "state").env}

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lsimport",
            "predictions",
            str(path),
            "--project",
            str(project),
            "--url",
            gateway.url,
            "--batch-size",
            "3000",
            "--output",
            "json",
        ],
        capture_output=True,
        env=env,
        timeout=300,
        check=False,
    )

    assert gave_up(gateway, PREDICTIONS_PATH) >= 1, gateway.requests()
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    summary = json.loads(done.stdout)
    assert (summary["predictions_created"], summary["failed"]) == (6000, 0), summary
    stored = project_tasks(ls_http, project)
    per_task = Counter(len(t["predictions"]) for t in stored)
    assert per_task == {1: 6000}, per_task
    want = {p["task"]: p["result"] for p in preds}
    assert all(t["predictions"][0]["result"] == want[t["id"]] for t in stored)


def test_a_rerun_at_once_waits_for_the_dead_runs_last_request(
    ls_server: Any,
    cli: Cli,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    """SIGKILL while the server saves a batch that takes longer than the old fixed 15 s
    settle wait; the rerun starts at once and must not send that batch again."""
    project = make_project(CONFIG)
    tasks = make_tasks(12000)
    path = write_jsonl(tmp_path / "tasks.jsonl", tasks)
    journal = default_journal_path(str(path), ls_server.url, project, tmp_path)

    proc = cli.start(ls_server.url, project, str(path), "--batch-size", "12000")
    wait_for(lambda: b'"event":"begin"' in _read(journal), 60, "the batch to be sent")
    time.sleep(1.0)  # the request is on its way: the server is reading and saving it
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert journal_dones(journal) == 0
    assert task_count(ls_http, project) == 0  # not committed yet

    status, summary, stderr = cli.run(ls_server.url, project, str(path), "--batch-size", "12000")

    assert status == 0, (json.dumps(summary), stderr[-3000:])
    assert summary["skipped"] + summary["tasks_created"] == 12000
    assert summary["tasks_created"] == 0, summary  # the dead run's batch landed: none resent
    assert_exactly_once(ls_http, project, tasks)


def test_a_slow_producer_on_stdin_sees_tasks_land_as_it_writes(
    ls_server: Any,
    cli: Cli,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
) -> None:
    """12 tasks written one every 0.5 s: with --flush-interval 1 the first ones are in the
    project well before the producer is done."""
    project = make_project(CONFIG)
    tasks = make_tasks(12)
    proc = subprocess.Popen(
        cli.command(ls_server.url, project, "-", "--flush-interval", "1"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env,
    )
    assert proc.stdin is not None
    seen_while_writing: list[int] = []

    def produce() -> None:
        assert proc.stdin is not None
        for i, task in enumerate(tasks):
            proc.stdin.write(json.dumps(task).encode() + b"\n")
            proc.stdin.flush()
            time.sleep(0.5)
            if i in (5, 11):
                seen_while_writing.append(task_count(ls_http, project))
        proc.stdin.close()

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(timeout=60)
    assert proc.stdout is not None and proc.stderr is not None
    stdout, stderr = proc.stdout.read(), proc.stderr.read()  # small: no deadlock
    proc.wait(timeout=60)
    proc.stdout.close()
    proc.stderr.close()

    assert proc.returncode == 0, stderr.decode()
    assert seen_while_writing[0] >= 2, seen_while_writing  # sent before EOF
    assert seen_while_writing[1] >= 8, seen_while_writing
    summary = summary_of(stdout, stderr)
    assert summary["tasks_created"] == 12
    assert_exactly_once(ls_http, project, tasks)
    assert len(project_tasks(ls_http, project)) == 12


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
