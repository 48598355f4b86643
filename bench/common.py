"""What every benchmark shares: generated data, measured subprocesses, side-by-side runs, tables.

Stdlib only at import time: the workers some benchmarks start run this file under other
interpreters (Label Studio's venv has no orjson). Everything is measured as a whole process,
the way a user meets it, and peak memory is the child's own ``ru_maxrss`` from ``os.wait4``
(no psutil needed: the kernel already keeps the high-water mark of each child we reap).
"""

from __future__ import annotations

import compileall
import dataclasses
import importlib.util
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "bench"
SCHEMA_PATH = REPO / "lsimport" / "schemas" / "task.schema.json"
LS_VERSION = "1.23.2"
# Bumped whenever make_tasks changes, so cached data files are never stale.
DATA_VERSION = 1
SEED = 20240601
# A worker prints one line starting with this, then JSON: what it measured inside itself.
WORKER_MARK = "BENCH-RESULT "

# --------------------------------------------------------------------------- interpreters


def project_python() -> str:
    """The project venv's python (the one running the benchmarks)."""
    return sys.executable


def compile_bytecode() -> None:
    """Write lsimport's bytecode into this checkout (``__pycache__``, which git ignores), as
    pip does when it installs a package, so that what is timed starts as an installed
    lsimport does. Where PYTHONDONTWRITEBYTECODE is set (this project's machine sets it),
    Python never writes it on import: every run of an editable checkout then compiles each
    module from source: 25-30 ms a process here (alternating runs of a one-task validate,
    with and without it), which no installed lsimport spends.
    Only stale or missing files are compiled."""
    compileall.compile_dir(REPO / "lsimport", quiet=1)


def lsimport_command(*args: str | Path) -> list[str]:
    """How a user starts lsimport: the console script beside the interpreter."""
    script = Path(sys.executable).parent / "lsimport"
    start = [str(script)] if script.exists() else [sys.executable, "-m", "lsimport"]
    return [*start, *map(str, args)]


def validate_command(path: Path, config: Path, *extra: str) -> list[str]:
    """`lsimport validate FILE --label-config CONFIG --quiet` (the command the targets name)."""
    return lsimport_command("validate", path, "--label-config", config, "--quiet", *extra)


def ls_venv() -> Path:
    """Label Studio's own venv ($LSIMPORT_LS_VENV, as scripts/lsserver.py reads it)."""
    configured = os.environ.get("LSIMPORT_LS_VENV")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "lsimport" / f"ls-{LS_VERSION}"


def ls_python() -> Path | None:
    """Label Studio's venv python (it holds label_studio_sdk), or None when not installed."""
    python = ls_venv() / "bin" / "python"
    return python if python.exists() else None


def load_lsserver() -> ModuleType:
    """scripts/lsserver.py, imported by path (scripts/ is not a package)."""
    if "lsserver" in sys.modules:
        return sys.modules["lsserver"]
    spec = importlib.util.spec_from_file_location("lsserver", REPO / "scripts" / "lsserver.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lsserver"] = module  # its dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- generated data

LABELS = ("Person", "Organization", "Location", "Date", "Product")
CHOICES = ("Positive", "Negative", "Neutral")
NER_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Labels name="label" toName="text">
    <Label value="Person" background="#ffa39e"/>
    <Label value="Organization" background="#ffd666"/>
    <Label value="Location" background="#91d5ff"/>
    <Label value="Date" background="#b7eb8f"/>
    <Label value="Product" background="#d3adf7"/>
  </Labels>
  <Choices name="sentiment" toName="text" choice="single-radio" showInline="true">
    <Choice value="Positive"/>
    <Choice value="Negative"/>
    <Choice value="Neutral"/>
  </Choices>
</View>
"""
_WORD_TEXT = (
    "the a of to in and on for with at by from said new year market company government "
    "people report police city week after before over under month first last percent "
    "shares talks deal plan court minister officials team season price growth bank data "
    "research centre opened announced expected could would will launched signed agreed"
)
_WORDS = tuple(_WORD_TEXT.split())
_ENTITIES = {
    "Person": ("Angela Merkel", "Emmanuel Macron", "Ada Lovelace", "Alan Turing", "Li Wei"),
    "Organization": ("Siemens", "the European Central Bank", "Nokia", "UNICEF", "Airbus"),
    "Location": ("Munich", "Aachen", "Lisbon", "Nairobi", "Osaka", "Buenos Aires"),
    "Date": ("22 January 2019", "last March", "Tuesday", "in 2021", "next week"),
    "Product": ("Model 3", "iPhone 15", "Windows 11", "Galaxy S24", "PlayStation 5"),
}


def make_tasks(n: int, seed: int = SEED) -> Iterator[dict[str, Any]]:
    """n realistic NER tasks, each with one prediction: entity spans and a sentiment choice.

    Deterministic for a seed, and a prefix of a bigger run: the first k tasks of
    make_tasks(n) are make_tasks(k). Every task is valid for NER_CONFIG.
    """
    rng = random.Random(seed)
    labels = LABELS
    for i in range(n):
        parts: list[str] = []
        spans: list[tuple[int, int, str, str]] = []
        pos = 0
        for _ in range(rng.randint(2, 6)):
            filler = " ".join(rng.choices(_WORDS, k=rng.randint(3, 9)))
            parts.append(filler)
            pos += len(filler) + 1
            if rng.random() < 0.8:
                label = labels[rng.randrange(len(labels))]
                entity = rng.choice(_ENTITIES[label])
                spans.append((pos, pos + len(entity), entity, label))
                parts.append(entity)
                pos += len(entity) + 1
        text = " ".join(parts) + "."
        result: list[dict[str, Any]] = [
            {
                "id": f"t{i}e{k}",
                "from_name": "label",
                "to_name": "text",
                "type": "labels",
                "value": {"start": start, "end": end, "text": entity, "labels": [label]},
                "score": round(rng.uniform(0.5, 1.0), 3),
            }
            for k, (start, end, entity, label) in enumerate(spans)
        ]
        result.append(
            {
                "id": f"t{i}c",
                "from_name": "sentiment",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [CHOICES[rng.randrange(3)]]},
            }
        )
        yield {
            "data": {"text": text, "doc_id": f"doc-{i:08d}"},
            "predictions": [
                {"model_version": "ner-bench-v1", "score": round(rng.random(), 4), "result": result}
            ],
        }


def _dumps() -> Callable[[Any], bytes]:
    try:
        import orjson
    except ImportError:  # pragma: no cover - the project venv has orjson
        return lambda value: json.dumps(value, separators=(",", ":")).encode()
    return orjson.dumps


@dataclass(frozen=True)
class Dataset:
    path: Path
    fmt: str  # jsonl, json, csv
    tasks: int
    size_bytes: int


class DataStore:
    """Generated input files, cached in the work dir under names that say what they hold."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def config(self) -> Path:
        path = self.root / "ner-config.xml"
        if not path.exists() or path.read_text() != NER_CONFIG:
            path.write_text(NER_CONFIG)
        return path

    def _cached(self, stem: str, fmt: str) -> Dataset | None:
        path = self.root / f"{stem}.{fmt}"
        meta = self.root / f"{stem}.{fmt}.meta.json"
        if path.exists() and meta.exists():
            info = json.loads(meta.read_text())
            if info.get("size_bytes") == path.stat().st_size:
                return Dataset(path, fmt, int(info["tasks"]), int(info["size_bytes"]))
        return None

    def _write(
        self, stem: str, fmt: str, tasks: int | None, max_bytes: int | None, seed: int
    ) -> Dataset:
        cached = self._cached(stem, fmt)
        if cached is not None:
            return cached
        path = self.root / f"{stem}.{fmt}"
        tmp = path.with_suffix(path.suffix + ".part")
        count = _write_tasks(tmp, fmt, tasks, max_bytes, seed)
        tmp.replace(path)
        size = path.stat().st_size
        meta = {"tasks": count, "size_bytes": size, "seed": seed, "version": DATA_VERSION}
        (self.root / f"{stem}.{fmt}.meta.json").write_text(json.dumps(meta))
        return Dataset(path, fmt, count, size)

    def tasks(self, n: int, fmt: str = "jsonl", seed: int = SEED) -> Dataset:
        """A file of exactly n generated tasks."""
        return self._write(f"ner-v{DATA_VERSION}-s{seed}-n{n}", fmt, n, None, seed)

    def sized(self, megabytes: float, fmt: str, seed: int = SEED) -> Dataset:
        """A file of generated tasks of about `megabytes` MB (10**6 bytes)."""
        size = int(megabytes * 1_000_000)
        return self._write(f"ner-v{DATA_VERSION}-s{seed}-mb{megabytes:g}", fmt, None, size, seed)

    def one_task(self) -> Path:
        """A JSON file holding one task object (the shape check-jsonschema validates)."""
        path = self.root / f"one-task-v{DATA_VERSION}.json"
        if not path.exists():
            task = next(make_tasks(1))
            path.write_text(json.dumps(task, indent=2) + "\n")
        return path


def _write_tasks(path: Path, fmt: str, tasks: int | None, max_bytes: int | None, seed: int) -> int:
    dumps = _dumps()
    count = 0
    written = 0
    source = make_tasks(tasks if tasks is not None else sys.maxsize, seed)
    with open(path, "wb", buffering=1 << 20) as out:
        if fmt == "csv":
            import csv
            import io

            text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
            writer = csv.writer(text)
            writer.writerow(["text", "doc_id", "predictions"])
        elif fmt == "json":
            out.write(b"[\n")
            written += 2
        for task in source:
            if max_bytes is not None and written >= max_bytes:
                break
            if fmt == "jsonl":
                line = dumps(task) + b"\n"
                out.write(line)
                written += len(line)
            elif fmt == "json":
                item = (b",\n" if count else b"") + dumps(task)
                out.write(item)
                written += len(item)
            elif fmt == "csv":
                data = task["data"]
                predictions = dumps(task["predictions"]).decode()
                writer.writerow([data["text"], data["doc_id"], predictions])
                written = out.tell()  # quoting doubles every quote: count what landed
            else:
                raise ValueError(f"unknown format {fmt!r}")
            count += 1
        if fmt == "json":
            out.write(b"\n]\n")
        elif fmt == "csv":
            text.flush()
            text.detach()
    return count


# --------------------------------------------------------------------------- measured runs


@dataclass(frozen=True)
class Run:
    """One finished subprocess: wall and CPU time, peak memory, and what it printed.

    ``maxrss_mb`` is the kernel's high-water mark of the largest single process (the child
    or one of its reaped children); ``tree_mb`` is the peak of the whole process tree's
    proportional set size (PSS), sampled, so a program that starts worker processes is
    charged for all of them without counting shared pages twice.
    """

    command: tuple[str, ...]
    wall_s: float
    cpu_s: float  # user + system, the child and its reaped children
    maxrss_mb: float
    tree_mb: float
    returncode: int
    stdout: str
    stderr: str

    @property
    def peak_mb(self) -> float:
        """The memory a user pays for: the bigger of the two measures."""
        return max(self.maxrss_mb, self.tree_mb)

    @property
    def inner(self) -> dict[str, Any]:
        """What a worker measured inside itself (its WORKER_MARK line), or {}."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith(WORKER_MARK):
                return dict(json.loads(line[len(WORKER_MARK) :]))
        return {}

    def describe_failure(self) -> str:
        tail = (self.stderr.strip() or self.stdout.strip())[-800:]
        return f"`{shlex.join(self.command)}` exited {self.returncode}: {tail}"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(x) for x in handle.read().split())
        except OSError:
            continue
    return found


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss_mb(root: int) -> float:
    """PSS of a process and all its descendants now, in MiB (0 where /proc cannot tell)."""
    total = 0
    pending = [root]
    seen: set[int] = set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _pss_kib(pid)
        pending.extend(_children(pid))
    return total / 1024


class _TreeSampler(threading.Thread):
    """Samples a process tree's PSS every `interval` seconds; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_mb = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while True:
            self.peak_mb = max(self.peak_mb, tree_pss_mb(self.pid))
            if self._done.wait(self.interval):
                return

    def finish(self) -> float:
        self._done.set()
        self.join()
        return self.peak_mb


class BenchError(Exception):
    """A benchmark could not measure what it set out to (a side failed, a tool is missing)."""


def run_measured(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 3600.0,
    check: bool = True,
) -> Run:
    """Run a command to completion; wall time from start to reap, CPU and peak RSS from wait4,
    whole-tree PSS from sampling /proc."""
    full_env = {**os.environ, **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(
            list(command), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=full_env
        )
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: leave nothing running behind us
            proc.kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
            tree_mb = sampler.finish()
        wall = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by us, not by Popen
        out.seek(0)
        err.seek(0)
        run = Run(
            command=tuple(command),
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            maxrss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
            tree_mb=tree_mb,
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )
    if check and run.returncode != 0:
        raise BenchError(run.describe_failure())
    return run


@dataclass
class Side:
    """One contender in a comparison.

    ``command(repeat)`` builds the command line for a repeat; ``prepare(repeat)`` runs untimed
    before it (a fresh project); ``verify(run)`` raises BenchError when the run did not do
    the work (so a fast failure never passes for a fast success). ``tasks`` is how many tasks
    one run handles (a slice for slow sides).
    """

    name: str
    command: Callable[[int], Sequence[str]]
    tasks: int
    label: str = ""
    env: dict[str, str] | None = None
    prepare: Callable[[int], None] | None = None
    verify: Callable[[Run], None] | None = None
    expect_returncode: int = 0


def every_repeat(command: Sequence[str]) -> Callable[[int], Sequence[str]]:
    """A Side command that is the same in every repeat."""
    fixed = list(command)
    return lambda repeat: fixed


@dataclass
class SideResult:
    side: Side
    runs: list[Run] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.side.name

    @property
    def median_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def rate(self) -> float:
        """Tasks per second, whole process, from the median wall time."""
        return self.side.tasks / self.median_s

    @property
    def peak_mb(self) -> float:
        """Peak memory over all runs: whole process tree (see Run.peak_mb)."""
        return max(r.peak_mb for r in self.runs)

    @property
    def cpu_s(self) -> float:
        """Median CPU seconds (user + system, all processes) of a run."""
        return statistics.median(r.cpu_s for r in self.runs)

    @property
    def inner_rate(self) -> float | None:
        """Tasks per second inside the worker's timed loop (startup excluded), if it says."""
        inner = [r.inner for r in self.runs if "seconds" in r.inner]
        if not inner:
            return None
        return self.side.tasks / statistics.median(float(i["seconds"]) for i in inner)


def compare(sides: Sequence[Side], repeat: int, say: Callable[[str], None]) -> list[SideResult]:
    """Run every side `repeat` times, alternating the order each repeat (ABC, CBA, ABC...)
    so that background load on a shared machine falls on all sides alike."""
    results = {side.name: SideResult(side) for side in sides}
    for r in range(repeat):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for side in order:
            if side.prepare is not None:
                side.prepare(r)
            run = run_measured(side.command(r), env=side.env, check=False)
            if run.returncode != side.expect_returncode:
                raise BenchError(f"{side.name}: {run.describe_failure()}")
            if side.verify is not None:
                side.verify(run)
            results[side.name].runs.append(run)
            say(
                f"  {side.name} #{r + 1}: {run.wall_s:.2f} s, cpu {run.cpu_s:.2f} s, "
                f"{run.peak_mb:.0f} MB"
            )
    return [results[side.name] for side in sides]


# --------------------------------------------------------------------------- reporting


@dataclass(frozen=True)
class Target:
    what: str
    measured: str
    wanted: str
    passed: bool

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"


@dataclass
class Table:
    headers: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    caption: str = ""

    def render(self) -> str:
        cells = [list(self.headers), *[list(r) for r in self.rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.headers))]

        def line(row: Sequence[str]) -> str:
            first = row[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
            return "  ".join([first, *rest]).rstrip()

        out = [self.caption] if self.caption else []
        out.append(line(self.headers))
        out.append("  ".join("-" * w for w in widths))
        out.extend(line(r) for r in cells[1:])
        return "\n".join(out)


@dataclass
class Section:
    """What one benchmark reports: tables, targets with verdicts, and notes."""

    title: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # machine-readable, for --json

    def render(self) -> str:
        out = [f"== {self.title}"]
        for table in self.tables:
            out.extend([table.render(), ""])
        if self.targets:
            targets = Table(["target", "measured", "wanted", "verdict"], caption="targets:")
            targets.rows = [[t.what, t.measured, t.wanted, t.verdict] for t in self.targets]
            out.extend([targets.render(), ""])
        out.extend(f"note: {n}" for n in self.notes)
        return "\n".join(out).rstrip() + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "tables": [
                {"caption": t.caption, "headers": list(t.headers), "rows": list(map(list, t.rows))}
                for t in self.tables
            ],
            "targets": [dataclasses.asdict(t) | {"verdict": t.verdict} for t in self.targets],
            "notes": self.notes,
            "data": self.data,
        }


def comparison_table(
    results: Sequence[SideResult], baseline: str, caption: str, unit: str = "tasks/s"
) -> Table:
    """Medians, rates, rate ratio to `baseline`, and peak memory of each side."""
    base = next(r for r in results if r.name == baseline)
    headers = ["side", "tasks", "runs", "median s", "cpu s", f"{unit} (process)", f"{unit} (loop)"]
    table = Table([*headers, f"rate / {baseline}", "peak MB"], caption=caption)
    for r in results:
        inner = r.inner_rate
        table.rows.append(
            [
                r.name + (f" [{r.side.label}]" if r.side.label else ""),
                f"{r.side.tasks:,}",
                str(len(r.runs)),
                f"{r.median_s:.3f}",
                f"{r.cpu_s:.2f}",
                f"{r.rate:,.0f}",
                "-" if inner is None else f"{inner:,.0f}",
                f"{r.rate / base.rate:.2f}x",
                f"{r.peak_mb:.0f}",
            ]
        )
    return table


def results_data(results: Sequence[SideResult]) -> dict[str, Any]:
    return {
        r.name: {
            "tasks": r.side.tasks,
            "walls_s": [round(x.wall_s, 4) for x in r.runs],
            "median_s": round(r.median_s, 4),
            "cpu_s": round(r.cpu_s, 4),
            "rate": round(r.rate, 1),
            "inner_rate": None if r.inner_rate is None else round(r.inner_rate, 1),
            "peak_mb": round(r.peak_mb, 1),
            "peak_single_process_rss_mb": round(max(x.maxrss_mb for x in r.runs), 1),
        }
        for r in results
    }


# --------------------------------------------------------------------------- options, context


@dataclass
class Options:
    """Everything a benchmark may be told on the command line (see run.py --help)."""

    size: int = 100_000
    repeat: int = 3
    slice: int = 10_000  # tasks for the slow sides (SDK loop, jsonschema)
    upload_size: int = 10_000
    # Extra `lsimport upload` sides, each with these options (e.g. "--workers 1"), to test defaults.
    upload_variants: tuple[str, ...] = ()
    memory_mb: float = 200.0
    findings: int = 1_000_000  # broken records: validate's output must stream
    scaling: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    startup_runs: int = 15
    speed_scale: float = 1.0  # issue 19's inputs (1,000,000 and 300,000 tasks) times this
    busy_check: bool = True  # also time --jobs auto with every core kept busy
    hyperfine: bool = True  # use hyperfine for start-up times when it is installed
    workdir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "lsimport-bench")


class Context:
    """Shared by the benchmarks of one run: options, data, output, and a lazily started server."""

    def __init__(self, options: Options, out: TextIO | None = None) -> None:
        self.options = options
        self.data = DataStore(options.workdir / "data")
        self.out = out or sys.stderr
        self._server: Any = None
        self._server_state: Path | None = None

    def say(self, message: str) -> None:
        print(message, file=self.out, flush=True)

    def server(self) -> Any:
        """A real Label Studio on loopback (lsserver.ServerInfo), started on first use."""
        if self._server is None:
            lsserver = load_lsserver()
            lsserver.ensure_installed(say=self.say)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self._server_state = self.options.workdir / f"ls-state-{stamp}-{os.getpid()}"
            data_dir = self.options.workdir / f"ls-data-{stamp}-{os.getpid()}"
            self.say("starting Label Studio (fresh data dir; migrations take a while)")
            self._server = lsserver.start(data_dir, state=self._server_state, say=self.say)
        return self._server

    def close(self) -> None:
        """Stop the server this run started, if any."""
        if self._server is not None:
            lsserver = load_lsserver()
            lsserver.stop(self._server, state=self._server_state)
            self._server = None


def worker_result(**values: Any) -> None:
    """Called by a worker process: report what it measured inside itself."""
    print(WORKER_MARK + json.dumps(values), flush=True)
