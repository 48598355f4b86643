"""`lsimport convert` through the real command line: streams, files, exit codes, messages."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_data" / "convert"
TEMPLATES = REPO / "tests" / "data" / "templates"


def lsimport(
    *args: str | Path, cwd: Path | None = None, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lsimport", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


EVERY_FORMAT = [
    ("yolo", [SAMPLES / "yolo"]),
    ("yolo", [SAMPLES / "yolo-predict", "--classes", "person,car"]),
    ("yolo", [SAMPLES / "yolo-seg"]),
    ("yolo", [SAMPLES / "yolo-obb", "--obb"]),
    ("yolo", [SAMPLES / "yolo-pose"]),
    ("coco", [SAMPLES / "coco" / "instances.json"]),
    ("coco", [SAMPLES / "coco" / "instances.json", SAMPLES / "coco" / "results.json"]),
    ("masks", [SAMPLES / "masks", "--classes", SAMPLES / "masks" / "classes.json"]),
    ("hf", [SAMPLES / "hf" / "sentiment.jsonl"]),
    ("hf", [SAMPLES / "hf" / "ner.jsonl"]),
    ("hf", [SAMPLES / "hf" / "detections.jsonl"]),
    ("hf", [SAMPLES / "hf" / "image-classes.jsonl"]),
    ("mot", [SAMPLES / "mot" / "MOT17-02"]),
]


@pytest.mark.parametrize(("fmt", "args"), EVERY_FORMAT, ids=lambda v: str(v)[-30:])
def test_output_and_generated_config_pass_validate(
    tmp_path: Path, fmt: str, args: list[str | Path]
) -> None:
    """What convert writes, `validate` accepts against the config convert wrote."""
    config = tmp_path / "config.xml"
    done = lsimport("convert", fmt, *args, "--config-out", config, "--model-version", "m1")
    assert done.returncode == 0, done.stderr
    tasks = lines(done.stdout)
    assert tasks and all(
        p["model_version"] == "m1" for t in tasks for p in t.get("predictions", [])
    )
    assert done.stderr.startswith("ok: ")
    checked = lsimport("validate", "-", "--label-config", config, "--strict", stdin=done.stdout)
    assert checked.returncode == 0, checked.stdout
    assert f"{len(tasks)} valid, 0 invalid, 0 warning(s)" in checked.stdout


def test_output_file_and_stdout_hold_the_same_tasks(tmp_path: Path) -> None:
    out = tmp_path / "tasks.jsonl"
    to_file = lsimport("convert", "yolo", SAMPLES / "yolo", "-o", out)
    assert to_file.returncode == 0 and to_file.stdout == ""
    assert "written to " + str(out) in to_file.stderr
    assert out.read_text() == lsimport("convert", "yolo", SAMPLES / "yolo").stdout
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.jsonl"]  # no temporary file left


def test_output_onto_an_input_is_refused(tmp_path: Path) -> None:
    src = Path(shutil.copytree(SAMPLES / "yolo", tmp_path / "yolo"))
    label = src / "labels" / "street.txt"
    before = label.read_bytes()
    for target in (label, src / "classes.txt", src / "images" / "park.png"):
        done = lsimport("convert", "yolo", src, "-o", target)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"lsimport: error: -o {target}: ")
    assert label.read_bytes() == before
    hf = tmp_path / "ner.jsonl"
    shutil.copy(SAMPLES / "hf" / "ner.jsonl", hf)
    done = lsimport("convert", "hf", hf, "-o", hf)
    assert done.returncode == 2 and "one of the input files" in done.stderr
    assert hf.read_bytes() == (SAMPLES / "hf" / "ner.jsonl").read_bytes()


def test_bad_records_are_reported_and_the_good_ones_written(tmp_path: Path) -> None:
    src = Path(shutil.copytree(SAMPLES / "yolo", tmp_path / "yolo"))
    (src / "labels" / "park.txt").write_text("0 0.1 0.2 0.1 0.3\n5 0.1 0.1 0.1 0.1\n")
    done = lsimport("convert", "yolo", src)
    assert done.returncode == 1
    assert len(lines(done.stdout)) == 2
    park = src / "labels" / "park.txt"
    assert done.stderr.splitlines() == [
        f"{park}:2: record 2: error: line 2: class 5 has no name (classes: 3) [convert.yolo]",
        "FAILED: 2 task(s) with 3 region(s) written to stdout; 1 not converted, 0 warning(s)",
    ]


def test_a_given_config_names_the_controls_and_checks_the_labels(tmp_path: Path) -> None:
    config = TEMPLATES / "object-detection-with-bounding-boxes" / "config.xml"
    done = lsimport("convert", "yolo", SAMPLES / "yolo", "--label-config", config)
    # the template's labels are Airplane, Car: person and bicycle are not among them
    assert done.returncode == 1
    assert "not among the labels of 'label'" in done.stderr
    good = lsimport("convert", "hf", SAMPLES / "hf" / "detections.jsonl", "--label-config", config)
    assert good.returncode == 1  # remote, cat, dog: not in the template either
    refused = lsimport(
        "convert", "yolo", SAMPLES / "yolo", "--label-config", config, "--config-out", "x.xml"
    )
    assert refused.returncode == 2 and "--config-out" in refused.stderr


def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    cases = [
        (("convert", "nope", "x"), "must be one of yolo, coco, masks, mot, hf"),
        (("convert", "yolo", tmp_path / "missing"), "no such file or directory"),
        (("convert", "yolo", SAMPLES / "yolo-predict"), "no class names"),
        (("convert", "masks", SAMPLES / "masks"), "masks need a class map"),
        (("convert", "mot", SAMPLES / "mot" / "tracker"), "no gt/gt.txt or det/det.txt"),
        (("convert", "mot", SAMPLES / "mot" / "MOT17-02", "--video-size", "big"), "WIDTHxHEIGHT"),
        (("convert", "coco", SAMPLES / "coco" / "results.json"), "needs the dataset file"),
        (("convert", "hf", "-"), "not stdin"),
        (("convert", "yolo", SAMPLES / "yolo", "-o", tmp_path / "no" / "x.jsonl"), "cannot write"),
        (
            ("convert", "yolo", SAMPLES / "yolo", "--config-out", tmp_path / "no" / "c.xml"),
            "--config",
        ),
    ]
    for args, message in cases:
        done = lsimport(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("lsimport: error: ") and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_a_missing_extra_is_one_line_naming_the_pip_command(tmp_path: Path) -> None:
    # numpy that cannot be imported, as on an install without lsimport[convert]
    (tmp_path / "numpy").mkdir()
    (tmp_path / "numpy" / "__init__.py").write_text("raise ImportError('no numpy here')\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}
    done = lsimport("convert", "masks", SAMPLES / "masks", "--classes", "1=road", env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "lsimport: error: this conversion needs numpy, which is not installed",
        "  hint: pip install 'lsimport[convert]'",
    ]
    # yolo boxes need none of the extra
    assert lsimport("convert", "yolo", SAMPLES / "yolo", env=env).returncode == 0


def test_validate_does_not_import_convert_or_its_extra() -> None:
    code = (
        "import sys, lsimport.cli, lsimport.run\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'PIL', 'yaml')"
        " or m.startswith('lsimport.convert')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_convert_pipes_into_validate_and_help_lists_the_formats() -> None:
    done = subprocess.run(
        f"{sys.executable} -m lsimport convert coco {SAMPLES / 'coco' / 'instances.json'} -q"
        f" | {sys.executable} -m lsimport validate - -q",
        shell=True,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
    assert "yolo, coco, masks, mot or hf" in lsimport("convert", "--help").stdout
