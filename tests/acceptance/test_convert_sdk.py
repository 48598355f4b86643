"""`lsimport convert` against the official converter, region by region.

label-studio-converter (`label_studio_sdk.converter`, in Label Studio's own venv, run as a
subprocess: the project's venv never imports it) converts the same YOLO and COCO inputs;
every region must have the same type, labels, image size and geometry (to 1e-3 percent),
and every task the same `data.image`. What lsimport adds (confidences as the prediction's
score, RLE, oriented boxes, polygons and keypoints from YOLO, ultralytics' predict layout)
the official converter does not make, so it is tested elsewhere (tests/unit).
"""

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
TOLERANCE = 1e-3  # percent

ORACLE = r"""
import json, sys
from label_studio_sdk.converter.imports.coco import convert_coco_to_ls
from label_studio_sdk.converter.imports.yolo import convert_yolo_to_ls

fmt, src, out = sys.argv[1:4]
if fmt == "yolo":
    convert_yolo_to_ls(src, out, out_type="predictions", image_ext=".jpg,.jpeg,.png")
else:
    convert_coco_to_ls(src, out, out_type="predictions")
"""


@pytest.fixture(scope="module")
def ls_python() -> Path:
    """Label Studio's venv python, installed first on a new machine (never skipped)."""
    installed = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "lsserver.py"), "install"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert installed.returncode == 0, installed.stderr
    return Path(installed.stdout.strip().splitlines()[-1]) / "bin" / "python"


def official(ls_python: Path, fmt: str, src: Path, tmp: Path) -> list[dict[str, Any]]:
    out = tmp / "official.json"
    done = subprocess.run(
        [str(ls_python), "-c", ORACLE, fmt, str(src), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    tasks: list[dict[str, Any]] = json.loads(out.read_text())
    return tasks


def ours(*args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "lsimport", "convert", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def regions(task: dict[str, Any]) -> list[dict[str, Any]]:
    preds = task.get("predictions") or [{"result": []}]
    assert len(preds) == 1
    result: list[dict[str, Any]] = preds[0]["result"]
    return result


GEOMETRY = {
    "rectanglelabels": ("x", "y", "width", "height", "rotation"),
    "keypointlabels": ("x", "y"),
    "polygonlabels": (),
}


def assert_same_regions(mine: dict[str, Any], theirs: dict[str, Any], where: str) -> None:
    a, b = regions(mine), regions(theirs)
    assert len(a) == len(b), f"{where}: {len(a)} regions, official {len(b)}"
    for i, (r, s) in enumerate(zip(a, b, strict=True)):
        at = f"{where} region {i}"
        assert r["type"] == s["type"], at
        kind = r["type"]
        assert r["value"][kind] == s["value"][kind], at
        assert r["to_name"] == s["to_name"], at
        assert (r["original_width"], r["original_height"]) == (
            s["original_width"],
            s["original_height"],
        ), at
        for key in GEOMETRY[kind]:
            assert abs(r["value"][key] - s["value"][key]) <= TOLERANCE, f"{at} {key}"
        if kind == "polygonlabels":
            assert len(r["value"]["points"]) == len(s["value"]["points"]), at
            for p, q in zip(r["value"]["points"], s["value"]["points"], strict=True):
                assert abs(p[0] - q[0]) <= TOLERANCE and abs(p[1] - q[1]) <= TOLERANCE, at
        if kind == "keypointlabels":
            assert r["value"].get("hidden", False) == s["value"].get("hidden", False), at
        assert r.get("score") == s.get("score"), at


def by_image(tasks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["data"]["image"]: t for t in tasks}


def test_yolo_boxes_are_the_official_converters(ls_python: Path, tmp_path: Path) -> None:
    src = tmp_path / "yolo"
    shutil.copytree(SAMPLES / "yolo", src)
    # a confidence column too: the official converter keeps it as the region's score
    (src / "labels" / "park.txt").write_text("0 0.1 0.2 0.1 0.3 0.75\n2 0.33 0.66 0.2 0.1\n")
    theirs = by_image(official(ls_python, "yolo", src, tmp_path))
    mine = by_image(ours("yolo", str(src)))
    assert set(mine) == set(theirs) and len(mine) == 3
    for image, task in mine.items():
        assert_same_regions(task, theirs[image], image)


@pytest.mark.parametrize("root", [None, "http://cdn.example.com/data", "s3://bucket/images/"])
def test_yolo_image_urls_are_the_official_converters(
    ls_python: Path, tmp_path: Path, root: str | None
) -> None:
    src = tmp_path / "yolo"
    shutil.copytree(SAMPLES / "yolo", src)
    script = (
        "import sys, json\n"
        "from label_studio_sdk.converter.utils import join_input_url\n"
        "print(json.dumps(join_input_url(sys.argv[1], 'a b/c#1.jpg')))\n"
    )
    from lsimport.convert.core import join_url

    default = "/data/local-files/?d=images"
    done = subprocess.run(
        [str(ls_python), "-c", script, root or default], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert join_url(root or default, "a b/c#1.jpg") == json.loads(done.stdout)
    args = ["--image-root-url", root] if root else []
    if root:
        theirs = subprocess.run(
            [
                str(ls_python),
                "-c",
                "import sys\n"
                "from label_studio_sdk.converter.imports.yolo import convert_yolo_to_ls\n"
                "convert_yolo_to_ls(sys.argv[1], sys.argv[2], image_root_url=sys.argv[3])\n",
                str(src),
                str(tmp_path / "o.json"),
                root,
            ],
            capture_output=True,
            text=True,
        )
        assert theirs.returncode == 0, theirs.stderr
        images = {t["data"]["image"] for t in json.loads((tmp_path / "o.json").read_text())}
    else:
        images = set(by_image(official(ls_python, "yolo", src, tmp_path)))
    assert set(by_image(ours("yolo", str(src), *args))) == images


def test_coco_boxes_polygons_keypoints_are_the_official_converters(
    ls_python: Path, tmp_path: Path
) -> None:
    doc = json.loads((SAMPLES / "coco" / "instances.json").read_text())
    # the official converter cannot read RLE (it takes the dict's keys for polygons)
    doc["annotations"] = [a for a in doc["annotations"] if not a.get("iscrowd")]
    src = tmp_path / "instances.json"
    src.write_text(json.dumps(doc))
    theirs = official(ls_python, "coco", src, tmp_path)
    mine = ours("coco", str(src))
    assert [t["data"]["image"] for t in mine] == [t["data"]["image"] for t in theirs]
    kinds = {r["type"] for t in mine for r in regions(t)}
    assert kinds == {"rectanglelabels", "polygonlabels", "keypointlabels"}
    for a, b in zip(mine, theirs, strict=True):
        assert_same_regions(a, b, a["data"]["image"])
