"""Upload N tasks with predictions to a real Label Studio: lsimport vs the SDK vs plain batches.

Each side imports the same JSONL file into a fresh project every repeat, as a whole process:
``lsimport upload`` (its defaults), the SDK's one-shot ``projects.import_tasks`` (run by
Label Studio's venv, where the SDK is), and batches of 100 posted one after another with
httpx. After every run the project's counts are read back: a run counts only if every
task and every prediction landed.

Also a worker: ``python bench/bench_upload.py worker {sdk,batches} FILE PROJECT [BATCH]``
with LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY (a personal access token) in the environment.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import (
    BenchError,
    Context,
    Run,
    Section,
    Side,
    SideResult,
    Table,
    Target,
    compare,
    comparison_table,
    load_lsserver,
    ls_python,
    lsimport_command,
    project_python,
    results_data,
    worker_result,
)

HERE = Path(__file__).resolve()
SDK_SHARE = 1.0  # lsimport's throughput at least this share of the one-shot SDK's
MEMORY_MB = 100.0
BATCH = 100


def _project_counts(url: str, pat: str, project: int) -> tuple[int, int]:
    """(tasks, predictions) the project holds."""
    import httpx

    with httpx.Client(base_url=url, timeout=60) as client:
        access = client.post("/api/token/refresh/", json={"refresh": pat}).json()["access"]
        answer = client.get(
            f"/api/projects/{project}", headers={"Authorization": f"Bearer {access}"}
        )
        answer.raise_for_status()
        body = answer.json()
        return int(body["task_number"]), int(body["total_predictions_number"])


def run(ctx: Context) -> Section:
    opts = ctx.options
    data = ctx.data.tasks(opts.upload_size)
    config = ctx.data.config().read_text()
    server = ctx.server()
    lsserver = load_lsserver()
    env = {"LABEL_STUDIO_URL": server.url, "LABEL_STUDIO_API_KEY": server.pat}
    journals = opts.workdir / "journals"
    journals.mkdir(parents=True, exist_ok=True)
    projects: dict[str, int] = {}
    stamp = time.strftime("%H%M%S")

    def fresh_project(name: str) -> Callable[[int], None]:
        def prepare(r: int) -> None:
            projects[name] = lsserver.create_project(server, f"bench {name} {stamp} r{r}", config)

        return prepare

    def landed(name: str, extra: Callable[[Run], None] | None = None) -> Callable[[Run], None]:
        def verify(run: Run) -> None:
            if extra is not None:
                extra(run)
            counts = _project_counts(server.url, server.pat, projects[name])
            if counts != (data.tasks, data.tasks):  # one prediction per task
                raise BenchError(
                    f"{name}: the project holds {counts[0]} tasks and {counts[1]} predictions, "
                    f"not {data.tasks} of each"
                )

        return verify

    def lsimport_summary(run: Run) -> None:
        summary = json.loads(run.stdout.strip().splitlines()[-1])
        if summary.get("tasks_created") != data.tasks:
            raise BenchError(f"lsimport upload created {summary.get('tasks_created')} tasks")

    def lsimport_upload(name: str, options: list[str]) -> Callable[[int], list[str]]:
        def command(r: int) -> list[str]:
            journal = journals / f"{name.replace(' ', '_')}-{stamp}-r{r}.journal"
            return lsimport_command(
                "upload", data.path, "--project", str(projects[name]),
                "--quiet", "--output", "json", "--journal", str(journal), *options,
            )  # fmt: skip

        return command

    sides = [
        Side(
            "lsimport",
            lsimport_upload("lsimport", []),
            data.tasks,
            label="upload, defaults",
            env=env,
            prepare=fresh_project("lsimport"),
            verify=landed("lsimport", lsimport_summary),
        )
    ]
    for variant in opts.upload_variants:
        name = f"lsimport {variant}"
        sides.append(
            Side(
                name,
                lsimport_upload(name, shlex.split(variant)),
                data.tasks,
                env=env,
                prepare=fresh_project(name),
                verify=landed(name, lsimport_summary),
            )
        )
    sdk_python = ls_python()
    if sdk_python is not None:
        sides.append(
            Side(
                "sdk-one-shot",
                lambda r: _worker_command(sdk_python, "sdk", data.path, projects["sdk-one-shot"]),
                data.tasks,
                label="projects.import_tasks, one request",
                env=env,
                prepare=fresh_project("sdk-one-shot"),
                verify=landed("sdk-one-shot"),
            )
        )
    sides.append(
        Side(
            f"httpx-{BATCH}",
            lambda r: _worker_command(
                project_python(), "batches", data.path, projects[f"httpx-{BATCH}"], BATCH
            ),
            data.tasks,
            label=f"batches of {BATCH}, one after another",
            env=env,
            prepare=fresh_project(f"httpx-{BATCH}"),
            verify=landed(f"httpx-{BATCH}"),
        )
    )
    results = compare(sides, opts.repeat, ctx.say)
    by_name = {r.name: r for r in results}
    section = Section(f"upload {data.tasks:,} tasks with predictions to Label Studio (loopback)")
    section.tables.append(
        comparison_table(results, "lsimport", f"medians of {opts.repeat} alternating runs:")
    )
    section.data = results_data(results)
    section.tables.append(timing_table([r for r in results if r.name.startswith("lsimport")]))
    lsimport = by_name["lsimport"]
    if "sdk-one-shot" in by_name:
        # Against the SDK's in-loop rate (its ~1-5 s import left out): the stricter test.
        sdk = by_name["sdk-one-shot"]
        share = lsimport.rate / (sdk.inner_rate or sdk.rate)
        section.targets.append(
            Target(
                "lsimport (process) / SDK one-shot (loop) throughput",
                f"{share:.2f}x",
                f">= {SDK_SHARE}x",
                share >= SDK_SHARE,
            )
        )
        section.notes.append(
            f"lsimport (process) / SDK one-shot (process): {lsimport.rate / sdk.rate:.2f}x "
            "(both whole processes, the SDK's import included)"
        )
    else:
        section.notes.append("sdk-one-shot skipped: Label Studio's venv is not installed")
    section.targets.append(
        Target(
            "lsimport upload peak memory",
            f"{lsimport.peak_mb:.0f} MB",
            f"< {MEMORY_MB:g} MB",
            lsimport.peak_mb < MEMORY_MB,
        )
    )
    section.notes.append(
        "the server (SQLite, dev server) shares the 2 cores with the client; process = whole "
        "process including start-up (the SDK's import is seconds of it); loop = the worker's "
        "own timing of reading the file + sending, which the SDK target uses"
    )
    return section


def timing_table(results: list[SideResult]) -> Table:
    """Where each lsimport run's time went, from its own summary (`timing`): medians."""
    table = Table(
        ["side", "process s", "upload s", "server s", "lsimport s", "start-up s", "server share",
         "requests"],
        caption="how close to the server's limit (lsimport's `timing`; medians of the runs; "
        "server = some request in flight, lsimport = none in flight, start-up = process - "
        "upload):",
    )  # fmt: skip
    for result in results:
        timings = [json.loads(run.stdout.strip().splitlines()[-1])["timing"] for run in result.runs]
        median = functools.partial(_median, timings)
        startup = statistics.median(
            run.wall_s - float(t["wall_s"]) for run, t in zip(result.runs, timings, strict=True)
        )
        table.rows.append(
            [
                result.name,
                f"{result.median_s:.2f}",
                f"{median('wall_s'):.2f}",
                f"{median('server_s'):.2f}",
                f"{median('client_s'):.2f}",
                f"{startup:.2f}",
                f"{median('server_s') / median('wall_s'):.0%}",
                f"{median('requests'):.0f}",
            ]
        )
    return table


def _median(timings: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(t[key]) for t in timings)


def _worker_command(python: str | Path, kind: str, *args: object) -> list[str]:
    return [str(python), str(HERE), "worker", kind, *map(str, args)]


# --------------------------------------------------------------------------- workers


def _read_tasks(path: str) -> list[dict[str, Any]]:
    with open(path, "rb") as handle:
        return [json.loads(line) for line in handle]


def _sdk(path: str, project: int) -> None:
    from label_studio_sdk import LabelStudio

    url, pat = os.environ["LABEL_STUDIO_URL"], os.environ["LABEL_STUDIO_API_KEY"]
    began = time.perf_counter()
    tasks = _read_tasks(path)
    client = LabelStudio(base_url=url, api_key=pat, timeout=1800)
    answer = client.projects.import_tasks(id=project, request=tasks, return_task_ids=True)
    ids = answer.task_ids or []
    worker_result(tasks=len(ids), seconds=time.perf_counter() - began)


def _batches(path: str, project: int, size: int) -> None:
    import httpx

    url, pat = os.environ["LABEL_STUDIO_URL"], os.environ["LABEL_STUDIO_API_KEY"]
    began = time.perf_counter()
    tasks = _read_tasks(path)
    created = 0
    with httpx.Client(base_url=url, timeout=600) as client:

        def bearer() -> dict[str, str]:
            answer = client.post("/api/token/refresh/", json={"refresh": pat})
            answer.raise_for_status()
            return {"Authorization": f"Bearer {answer.json()['access']}"}

        headers = bearer()
        for start in range(0, len(tasks), size):
            batch = tasks[start : start + size]
            endpoint = f"/api/projects/{project}/import"
            answer = client.post(endpoint, json=batch, headers=headers)
            if answer.status_code == 401:  # access tokens live 5 minutes
                headers = bearer()
                answer = client.post(endpoint, json=batch, headers=headers)
            answer.raise_for_status()
            created += int(answer.json()["task_count"])
    worker_result(tasks=created, seconds=time.perf_counter() - began)


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "worker":
        if sys.argv[2] == "sdk":
            _sdk(sys.argv[3], int(sys.argv[4]))
        elif sys.argv[2] == "batches":
            _batches(sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        else:
            raise SystemExit(f"unknown worker {sys.argv[2]!r}")
    else:
        raise SystemExit("run the benchmarks with bench/run.py; this file is also a worker")
