"""`lsimport validate` as users run it: the real CLI in a subprocess, on Label Studio's own configs.

tests/data/templates/<name>/config.xml is the `config` of Label Studio 1.23.2's
label_studio/annotation_templates/<group>/<name>/config.yml, copied verbatim.
positive.json holds tasks with predictions Label Studio accepts and shows: every prediction
was checked with the SDK's own `LabelInterface(config).validate_prediction(p,
return_errors=True)` when the files were written (and still is, by
test_templates_agree_with_label_studio_sdk, when Label Studio's venv is installed).
negative.json holds broken tasks; each names the findings it must produce in
`meta.expect` ("code pointer", in order), and the tests hold lsimport to exactly those.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
TEMPLATES = DATA / "templates"
NAMES = sorted(p.name for p in TEMPLATES.iterdir() if (p / "config.xml").is_file())
TEXT_LINE = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+): record (?P<record>\d+): (?P<pointer>/[^:]*): "
    r"(?P<severity>error|warning): (?P<message>.+) \[(?P<code>[\w.-]+)\]$"
)
SUMMARY = re.compile(
    r"^(ok|FAILED): (\d+) record\(s\) in (\d+) file\(s\): (\d+) valid, (\d+) invalid, "
    r"(\d+) warning\(s\)"
)
PROBLEM_KEYS = {"file", "record", "line", "pointer", "severity", "code", "message"}
WARNING_CODES = {"config.outside-image", "config.original-size"}


def lsimport(
    *args: str | Path, stdin: bytes | None = None, cwd: Path = TEMPLATES
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO", "LSIMPORT"))}
    done = subprocess.run(
        [sys.executable, "-m", "lsimport", *map(str, args)],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def tasks_of(name: str, kind: str) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((TEMPLATES / name / f"{kind}.json").read_text())
    return loaded


def start_lines(path: Path) -> list[int]:
    """Where each task of a json.dumps(indent=2) array starts."""
    return [i for i, line in enumerate(path.read_text().splitlines(), 1) if line == "  {"]


def expected_problems(name: str) -> list[tuple[int, str, str, str]]:
    """(record, severity, code, pointer) for every finding negative.json asks for."""
    out = []
    for n, task in enumerate(tasks_of(name, "negative"), 1):
        for item in task["meta"]["expect"]:
            code, pointer = item.split(" ", 1)
            out.append((n, "warning" if code in WARNING_CODES else "error", code, pointer))
    return out


def summary_of(stdout: str) -> tuple[str, ...]:
    match = SUMMARY.match(stdout.splitlines()[-1])
    assert match, stdout
    return match.groups()


def test_there_are_at_least_ten_templates() -> None:
    assert len(NAMES) >= 10
    for name in NAMES:
        assert len(tasks_of(name, "positive")) >= 1
        assert len(tasks_of(name, "negative")) >= 3


# --- every template: positive passes, negative gives exactly its findings ---------------------


@pytest.fixture(scope="module")
def template_runs() -> dict[tuple[str, str], subprocess.CompletedProcess[str]]:
    """Every template's positive (text output) and negative (JSON output) run, started
    side by side: each is a process start, and there are two dozen of them."""
    jobs = {}
    for name in NAMES:
        config = f"{name}/config.xml"
        jobs[name, "positive"] = ("validate", f"{name}/positive.json", "--label-config", config)
        jobs[name, "negative"] = ("validate", f"{name}/negative.json", "-c", config, "-o", "json")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(lsimport, *args) for key, args in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("name", NAMES)
def test_template_positive_tasks_are_valid(
    name: str, template_runs: dict[tuple[str, str], subprocess.CompletedProcess[str]]
) -> None:
    result = template_runs[name, "positive"]
    n = len(tasks_of(name, "positive"))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        f"ok: {n} record(s) in 1 file(s): {n} valid, 0 invalid, 0 warning(s)\n"
    )


@pytest.mark.parametrize("name", NAMES)
def test_template_negative_tasks_give_exactly_their_findings(
    name: str, template_runs: dict[tuple[str, str], subprocess.CompletedProcess[str]]
) -> None:
    path = f"{name}/negative.json"
    result = template_runs[name, "negative"]
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    doc = json.loads(result.stdout)
    assert list(doc) == [
        "problems",  # first: they are streamed, the counts follow once all are known
        *("files", "records", "valid", "invalid", "warnings", "file_errors", "jobs"),
    ]
    expected = expected_problems(name)
    lines = start_lines(TEMPLATES / path)
    for p in doc["problems"]:
        assert set(p) == PROBLEM_KEYS
        assert p["file"] == path
        assert p["line"] == lines[p["record"] - 1]
        assert p["message"]
    got = [(p["record"], p["severity"], p["code"], p["pointer"]) for p in doc["problems"]]
    assert got == expected
    n = len(lines)
    invalid = len({rec for rec, severity, *_ in expected if severity == "error"})
    assert (doc["files"], doc["records"], doc["valid"], doc["invalid"]) == (
        1,
        n,
        n - invalid,
        invalid,
    )
    assert doc["warnings"] == sum(1 for _, severity, *_ in expected if severity == "warning")


# --- output formats ---------------------------------------------------------------------------

BOXES = "object-detection-with-bounding-boxes"


def test_text_output() -> None:
    path = f"{BOXES}/negative.json"
    result = lsimport("validate", path, "-c", f"{BOXES}/config.xml")
    assert result.returncode == 1
    *finding_lines, summary = result.stdout.splitlines()
    parsed = [TEXT_LINE.match(line) for line in finding_lines]
    assert all(parsed), finding_lines
    lines = start_lines(TEMPLATES / path)
    got = [
        (m["file"], int(m["line"]), int(m["record"]), m["severity"], m["code"], m["pointer"])
        for m in parsed
        if m
    ]
    assert got == [
        (path, lines[rec - 1], rec, severity, code, pointer)
        for rec, severity, code, pointer in expected_problems(BOXES)
    ]
    assert summary == "FAILED: 6 record(s) in 1 file(s): 2 valid, 4 invalid, 2 warning(s)"


def test_text_output_without_a_pointer_or_record() -> None:
    # a problem with the file as a whole has neither a record number nor a pointer
    result = lsimport("validate", "-", stdin=b'[{"text": "a"},\n{"text": "b"},\n]')
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "<stdin>:2: error: trailing comma after record 2: not valid JSON, remove it "
        "[read.trailing-comma]",
        "FAILED: 2 record(s) in 1 file(s): 2 valid, 0 invalid, 0 warning(s), 1 file problem(s)",
    ]


def test_strict_makes_warnings_errors(
    template_runs: dict[tuple[str, str], subprocess.CompletedProcess[str]],
) -> None:
    path = f"{BOXES}/negative.json"
    lenient = json.loads(template_runs[BOXES, "negative"].stdout)
    strict_run = lsimport("validate", path, "-c", f"{BOXES}/config.xml", "-o", "json", "--strict")
    assert strict_run.returncode == 1
    strict = json.loads(strict_run.stdout)
    assert [p["severity"] for p in lenient["problems"]].count("warning") == 2
    assert [p["severity"] for p in strict["problems"]] == ["error"] * len(strict["problems"])
    assert [p["code"] for p in strict["problems"]] == [p["code"] for p in lenient["problems"]]
    assert (strict["valid"], strict["invalid"], strict["warnings"]) == (0, 6, 0)


def test_strict_decides_the_exit_code_for_warnings_only(tmp_path: Path) -> None:
    warned = [t for t in tasks_of(BOXES, "negative") if t["meta"]["expect"][0].startswith(
        "config.outside-image"
    )]  # fmt: skip
    path = tmp_path / "warned.json"
    path.write_text(json.dumps(warned))
    config = TEMPLATES / BOXES / "config.xml"
    lenient = lsimport("validate", path, "-c", config)
    assert lenient.returncode == 0
    assert " warning: " in lenient.stdout
    assert lenient.stdout.splitlines()[-1].startswith("ok: 1 record(s)")
    strict = lsimport("validate", path, "-c", config, "--strict")
    assert strict.returncode == 1
    assert " error: " in strict.stdout and "[config.outside-image]" in strict.stdout


def test_github_output() -> None:
    name = "named-entity-recognition"
    path = f"{name}/negative.json"
    result = lsimport("validate", path, "-c", f"{name}/config.xml", "--output", "github")
    assert result.returncode == 1
    *annotations, notice, summary = result.stdout.splitlines()
    lines = start_lines(TEMPLATES / path)
    pattern = re.compile(
        r"^::(error|warning) file=([^,]+),line=(\d+),title=lsimport ([\w.-]+)::"
        r"record (\d+): (/\S*): (.+)$"
    )
    parsed = [pattern.match(a) for a in annotations]
    assert all(parsed), annotations
    got = [
        (int(m[5]), m[1], m[4], m[6], m[2], int(m[3]))
        for m in parsed
        if m
    ]  # fmt: skip
    assert got == [
        (rec, severity, code, pointer, path, lines[rec - 1])
        for rec, severity, code, pointer in expected_problems(name)
    ]
    assert notice.startswith("::notice title=lsimport totals::")
    assert summary == "FAILED: 5 record(s) in 1 file(s): 0 valid, 5 invalid, 0 warning(s)"


def test_github_output_escapes_properties(tmp_path: Path) -> None:
    odd = tmp_path / "a,b:c.jsonl"
    odd.write_bytes(b'{"text": 1}\n[]\n')
    result = lsimport("validate", odd.name, "-o", "github", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        "::error file=a%2Cb%3Ac.jsonl,line=2,title=lsimport read.not-an-object::"
        "record 2: a task must be a JSON object, got array"
    )


def test_quiet_prints_nothing_when_all_is_valid() -> None:
    name = "taxonomy"
    result = lsimport("validate", f"{name}/positive.json", "-c", f"{name}/config.xml", "-q")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


# --- inputs: stdin, several files, other formats ------------------------------------------------


def test_stdin_gives_the_same_findings_as_the_file() -> None:
    name = "relation-extraction"
    path = TEMPLATES / name / "negative.json"
    from_file = json.loads(lsimport("validate", path, "-c", path.parent / "config.xml",
                                    "-o", "json").stdout)  # fmt: skip
    piped = lsimport("validate", "-", "-c", path.parent / "config.xml", "-o", "json",
                     stdin=path.read_bytes())  # fmt: skip
    assert piped.returncode == 1
    from_stdin = json.loads(piped.stdout)
    assert {p["file"] for p in from_stdin["problems"]} == {"<stdin>"}
    strip = [{k: v for k, v in p.items() if k != "file"} for p in from_file["problems"]]
    assert [{k: v for k, v in p.items() if k != "file"} for p in from_stdin["problems"]] == strip


def test_stdin_jsonl_and_gzip_are_sniffed() -> None:
    name = "keypoints"
    config = TEMPLATES / name / "config.xml"
    tasks = tasks_of(name, "positive") + tasks_of(name, "negative")
    jsonl = b"".join(json.dumps(t).encode() + b"\n" for t in tasks)
    for stdin in (jsonl, gzip.compress(jsonl)):
        result = lsimport("validate", "-", "-c", config, "-o", "json", stdin=stdin)
        assert result.returncode == 1
        doc = json.loads(result.stdout)
        n_pos = len(tasks_of(name, "positive"))
        assert [(p["record"], p["line"], p["code"]) for p in doc["problems"]] == [
            (n_pos + rec, n_pos + rec, code) for rec, _, code, _ in expected_problems(name)
        ]
    valid_only = b"".join(json.dumps(t).encode() + b"\n" for t in tasks_of(name, "positive"))
    assert lsimport("validate", "-", "-c", config, stdin=valid_only).returncode == 0


def test_several_files_and_formats(tmp_path: Path) -> None:
    name = "text-classification"
    positive = TEMPLATES / name / "positive.json"
    negative = TEMPLATES / name / "negative.json"
    csv_file = tmp_path / "tasks.csv"
    prediction = json.dumps(tasks_of(name, "positive")[0]["predictions"]).replace('"', '""')
    csv_file.write_text(f'text,predictions\n"Good, really",""\nFine,"{prediction}"\n')
    gz = tmp_path / "negative.json.gz"
    gz.write_bytes(gzip.compress(negative.read_bytes()))
    result = lsimport(
        "validate", positive, csv_file, gz, "-c", TEMPLATES / name / "config.xml", "-o", "json"
    )
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    n_pos, n_neg = len(tasks_of(name, "positive")), len(tasks_of(name, "negative"))
    assert (doc["files"], doc["records"], doc["invalid"]) == (3, n_pos + 2 + n_neg, n_neg)
    assert {p["file"] for p in doc["problems"]} == {str(gz)}
    only_good = lsimport("validate", positive, csv_file, "-c", TEMPLATES / name / "config.xml")
    assert only_good.returncode == 0, only_good.stdout
    assert only_good.stdout.endswith(f"{n_pos + 2} record(s) in 2 file(s): {n_pos + 2} valid, "
                                     "0 invalid, 0 warning(s)\n")  # fmt: skip


def test_format_option(tmp_path: Path) -> None:
    odd = tmp_path / "tasks.txt"
    odd.write_text('{"text": "a"}\n{"text": "b"}\n')
    as_jsonl = lsimport("validate", odd, "--format", "jsonl")
    assert as_jsonl.stdout.endswith(
        "ok: 2 record(s) in 1 file(s): 2 valid, 0 invalid, 0 warning(s)\n"
    )
    as_csv = lsimport("validate", odd, "--format", "csv", "-o", "json")
    assert json.loads(as_csv.stdout)["records"] == 1  # the first line was taken as the header


def test_without_a_config_only_the_structure_is_checked() -> None:
    name = "text-classification"
    result = lsimport("validate", f"{name}/negative.json", "-o", "json")
    assert result.returncode == 1
    problems = json.loads(result.stdout)["problems"]
    assert [(p["record"], p["code"]) for p in problems] == [(4, "schema.score")]


def test_a_file_problem_fails_the_run(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    result = lsimport("validate", empty, "-o", "json")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert (doc["records"], [p["code"] for p in doc["problems"]]) == (0, ["read.empty"])
    assert doc["problems"][0]["record"] is None


# --- usage errors: exit 2, one clear message, never a traceback --------------------------------


def test_missing_input_file(tmp_path: Path) -> None:
    result = lsimport("validate", "nope.jsonl", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == ["lsimport: error: nope.jsonl: no such file"]


def test_missing_input_among_good_ones_reads_nothing(tmp_path: Path) -> None:
    good = TEMPLATES / "taxonomy" / "positive.json"
    result = lsimport("validate", good, tmp_path / "missing.json")
    assert (result.returncode, result.stdout) == (2, "")
    assert len(result.stderr.splitlines()) == 1
    assert "missing.json: no such file" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "No such option: --bogus"),
        (["--output", "xml"], "--output"),
        (["--format", "yaml"], "--format"),
    ],
)
def test_bad_options(args: list[str], message: str) -> None:
    result = lsimport("validate", "taxonomy/positive.json", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_no_paths() -> None:
    result = lsimport("validate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("<View><Text name='text' value='$text'/>", "not valid XML"),
        ("not xml at all", "not valid XML"),
        (
            '<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            '<View><Text name="text" value="$text"/><Header value="&b;"/></View>',
            "refused",
        ),
    ],
)
def test_bad_config(tmp_path: Path, config: str, message: str) -> None:
    path = tmp_path / "config.xml"
    path.write_text(config)
    result = lsimport("validate", TEMPLATES / "taxonomy" / "positive.json", "-c", path)
    assert result.returncode == 2
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"lsimport: error: {path}")
    assert message in first
    assert "Traceback" not in result.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    result = lsimport(
        "validate", TEMPLATES / "taxonomy" / "positive.json", "-c", tmp_path / "none.xml"
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"lsimport: error: {tmp_path / 'none.xml'}: no such labeling config file"
    ]


# --- the oracle: Label Studio's own SDK agrees with the data ---------------------------------

REPO = Path(__file__).resolve().parent.parent.parent
ORACLE = """
import json, sys
from pathlib import Path
from label_studio_sdk.label_interface import LabelInterface

out = {}
for d in sorted(Path(sys.argv[1]).iterdir()):
    li = LabelInterface((d / "config.xml").read_text())
    variables = [o.value_name for o in li.objects if o.value_is_variable]
    for kind in ("positive", "negative"):
        for i, task in enumerate(json.loads((d / f"{kind}.json").read_text()), 1):
            data = task.get("data", task)
            errors = [f"data lacks {v}" for v in variables if data.get(v) is None]
            for key in ("predictions", "annotations"):
                for p in task.get(key, []):
                    errors += li.validate_prediction(p, return_errors=True)
            out[f"{d.name}/{kind}/{i}"] = [str(e) for e in errors]
print(json.dumps(out))
"""
# What the SDK checks too. lsimport is stricter elsewhere: spans with start > end, duplicate
# ids, relation labels, negative coordinates, data types, and the warnings.
SDK_CHECKED = {
    "config.from-name", "config.to-name", "config.type", "config.value", "config.label",
    "config.labels", "config.points", "config.relation", "schema.score", "schema.relation",
}  # fmt: skip


def test_templates_agree_with_label_studio_sdk() -> None:
    # Label Studio's venv (with its SDK), installed first on a new machine, as the
    # integration tests do: never skipped for want of it.
    installed = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "lsserver.py"), "install"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert installed.returncode == 0, installed.stderr
    ls_venv = Path(installed.stdout.strip().splitlines()[-1])
    result = subprocess.run(
        [str(ls_venv / "bin" / "python"), "-c", ORACLE, str(TEMPLATES)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    verdicts = json.loads(result.stdout)
    for name in NAMES:
        for i, _ in enumerate(tasks_of(name, "positive"), 1):
            assert verdicts[f"{name}/positive/{i}"] == [], f"{name} positive {i}"
        for i, task in enumerate(tasks_of(name, "negative"), 1):
            codes = {item.split(" ")[0] for item in task["meta"]["expect"]}
            if codes & SDK_CHECKED:
                assert verdicts[f"{name}/negative/{i}"], f"{name} negative {i}: SDK accepts it"


@pytest.mark.parametrize(
    "name", ["named-entity-recognition", "object-detection-with-bounding-boxes"]
)
@pytest.mark.parametrize("fmt", ["jsonl", "json", "stdin"])
def test_big_inputs_report_exactly_what_small_ones_do(tmp_path: Path, name: str, fmt: str) -> None:
    """Over 1 MB, validate screens clean records from their bytes (lsimport/check/screen.py).

    The negatives, spread through thousands of positives, must come out with the same
    findings as when validated alone (a small file: parsed and checked), at their own place."""
    config = TEMPLATES / name / "config.xml"
    positives = [json.dumps(t) for t in tasks_of(name, "positive")]
    negatives = [json.dumps(t) for t in tasks_of(name, "negative")]
    alone = lsimport("validate", f"{name}/negative.json", "-c", config, "-o", "json")
    alone_problems = json.loads(alone.stdout)["problems"]
    lines: list[str] = []
    where: dict[int, int] = {}  # record number in the big file -> number in negative.json
    size = 0
    while size < 1_200_000:
        for i, negative in enumerate(negatives, 1):
            lines.extend(positives * 7)
            lines.append(negative)
            where[len(lines)] = i
            size += len(negative) + 7 * sum(map(len, positives))
    path = tmp_path / f"big.{'json' if fmt == 'json' else 'jsonl'}"
    if fmt == "json":
        path.write_text("[\n" + ",\n".join(lines) + "\n]\n")
    else:
        path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 1 << 20
    if fmt == "stdin":
        done = lsimport("validate", "-", "-c", config, "-o", "json", stdin=path.read_bytes())
    else:
        done = lsimport("validate", path, "-c", config, "-o", "json")
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert doc["records"] == len(lines)
    assert doc["invalid"] == sum(
        1
        for i in where.values()
        if any(p["record"] == i and p["severity"] == "error" for p in alone_problems)
    )

    def key(p: dict[str, Any], record: int) -> tuple[Any, ...]:
        return (record, p["severity"], p["code"], p["pointer"], p["message"])

    expected = [
        key(p, i) for _, i in sorted(where.items()) for p in alone_problems if p["record"] == i
    ]
    assert [key(p, where[p["record"]]) for p in doc["problems"]] == expected
    first_line = 2 if fmt == "json" else 1  # the array's "[" has a line of its own
    assert all(p["line"] == p["record"] + first_line - 1 for p in doc["problems"])
