"""The one benchmark command: build the data, run each comparison side by side, print tables.

    .venv/bin/python bench/run.py --size 100000 --repeat 3
    .venv/bin/python bench/run.py --only validate,startup --size 20000

See bench/README.md for what each benchmark compares and the targets it checks.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from common import BENCH_DIR, BenchError, Context, Options, Section, compile_bytecode

BENCHMARKS = (
    "validate",
    "startup",
    "upload",
    "memory",
    "scaling",
    "predictions",
    "convert",
    "findings",
    "speed",
)
# name -> (module, function); scaling is validate at several sizes, so it lives there.
RUNNERS = {
    "validate": ("bench_validate", "run"),
    "startup": ("bench_startup", "run"),
    "upload": ("bench_upload", "run"),
    "memory": ("bench_memory", "run"),
    "scaling": ("bench_validate", "run_scaling"),
    "convert": ("bench_convert", "run"),
    "findings": ("bench_findings", "run"),
    "speed": ("bench_speed", "run"),
}


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(x.replace("_", "")) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of task counts: {text!r}") from None
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError("give at least two positive task counts")
    return tuple(sorted(sizes))


def _only(text: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    return names


def parse_args(argv: list[str] | None = None) -> tuple[Options, tuple[str, ...], Path | None]:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="lsimport's benchmarks: medians of alternating runs, ratios, peak memory.",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=defaults.size,
        help="tasks for the validate comparison (default %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=defaults.repeat,
        help="runs of each side, alternating (default %(default)s)",
    )
    parser.add_argument(
        "--slice",
        type=int,
        default=defaults.slice,
        help="tasks for the slow sides: SDK loop, jsonschema (default %(default)s)",
    )
    parser.add_argument(
        "--upload-size",
        type=int,
        default=defaults.upload_size,
        help="tasks per upload run (default %(default)s)",
    )
    parser.add_argument(
        "--upload-variant",
        action="append",
        default=[],
        metavar="OPTIONS",
        help="also time `lsimport upload OPTIONS` (repeatable), e.g. --upload-variant='-w 1'",
    )
    parser.add_argument(
        "--memory-mb",
        type=float,
        default=defaults.memory_mb,
        help="size of each memory-test file in MB (default %(default)s)",
    )
    parser.add_argument(
        "--findings",
        type=int,
        default=defaults.findings,
        help="broken records of the findings benchmark (default %(default)s)",
    )
    parser.add_argument(
        "--scaling",
        type=_sizes,
        default=defaults.scaling,
        help="task counts for the scaling test (default 10000,100000,1000000)",
    )
    parser.add_argument(
        "--startup-runs",
        type=int,
        default=defaults.startup_runs,
        help="runs per side of the one-task comparison (default %(default)s)",
    )
    parser.add_argument(
        "--speed-scale",
        type=float,
        default=defaults.speed_scale,
        help="shrink issue 19's inputs (1,000,000 and 300,000 tasks) by this (default 1)",
    )
    parser.add_argument(
        "--no-busy-check",
        action="store_true",
        help="skip timing --jobs auto with every core kept busy (speed)",
    )
    parser.add_argument(
        "--no-hyperfine",
        action="store_true",
        help="time start-up with our own runner even if hyperfine is installed",
    )
    parser.add_argument(
        "--only",
        type=_only,
        default=None,
        help=f"comma-separated subset of: {','.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=defaults.workdir,
        help="generated data and server state (default %(default)s)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    for name in ("size", "repeat", "slice", "upload_size", "startup_runs", "findings"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    options = Options(
        size=args.size,
        repeat=args.repeat,
        slice=args.slice,
        upload_size=args.upload_size,
        upload_variants=tuple(args.upload_variant),
        memory_mb=args.memory_mb,
        findings=args.findings,
        scaling=args.scaling,
        startup_runs=args.startup_runs,
        hyperfine=not args.no_hyperfine,
        speed_scale=args.speed_scale,
        busy_check=not args.no_busy_check,
        workdir=args.workdir,
    )
    only = args.only or tuple(b for b in BENCHMARKS if b != "predictions" or _has_predictions())
    return options, only, args.json


def _has_predictions() -> bool:
    return (BENCH_DIR / "bench_predictions.py").exists()


def _runner(name: str) -> Callable[[Context], Section]:
    module_name, function = RUNNERS[name]
    runner: Callable[[Context], Section] = getattr(importlib.import_module(module_name), function)
    return runner


def _predictions_subprocess(ctx: Context) -> Section:
    """bench_predictions.py without a run(ctx) function: run it as a script, pass its output."""
    opts = ctx.options
    command = [sys.executable, str(BENCH_DIR / "bench_predictions.py"),
               "--size", str(opts.upload_size), "--repeat", str(opts.repeat)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    section = Section("predictions (bench/bench_predictions.py, its own output)")
    section.notes.append(done.stdout.rstrip() or "(no output)")
    if done.returncode != 0:
        raise BenchError(f"bench_predictions.py exited {done.returncode}: {done.stderr[-800:]}")
    return section


def run_benchmark(name: str, ctx: Context) -> Section:
    if name == "predictions":
        if not _has_predictions():
            raise BenchError("bench/bench_predictions.py is not there yet")
        module = importlib.import_module("bench_predictions")
        runner = getattr(module, "run", None)
        return runner(ctx) if callable(runner) else _predictions_subprocess(ctx)
    return _runner(name)(ctx)


def _revision() -> str:
    """The commit measured, and whether the tree had uncommitted changes to lsimport/."""
    try:
        head = subprocess.run(
            ["git", "-C", str(BENCH_DIR), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(BENCH_DIR), "status", "--porcelain", "--", "../lsimport"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"{head}{' + uncommitted changes in lsimport/' if dirty else ''}"  # fmt: skip


def header(options: Options, only: tuple[str, ...]) -> str:
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "?"
    return (
        f"lsimport benchmarks {time.strftime('%Y-%m-%d %H:%M:%S')}, python "
        f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cpus, load {load}\n"
        f"command: {shlex.join([sys.executable, *sys.argv])}\n"
        f"lsimport: {_revision()}\n"
        f"benchmarks: {','.join(only)}; repeat {options.repeat}; workdir {options.workdir}\n"
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds: the running side is killed, the server stopped


def main(argv: list[str] | None = None) -> int:
    options, only, json_path = parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    compile_bytecode()  # timed as installed: see its docstring
    ctx = Context(options)
    print(header(options, only), flush=True)
    sections: list[Section] = []
    failed: list[str] = []
    try:
        for name in only:
            ctx.say(f"-- {name}")
            began = time.monotonic()
            try:
                section = run_benchmark(name, ctx)
            except BenchError as error:
                failed.append(name)
                section = Section(f"{name}: could not run")
                section.notes.append(str(error))
            except Exception:
                failed.append(name)
                section = Section(f"{name}: crashed")
                section.notes.append(traceback.format_exc())
            section.notes.append(f"{name} took {time.monotonic() - began:.0f} s")
            sections.append(section)
            print(section.render(), flush=True)
    finally:
        ctx.close()
    targets = [(s.title, t) for s in sections for t in s.targets]
    if targets:
        print("== summary of targets")
        for title, t in targets:
            print(f"{t.verdict}  {t.what}: {t.measured} (wanted {t.wanted})  [{title}]")
    if json_path is not None:
        json_path.write_text(json.dumps([s.as_dict() for s in sections], indent=2) + "\n")
    # A missed target is a finding, not a failure of the command; a benchmark that could
    # not run is.
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
