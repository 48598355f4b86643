"""Validate N tasks with predictions: lsimport vs the parse-only floor, the SDK, and jsonschema.

Every side is a whole process over a JSONL file of generated NER tasks (spans + a Choices
region each). The slow sides run on a slice (the first tasks of the same stream) and their
rate is labelled so; their in-loop rate (start-up excluded) is shown too, and the target
against the SDK uses that in-loop rate: the comparison most favourable to the SDK.

Also a worker: ``python bench/bench_validate.py worker {parse,sdk,jsonschema} FILE [CONFIG]``,
run by the project venv's python, or Label Studio's for ``sdk``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from common import (
    SCHEMA_PATH,
    BenchError,
    Context,
    Run,
    Section,
    Side,
    Table,
    Target,
    compare,
    comparison_table,
    every_repeat,
    ls_python,
    lsimport_command,
    project_python,
    results_data,
    run_measured,
    validate_command,
    worker_result,
)

HERE = Path(__file__).resolve()
PARSE_TARGET = 0.5  # lsimport's rate at least this share of the parse-only rate
SDK_TARGET = 4.0  # and at least this many times the SDK loop's


def worker_command(python: str | Path, kind: str, *args: str | Path) -> list[str]:
    return [str(python), str(HERE), "worker", kind, *map(str, args)]


def verify_worker(expected_tasks: int) -> Callable[[Run], None]:
    def verify(run: Run) -> None:
        inner = run.inner
        if inner.get("tasks") != expected_tasks:
            raise BenchError(f"worker saw {inner.get('tasks')} tasks, not {expected_tasks}")
        if inner.get("invalid", 0):
            raise BenchError(f"worker found {inner['invalid']} invalid tasks in generated data")

    return verify


def check_lsimport_accepts(path: Path, config: Path, tasks: int) -> None:
    """Untimed sanity check: lsimport reads every task and finds every one valid."""
    command = lsimport_command("validate", path, "--label-config", config, "--output", "json")
    run = run_measured(command, check=False)
    summary = _last_json(run.stdout)
    valid = summary.get("summary", summary).get("valid")
    if run.returncode != 0 or valid != tasks:
        raise BenchError(
            f"lsimport validate should find {tasks} valid tasks in {path}, found {valid}: "
            + run.describe_failure()
        )


def _last_json(text: str) -> dict[str, Any]:
    """The JSON document a command printed (validate's spans lines: one per problem)."""
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        return whole
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def run(ctx: Context) -> Section:
    opts = ctx.options
    config = ctx.data.config()
    ctx.say(f"validate: generating {opts.size:,} tasks")
    full = ctx.data.tasks(opts.size)
    part = ctx.data.tasks(min(opts.slice, opts.size))
    check_lsimport_accepts(full.path, config, full.tasks)
    section = Section(f"validate {full.tasks:,} tasks with predictions (JSONL, whole process)")
    py = project_python()
    sides = [
        Side("lsimport", lambda r: validate_command(full.path, config), full.tasks),
        Side(
            "parse-only",
            lambda r: worker_command(py, "parse", full.path),
            full.tasks,
            label="orjson.loads per line",
            verify=verify_worker(full.tasks),
        ),
        Side(
            "jsonschema",
            lambda r: worker_command(py, "jsonschema", part.path),
            part.tasks,
            label=f"Draft202012Validator, slice of {part.tasks:,}",
            verify=verify_worker(part.tasks),
        ),
    ]
    sdk_python = ls_python()
    if sdk_python is not None:
        sides.append(
            Side(
                "sdk-loop",
                lambda r: worker_command(sdk_python, "sdk", part.path, config),
                part.tasks,
                label=f"LabelInterface.validate_prediction, json, slice of {part.tasks:,}",
                verify=verify_worker(part.tasks),
            )
        )
    else:
        section.notes.append("sdk-loop skipped: Label Studio's venv is not installed")
    results = compare(sides, opts.repeat, ctx.say)
    by_name = {r.name: r for r in results}
    section.tables.append(
        comparison_table(results, "lsimport", f"medians of {opts.repeat} alternating runs:")
    )
    section.data = results_data(results)
    lsimport = by_name["lsimport"]
    floor = by_name["parse-only"]
    share = lsimport.rate / floor.rate
    section.targets.append(
        Target(
            "lsimport rate / parse-only rate",
            f"{share:.2f}x",
            f">= {PARSE_TARGET}x",
            share >= PARSE_TARGET,
        )
    )
    if "sdk-loop" in by_name:
        sdk = by_name["sdk-loop"]
        sdk_rate = sdk.inner_rate or sdk.rate
        times = lsimport.rate / sdk_rate
        section.targets.append(
            Target(
                "lsimport rate / SDK loop rate (in-loop)",
                f"{times:.1f}x",
                f">= {SDK_TARGET:g}x",
                times >= SDK_TARGET,
            )
        )
    section.notes.append(
        "process = whole-process wall time, start-up included; loop = the worker's own timed "
        "loop (reading + checking), start-up and imports excluded"
    )
    return section


LINEAR_TOLERANCE = 1.3  # marginal per-task times may differ by at most this factor


def run_scaling(ctx: Context) -> Section:
    """lsimport validate at several sizes: is the time per task flat as the file grows?"""
    opts = ctx.options
    config = ctx.data.config()
    sides = []
    for n in opts.scaling:
        ctx.say(f"scaling: generating {n:,} tasks")
        data = ctx.data.tasks(n)
        sides.append(
            Side(
                f"{n:,} tasks",
                every_repeat(validate_command(data.path, config)),
                data.tasks,
            )
        )
    results = compare(sides, opts.repeat, ctx.say)
    table = Table(
        ["size", "median s", "us/task", "marginal us/task", "cpu s", "cpu us/task",
         "marginal cpu us/task", "tasks/s", "peak MB"],
        caption=f"lsimport validate, JSONL, medians of {opts.repeat} alternating runs:",
    )  # fmt: skip
    wall = _marginals([(r.side.tasks, r.median_s) for r in results])
    cpu = _marginals([(r.side.tasks, r.cpu_s) for r in results])
    for result, m_wall, m_cpu in zip(results, [None, *wall], [None, *cpu], strict=True):
        n = result.side.tasks
        table.rows.append(
            [
                result.name,
                f"{result.median_s:.3f}",
                f"{result.median_s / n * 1e6:.2f}",
                "-" if m_wall is None else f"{m_wall:.2f}",
                f"{result.cpu_s:.2f}",
                f"{result.cpu_s / n * 1e6:.2f}",
                "-" if m_cpu is None else f"{m_cpu:.2f}",
                f"{result.rate:,.0f}",
                f"{result.peak_mb:.0f}",
            ]
        )
    section = Section("scaling: lsimport validate time per task as the file grows")
    section.tables.append(table)
    section.data = results_data(results)
    for what, marginals in (("wall", wall), ("cpu", cpu)):
        spread = max(marginals) / min(marginals) if min(marginals) > 0 else float("inf")
        section.targets.append(
            Target(
                f"linear growth ({what}): spread of marginal us/task",
                f"{spread:.2f}x",
                f"<= {LINEAR_TOLERANCE}x",
                spread <= LINEAR_TOLERANCE,
            )
        )
    section.notes.append(
        "us/task includes the fixed start-up, which dominates small files; marginal us/task = "
        "extra time per extra task between consecutive sizes, the slope that linear growth "
        "keeps constant. cpu = user + system of all lsimport's processes: steadier than wall "
        "time on a shared machine, and it shows what parallel validation costs"
    )
    return section


def _marginals(points: list[tuple[int, float]]) -> list[float]:
    """Extra microseconds per extra task between consecutive (tasks, seconds) points."""
    return [(t1 - t0) / (n1 - n0) * 1e6 for (n0, t0), (n1, t1) in pairwise(points)]


# --------------------------------------------------------------------------- workers


def _worker(kind: str, path: str, config: str | None) -> None:
    if kind == "parse":
        import orjson

        began = time.perf_counter()
        n = 0
        with open(path, "rb") as handle:
            for line in handle:
                orjson.loads(line)
                n += 1
        worker_result(tasks=n, invalid=0, seconds=time.perf_counter() - began)
    elif kind == "jsonschema":
        import orjson
        from jsonschema import Draft202012Validator

        validator = Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
        began = time.perf_counter()
        n = invalid = 0
        with open(path, "rb") as handle:
            for line in handle:
                if not validator.is_valid(orjson.loads(line)):
                    invalid += 1
                n += 1
        worker_result(tasks=n, invalid=invalid, seconds=time.perf_counter() - began)
    elif kind == "sdk":
        from label_studio_sdk.label_interface import LabelInterface

        assert config is not None
        interface = LabelInterface(Path(config).read_text())
        began = time.perf_counter()
        n = invalid = 0
        with open(path, "rb") as handle:
            for line in handle:
                task = json.loads(line)
                if not all(interface.validate_prediction(p) for p in task["predictions"]):
                    invalid += 1
                n += 1
        worker_result(tasks=n, invalid=invalid, seconds=time.perf_counter() - began)
    else:
        raise SystemExit(f"unknown worker {kind!r}")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "worker":
        _worker(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    else:
        raise SystemExit("run the benchmarks with bench/run.py; this file is also a worker")
