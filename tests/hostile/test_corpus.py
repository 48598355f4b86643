"""The hostile-input corpus, through the real CLI (`python -m lsimport validate`).

Every file in corpus/ is a case in CASES with the exact outcome: exit code, the findings as
(record, line, pointer, code), and the record counts. Inputs too big to keep in the repository
(a 50 MB line, JSON nested 100,000 deep, a gzip bomb) are written to tmp_path by the tests
below. No case may print a traceback: lsimport meets bad input with a finding, or with one
line on stderr and exit 2.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lsimport.read.stream import iter_records

CORPUS = Path(__file__).parent / "corpus"
PYTHON = sys.executable
MB = 1024 * 1024
PYTHON_CSV_FIELD_LIMIT = 131072  # csv.field_size_limit() until something raises it

Problem = tuple[int | None, int, str, str]  # record (None: the file), line, pointer, code


@dataclass(frozen=True)
class Case:
    file: str
    exit: int
    records: int
    valid: int
    problems: tuple[Problem, ...] = ()
    config: str | None = None
    says: str = ""  # a part of the first problem's message that tells the user what to do

    @property
    def id(self) -> str:
        return self.file + (f"+{self.config}" if self.config else "")


CASES = [
    # Empty and blank: no tasks is an error where the format needs something (a JSON value, a
    # CSV header); an empty JSONL file is zero tasks, like `[]`.
    Case("empty.json", 1, 0, 0, ((None, 1, "", "read.empty"),), says="file is empty"),
    Case("empty.jsonl", 0, 0, 0),
    Case("empty.csv", 1, 0, 0, ((None, 1, "", "read.empty"),), says="no header row"),
    Case("whitespace-only.json", 1, 0, 0, ((None, 1, "", "read.empty"),)),
    Case("whitespace-only.jsonl", 0, 0, 0),
    Case("whitespace-only.csv", 1, 0, 0, ((None, 1, "", "read.empty"),)),
    # Cut off and sloppy JSON: the records before the damage are read.
    Case(
        "array-cut-mid-record.json",
        1,
        3,
        2,
        ((3, 4, "", "read.truncated"),),
        says="records before it were read",
    ),
    Case("trailing-comma.json", 1, 2, 2, ((None, 3, "", "read.trailing-comma"),), says="remove"),
    Case("blank-lines.jsonl", 0, 2, 2),
    Case("broken-line-middle.jsonl", 1, 3, 2, ((2, 2, "", "read.json"),)),
    Case("crlf.jsonl", 0, 2, 2),
    Case("no-final-newline.jsonl", 0, 2, 2),
    # Encodings and binary junk.
    Case("invalid-utf8.jsonl", 1, 3, 2, ((2, 2, "", "read.encoding"),), says="UTF-8"),
    Case("invalid-utf8.json", 1, 3, 2, ((2, 1, "", "read.encoding"),)),
    Case("invalid-utf8.csv", 1, 3, 2, ((2, 3, "", "read.encoding"),)),
    Case("utf16-bom.json", 1, 0, 0, ((None, 1, "", "read.encoding"),), says="iconv -f UTF-16"),
    Case("utf16-bom.jsonl", 1, 0, 0, ((None, 1, "", "read.encoding"),), says="iconv -f UTF-16"),
    Case("utf16be-bom.jsonl", 1, 0, 0, ((None, 1, "", "read.encoding"),)),
    Case("utf16-bom.csv", 1, 0, 0, ((None, 1, "", "read.encoding"),), says="iconv -f UTF-16"),
    Case("nul-bytes.jsonl", 1, 3, 2, ((3, 3, "", "read.nul"),), says="binary file"),
    Case("nul-in-record.json", 1, 2, 1, ((2, 1, "", "read.nul"),)),
    # Numbers JSON has no room for.
    Case(
        "number-1e999.jsonl",
        1,
        2,
        0,
        ((1, 1, "", "read.number"), (2, 2, "", "read.number")),
        says="too large for a double",
    ),
    Case(
        "nan-infinity.jsonl",
        1,
        3,
        0,
        ((1, 1, "", "read.json"), (2, 2, "", "read.json"), (3, 3, "", "read.json")),
        says="NaN and Infinity are not JSON; write null",
    ),
    # Integers beyond 64 bits are read as doubles (documented in docs/bad-input.md).
    Case("huge-integer.jsonl", 0, 2, 2),
    # Duplicate keys: the last one wins, as in Python's json and Label Studio's server.
    Case(
        "duplicate-keys.jsonl",
        1,
        2,
        1,
        ((2, 2, "/data/image", "config.data-type"),),
        config="config-image.xml",
    ),
    # Not a task at all.
    Case("top-level-number.json", 1, 1, 0, ((1, 1, "", "read.not-an-object"),)),
    Case("top-level-string.json", 1, 1, 0, ((1, 1, "", "read.not-an-object"),)),
    Case("top-level-null.json", 1, 1, 0, ((1, 1, "", "read.not-an-object"),), says="got null"),
    Case(
        "scalars.jsonl",
        1,
        5,
        0,
        tuple((n, n, "", "read.not-an-object") for n in range(1, 6)),
        says="a task must be a JSON object, got number",
    ),
    # CSV as spreadsheets and scripts write it.
    Case(
        "csv-ragged-row.csv",
        1,
        4,
        2,
        ((2, 3, "", "read.csv-shape"), (3, 4, "", "read.csv-shape")),
        says="quote cells that contain the delimiter",
    ),
    Case("csv-quoted-newlines.csv", 0, 2, 2, config="config-text.xml"),
    Case("csv-duplicate-header.csv", 1, 0, 0, ((None, 1, "", "read.header"),), says="twice"),
    Case("csv-empty-header.csv", 1, 0, 0, ((None, 1, "", "read.header"),), says="has no name"),
    # Split on semicolons, or the config's $text and $label would be missing.
    Case("csv-semicolon.csv", 0, 2, 2, config="config-text.xml"),
    Case("text-tasks.jsonl", 0, 1, 1, config="config-text.xml"),
]

# Labeling configs that must be refused (exit 2, one message, nothing expanded or fetched).
CONFIG_CASES = [
    ("config-entity-bomb.xml", "refused: the config declares a DTD or entities"),
    ("config-external-entity.xml", "refused: the config declares a DTD or entities"),
    ("config-not-xml.xml", "not valid XML"),
    ("config-empty.xml", "labeling config is empty"),
]


@dataclass
class Run:
    exit: int
    stdout: str
    stderr: str
    seconds: float = 0.0
    peak_rss_mb: float = 0.0


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "LSIMPORT"))}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def lsimport(*args: str, cwd: Path = CORPUS, timeout: float = 120) -> Run:
    """Run the real CLI; no run of it may ever print a traceback."""
    started = time.monotonic()
    proc = subprocess.run(
        [PYTHON, "-m", "lsimport", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=timeout,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr, proc.stderr
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


# The peak RSS of the lsimport process alone. Measured from a small middle process: Linux
# counts a child's pre-exec memory (a copy of the forking process: pytest, hundreds of MB)
# in its ru_maxrss, so the middle process must be small when it forks lsimport.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "with open(sys.argv[1], 'w') as out:\n"
    "    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def lsimport_measured(tmp_path: Path, *args: str, timeout: float = 120) -> Run:
    """Like `lsimport`, plus the peak RSS of the lsimport process (and its workers)."""
    rss_file = tmp_path / "peak-rss-kb"
    started = time.monotonic()
    proc = subprocess.run(
        [PYTHON, "-c", _MEASURE, str(rss_file), PYTHON, "-m", "lsimport", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=timeout,
    )
    seconds = time.monotonic() - started
    assert "Traceback" not in proc.stderr, proc.stderr
    peak = int(rss_file.read_text()) / 1024  # Linux reports KiB
    return Run(proc.returncode, proc.stdout, proc.stderr, seconds, peak)


def problems(report: dict[str, Any]) -> tuple[Problem, ...]:
    return tuple((p["record"], p["line"], p["pointer"], p["code"]) for p in report["problems"])


def validate_args(case: Case) -> list[str]:
    args = ["validate", case.file, "--output", "json"]
    return args + (["--label-config", case.config] if case.config else [])


@pytest.fixture(scope="module")
def corpus_runs() -> dict[str, Run]:
    """Every case's run, started together: most of each run is interpreter start-up."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = pool.map(lambda case: lsimport(*validate_args(case)), CASES)
        return {case.id: run for case, run in zip(CASES, runs, strict=True)}


def test_every_corpus_file_is_a_case() -> None:
    inputs = {p.name for p in CORPUS.iterdir() if not p.name.startswith(("config-", "."))}
    assert inputs == {case.file for case in CASES}
    configs = {p.name for p in CORPUS.glob("config-*.xml")}
    used = {c.config for c in CASES if c.config} | {name for name, _ in CONFIG_CASES}
    assert configs == used


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_corpus_case(case: Case, corpus_runs: dict[str, Run]) -> None:
    run = corpus_runs[case.id]
    report = json.loads(run.stdout)

    assert run.exit == case.exit, run.stdout
    assert problems(report) == case.problems
    assert (report["records"], report["valid"]) == (case.records, case.valid)
    assert report["records"] == report["valid"] + report["invalid"]
    assert run.stderr == ""
    if case.says:
        assert case.says in report["problems"][0]["message"]


def test_csv_cells_keep_their_newlines_and_semicolons() -> None:
    quoted = [r.task for r in iter_records([str(CORPUS / "csv-quoted-newlines.csv")])]
    semicolon = [r.task for r in iter_records([str(CORPUS / "csv-semicolon.csv")])]

    assert quoted == [
        {"data": {"text": "line one\nline two\r\nline three", "label": "a"}},
        {"data": {"text": "plain", "label": "b"}},
    ]
    assert semicolon == [
        {"data": {"text": "one", "label": "a"}},
        {"data": {"text": "two; with a semicolon", "label": "b"}},
    ]


def test_duplicate_keys_last_one_wins() -> None:
    tasks = [r.task for r in iter_records([str(CORPUS / "duplicate-keys.jsonl")])]

    assert tasks == [{"data": {"image": "a.png"}}, {"data": {"image": {"url": "b.png"}}}]


def test_integers_beyond_64_bits_are_read_as_doubles() -> None:
    tasks = [r.task for r in iter_records([str(CORPUS / "huge-integer.jsonl")])]

    assert tasks == [
        {"data": {"text": "one", "id": 1.2345678901234568e29}},
        {"data": {"text": "two", "id": -1e20}},
    ]
    assert [type(t["data"]["id"]) for t in tasks if t] == [float, float]


@pytest.mark.parametrize(("config", "message"), CONFIG_CASES)
def test_hostile_configs_are_refused(config: str, message: str) -> None:
    run = lsimport("validate", "text-tasks.jsonl", "--label-config", config)

    assert run.exit == 2
    assert run.stdout == ""
    assert run.stderr.startswith(f"lsimport: error: {config}")
    assert message in run.stderr
    assert "root:" not in run.stderr  # /etc/passwd, named by the external entity, is not read
    assert "aaaaaaaa" not in run.stderr  # the bomb is not expanded
    assert len(run.stderr) < 500


# --- generated cases: too big for the repository ---


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("deep.json", b"[" * 100_000 + b"]" * 100_000),
        ("deep.jsonl", b'{"data": ' * 100_000 + b"1" + b"}" * 100_000 + b"\n"),
        ("deep-in-array.json", b'[{"data": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}]"),
    ],
)
def test_json_nested_100000_deep(tmp_path: Path, name: str, content: bytes) -> None:
    (tmp_path / name).write_bytes(content)

    run = lsimport("validate", name, "--output", "json", cwd=tmp_path)
    report = json.loads(run.stdout)

    assert run.exit == 1
    assert problems(report) == ((1, 1, "", "read.too-deep"),)
    assert report["problems"][0]["message"] == "JSON nested too deeply (over 1024 levels)"


def test_csv_field_over_pythons_default_limit(tmp_path: Path) -> None:
    text = "x" * (PYTHON_CSV_FIELD_LIMIT + 1000)
    (tmp_path / "long.csv").write_text(f'text,label\n"{text}",a\nshort,b\n')
    (tmp_path / "config.xml").write_bytes((CORPUS / "config-text.xml").read_bytes())

    run = lsimport("validate", "long.csv", "-c", "config.xml", "-o", "json", cwd=tmp_path)

    assert run.exit == 0
    assert json.loads(run.stdout)["valid"] == 2
    first = next(iter_records([str(tmp_path / "long.csv")]))
    assert first.task == {"data": {"text": text, "label": "a"}}


def test_truncated_gzip_keeps_every_record_before_the_cut(tmp_path: Path) -> None:
    lines = b"".join(b'{"data": {"text": "task %d"}}\n' % i for i in range(5000))
    packed = gzip.compress(lines)
    (tmp_path / "cut.jsonl.gz").write_bytes(packed[: len(packed) // 2])

    run = lsimport("validate", "cut.jsonl.gz", "--output", "json", cwd=tmp_path)
    report = json.loads(run.stdout)
    texts = [
        r.task["data"]["text"] for r in iter_records([str(tmp_path / "cut.jsonl.gz")]) if r.task
    ]

    assert run.exit == 1
    assert problems(report)[-1][0] is None
    assert problems(report)[-1][3] == "read.gzip"
    assert "truncated or corrupt" in report["problems"][-1]["message"]
    assert 1000 < report["valid"] < 5000
    assert report["invalid"] == 0  # the cut is inside the compressed stream, not in a record
    assert texts == [f"task {i}" for i in range(report["valid"])]


def _gzip_bomb(path: Path, fmt: str, records: int, size: int) -> int:
    """A gzip file of `records` tasks of `size` bytes each; returns the inflated size."""
    text = b"y" * size
    with gzip.open(path, "wb", compresslevel=9) as out:
        if fmt == "csv":
            out.write(b"text\n")
        elif fmt == "json":
            out.write(b"[")
        for i in range(records):
            if fmt == "csv":
                out.write(b'"%d %s"\n' % (i, text))
            elif fmt == "json":
                out.write(b'%s{"data": {"text": "%d %s"}}' % (b"," if i else b"", i, text))
            else:
                out.write(b'{"data": {"text": "%d %s"}}\n' % (i, text))
        if fmt == "json":
            out.write(b"]")
    with gzip.open(path, "rb") as inflated:
        return sum(len(chunk) for chunk in iter(lambda: inflated.read(MB), b""))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_gzip_bomb_is_streamed_not_inflated_whole(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"bomb.{fmt}.gz"
    inflated = _gzip_bomb(path, fmt, records=80, size=MB)
    assert inflated >= 100 * path.stat().st_size  # it expands at least a hundredfold

    run = lsimport_measured(tmp_path, "validate", path.name)

    assert run.exit == 0
    assert run.stdout == "ok: 80 record(s) in 1 file(s): 80 valid, 0 invalid, 0 warning(s)\n"
    # Inflated whole it would take 80 MB; streamed, start-up (~20 MB) plus a few records.
    assert run.peak_rss_mb < 60, run.peak_rss_mb


@pytest.mark.slow
@pytest.mark.parametrize("name", ["line.jsonl", "line.json"])
def test_a_50_mb_single_line(tmp_path: Path, name: str) -> None:
    task = b'{"data": {"text": "' + b'\\"quoted\\" ' * (5 * MB) + b'"}}'
    (tmp_path / name).write_bytes(b"[" + task + b"]\n" if name.endswith(".json") else task)
    assert (tmp_path / name).stat().st_size > 50 * MB

    # Quadratic rescanning took 200 s here; linear takes 2-5 s. No timed assertion (speed
    # lives in bench/): the subprocess timeout is the guard against the quadratic case.
    run = lsimport_measured(tmp_path, "validate", name, timeout=90)

    assert run.exit == 0
    assert run.stdout == "ok: 1 record(s) in 1 file(s): 1 valid, 0 invalid, 0 warning(s)\n"
    # One task is held a few times over (bytes, parsed, a copy).
    assert run.peak_rss_mb < 400, run.peak_rss_mb


@pytest.mark.slow
def test_big_utf16_jsonl_is_one_finding_in_parallel_mode_too(tmp_path: Path) -> None:
    line = '{"data": {"text": "one"}}\n'
    (tmp_path / "big.jsonl").write_bytes((line * 700_000).encode("utf-16"))
    assert (tmp_path / "big.jsonl").stat().st_size > 32 * MB  # above the parallel threshold

    run = lsimport("validate", "big.jsonl", "--output", "json", "--jobs", "2", cwd=tmp_path)
    report = json.loads(run.stdout)

    assert run.exit == 1
    assert problems(report) == ((None, 1, "", "read.encoding"),)
    assert report["records"] == 0
