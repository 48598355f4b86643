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


DECODER = r"""
import json, sys
import numpy as np
from label_studio_sdk.converter.brush import decode_rle

out = []
for line in sys.stdin:
    r = json.loads(line)
    h, w = r["original_height"], r["original_width"]
    rgba = decode_rle(r["value"]["rle"]).reshape(h, w, 4)
    same = bool((rgba == rgba[:, :, :1]).all())
    out.append({"alpha": rgba[:, :, 3].tolist(), "same_channels": same})
print(json.dumps(out))
"""


def sdk_decoded(ls_python: Path, brush: list[dict[str, Any]]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(ls_python), "-c", DECODER],
        input="".join(json.dumps(r) + "\n" for r in brush),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    decoded: list[dict[str, Any]] = json.loads(done.stdout)
    return decoded


def test_masks_come_back_bit_for_bit_from_the_sdks_brush_decoder(ls_python: Path) -> None:
    import numpy as np
    from PIL import Image

    classes = {1: "road", 2: "car"}
    masks = {
        "road": np.asarray(Image.open(SAMPLES / "masks" / "road.png")),
        "junction": np.load(SAMPLES / "masks" / "junction.npy"),
        **dict(np.load(SAMPLES / "masks" / "batch.npz")),
    }
    tasks = ours("masks", str(SAMPLES / "masks"), "--classes", "1=road,2=car")
    brush = []
    expected = []
    for task in tasks:
        stem = task["data"]["image"].rsplit("/", 1)[1].removesuffix(".jpg")
        mask = masks.pop(stem)
        present = [v for v in np.unique(mask).tolist() if v in classes]
        assert [r["value"]["brushlabels"] for r in regions(task)] == [[classes[v]] for v in present]
        for region, value in zip(regions(task), present, strict=True):
            assert (region["original_height"], region["original_width"]) == mask.shape
            brush.append(region)
            expected.append((mask == value).astype(np.uint8) * 255)
    assert not masks, f"no task for {sorted(masks)}"
    for got, want in zip(sdk_decoded(ls_python, brush), expected, strict=True):
        assert got["same_channels"]
        assert np.array_equal(np.array(got["alpha"], dtype=np.uint8), want)


def test_coco_rle_becomes_brush_the_sdk_decodes_to_the_same_mask(ls_python: Path) -> None:
    import numpy as np

    doc = json.loads((SAMPLES / "coco" / "instances.json").read_text())
    crowd = next(a for a in doc["annotations"] if a.get("iscrowd"))
    h, w = crowd["segmentation"]["size"]
    # COCO RLE: runs of 0s and 1s down the columns, starting with 0s
    flat = np.repeat(
        np.arange(len(crowd["segmentation"]["counts"])) % 2, crowd["segmentation"]["counts"]
    )
    want = flat.reshape(w, h).T.astype(np.uint8) * 255
    tasks = ours("coco", str(SAMPLES / "coco" / "instances.json"))
    brush = [r for t in tasks for r in regions(t) if r["type"] == "brushlabels"]
    assert len(brush) == 1 and brush[0]["value"]["brushlabels"] == ["person"]
    (got,) = sdk_decoded(ls_python, brush)
    assert np.array_equal(np.array(got["alpha"], dtype=np.uint8), want)


OBB_BACK = r"""
import json, sys
from label_studio_sdk.converter.utils import convert_annotation_to_yolo_obb

out = []
for line in sys.stdin:
    r = json.loads(line)
    size = {k: r[k] for k in ("original_width", "original_height")}
    label = {**r["value"], **size}
    out.append(convert_annotation_to_yolo_obb(label))
print(json.dumps(out))
"""


def test_oriented_boxes_go_back_to_their_corners_through_the_sdks_yolo_obb_export(
    ls_python: Path,
) -> None:
    tasks = ours("yolo", str(SAMPLES / "yolo-obb"), "--obb")
    boxes = regions(tasks[0])
    done = subprocess.run(
        [str(ls_python), "-c", OBB_BACK],
        input="".join(json.dumps(r) + "\n" for r in boxes),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = (SAMPLES / "yolo-obb" / "labels" / "harbour.txt").read_text().splitlines()
    for corners, line in zip(json.loads(done.stdout), lines, strict=True):
        given = [float(v) for v in line.split()[1:9]]
        given_points = {(round(given[i], 6), round(given[i + 1], 6)) for i in range(0, 8, 2)}
        back = {(round(x, 6), round(y, 6)) for x, y in corners}
        assert back == given_points
