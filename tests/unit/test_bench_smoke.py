"""Smoke test of bench/: every benchmark's code path on minimal sizes, so it cannot rot.

Not a timed test: it checks that the data generator, the measured runs, the workers and the
report hold together, and asserts what the report says about the work (task counts, targets
present), never how fast anything was.
"""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    """bench/'s modules, imported the way bench/run.py imports them (bench/ on sys.path)."""
    monkeypatch.syspath_prepend(str(BENCH))
    names = ("common", "run", "bench_validate", "bench_startup", "bench_memory", "bench_upload",
             "bench_speed")  # fmt: skip
    for name in names:
        sys.modules.pop(name, None)
    yield {name: __import__(name) for name in names}
    for name in names:
        sys.modules.pop(name, None)


def _sections(path: Path) -> dict[str, dict[str, Any]]:
    return {s["title"]: s for s in json.loads(path.read_text())}


def test_generated_tasks_are_deterministic_prefixes_with_exact_spans(
    bench: dict[str, ModuleType],
) -> None:
    make_tasks = bench["common"].make_tasks
    ten = list(make_tasks(10))
    assert list(make_tasks(4)) == ten[:4]
    first = ten[0]
    assert first["data"] == {
        "text": "after data talks opened after from 22 January 2019 signed could centre shares "
        "people Windows 11.",
        "doc_id": "doc-00000000",
    }
    regions = first["predictions"][0]["result"]
    assert [r["value"].get("labels") or r["value"]["choices"] for r in regions] == [
        ["Date"],
        ["Product"],
        ["Negative"],
    ]
    for task in ten:
        text = task["data"]["text"]
        for region in task["predictions"][0]["result"][:-1]:
            value = region["value"]
            assert text[value["start"] : value["end"]] == value["text"]


def test_data_store_writes_each_format_with_the_same_tasks(
    bench: dict[str, ModuleType], tmp_path: Path
) -> None:
    common = bench["common"]
    store = common.DataStore(tmp_path)
    jsonl = store.tasks(7, "jsonl")
    array = store.tasks(7, "json")
    csv = store.tasks(7, "csv")
    expected = list(common.make_tasks(7))
    assert (jsonl.tasks, array.tasks, csv.tasks) == (7, 7, 7)
    assert [json.loads(line) for line in jsonl.path.read_text().splitlines()] == expected
    assert json.loads(array.path.read_text()) == expected
    assert csv.path.read_text().splitlines()[0] == "text,doc_id,predictions"
    sized = store.sized(0.01, "jsonl")
    assert sized.size_bytes >= 10_000
    lines = sized.path.read_bytes().splitlines(keepends=True)
    assert (sized.tasks, sized.size_bytes) == (len(lines), sum(map(len, lines)))
    assert sized.size_bytes - len(lines[-1]) < 10_000  # stops at the first task past the size
    assert store.tasks(7, "jsonl") == jsonl  # cached, not rewritten


def test_parse_importtime_reads_depth_and_times(bench: dict[str, ModuleType]) -> None:
    sample = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |   orjson.orjson\n"
        "import time:        30 |        150 | orjson\n"
        "import time:      1000 |       1150 | lsimport.cli\n"
        "something else\n"
    )
    lines = bench["bench_startup"].parse_importtime(sample)
    assert [(x.name, x.depth, x.self_us, x.cumulative_us) for x in lines] == [
        ("orjson.orjson", 1, 120, 120),
        ("orjson", 0, 30, 150),
        ("lsimport.cli", 0, 1000, 1150),
    ]
    assert bench["bench_startup"].import_tree(lines) == {
        "orjson.orjson": [],
        "orjson": ["orjson.orjson"],
        "lsimport.cli": [],
        "": ["orjson", "lsimport.cli"],
    }


def test_run_measured_reports_peak_memory_and_exit_code(bench: dict[str, ModuleType]) -> None:
    common = bench["common"]
    grab = "x = bytearray(64 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096]); print('ok')"
    run = common.run_measured([sys.executable, "-c", grab])
    assert (run.returncode, run.stdout) == (0, "ok\n")
    # Only a lower bound: a child forked from a big parent (pytest, late in a full run)
    # starts with the parent's high-water mark in ru_maxrss; bench/run.py's parent is small.
    assert run.maxrss_mb > 64
    # Two processes of 64 MB each: the largest one is under 100 MB, the tree is not.
    pair = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', sys.argv[1]])\n"
        "x = bytearray(64 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096])\n"
        "child.wait()\n"
    )
    hold = grab.replace("print('ok')", "import time; time.sleep(0.5)")
    both = common.run_measured([sys.executable, "-c", pair, hold])
    assert 100 < both.tree_mb <= both.peak_mb
    if resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 60 * 1024:
        # Meaningful only while this process is small (see above): Linux hands a forked
        # child the parent's high-water mark at exec.
        assert both.maxrss_mb < 100
        assert both.tree_mb == both.peak_mb
    failed = common.run_measured([sys.executable, "-c", "raise SystemExit(3)"], check=False)
    assert failed.returncode == 3
    with pytest.raises(common.BenchError, match="exited 3"):
        common.run_measured([sys.executable, "-c", "raise SystemExit(3)"])


def test_offline_benchmarks_run_end_to_end_on_tiny_sizes(
    bench: dict[str, ModuleType], tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    status = bench["run"].main(
        ["--only", "validate,startup,memory,scaling", "--size", "40", "--slice", "10",
         "--repeat", "1", "--memory-mb", "0.05", "--scaling", "10,20", "--startup-runs", "1",
         "--no-hyperfine", "--workdir", str(tmp_path / "work"), "--json", str(out)]
    )  # fmt: skip
    assert status == 0
    sections = _sections(out)
    assert list(sections) == [
        "validate 40 tasks with predictions (JSONL, whole process)",
        "start-up: validate a one-task file, whole process",
        "memory: lsimport validate on a 0.05 MB file per format",
        "scaling: lsimport validate time per task as the file grows",
    ]
    validate = sections["validate 40 tasks with predictions (JSONL, whole process)"]
    tasks = {name: v["tasks"] for name, v in validate["data"].items()}
    expected = {"lsimport": 40, "parse-only": 40, "jsonschema": 10}
    if bench["common"].ls_python() is not None:
        expected["sdk-loop"] = 10
    assert tasks == expected
    assert [t["what"] for t in validate["targets"]] == [
        "lsimport rate / parse-only rate",
        *(["lsimport rate / SDK loop rate (in-loop)"] if "sdk-loop" in expected else []),
    ]
    assert all(t["verdict"] in ("PASS", "FAIL") for s in sections.values() for t in s["targets"])
    startup = sections["start-up: validate a one-task file, whole process"]
    assert [row[0] for row in startup["tables"][0]["rows"]] == [
        "lsimport (installed wheel)",
        "lsimport",
        "lsimport (no config)",
        "check-jsonschema",
        "python -c pass",
    ]
    assert startup["data"]["importtime"]["total_ms"] > 0
    memory = sections["memory: lsimport validate on a 0.05 MB file per format"]
    assert [row[0] for row in memory["tables"][0]["rows"]] == ["jsonl", "json", "csv"]
    scaling = sections["scaling: lsimport validate time per task as the file grows"]
    assert [row[0] for row in scaling["tables"][0]["rows"]] == ["10 tasks", "20 tasks"]


def test_the_findings_benchmark_runs_on_a_tiny_size(
    bench: dict[str, ModuleType], tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    status = bench["run"].main(
        ["--only", "findings", "--findings", "200", "--repeat", "1",
         "--workdir", str(tmp_path / "work"), "--json", str(out)]
    )  # fmt: skip
    assert status == 0
    (section,) = _sections(out).values()
    assert [row[0] for row in section["tables"][0]["rows"]] == [
        "json, 20 problems",
        "json, 200 problems",
        "text, 200 problems",
    ]
    assert len(section["targets"]) == 3


def test_the_speed_benchmark_runs_on_tiny_inputs(
    bench: dict[str, ModuleType], tmp_path: Path
) -> None:
    """Issue 19's three inputs, each against parsing alone (the first also against two
    processes on its halves), and --jobs auto with busy cores."""
    out = tmp_path / "results.json"
    status = bench["run"].main(
        ["--only", "speed", "--speed-scale", "0.0001", "--repeat", "1",
         "--workdir", str(tmp_path / "work"), "--json", str(out)]
    )  # fmt: skip
    assert status == 0
    (section,) = _sections(out).values()
    assert [len(table["rows"]) for table in section["tables"]] == [4, 3, 3, 2]
    names = [t["what"] for t in section["targets"]]
    assert len(names) == 3 * 3 + 3 and "--jobs auto on a busy machine: processes" in names
    counts = {name: {side: v["tasks"] for side, v in sides.items()}
              for name, sides in section["data"].items()}  # fmt: skip
    assert counts["100 short choice tasks"] == dict.fromkeys(
        ("lsimport", "lsimport -j 1", "parse-only", "halves side by side"), 100
    )


@pytest.mark.slow
@pytest.mark.integration
def test_upload_benchmark_runs_against_a_real_label_studio(
    bench: dict[str, ModuleType], tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    status = bench["run"].main(
        ["--only", "upload", "--upload-size", "20", "--repeat", "1",
         "--workdir", str(tmp_path / "work"), "--json", str(out)]
    )  # fmt: skip
    assert status == 0
    (upload,) = _sections(out).values()
    assert upload["title"] == "upload 20 tasks with predictions to Label Studio (loopback)"
    assert {name: v["tasks"] for name, v in upload["data"].items()} == {
        "lsimport": 20,
        "sdk-one-shot": 20,
        "httpx-100": 20,
    }
    assert [t["what"] for t in upload["targets"]] == [
        "lsimport (process) / SDK one-shot (loop) throughput",
        "lsimport upload peak memory",
    ]
