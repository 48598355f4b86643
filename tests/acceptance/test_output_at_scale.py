"""`lsimport validate` output when many records share one mistake (issue 14), through the CLI.

The text output prints the first 20 findings of each code and counts the rest, then a table
per code; `--max-findings N` and `--all-findings` change that. `--output json` streams (its
peak memory on a million problems is measured in bench/bench_findings.py) and still is one
JSON document. `--output github` stays within what GitHub shows per step (10 error and 10
warning annotations: actions/toolkit docs/problem-matchers.md) and ends with the totals.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = '<View><Text name="text" value="$text"/><Image name="img" value="$image"/></View>\n'
FINDING = re.compile(r"^\S+:\d+: record \d+: ")


def lsimport(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO", "LSIMPORT"))}
    return subprocess.run(
        [sys.executable, "-m", "lsimport", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """1,000 records that lack $text (config.data-missing), then 30 that are not objects."""
    (tmp_path / "config.xml").write_text(CONFIG)
    lines = [json.dumps({"data": {"image": f"/i/{i}.png"}}) for i in range(1000)]
    lines += [str(i) for i in range(30)]
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def findings(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if FINDING.match(line)]


def codes(lines: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in lines:
        code = line.rsplit("[", 1)[1].rstrip("]")
        out[code] = out.get(code, 0) + 1
    return out


def test_text_output_prints_20_of_each_code_then_a_table(broken: Path) -> None:
    done = lsimport("validate", broken, "-c", "config.xml", cwd=broken.parent)
    assert done.returncode == 1, done.stderr
    printed = findings(done.stdout)
    by_code = codes(printed)
    assert set(by_code.values()) == {20}, by_code  # 20 of each code, no more
    out = done.stdout
    assert "FAILED: 1030 record(s) in 1 file(s): 0 valid, 1030 invalid" in out, out
    # The table: each code with its count, where it was first seen, and its message.
    table = out[out.index("by code") :]
    for code, count in (("config.data-missing", 1000), ("read.not-an-object", 30)):
        row = next(line for line in table.splitlines() if code in line)
        assert f"{count:,}" in row and "broken.jsonl:1" in row, row
    assert "--all-findings" in out and "--max-findings" in out, out


def test_max_findings_and_all_findings(broken: Path) -> None:
    three = lsimport(
        "validate", broken, "-c", "config.xml", "--max-findings", "3", cwd=broken.parent
    )
    assert set(codes(findings(three.stdout)).values()) == {3}, three.stdout
    every = lsimport("validate", broken, "-c", "config.xml", "--all-findings", cwd=broken.parent)
    assert every.returncode == 1
    assert len(findings(every.stdout)) == 1030, every.stdout[-500:]
    assert "by code" not in every.stdout  # nothing was held back
    bad = lsimport(
        "validate", broken, "-c", "config.xml", "--max-findings", "-1", cwd=broken.parent
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr


def test_json_output_is_one_document_with_every_problem(broken: Path) -> None:
    done = lsimport("validate", broken, "-c", "config.xml", "-o", "json", cwd=broken.parent)
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["records"], doc["invalid"], doc["file_errors"]) == (1030, 1030, 0)
    assert len(doc["problems"]) == 1030
    assert doc["problems"][0]["record"] == 1 and doc["problems"][-1]["record"] == 1030


def test_json_output_counts_file_errors(tmp_path: Path) -> None:
    (tmp_path / "config.xml").write_text(CONFIG)
    # UTF-16 (PowerShell's `>`): a problem with the file as a whole, no record is read.
    (tmp_path / "utf16.jsonl").write_bytes('{"text": "x"}\n'.encode("utf-16"))
    done = lsimport("validate", "utf16.jsonl", "-c", "config.xml", "-o", "json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert doc["file_errors"] == 1 and doc["invalid"] == 0, doc


def test_github_output_stays_within_the_annotation_limits(broken: Path) -> None:
    done = lsimport("validate", broken, "-c", "config.xml", "-o", "github", cwd=broken.parent)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    errors = [line for line in lines if line.startswith("::error ")]
    warnings = [line for line in lines if line.startswith("::warning ")]
    notices = [line for line in lines if line.startswith("::notice")]
    assert len(errors) == 10 and not warnings, lines[:12]
    assert len(notices) == 1 and "1,030" in notices[0], notices
    assert len(lines) < 200, len(lines)  # the rest grouped as in the text output
    assert any(line.startswith("FAILED: 1030 record(s)") for line in lines[-12:]), lines[-12:]


@pytest.mark.parametrize("nested", [False, True], ids=["flat-data", "nested-data"])
def test_a_big_file_checked_by_forked_workers_reports_what_one_process_reports(
    tmp_path: Path, nested: bool
) -> None:
    """Over 32 MB, --jobs 2 forks a worker and both check byte ranges of the file; the
    report must be the one `--jobs 1` gives, every finding at its record and line. With
    nested data ($item.text) the workers read their ranges a line at a time."""
    key = "$item.text" if nested else "$text"
    (tmp_path / "config.xml").write_text(
        f'<View><Text name="text" value="{key}"/><Choices name="c" toName="text">'
        '<Choice value="A"/><Choice value="B"/></Choices></View>\n'
    )

    def task(i: int, choice: str = "A") -> str:
        text = f"review {i}: " + "words " * 30
        data = {"item": {"text": text}} if nested else {"text": text}
        region = {"from_name": "c", "to_name": "text", "type": "choices"}
        result = [{**region, "value": {"choices": [choice]}}]
        return json.dumps({"data": data, "predictions": [{"result": result}]})

    lines = []
    for i in range(150_000):
        if i % 9_973 == 5:
            lines.append(task(i, "Z"))  # a label the config lacks
        elif i % 20_011 == 7:
            lines.append('{"data": {')  # cut short
        elif i % 30_011 == 11:
            lines.append("")  # blank: no record, but a line
        else:
            lines.append(task(i))
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 32 * 1024 * 1024  # above the parallel threshold

    reports = {}
    for jobs in ("1", "2"):
        run = lsimport("validate", path, "-c", "config.xml", "-o", "json", "-j", jobs, cwd=tmp_path)
        assert run.returncode == 1, run.stderr
        reports[jobs] = json.loads(run.stdout)
    assert (reports["1"].pop("jobs"), reports["2"].pop("jobs")) == (1, 2)
    assert reports["1"] == reports["2"]
    flagged = reports["2"]["problems"]
    assert len(flagged) == 16 + 8 and reports["2"]["records"] == 150_000 - 5
    assert {p["code"] for p in flagged} == {"config.label", "read.json"}
