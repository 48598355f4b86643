"""Issue 19: validate faster than parsing, on the shapes the issue names.

Three inputs, each compared side by side with merely parsing it (orjson.loads per line), whole
processes, medians of alternating runs:

- 1,000,000 short choice tasks (a text classifier's output: one `choices` region each);
- 300,000 NER tasks (spans and a choice, common.make_tasks);
- the same 300,000 NER tasks, each with one choice the config does not have, `--output json`
  (a systematic mistake: every record has a finding, and every finding is printed).

Each is validated with the defaults (`--jobs auto`: one process per idle core) and with
`--jobs 1`, so the single-core figure is there too. Then `--jobs auto` against `--jobs 1` on
the 1,000,000 tasks twice: as the machine is, and with every core kept busy by other
processes, where auto must not be slower. `--speed-scale` shrinks every input (smoke tests).
"""

from __future__ import annotations

import os
import random
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_validate import verify_worker, worker_command
from common import (
    CHOICES,
    NER_CONFIG,
    BenchError,
    Context,
    Section,
    Side,
    SideResult,
    Target,
    compare,
    comparison_table,
    every_repeat,
    make_tasks,
    project_python,
    results_data,
    validate_command,
)

PARSE_TARGET = 1.0  # clean inputs: lsimport at least as fast as parsing alone
BROKEN_TARGET = 0.5  # every record broken, every finding printed
JOBS_TARGET = 1.7  # --jobs auto / --jobs 1 with 2 idle cores
BUSY_TOLERANCE = 1.05  # on a busy machine auto may be this much slower (noise), no more
# Runs of each side beside the busy processes, at least: three processes on two cores vary
# far more than an idle machine (1.05-1.47 s for the same --jobs 1 run, 14 in a row).
BUSY_REPEAT = 11
MEMORY_MB = 100.0
DATA_VERSION = 1

CHOICE_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="Positive"/>
    <Choice value="Negative"/>
    <Choice value="Neutral"/>
  </Choices>
</View>
"""
UNKNOWN_CHOICE = "Angry"  # not among NER_CONFIG's choices


def choice_tasks(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """n short tasks as a text classifier writes them: one choice and a score each."""
    rng = random.Random(seed)
    for i in range(n):
        yield {
            "data": {"text": f"review {i}: the product was fine"},
            "predictions": [
                {
                    "model_version": "clf-v1",
                    "score": round(rng.random(), 3),
                    "result": [
                        {
                            "from_name": "sentiment",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": [CHOICES[rng.randrange(3)]]},
                        }
                    ],
                }
            ],
        }


def broken_tasks(n: int) -> Iterator[dict[str, Any]]:
    """common.make_tasks(n), each with its choice replaced by one the config does not have."""
    for task in make_tasks(n):
        task["predictions"][0]["result"][-1]["value"]["choices"] = [UNKNOWN_CHOICE]
        yield task


def _file(root: Path, stem: str, tasks: Iterator[dict[str, Any]]) -> Path:
    """The tasks as JSONL, cached under a name that says what it holds."""
    import orjson

    path = root / f"speed-v{DATA_VERSION}-{stem}.jsonl"
    if path.exists() and path.stat().st_size:
        return path
    tmp = path.with_suffix(".part")
    with open(tmp, "wb", buffering=1 << 20) as out:
        for task in tasks:
            out.write(orjson.dumps(task) + b"\n")
    tmp.replace(path)
    return path


def _config(root: Path, name: str, text: str) -> Path:
    path = root / f"speed-{name}.xml"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _scaled(n: int, scale: float) -> int:
    return max(10, int(n * scale))


def _inputs(ctx: Context) -> list[tuple[str, Path, Path, int, bool]]:
    """(name, file, config, tasks, broken) of each input, generated once and cached."""
    root = ctx.data.root
    scale = ctx.options.speed_scale
    choices, ner = _scaled(1_000_000, scale), _scaled(300_000, scale)
    choice_config = _config(root, "choice", CHOICE_CONFIG)
    ner_config = _config(root, "ner", NER_CONFIG)
    ctx.say(f"speed: generating {choices:,} choice tasks, {ner:,} NER tasks (twice)")
    return [
        (f"{choices:,} short choice tasks", _file(root, f"choice-{choices}", choice_tasks(choices)),
         choice_config, choices, False),
        (f"{ner:,} NER tasks", _file(root, f"ner-{ner}", make_tasks(ner)), ner_config, ner, False),
        (f"{ner:,} NER tasks, each with an unknown choice, --output json",
         _file(root, f"broken-{ner}", broken_tasks(ner)), ner_config, ner, True),
    ]  # fmt: skip


def _halves(path: Path) -> tuple[Path, Path]:
    """The file's first and second half (by lines), cached beside it."""
    first, second = path.with_suffix(".half1.jsonl"), path.with_suffix(".half2.jsonl")
    if not (first.exists() and second.exists()):  # streamed: this process stays small, as
        with open(path, "rb") as source:  # the children it forks inherit its peak RSS
            lines = sum(1 for _ in source)
            source.seek(0)
            parts = first.with_suffix(".part"), second.with_suffix(".part")
            with open(parts[0], "wb") as head, open(parts[1], "wb") as rest:
                for number, line in enumerate(source):
                    (head if number < lines // 2 else rest).write(line)
        for part, half in zip(parts, (first, second), strict=True):
            part.replace(half)  # only whole halves are ever found cached
    return first, second


def _side_by_side(path: Path, config: Path) -> list[str]:
    """Two one-process runs at once, on the halves of the file: what two processes can do
    here with nothing shared (no fork, no renumbering), the limit for --jobs 2."""
    runs = [shlex.join(validate_command(half, config, "--jobs", "1")) for half in _halves(path)]
    return ["sh", "-c", f"{runs[0]} & {runs[1]}; b=$?; wait $!; a=$?; exit $((a | b))"]


def _lsimport(path: Path, config: Path, broken: bool, *jobs: str) -> list[str]:
    command = validate_command(path, config, *jobs)
    if broken:  # every problem printed: the JSON document goes to /dev/null
        command = [c for c in command if c != "--quiet"] + ["--output", "json"]
        return ["sh", "-c", f"exec {shlex.join(command)} > /dev/null"]
    return command


def run(ctx: Context) -> Section:
    opts = ctx.options
    section = Section("issue 19: validate against parsing alone, and --jobs auto")
    data: dict[str, Any] = {}
    py = project_python()
    jobs_runs: list[SideResult] = []
    for name, path, config, tasks, broken in _inputs(ctx):
        ctx.say(f"speed: {name}")
        code = 1 if broken else 0
        sides = [
            Side("lsimport", every_repeat(_lsimport(path, config, broken)), tasks,
                 label="defaults: --jobs auto", expect_returncode=code),
            Side("lsimport -j 1", every_repeat(_lsimport(path, config, broken, "--jobs", "1")),
                 tasks, label="one process", expect_returncode=code),
            Side("parse-only", every_repeat(worker_command(py, "parse", path)), tasks,
                 label="orjson.loads per line", verify=verify_worker(tasks)),
        ]  # fmt: skip
        if not broken and not jobs_runs:  # the --jobs comparison's input: its limit too
            sides.append(
                Side("halves side by side", every_repeat(_side_by_side(path, config)), tasks,
                     label="2 x --jobs 1 on half the file each, at once")
            )  # fmt: skip
        results = compare(sides, opts.repeat, ctx.say)
        by_name = {r.name: r for r in results}
        section.tables.append(
            comparison_table(results, "parse-only", f"{name}: medians of {opts.repeat} runs:")
        )
        data[name] = results_data(results)
        wanted = BROKEN_TARGET if broken else PARSE_TARGET
        floor = by_name["parse-only"].rate
        for side in ("lsimport", "lsimport -j 1"):
            share = by_name[side].rate / floor
            section.targets.append(
                Target(f"{name}: {side} / parse-only", f"{share:.2f}x", f">= {wanted}x",
                       share >= wanted)
            )  # fmt: skip
        peak = max(by_name[s].peak_mb for s in ("lsimport", "lsimport -j 1"))
        section.targets.append(
            Target(f"{name}: lsimport peak memory", f"{peak:.0f} MB", f"< {MEMORY_MB:.0f} MB",
                   peak < MEMORY_MB)
        )  # fmt: skip
        if not broken and not jobs_runs:
            jobs_runs = results
    if jobs_runs:
        _jobs_targets(ctx, section, jobs_runs, data)
    section.data = data
    section.notes.append(
        "lsimport = the defaults (--jobs auto forks a worker per idle core: at once when "
        "nothing else runs, else once it has watched the machine for 50 ms; none on a busy "
        "machine); -j 1 = one process; halves side by side = two one-process runs at "
        "once, each on half the file: the most two processes can do here. cpu s counts every "
        "process."
    )
    return section


def _jobs_targets(
    ctx: Context, section: Section, idle: list[SideResult], data: dict[str, Any]
) -> None:
    """auto / -j 1 as the machine is (from the first input's runs), and on a busy machine."""
    by_name = {r.name: r for r in idle}
    auto, one = by_name["lsimport"], by_name["lsimport -j 1"]
    load = _load()
    speedup = one.median_s / auto.median_s
    cores = len(os.sched_getaffinity(0))
    section.targets.append(
        Target(
            f"--jobs auto / --jobs 1 ({cores} cores, load {load} at the end)",
            f"{speedup:.2f}x",
            f">= {JOBS_TARGET}x when 2 cores are idle",
            speedup >= JOBS_TARGET,
        )
    )
    if (limit := by_name.get("halves side by side")) is not None:
        section.notes.append(
            f"--jobs 1 / halves side by side: {one.median_s / limit.median_s:.2f}x, the most "
            f"two processes gave here; --jobs auto / halves side by side: "
            f"{limit.median_s / auto.median_s:.2f} of it"
        )
    if not ctx.options.busy_check:
        section.notes.append("busy-machine check skipped (--no-busy-check)")
        return
    ctx.say(f"speed: --jobs auto vs --jobs 1 with {cores} busy processes beside")
    sides = [Side(r.name, r.side.command, r.side.tasks, label=r.side.label) for r in idle[:2]]
    probe = [*auto.side.command(0), "--output", "json"]
    section.notes.append(f"--jobs auto chose {_jobs_chosen(probe)} process(es) as the machine was")
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        chosen = _jobs_chosen(probe)
        repeat = ctx.options.repeat
        if ctx.options.speed_scale >= 1:  # the real inputs (not a quick look or the smoke test)
            repeat = max(repeat, BUSY_REPEAT)
        busy = compare(sides, repeat, ctx.say)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    section.tables.append(
        comparison_table(
            busy, "lsimport -j 1", f"the same, with {cores} busy processes beside (all cores):"
        )
    )
    data["busy"] = results_data(busy)
    section.targets.append(
        Target("--jobs auto on a busy machine: processes", str(chosen), "1", chosen == 1)
    )
    slower = busy[0].median_s / busy[1].median_s
    section.targets.append(
        Target(
            "--jobs auto / --jobs 1 time on a busy machine",
            f"{slower:.2f}",
            f"<= {BUSY_TOLERANCE} (never slower, within noise)",
            slower <= BUSY_TOLERANCE,
        )
    )


def _jobs_chosen(command: list[str]) -> int:
    """How many processes `lsimport validate ... --output json` says it used (untimed)."""
    import json

    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        return int(json.loads(done.stdout)["jobs"])
    except (ValueError, KeyError, TypeError):
        raise BenchError(f"no jobs in validate's JSON: {done.stdout[-300:]}") from None


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


if __name__ == "__main__":
    raise BenchError("run the benchmarks with bench/run.py --only speed")
