#!/usr/bin/env python3
"""Import throughput on Label Studio's production shape: lsimport against the SDK, side by side.

Starts Label Studio 1.23.2 on PostgreSQL behind gunicorn (scripts/lsserver.py, shape
``postgres``, 3 workers by default) on loopback, writes N text tasks with one prediction each, and
imports them into a fresh project per method:

- ``lsimport``: ``lsimport upload FILE -p ID`` with its defaults (plus one row per
  ``--lsimport-variant``);
- ``sdk one-shot``: the official SDK's ``projects.import_tasks`` with every task in one request,
  as its docs show (its 60 s default timeout raised, or 100,000 tasks cannot finish);
- ``sdk 1,000 batches``: the same call on 1,000 tasks at a time, one after another.

Each method runs in a process of its own, timed end to end (interpreter start, reading the file
and all), and its peak memory is measured (the larger of its own high-water mark and the sampled
sum of RSS over its process tree, sampled every 50 ms). Every run is checked: the project must
then hold exactly N tasks and N predictions.

    .venv/bin/python bench/bench_postgres.py                      # 10,000 and 100,000 tasks
    .venv/bin/python bench/bench_postgres.py --tasks 10000 --lsimport-variant "--workers 4"
    .venv/bin/python bench/bench_postgres.py --shape sqlite --tasks 10000   # the dev server

For each lsimport row the table also gives where its time went, from lsimport's own summary
(`timing` in ``--output json``): waiting for the server (some request in flight, and that
share of its wall time) and lsimport between requests (none in flight). The target, printed
PASS/FAIL after the table: lsimport's defaults at least ``SDK_SHARE`` (2.0x) the rate of the
SDK one-shot, both whole processes.

The client shares the machine with the server (and on a shared machine, with whatever else
runs): compare rows of one run, not numbers across runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from common import compile_bytecode

REPO = Path(__file__).resolve().parent.parent
LABEL_CONFIG = """
<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="positive"/>
    <Choice value="negative"/>
    <Choice value="neutral"/>
  </Choices>
</View>
"""
SDK_BATCH = 1000
# lsimport with its defaults against the SDK's one-shot import_tasks, both whole processes.
SDK_SHARE = 2.0
# Runs in Label Studio's venv, where the SDK is installed (it is no dependency of lsimport).
SDK_SCRIPT = """
import json, os, sys
from label_studio_sdk import LabelStudio

url, project, path, batch = sys.argv[1:5]
key = os.environ["LABEL_STUDIO_API_KEY"]  # not in argv: any local user can read that
with open(path) as handle:
    tasks = [json.loads(line) for line in handle]
client = LabelStudio(base_url=url, api_key=key, timeout=3600)
step = int(batch) or len(tasks)
for start in range(0, len(tasks), step):
    client.projects.import_tasks(id=int(project), request=tasks[start:start + step])
"""


def _load_lsserver() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lsserver", REPO / "scripts" / "lsserver.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lsserver"] = module
    spec.loader.exec_module(module)
    return module


lsserver = _load_lsserver()


@dataclass(frozen=True)
class Method:
    name: str
    command: Callable[[Path, int, Path], list[str]]  # (tasks file, project id, work dir)


@dataclass
class Result:
    method: str
    tasks: int
    seconds: float
    peak_mb: float
    cpu_seconds: float
    tasks_landed: int
    predictions_landed: int
    exit_code: int
    # lsimport's own summary of where its time went (`timing` in --output json); None: SDK
    timing: dict[str, float] | None = None

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.tasks_landed == self.predictions_landed == self.tasks


def write_tasks(path: Path, count: int) -> None:
    """count text tasks with one Choices prediction each, as JSONL (about 230 bytes a task)."""
    labels = ("positive", "negative", "neutral")
    with open(path, "w") as handle:
        for i in range(count):
            label = labels[i % 3]
            task = {
                "data": {"text": f"Review {i}: the product was {label}, said customer {i * 7919}."},
                "predictions": [
                    {
                        "model_version": "bench-v1",
                        "score": round((i % 100) / 100, 2),
                        "result": [
                            {
                                "from_name": "sentiment",
                                "to_name": "text",
                                "type": "choices",
                                "value": {"choices": [label]},
                            }
                        ],
                    }
                ],
            }
            handle.write(json.dumps(task) + "\n")


def _tree_memory_kb(root: int) -> tuple[int, int]:
    """(sum of VmRSS over root and its descendants, VmHWM of root): Linux /proc, in kB."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    root_hwm = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        parents[pid] = int(fields.get("PPid", "0").strip())
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
        if pid == root:
            root_hwm = int(fields.get("VmHWM", "0 kB").split()[0])
    tree, frontier = {root}, [root]
    while frontier:
        current = frontier.pop()
        for pid, parent in parents.items():
            if parent == current and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(rss.get(pid, 0) for pid in tree), root_hwm


def run_measured(
    command: Sequence[str], env: dict[str, str], log: Path
) -> tuple[float, float, float, int]:
    """Run command; (wall seconds, peak memory in MB, CPU seconds it used, exit code).

    CPU matters here: the client takes its share of the 2 cores from the server. Memory is
    sampled from /proc every 50 ms: the child's own high-water mark (VmHWM, which exec resets)
    and the RSS summed over its process tree. Not ru_maxrss: Linux carries the parent's
    high-water mark over into the child's across fork and exec.
    """
    peak_kb = 0
    done = threading.Event()
    began = time.perf_counter()
    with open(log, "wb") as out:
        child = subprocess.Popen(
            list(command), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
        )

        def sample() -> None:
            nonlocal peak_kb
            while not done.wait(0.05):
                peak_kb = max(peak_kb, *_tree_memory_kb(child.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - began
        done.set()
        sampler.join()
        child.returncode = os.waitstatus_to_exitcode(status)
    return seconds, peak_kb / 1024, usage.ru_utime + usage.ru_stime, child.returncode


def landed(http: httpx.Client, project: int) -> tuple[int, int]:
    """(tasks, predictions) the project holds."""
    answer = http.get("/api/tasks", params={"project": project, "page_size": 1})
    answer.raise_for_status()
    body = answer.json()
    return int(body["total"]), int(body["total_predictions"])


def lsimport_defaults() -> str:
    """The upload defaults of the lsimport under test, as options (they are tuned over time)."""
    from lsimport import run

    workers = (run.default_workers("gunicorn"), run.default_workers("WSGIServer/0.2"))
    batch = (run.default_batch_size("gunicorn"), run.default_batch_size("WSGIServer/0.2"))
    return (
        f"--workers auto (deployed: {workers[0]}, dev server: {workers[1]}) "
        f"--batch-size auto (deployed: {batch[0]}, dev server: {batch[1]})"
    )


def build_methods(ls_venv: Path, info: Any, variants: Sequence[str]) -> list[Method]:
    lsimport = str(REPO / ".venv" / "bin" / "lsimport")
    sdk_python = str(ls_venv / "bin" / "python")

    def lsimport_method(extra: Sequence[str]) -> Callable[[Path, int, Path], list[str]]:
        def command(tasks: Path, project: int, work: Path) -> list[str]:
            journal = work / f"journal-{project}.jsonl"
            return [
                lsimport, "upload", str(tasks), "--project", str(project),
                "--journal", str(journal), "--quiet", "--output", "json", *extra,
            ]  # fmt: skip

        return command

    def sdk_method(batch: int) -> Callable[[Path, int, Path], list[str]]:
        def command(tasks: Path, project: int, work: Path) -> list[str]:
            target = [info.url, str(project), str(tasks), str(batch)]
            return [sdk_python, "-c", SDK_SCRIPT, *target]

        return command

    methods = [Method(f"lsimport (defaults: {lsimport_defaults()})", lsimport_method([]))]
    for variant in variants:
        methods.append(Method(f"lsimport {variant}", lsimport_method(shlex.split(variant))))
    methods.append(Method("sdk one-shot import_tasks", sdk_method(0)))
    methods.append(Method(f"sdk import_tasks, {SDK_BATCH:,}-task batches", sdk_method(SDK_BATCH)))
    return methods


def table(results: Sequence[Result], baseline: str) -> str:
    """One row per method and size: medians over the repeats (peak memory: the largest)."""
    groups: dict[tuple[int, str], list[Result]] = {}
    for result in results:
        groups.setdefault((result.tasks, result.method), []).append(result)

    def rate(runs: Sequence[Result]) -> float:
        return runs[0].tasks / statistics.median(r.seconds for r in runs)

    lines = [
        "| method | tasks | runs | seconds | tasks/s | vs sdk one-shot | peak MB "
        "| client CPU s | waiting for the server | lsimport between requests | landed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for (count, method), runs in groups.items():
        ok = all(r.ok for r in runs)
        base = groups.get((count, baseline), [])
        ratio = (
            f"{rate(runs) / rate(base):.2f}x" if ok and base and all(r.ok for r in base) else "-"
        )
        failed = [r for r in runs if not r.ok]
        check = (
            "ok"
            if ok
            else f"NO: exit {failed[0].exit_code}, {failed[0].tasks_landed} tasks, "
            f"{failed[0].predictions_landed} predictions"
        )
        lines.append(
            f"| {method} | {count:,} | {len(runs)} "
            f"| {statistics.median(r.seconds for r in runs):.1f} | {rate(runs):.0f} | {ratio} "
            f"| {max(r.peak_mb for r in runs):.0f} "
            f"| {statistics.median(r.cpu_seconds for r in runs):.1f} | {_split(runs)} | {check} |"
        )
    return "\n".join(lines)


def _split(runs: Sequence[Result]) -> str:
    """Medians of lsimport's own timing: server s (share of its wall) | lsimport s."""
    timings = [r.timing for r in runs if r.timing is not None]
    if not timings:
        return "- | -"
    server = statistics.median(t["server_s"] for t in timings)
    wall = statistics.median(t["wall_s"] for t in timings)
    client = statistics.median(t["client_s"] for t in timings)
    return f"{server:.1f} s ({server / wall:.0%}) | {client:.2f} s"


def targets(results: Sequence[Result], lsimport: str, baseline: str) -> list[str]:
    """lsimport's defaults against the SDK one-shot at each size, as PASS/FAIL lines."""
    lines = []
    for count in sorted({r.tasks for r in results}):
        mine = [r for r in results if r.tasks == count and r.method == lsimport]
        base = [r for r in results if r.tasks == count and r.method == baseline]
        if not mine or not base or not all(r.ok for r in mine + base):
            continue
        share = statistics.median(r.seconds for r in base) / statistics.median(
            r.seconds for r in mine
        )
        verdict = "PASS" if share >= SDK_SHARE else "FAIL"
        lines.append(
            f"{verdict}  lsimport (defaults) / SDK one-shot, {count:,} tasks, whole processes: "
            f"{share:.2f}x (wanted >= {SDK_SHARE}x)"
        )
    return lines


def _timing(log: Path) -> dict[str, float] | None:
    """The `timing` of lsimport's JSON summary, the last line of its log (None: none)."""
    try:
        last = log.read_text().strip().splitlines()[-1]
        timing = json.loads(last).get("timing")
    except (OSError, IndexError, ValueError, AttributeError):
        return None
    return timing if isinstance(timing, dict) else None


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--shape", choices=lsserver.SHAPES, default="postgres")
    parser.add_argument(
        "--workers",
        type=int,
        default=lsserver.DEFAULT_WORKERS,
        help="gunicorn workers of the postgres shape",
    )
    parser.add_argument(
        "--lsimport-variant",
        action="append",
        default=[],
        metavar="ARGS",
        help='an extra lsimport row, e.g. "--workers 4 --batch-size 500"',
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="run only the methods whose name contains TEXT",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run every method this often (interleaved)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--keep-projects", action="store_true", help="keep each project after it is checked"
    )
    args = parser.parse_args(argv)
    compile_bytecode()  # timed as installed: see its docstring
    load_before = os.getloadavg()[0]

    ls_venv = lsserver.ensure_installed()
    work = Path(tempfile.mkdtemp(prefix="lsimport-bench-"))
    state = work / "state"
    started = time.monotonic()
    info = lsserver.start(work / "ls-data", shape=args.shape, workers=args.workers, state=state)
    say(f"server ready in {time.monotonic() - started:.0f} s: {info.url}")
    results: list[Result] = []
    startup: dict[str, float] = {}
    try:
        env = {**os.environ, "LABEL_STUDIO_URL": info.url, "LABEL_STUDIO_API_KEY": info.pat}
        methods = build_methods(ls_venv, info, args.lsimport_variant)
        if args.only:
            methods = [m for m in methods if any(text in m.name for text in args.only)]
        # What each client costs before it sends anything, to read the rows of small runs by.
        lsimport = str(REPO / ".venv" / "bin" / "lsimport")
        sdk_import = [
            str(ls_venv / "bin" / "python"),
            "-c",
            "from label_studio_sdk import LabelStudio",
        ]
        startup = {
            name: run_measured(command, env, work / f"startup-{name}.log")[0]
            for name, command in (
                ("lsimport upload --help", [lsimport, "upload", "--help"]),
                ("SDK import", sdk_import),
            )
        }
        auth = {"Authorization": f"Token {info.legacy_token}"}
        with httpx.Client(base_url=info.url, headers=auth, timeout=600) as http:
            for count in args.tasks:
                tasks = work / f"tasks-{count}.jsonl"
                write_tasks(tasks, count)
                for method in [m for _ in range(args.repeat) for m in methods]:
                    title = f"bench {count} {len(results)}"
                    project = lsserver.create_project(info, title, LABEL_CONFIG)
                    say(f"{method.name}: {count:,} tasks into project {project}")
                    log = work / f"{project}.log"
                    seconds, peak, cpu, code = run_measured(
                        method.command(tasks, project, work), env, log
                    )
                    n_tasks, n_predictions = landed(http, project)
                    result = Result(
                        method.name, count, seconds, peak, cpu, n_tasks, n_predictions, code,
                        _timing(log),
                    )  # fmt: skip
                    results.append(result)
                    verdict = "ok" if result.ok else f"FAILED: see {log}"
                    say(
                        f"  {seconds:.1f} s, {result.rate:.0f} tasks/s, {peak:.0f} MB, "
                        f"{cpu:.1f} s CPU, {verdict}"
                    )
                    if not args.keep_projects:
                        http.delete(f"/api/projects/{project}").raise_for_status()
    finally:
        lsserver.stop(info, state=state)
    header = (
        f"Label Studio {lsserver.LS_VERSION}, shape {args.shape}"
        + (f" (PostgreSQL, gunicorn {args.workers} workers)" if args.shape == "postgres" else "")
        + f"; {os.cpu_count()} cores shared by client and server; {platform.python_version()}"
        + f"; load average before: {load_before:.1f}"
    )
    print(header)
    print("startup alone: " + ", ".join(f"{name} {sec:.1f} s" for name, sec in startup.items()))
    print(table(results, "sdk one-shot import_tasks"))
    defaults = f"lsimport (defaults: {lsimport_defaults()})"
    for line in targets(results, defaults, "sdk one-shot import_tasks"):
        print(line)
    if args.json:
        args.json.write_text(
            json.dumps([dataclasses.asdict(r) | {"rate": r.rate} for r in results], indent=2)
        )
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
