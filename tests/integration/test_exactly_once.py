"""Exactly-once, proven against a real Label Studio with faults injected on the way.

A loopback proxy of the test suite (faultproxy.FaultProxy) sits between lsimport and the
server and drops connections, answers 503/429, or holds answers past the client's timeout;
other tests kill lsimport with SIGKILL, SIGINT or SIGTERM, or run the same upload twice.
Every scenario ends by reading the whole project back and asserting that each input task is
there exactly once, with its prediction, and nothing else is.
"""

from __future__ import annotations

import itertools
import json
import os
import random
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
import pytest
from faultproxy import IMPORT_PATH, TASKS_PATH, Fault, FaultProxy

from lsimport.send.journal import default_journal_path

CONFIG = """
<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="positive"/>
    <Choice value="negative"/>
  </Choices>
</View>
"""
REPO = Path(__file__).resolve().parents[2]


def make_tasks(n: int) -> list[dict[str, Any]]:
    """n small text tasks, each with one prediction; `ref` is a unique id (for --key)."""
    return [
        {
            "data": {"text": f"review number {i}", "ref": f"r{i}"},
            "predictions": [
                {
                    "model_version": "fault-test",
                    "score": round(0.5 + (i % 50) / 100, 2),
                    "result": [
                        {
                            "from_name": "sentiment",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": ["positive" if i % 2 else "negative"]},
                        }
                    ],
                }
            ],
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, tasks: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    return path


def project_tasks(http: httpx.Client, project: int) -> list[dict[str, Any]]:
    """Every task of the project (id, data, meta) with its predictions, as stored.

    Two cheap reads instead of `fields=all` (which costs the server 10 s per 1,000 tasks
    here): the task list without predictions, and the project's predictions.
    """
    # Predictions first: each one seen belongs to a task already saved, which the task read
    # below then sees too (after a SIGKILL the server may still be saving a batch).
    answer = http.get("/api/predictions/", params={"project": project})
    answer.raise_for_status()
    predictions = answer.json()
    tasks: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = http.get(
            "/api/tasks/",
            params={
                "project": project,
                "include": "id,data,meta",
                "page": page,
                "page_size": 1000,
                "resolve_uri": "false",
            },
        )
        if answer.status_code == 404:  # past the last page
            break
        answer.raise_for_status()
        body = answer.json()
        tasks.extend(body["tasks"])
        if not body["tasks"] or len(tasks) >= body["total"]:
            break
        page += 1
    by_task: dict[int, list[dict[str, Any]]] = {t["id"]: [] for t in tasks}
    for prediction in sorted(predictions, key=lambda p: p["id"]):
        assert prediction["project"] == project
        by_task[prediction["task"]].append(prediction)
    return [{**t, "predictions": by_task[t["id"]]} for t in tasks]


def key_by_ref(task: dict[str, Any]) -> str:
    return str(task["data"]["ref"])


def assert_exactly_once(
    http: httpx.Client,
    project: int,
    tasks: list[dict[str, Any]],
    *,
    key: Callable[[dict[str, Any]], str] | None = None,
) -> None:
    """The project holds each input task once, with its predictions, and nothing else."""
    stored = project_tasks(http, project)
    if key is None:
        from lsimport.send.keys import data_hash

        def key(task: dict[str, Any]) -> str:
            return data_hash(task["data"])

    expected = {key(t): t for t in tasks}
    counts = Counter(t["meta"].get("lsimport_key") for t in stored)
    duplicated = {k: n for k, n in counts.items() if n > 1}
    lost = set(expected) - set(counts)
    strangers = set(counts) - set(expected)
    assert (len(lost), len(duplicated), len(strangers)) == (0, 0, 0), (
        f"lost {sorted(lost)[:5]}, duplicated {sorted(duplicated.items())[:5]}, "
        f"not from the input {sorted(strangers, key=str)[:5]}"
    )
    assert len(stored) == len(tasks)
    wrong = []
    for task in stored:
        source = expected[task["meta"]["lsimport_key"]]
        got = [(p["model_version"], p["score"], p["result"]) for p in task["predictions"]]
        want = [(p["model_version"], p["score"], p["result"]) for p in source["predictions"]]
        if task["data"] != source["data"] or got != want:
            wrong.append(task["id"])
    assert wrong == [], f"{len(wrong)} tasks differ from the input, e.g. {wrong[:5]}"


# --- running lsimport ---


class Cli:
    """`lsimport upload` in a child process, the way a user runs it."""

    def __init__(self, ls_server: Any, state_dir: Path) -> None:
        self.env = {
            **os.environ,
            "LABEL_STUDIO_API_KEY": ls_server.pat,
            "XDG_STATE_HOME": str(state_dir),
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("LABEL_STUDIO_URL", None)

    def command(self, url: str, project: int, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "lsimport",
            "upload",
            *args,
            "--project",
            str(project),
            "--url",
            url,
            "--output",
            "json",
        ]

    def run(
        self, url: str, project: int, *args: str, stdin: bytes | None = None
    ) -> tuple[int, dict[str, Any], str]:
        """Run to the end: (exit status, the JSON summary, stderr)."""
        done = subprocess.run(
            self.command(url, project, *args),
            input=stdin,
            capture_output=True,
            env=self.env,
            cwd=REPO,
            timeout=300,
        )
        return done.returncode, summary_of(done.stdout, done.stderr), done.stderr.decode()

    def start(
        self, url: str, project: int, *args: str, stdin: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start in the background (stdin from a file, when given)."""
        with open(stdin or os.devnull, "rb") as stdin_file:
            return subprocess.Popen(
                self.command(url, project, *args),
                stdin=stdin_file,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                cwd=REPO,
            )


def summary_of(stdout: bytes, stderr: bytes) -> dict[str, Any]:
    lines = stdout.decode().strip().splitlines()
    assert lines, f"no summary on stdout; stderr: {stderr.decode()[-2000:]}"
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary


def task_count(http: httpx.Client, project: int) -> int:
    answer = http.get("/api/tasks/", params={"project": project, "page_size": 1, "include": "id"})
    answer.raise_for_status()
    return int(answer.json()["total"])


def journal_dones(path: Path) -> int:
    try:
        return path.read_bytes().count(b'"event":"done"')
    except FileNotFoundError:
        return 0


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def cli(ls_server: Any, tmp_path: Path) -> Cli:
    return Cli(ls_server, tmp_path / "state")


@pytest.fixture
def proxy(ls_server: Any) -> Iterator[FaultProxy]:
    with FaultProxy(ls_server.url) as p:
        yield p


def imports_seen(proxy: FaultProxy) -> tuple[int, int]:
    """(import requests that reached the proxy, those the server got)."""
    seen = proxy.seen("POST", IMPORT_PATH)
    return len(seen), sum(1 for s in seen if s.forwarded)


# --- unknown outcomes: the server's answer never arrives ---

UNKNOWN_OUTCOMES = {
    # fault, (import requests the proxy sees, the server gets) for 6 batches of 20
    "answer dropped after the server saved": (
        Fault("drop", "POST", IMPORT_PATH, times=2),
        (6, 6),
    ),
    "request dropped before the server saw it": (
        Fault("drop_unsent", "POST", IMPORT_PATH, times=2),
        (8, 6),
    ),
    "502 from a gateway after the server saved": (
        Fault("status", "POST", IMPORT_PATH, times=2, status=502, forward_first=True),
        (6, 6),
    ),
    "500 and nothing saved": (
        Fault("status", "POST", IMPORT_PATH, times=2, status=500),
        (8, 6),
    ),
}


@pytest.mark.parametrize("scenario", list(UNKNOWN_OUTCOMES))
def test_unknown_outcomes_are_settled_without_loss_or_duplicates(
    scenario: str,
    cli: Cli,
    proxy: FaultProxy,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    fault, expected_imports = UNKNOWN_OUTCOMES[scenario]
    project = make_project(CONFIG)
    tasks = make_tasks(120)
    path = write_jsonl(tmp_path / "tasks.jsonl", tasks)
    proxy.add(fault)

    status, summary, stderr = cli.run(
        proxy.url, project, str(path), "--batch-size", "20", "--workers", "1"
    )

    assert status == 0, stderr
    assert (summary["tasks_created"], summary["predictions_created"]) == (120, 120)
    assert (summary["failed"], summary["skipped"]) == (0, 0)
    assert proxy.pending() == []
    assert imports_seen(proxy) == expected_imports
    assert_exactly_once(ls_http, project, tasks)


def test_dropped_answers_with_concurrent_workers(
    cli: Cli,
    proxy: FaultProxy,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    """Two import requests at once (the default): Label Studio on SQLite then saves some
    batches without their predictions; lsimport must notice and send them again."""
    project = make_project(CONFIG)
    tasks = make_tasks(200)
    path = write_jsonl(tmp_path / "tasks.jsonl", tasks)
    proxy.add(Fault("drop", "POST", IMPORT_PATH, times=3))

    status, summary, stderr = cli.run(
        proxy.url, project, str(path), "--batch-size", "25", "--workers", "2"
    )

    assert status == 0, stderr
    assert (summary["tasks_created"], summary["predictions_created"]) == (200, 200)
    assert summary["failed"] == 0
    assert proxy.pending() == []
    assert imports_seen(proxy) == (8, 8)
    assert_exactly_once(ls_http, project, tasks)


# --- the server says "not now" ---


def test_503_and_429_with_retry_after_are_waited_out(
    cli: Cli,
    proxy: FaultProxy,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    project = make_project(CONFIG)
    tasks = make_tasks(200)
    path = write_jsonl(tmp_path / "tasks.jsonl", tasks)
    proxy.add(
        Fault("status", "GET", TASKS_PATH, times=2, status=429, retry_after="1"),
        Fault("status", "POST", IMPORT_PATH, times=1, status=503, retry_after="1"),
        Fault("forward", "POST", IMPORT_PATH, times=1),
        Fault("status", "POST", IMPORT_PATH, times=2, status=429, retry_after="1"),
    )

    status, summary, stderr = cli.run(
        proxy.url, project, str(path), "--batch-size", "100", "--workers", "1"
    )

    assert status == 0, stderr
    assert (summary["tasks_created"], summary["failed"]) == (200, 0)
    assert proxy.pending() == []
    imports = proxy.seen("POST", IMPORT_PATH)
    assert [(s.status, s.forwarded) for s in imports] == [
        (503, False),
        (201, True),
        (429, False),
        (429, False),
        (201, True),
    ]
    # Retry-After: 1 was honoured before each retry
    gaps = [b.at - a.at for a, b in itertools.pairwise(imports) if a.status != 201]
    assert len(gaps) == 3 and min(gaps) >= 0.95, gaps
    reads = proxy.seen("GET", TASKS_PATH)
    assert [s.status for s in reads[:3]] == [429, 429, 200]
    assert reads[2].at - reads[1].at >= 0.95
    assert_exactly_once(ls_http, project, tasks)


def test_slow_down_answers_halve_the_batches_in_flight(
    cli: Cli,
    proxy: FaultProxy,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    project = make_project(CONFIG)
    tasks = make_tasks(600)
    path = write_jsonl(tmp_path / "tasks.jsonl", tasks)
    proxy.add(Fault("status", "POST", IMPORT_PATH, times=1, status=429, retry_after="0"))

    status, summary, stderr = cli.run(
        proxy.url, project, str(path), "--batch-size", "50", "--workers", "2"
    )

    assert status == 0, stderr
    assert (summary["tasks_created"], summary["failed"]) == (600, 0)
    assert (summary["throttled"], summary["fewest_workers"]) == (1, 1)
    assert [s.status for s in proxy.seen("POST", IMPORT_PATH)].count(429) == 1
    assert_exactly_once(ls_http, project, tasks)


def test_retries_are_bounded_then_a_rerun_completes(
    cli: Cli,
    proxy: FaultProxy,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    project = make_project(CONFIG)
    tasks = make_tasks(60)
    path = write_jsonl(tmp_path / "tasks.jsonl", tasks)
    proxy.add(Fault("status", "POST", IMPORT_PATH, times=100, status=503, retry_after="0"))

    report = tmp_path / "failures.jsonl"

    status, summary, stderr = cli.run(
        proxy.url, project, str(path), "--batch-size", "60", "--failures", str(report)
    )

    assert status == 1, stderr
    assert (summary["tasks_created"], summary["failed"]) == (0, 60)
    assert imports_seen(proxy) == (5, 0)  # RetryPolicy.attempts, and never forwarded
    failures = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(failures) == 60
    assert failures[0]["stage"] == "server"
    assert "HTTP 503" in failures[0]["messages"][0]
    assert project_tasks(ls_http, project) == []

    proxy.clear()
    status, summary, stderr = cli.run(proxy.url, project, str(path), "--batch-size", "60")

    assert status == 0, stderr
    assert (summary["tasks_created"], summary["skipped"]) == (60, 0)
    assert_exactly_once(ls_http, project, tasks)


# --- answers that come too late ---


def test_answers_delayed_past_the_client_timeout(
    ls_server: Any,
    proxy: FaultProxy,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    """The library, as run_upload wires it, with a 2 s read timeout: the proxy forwards the
    import, the server saves it, and the answer is held for 4 s."""
    from lsimport.model import Record
    from lsimport.report.failures import FailureReport
    from lsimport.report.progress import NoProgress
    from lsimport.send.client import LabelStudioClient
    from lsimport.send.journal import Journal
    from lsimport.send.keys import key_function
    from lsimport.send.tasks import Uploader, UploadOptions

    project = make_project(CONFIG)
    tasks = make_tasks(150)
    proxy.add(Fault("delay", "POST", IMPORT_PATH, times=2, delay=4.0))
    journal = Journal(tmp_path / "journal", proxy.url, project)
    failures = FailureReport(tmp_path / "failures.jsonl")

    with LabelStudioClient(proxy.url, ls_server.pat, timeout=httpx.Timeout(2.0)) as client:
        uploader = Uploader(
            client,
            UploadOptions(project=project, batch_size=50, workers=1),
            keyer=key_function(None),
            journal=journal,
            failures=failures,
            progress=NoProgress(),
        )
        uploader.load_known(journal.load())
        journal.start(fresh=True)
        try:
            records = (Record("mem", n, n, t) for n, t in enumerate(tasks, 1))
            summary = uploader.run(records)
        finally:
            journal.close()
            failures.close()

    assert (summary.tasks_created, summary.predictions_created) == (150, 150)
    assert (summary.failed, failures.count) == (0, 0)
    assert proxy.pending() == []
    # the proxy is still holding the last delayed answer when the run ends
    wait_for(lambda: len(proxy.seen("POST", IMPORT_PATH)) == 3, 10, "the delayed answers")
    imports = proxy.seen("POST", IMPORT_PATH)
    assert [(s.action, s.forwarded) for s in imports] == [
        ("delay", True),  # saved; the answer came after the client had given up
        ("delay", True),
        ("forward", True),
    ]
    state = journal.load()
    assert state is not None and state.pending == {} and len(state.confirmed) == 150
    assert_exactly_once(ls_http, project, tasks)


# --- the same upload, again ---


def test_the_same_upload_twice_creates_nothing_the_second_time(
    cli: Cli,
    ls_server: Any,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    project = make_project(CONFIG)
    tasks = make_tasks(150)
    path = write_jsonl(tmp_path / "tasks.jsonl", tasks)
    # the default: beside the input, named after the server and the project
    journal = default_journal_path(str(path), ls_server.url, project, tmp_path)

    first = cli.run(ls_server.url, project, str(path), "--batch-size", "50")
    second = cli.run(ls_server.url, project, str(path), "--batch-size", "50")

    assert (first[0], first[1]["tasks_created"], first[1]["skipped"]) == (0, 150, 0)
    assert (second[0], second[1]["tasks_created"], second[1]["skipped"]) == (0, 0, 150)
    assert journal.exists()
    assert_exactly_once(ls_http, project, tasks)

    journal.unlink()  # no journal: the keys are read from the project itself
    third = cli.run(ls_server.url, project, str(path), "--batch-size", "50")

    assert (third[0], third[1]["tasks_created"], third[1]["skipped"]) == (0, 0, 150)
    assert_exactly_once(ls_http, project, tasks)

    fourth = cli.run(ls_server.url, project, str(path), "--allow-duplicates", "--workers", "1")

    assert (fourth[0], fourth[1]["tasks_created"], fourth[1]["skipped"]) == (0, 150, 0)
    counts = Counter(t["meta"]["lsimport_key"] for t in project_tasks(ls_http, project))
    assert sorted(set(counts.values())) == [2] and len(counts) == 150


# --- stopping it: Ctrl-C, SIGTERM, SIGKILL ---


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_ends_cleanly_and_a_rerun_completes(
    sig: signal.Signals,
    cli: Cli,
    proxy: FaultProxy,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    project = make_project(CONFIG)
    tasks = make_tasks(300)
    path = write_jsonl(tmp_path / "tasks.jsonl", tasks)
    journal = default_journal_path(str(path), proxy.url, project, tmp_path)
    # slow every import down, so the signal lands while batches are in flight
    proxy.add(Fault("delay", "POST", IMPORT_PATH, times=1000, delay=0.5))

    proc = cli.start(proxy.url, project, str(path), "--batch-size", "20")
    wait_for(lambda: journal_dones(journal) >= 2, 60, "two batches to be done")
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 130, stderr.decode()
    summary = summary_of(stdout, stderr)
    assert summary["interrupted"] is True
    created = summary["tasks_created"]
    assert 40 <= created < 300 and created % 20 == 0
    assert summary["failed"] == 0
    assert len(project_tasks(ls_http, project)) == created  # every batch sent was settled

    proxy.clear()
    status, again, stderr_text = cli.run(proxy.url, project, str(path), "--batch-size", "20")

    assert status == 0, stderr_text
    assert (again["skipped"], again["tasks_created"]) == (created, 300 - created)
    assert_exactly_once(ls_http, project, tasks)


def test_stdin_upload_killed_then_rerun_resumes_by_key(
    cli: Cli,
    proxy: FaultProxy,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    project = make_project(CONFIG)
    tasks = make_tasks(300)
    path = write_jsonl(tmp_path / "tasks.jsonl", tasks)
    proxy.add(Fault("delay", "POST", IMPORT_PATH, times=1000, delay=0.3))
    journals = tmp_path / "state" / "lsimport"

    proc = cli.start(proxy.url, project, "-", "--key", "data.ref", "--batch-size", "25", stdin=path)
    wait_for(
        lambda: any(journal_dones(j) >= 3 for j in journals.glob("stdin-*")),
        60,
        "three batches to be done",
    )
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    before = len(project_tasks(ls_http, project))
    assert 0 < before < 300

    proxy.clear()
    status, summary, stderr = cli.run(
        proxy.url, project, "-", "--key", "data.ref", "--batch-size", "25", stdin=path.read_bytes()
    )

    assert status == 0, stderr
    assert [j.name.startswith("stdin-") for j in journals.iterdir()] == [True]
    assert summary["skipped"] + summary["tasks_created"] == 300
    assert summary["skipped"] >= before
    assert_exactly_once(ls_http, project, tasks, key=key_by_ref)


def kill_at_random_point(
    proc: subprocess.Popen[bytes], journal: Path, dones: int, rnd: random.Random
) -> None:
    wait_for(
        lambda: journal_dones(journal) >= dones or proc.poll() is not None,
        120,
        f"{dones} batches done",
    )
    timer = threading.Timer(rnd.uniform(0.0, 0.6), proc.send_signal, (signal.SIGKILL,))
    timer.start()
    proc.communicate(timeout=60)
    timer.cancel()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_at_random_points_of_a_5000_task_upload(
    workers: int,
    cli: Cli,
    ls_server: Any,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    """Killed three times at random points (seeded), run again each time, then to the end.

    With two workers Label Studio (SQLite) is still saving the killed run's two requests
    when the next run starts, and may save one of them without its predictions.
    """
    project = make_project(CONFIG)
    tasks = make_tasks(5000)
    path = write_jsonl(tmp_path / "tasks.jsonl", tasks)
    journal = default_journal_path(str(path), ls_server.url, project, tmp_path)
    args = (str(path), "--batch-size", "250", "--workers", str(workers))
    rnd = random.Random(20261128)
    kills = []

    for _ in range(3):
        # after 1 to 4 more batches are done, and up to 0.6 s more: mid-batch, mid-write
        target = journal_dones(journal) + rnd.randint(1, 4)
        kill_at_random_point(cli.start(ls_server.url, project, *args), journal, target, rnd)
        kills.append(task_count(ls_http, project))

    status, summary, stderr = cli.run(ls_server.url, project, *args)

    assert status == 0, stderr
    assert kills == sorted(kills) and kills[0] > 0 and kills[-1] < 5000, kills
    assert summary["failed"] == 0
    assert summary["skipped"] + summary["tasks_created"] == 5000
    assert_exactly_once(ls_http, project, tasks)
