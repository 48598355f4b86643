"""YOLO: a dataset directory or ultralytics `predict --save-txt --save-conf` output.

Layouts (what ultralytics writes and reads):

    dataset/                         runs/detect/predict/
      images/[split/]a.jpg             a.jpg          (the images, drawn on: same size)
      labels/[split/]a.txt             labels/a.txt
      classes.txt or data.yaml

Each label line is `class` then normalised coordinates, and with `--save-conf` the
confidence last:

    detect   class cx cy w h [conf [track id]]
    segment  class x1 y1 x2 y2 ... [conf]          (3 points or more)
    obb      class x1 y1 x2 y2 x3 y3 x4 y4 [conf]  (--obb: same columns as a 4-point polygon)
    pose     class cx cy w h  k1x k1y [k1v] ... [conf]  (data.yaml `kpt_shape: [K, 2 or 3]`)

The kind is the first label line's (a detect and a segment line never have the same number
of columns); a line of another kind later is reported where it is.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lsimport.convert.core import (
    Plan,
    TaskBuilder,
    join_url,
    keypoint,
    load_yaml,
    names_from,
    ordered_labels,
    parse_classes,
    problem,
    read_class_file,
    rectangle,
)
from lsimport.convert.imagesize import IMAGE_EXTENSIONS, ImageSizeError, image_size
from lsimport.errors import UsageError
from lsimport.model import Record, error
from lsimport.settings import ConvertOptions

# label-studio-converter's default (images served by Label Studio's local storage)
DEFAULT_ROOT_URL = "/data/local-files/?d=images"
PREDICT_ROOT_URL = "/data/local-files/?d="  # predict writes the images beside labels/
MODES = ("detect", "segment", "obb", "pose")


class YoloConverter:
    def __init__(self, paths: list[Path], options: ConvertOptions) -> None:
        if len(paths) != 1 or not paths[0].is_dir():
            raise UsageError(
                "yolo takes one directory: a dataset (images/, labels/) or an ultralytics "
                "predict output (runs/detect/predict)"
            )
        self.root = root = paths[0]
        self.options = options
        self.labels_dir = root / "labels"
        if not self.labels_dir.is_dir():
            raise UsageError(
                f"{root}: no labels/ directory",
                hint="for predictions run `yolo predict ... save_txt=True save_conf=True`",
            )
        self.images_dir = root / "images" if (root / "images").is_dir() else root
        self._read: list[Path] = []
        yaml_path = next(
            (p for p in (root / "data.yaml", root / "dataset.yaml") if p.is_file()), None
        )
        doc: Any = load_yaml(yaml_path, yaml_path.read_text("utf-8")) if yaml_path else None
        if yaml_path:
            self._read.append(yaml_path)
        self.names = self._class_names(doc)
        self.kpt_shape: tuple[int, int] | None = None
        if isinstance(doc, dict) and doc.get("kpt_shape") is not None:
            shape = doc["kpt_shape"]
            if not (
                isinstance(shape, list)
                and len(shape) == 2
                and all(isinstance(v, int) for v in shape)
                and shape[1] in (2, 3)
            ):
                raise UsageError(f"{yaml_path}: kpt_shape must be [K, 2] or [K, 3]")
            self.kpt_shape = (shape[0], shape[1])
        self.mode = "pose" if self.kpt_shape else "obb" if options.obb else self._sniff_mode()

    def _class_names(self, doc: Any) -> dict[int, str]:
        if self.options.classes:
            return parse_classes(self.options.classes)
        classes_txt = self.root / "classes.txt"
        if classes_txt.is_file():
            self._read.append(classes_txt)
            return read_class_file(classes_txt)
        if isinstance(doc, dict) and doc.get("names") is not None:
            return names_from(doc["names"], "data.yaml `names`")
        raise UsageError(
            f"{self.root}: no class names (classes.txt or data.yaml)",
            hint="pass --classes cat,dog (class 0, 1, ...) or --classes data.yaml",
        )

    def _sniff_mode(self) -> str:
        for path, _ in _walk(str(self.labels_dir), (".txt",), recursive=True):
            with open(path, "rb") as fh:
                for raw in fh:
                    n = len(raw.split())
                    if n >= 5:  # shorter: a broken line, reported where it is
                        return "detect" if n in (5, 6, 7) else "segment"
        return "detect"

    def plan(self) -> Plan:
        kinds: tuple[str, ...] = {
            "detect": ("rectanglelabels",),
            "obb": ("rectanglelabels",),
            "segment": ("polygonlabels",),
            "pose": ("rectanglelabels", "keypointlabels"),
        }[self.mode]
        return Plan("image", kinds, ordered_labels(self.names))

    def inputs(self) -> Iterator[Path | str]:
        yield from self._read
        yield from (path for path, _ in _walk(str(self.labels_dir), (".txt",), recursive=True))

    def records(self, build: TaskBuilder) -> Iterator[Record]:
        recursive = self.images_dir != self.root  # a dataset; else predict's output
        root_url = self.options.image_root_url or (
            DEFAULT_ROOT_URL if recursive else PREDICT_ROOT_URL
        )
        number = 0
        labels = str(self.labels_dir)
        # Strings, not Paths, per file: pathlib interns every part, and CPython's table of
        # interned strings never shrinks (memory would grow with the dataset).
        for image, rel in _walk(str(self.images_dir), IMAGE_EXTENSIONS, recursive=recursive):
            number += 1
            label_file = os.path.join(labels, os.path.splitext(rel)[0] + ".txt")
            data = {"image": join_url(root_url, rel.replace(os.sep, "/"))}
            if not os.path.isfile(label_file):
                yield Record(image, number, 1, {"data": data})  # nothing detected
                continue
            try:
                size = image_size(image)
            except ImageSizeError as exc:
                yield problem(image, 1, "convert.image", str(exc), number)
                continue
            yield self._task(label_file, number, data, size, build)
        if number == 0 and any(_walk(labels, (".txt",), recursive=True)):
            raise UsageError(
                f"{self.root}: labels but no images (looked in {self.images_dir})",
                hint="image sizes come from the images: run predict with save=True, or copy "
                "the images next to labels/",
            )

    def _task(
        self,
        path: str,
        number: int,
        data: dict[str, Any],
        size: tuple[int, int],
        build: TaskBuilder,
    ) -> Record:
        regions: list[dict[str, Any]] = []
        findings = []
        first_bad = 0
        with open(path, "rb") as fh:
            for line_no, raw in enumerate(fh, 1):
                fields = raw.split()
                if not fields:
                    continue
                try:
                    regions.extend(self._line(fields, size, build))
                except (ValueError, KeyError) as exc:
                    first_bad = first_bad or line_no
                    message = (
                        exc.args[0]
                        if isinstance(exc, ValueError)
                        else (f"class {exc.args[0]} has no name (classes: {len(self.names)})")
                    )
                    findings.append(error("convert.yolo", f"line {line_no}: {message}"))
        if findings:
            return Record(path, number, first_bad, None, findings=findings)
        return Record(path, number, 1, build.task(data, regions))

    def _line(
        self, fields: list[bytes], size: tuple[int, int], build: TaskBuilder
    ) -> list[dict[str, Any]]:
        try:
            cls = int(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError:
            raise ValueError(
                "not numbers: a label line is `class x y ...` with an integer class"
            ) from None
        label = self.names[cls]
        n = len(values)
        mode = self.mode
        if mode == "detect":
            if n not in (4, 5, 6):  # 6: `yolo track` adds the track id after conf
                raise ValueError(_columns(n, "a box: class cx cy w h [conf [track id]]"))
            cx, cy, w, h = values[:4]
            score = values[4] if n >= 5 else None
            value = rectangle((cx - w / 2) * 100, (cy - h / 2) * 100, w * 100, h * 100)
            return [build.region("rectanglelabels", value, label, score=score, size=size)]
        if mode == "segment":
            if n < 6:
                raise ValueError(_columns(n, "a polygon: class x1 y1 x2 y2 x3 y3 ... [conf]"))
            score = values.pop() if n % 2 else None
            points = [[values[i] * 100, values[i + 1] * 100] for i in range(0, len(values), 2)]
            return [
                build.region("polygonlabels", {"points": points}, label, score=score, size=size)
            ]
        if mode == "obb":
            if n not in (8, 9):
                raise ValueError(_columns(n, "an oriented box: class x1 y1 ... x4 y4 [conf]"))
            score = values[8] if n == 9 else None
            value = _rotated(values[:8], size)
            return [build.region("rectanglelabels", value, label, score=score, size=size)]
        return self._pose(values, label, size, build)

    def _pose(
        self, values: list[float], label: str, size: tuple[int, int], build: TaskBuilder
    ) -> list[dict[str, Any]]:
        assert self.kpt_shape is not None
        k, d = self.kpt_shape
        n = len(values)
        if n not in (4 + k * d, 5 + k * d):
            raise ValueError(_columns(n, f"a pose: class cx cy w h and {k} keypoints of {d}"))
        has_conf = n == 5 + k * d
        score = values[-1] if has_conf else None
        cx, cy, w, h = values[:4]
        box = rectangle((cx - w / 2) * 100, (cy - h / 2) * 100, w * 100, h * 100)
        out = [build.region("rectanglelabels", box, label, score=score, size=size)]
        for i in range(k):
            x, y = values[4 + i * d], values[5 + i * d]
            third = values[6 + i * d] if d == 3 else None
            if third is not None and not has_conf and third == 0:
                continue  # visibility 0: not labelled (x = y = 0)
            point = keypoint(x * 100, y * 100)
            kscore = third if has_conf else score
            out.append(build.region("keypointlabels", point, label, score=kscore, size=size))
        return out


def _columns(n: int, shape: str) -> str:
    return f"{n + 1} columns do not make {shape}"


def _rotated(c: list[float], size: tuple[int, int]) -> dict[str, Any]:
    """Four normalised corners -> Label Studio's box: corner 1, width along 1->2, rotation.

    Label Studio rotates a box clockwise about its (x, y) corner, in pixels; the corners are
    taken in the order that makes 1->2->3 turn clockwise on the screen.
    """
    W, H = size
    p = [(c[i] * W, c[i + 1] * H) for i in range(0, 8, 2)]
    cross = (p[1][0] - p[0][0]) * (p[2][1] - p[1][1]) - (p[1][1] - p[0][1]) * (p[2][0] - p[1][0])
    if cross < 0:
        p = [p[0], p[3], p[2], p[1]]
    width = math.dist(p[0], p[1])
    height = math.dist(p[1], p[2])
    angle = math.degrees(math.atan2(p[1][1] - p[0][1], p[1][0] - p[0][0])) % 360
    return rectangle(p[0][0] / W * 100, p[0][1] / H * 100, width / W * 100, height / H * 100, angle)


def _walk(
    top: str, extensions: tuple[str, ...], *, recursive: bool, rel: str = ""
) -> Iterator[tuple[str, str]]:
    """(path, path relative to the first `top`) of the files with these extensions, in name
    order, directory by directory: one directory's names in memory at a time."""
    try:
        with os.scandir(top) as listing:
            entries = sorted((e.name, e.is_dir()) for e in listing)
    except OSError:
        return
    dirs = []
    for name, is_dir in entries:
        if is_dir:
            if recursive:
                dirs.append(name)
        elif name.lower().endswith(extensions) and name != "classes.txt":
            yield os.path.join(top, name), os.path.join(rel, name)
    del entries
    for d in dirs:
        yield from _walk(os.path.join(top, d), extensions, recursive=True, rel=os.path.join(rel, d))
