"""Start-up: validating a one-task file, whole process, lsimport vs check-jsonschema.

Times come from hyperfine when it is installed (``apt install hyperfine``; it runs each
command's runs back to back), else from our own alternating runs; peak memory always from
our runs (os.wait4). Then ``python -X importtime`` says where lsimport's start-up goes, to
guide lazy-import work.
"""

from __future__ import annotations

import json
import shlex
import shutil
import statistics
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import (
    REPO,
    SCHEMA_PATH,
    BenchError,
    Context,
    Section,
    Side,
    SideResult,
    Table,
    Target,
    compare,
    every_repeat,
    lsimport_command,
    results_data,
    run_measured,
)

HALF = 0.5  # lsimport's one-task wall time at most this share of check-jsonschema's
WATCH = ("httpx", "rich", "jsonschema", "click", "typer", "defusedxml", "orjson", "xml")
TOP = 15
TOP_ROOTS = 6
TOP_CHILDREN = 4
IMPORTTIME_RUNS = 5
OWN_RUNS = 5


def _check_jsonschema() -> list[str] | None:
    script = Path(sys.executable).parent / "check-jsonschema"
    if script.exists():
        return [str(script)]
    found = shutil.which("check-jsonschema")
    return [found] if found else None


def _hyperfine_medians(commands: dict[str, list[str]], runs: int) -> dict[str, float] | None:
    """Median seconds per command from hyperfine, or None when it is not installed."""
    hyperfine = shutil.which("hyperfine")
    if hyperfine is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "hyperfine.json"
        command = [hyperfine, "--shell=none", "--warmup", "2", "--runs", str(runs),
                   "--style", "none", "--export-json", str(export)]  # fmt: skip
        for name, argv in commands.items():
            command += ["--command-name", name, shlex.join(argv)]
        run_measured(command)
        results = json.loads(export.read_text())["results"]
    return {r["command"]: float(r["median"]) for r in results}


def installed_lsimport(venv: Path, say: Callable[[str], None]) -> Path:
    """lsimport as a user has it: the wheel built from this checkout, in a venv of its own."""
    script = venv / "bin" / "lsimport"
    with tempfile.TemporaryDirectory() as tmp:
        say("start-up: building the wheel and installing it into a fresh venv")
        run_measured([sys.executable, "-m", "build", "--wheel", "-o", tmp, str(REPO)])
        wheel = next(Path(tmp).glob("lsimport-*.whl"))
        if not (venv / "bin" / "python").exists():
            run_measured([sys.executable, "-m", "venv", str(venv)])
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        run_measured([*pip, str(wheel)])  # dependencies, the first time
        run_measured([*pip, "--force-reinstall", "--no-deps", str(wheel)])  # this checkout
    return script


def run(ctx: Context) -> Section:
    opts = ctx.options
    config = ctx.data.config()
    one = ctx.data.one_task()
    checker = _check_jsonschema()
    if checker is None:
        raise BenchError("check-jsonschema is not installed: pip install -e '.[dev]'")
    lsimport_args = ["validate", str(one), "--label-config", str(config), "--quiet"]
    installed = installed_lsimport(opts.workdir / "wheel-venv", ctx.say)
    commands = {
        "lsimport (installed wheel)": [str(installed), *lsimport_args],
        "lsimport": lsimport_command(*lsimport_args),
        "lsimport (no config)": lsimport_command("validate", one, "--quiet"),
        "check-jsonschema": [*checker, "--schemafile", str(SCHEMA_PATH), str(one)],
        "python -c pass": [sys.executable, "-c", "pass"],
    }
    sides = [Side(name, every_repeat(argv), 1) for name, argv in commands.items()]
    hyperfine = _hyperfine_medians(commands, opts.startup_runs) if opts.hyperfine else None
    # Our alternating runs give peak memory always, a load-robust second opinion next to
    # hyperfine (which runs each command back to back), and the times when it is absent.
    own_runs = min(OWN_RUNS, opts.startup_runs) if hyperfine is not None else opts.startup_runs
    results = compare(sides, own_runs, ctx.say)
    own = {r.name: r.median_s for r in results}
    medians = hyperfine or own
    source = (
        f"hyperfine: {opts.startup_runs} runs each after 2 warm-ups; own: {own_runs} "
        "alternating runs"
        if hyperfine is not None
        else f"own runner: {own_runs} alternating runs (hyperfine not installed)"
    )
    section = Section("start-up: validate a one-task file, whole process")
    section.tables.append(_table(results, hyperfine, source))
    section.data = {"hyperfine_medians_s": hyperfine, "runs": results_data(results)}
    # The target is about what users run: lsimport installed from its wheel. The editable
    # install of the dev venv finds its modules through an import hook that no user has
    # (its bytecode is written first: common.compile_bytecode).
    share = medians["lsimport (installed wheel)"] / medians["check-jsonschema"]
    section.targets.append(
        Target(
            "lsimport (installed wheel) / check-jsonschema wall time (one task"
            + (", hyperfine)" if hyperfine is not None else ")"),
            f"{share:.2f}x",
            f"<= {HALF}x",
            share <= HALF,
        )
    )
    section.notes.append(
        "lsimport checks the labeling config as well (the command of the validate benchmark); "
        "'no config' does the schema check only, like check-jsonschema"
    )
    _importtime(ctx, section, lsimport_args)
    return section


def _table(results: list[SideResult], hyperfine: dict[str, float] | None, source: str) -> Table:
    base = next(r for r in results if r.name == "check-jsonschema")
    headers = ["side"]
    if hyperfine is not None:
        headers += ["hyperfine median ms", "ratio"]
    headers += ["own median ms", "ratio", "own min ms", "cpu ms", "peak MB"]
    table = Table(headers, caption=f"wall time ({source}); ratio = / check-jsonschema:")
    for r in results:
        row = [r.name]
        if hyperfine is not None:
            row += [
                f"{hyperfine[r.name] * 1000:.0f}",
                f"{hyperfine[r.name] / hyperfine['check-jsonschema']:.2f}x",
            ]
        row += [
            f"{r.median_s * 1000:.0f}",
            f"{r.median_s / base.median_s:.2f}x",
            f"{min(x.wall_s for x in r.runs) * 1000:.0f}",
            f"{r.cpu_s * 1000:.0f}",
            f"{r.peak_mb:.0f}",
        ]
        table.rows.append(row)
    return table


@dataclass(frozen=True)
class ImportLine:
    name: str
    depth: int
    self_us: int
    cumulative_us: int


def parse_importtime(stderr: str) -> list[ImportLine]:
    """The lines of `python -X importtime` (children come before their parent)."""
    lines = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3:
            continue
        self_us, cumulative, raw = parts
        stripped = raw.rstrip()
        depth = (len(stripped) - len(stripped.lstrip(" ")) - 1) // 2
        lines.append(ImportLine(stripped.strip(), depth, int(self_us), int(cumulative)))
    return lines


def import_tree(lines: list[ImportLine]) -> dict[str, list[str]]:
    """Direct imports of each module ("" for the top level); importtime lists children first."""
    tree: dict[str, list[str]] = defaultdict(list)
    waiting: dict[int, list[str]] = defaultdict(list)
    for line in lines:
        tree[line.name].extend(waiting.pop(line.depth + 1, []))
        waiting[line.depth].append(line.name)
    tree[""].extend(waiting.pop(0, []))
    return dict(tree)


def _group(name: str) -> str:
    """lsimport's own modules one by one; every other package as a whole."""
    return name if name.startswith("lsimport") else name.split(".", 1)[0]


def _importtime(ctx: Context, section: Section, lsimport_args: list[str]) -> None:
    command = [sys.executable, "-X", "importtime", "-m", "lsimport", *lsimport_args]
    count = min(IMPORTTIME_RUNS, ctx.options.startup_runs)
    runs = [parse_importtime(run_measured(command).stderr) for _ in range(count)]
    by_group: dict[str, list[int]] = defaultdict(list)
    cumulative: dict[tuple[str, int], list[int]] = defaultdict(list)
    totals = []
    for lines in runs:
        groups: dict[str, int] = defaultdict(int)
        for line in lines:
            groups[_group(line.name)] += line.self_us
            cumulative[(line.name, line.depth)].append(line.cumulative_us)
        for group, us in groups.items():
            by_group[group].append(us)
        totals.append(sum(line.self_us for line in lines))
    total_ms = statistics.median(totals) / 1000
    by_self = sorted(((statistics.median(v) / 1000, k) for k, v in by_group.items()), reverse=True)[
        :TOP
    ]
    table = Table(
        ["package or lsimport module", "self ms", "share"],
        caption=(
            f"`python -X importtime -m lsimport {shlex.join(lsimport_args)}`, median of "
            f"{count}: {total_ms:.0f} ms of imports; self time grouped:"
        ),
    )
    table.rows = [[name, f"{ms:.1f}", f"{ms / total_ms:.0%}"] for ms, name in by_self]
    section.tables.append(table)
    median_cumulative = {k[0]: statistics.median(v) / 1000 for k, v in cumulative.items()}
    tree = Table(
        ["top-level import, then what it imports directly", "cumulative ms", "share"],
        caption=f"heaviest imports (the {TOP_ROOTS} biggest, each with its {TOP_CHILDREN} "
        "biggest direct imports):",
    )
    children = import_tree(runs[0])
    roots = sorted(children.get("", []), key=lambda n: -median_cumulative.get(n, 0.0))
    for root in roots[:TOP_ROOTS]:
        ms = median_cumulative.get(root, 0.0)
        tree.rows.append([root, f"{ms:.1f}", f"{ms / total_ms:.0%}"])
        kids = sorted(children.get(root, []), key=lambda n: -median_cumulative.get(n, 0.0))
        for kid in kids[:TOP_CHILDREN]:
            ms = median_cumulative.get(kid, 0.0)
            tree.rows.append(["  " + kid, f"{ms:.1f}", f"{ms / total_ms:.0%}"])
    section.tables.append(tree)
    imported = {line.name.split(".", 1)[0] for line in runs[0]} | {line.name for line in runs[0]}
    watch = Table(["package", "imported by validate?"], caption="lazy-import watch list:")
    watch.rows = [[name, "yes" if name in imported else "no"] for name in WATCH]
    section.tables.append(watch)
    section.data["importtime"] = {
        "total_ms": total_ms,
        "self_ms_by_group": {name: ms for ms, name in by_self},
    }
