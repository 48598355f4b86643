"""COCO: a dataset file (`images`, `categories`, `annotations`), or a results file.

A results file is what COCO evaluation takes, a list of `{image_id, category_id, bbox,
score, segmentation?, keypoints?}`; it comes with the dataset file for the images and the
categories (`lsimport convert coco instances.json results.json`), and its objects then
replace the dataset's annotations. Per object, as label-studio-converter: the box
(`bbox`, pixels, top-left), each polygon of `segmentation`, and `keypoints` (x, y, v: v < 2
is hidden). lsimport also reads RLE segmentations (`iscrowd`, or any `{counts, size}`) as
brush regions, and gives each region the result's `score`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from lsimport.convert.core import Plan, TaskBuilder, join_url, keypoint, problem, rectangle
from lsimport.errors import UsageError
from lsimport.model import FileProblem, Record, error
from lsimport.settings import ConvertOptions

DEFAULT_ROOT_URL = "/data/local-files/?d="  # label-studio-converter's


_ABSENT = msgspec.Raw(b"")  # msgspec takes no Raw | None


class _Probe(msgspec.Struct):
    """What the first pass reads of an object: its image, and which kinds of region it has
    (as raw JSON, never built into Python objects)."""

    image_id: Any = None
    bbox: msgspec.Raw = _ABSENT
    segmentation: msgspec.Raw = _ABSENT
    keypoints: msgspec.Raw = _ABSENT


def _load(path: Path) -> tuple[dict[str, msgspec.Raw] | None, list[msgspec.Raw] | None]:
    """A dataset's top-level keys, or a results file's objects, each as raw JSON.

    The objects stay bytes (slices of the file, which stays in memory once) until their
    image's task is built: a big file costs its size, not ten times that as Python objects.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    first = data.lstrip()[:1]
    try:
        if first == b"{":
            return msgspec.json.decode(data, type=dict[str, msgspec.Raw]), None
        if first == b"[":
            return None, msgspec.json.decode(data, type=list[msgspec.Raw])
    except msgspec.DecodeError as exc:
        raise UsageError(f"{path}: not JSON: {exc}") from exc
    raise UsageError(
        f"{path}: neither a COCO dataset (an object with `images`) nor a results file "
        "(a list of detections)"
    )


def _decode(raw: msgspec.Raw, path: Path, what: str) -> Any:
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise UsageError(f"{path}: `{what}`: {exc}") from exc


class CocoConverter:
    def __init__(self, paths: list[Path], options: ConvertOptions) -> None:
        self.options = options
        self.paths = paths
        dataset: dict[str, msgspec.Raw] | None = None
        results: list[msgspec.Raw] | None = None
        for path in paths:
            if path.is_dir():
                raise UsageError(f"{path}: coco takes JSON files, not a directory")
            top, found = _load(path)
            if top is not None and "images" in top:
                if dataset is not None:
                    raise UsageError(f"{path}: a second dataset file; give one")
                dataset, self.dataset_path = top, path
            elif found is not None:
                if results is not None:
                    raise UsageError(f"{path}: a second results file; give one")
                results, self.results_path = found, path
            else:
                raise UsageError(f"{path}: a COCO dataset needs `images`")
        if dataset is None:
            raise UsageError(
                "coco needs the dataset file (images and categories)",
                hint="e.g. lsimport convert coco instances_val.json results.json",
            )
        images = _decode(dataset["images"], self.dataset_path, "images")
        if not isinstance(images, list):
            raise UsageError(f"{self.dataset_path}: `images` must be a list")
        self.images: list[Any] = images
        cats = dataset.get("categories")
        self.categories = self._categories(
            _decode(cats, self.dataset_path, "categories") if cats is not None else None
        )
        self.source = self.results_path if results is not None else self.dataset_path
        if results is None:
            raw = dataset.get("annotations")
            try:
                results = msgspec.json.decode(raw, type=list[msgspec.Raw]) if raw else []
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise UsageError(f"{self.source}: `annotations` must be a list: {exc}") from exc
        self.objects = results
        # image id -> positions of its objects (each object decoded when its task is built)
        self.by_image: dict[Any, list[int]] = {}
        self.broken: list[int] = []  # objects that are not JSON objects
        box = polygon = brush = points = False
        probe = msgspec.json.Decoder(_Probe)
        for i, item in enumerate(results):
            try:
                obj = probe.decode(item)
            except (msgspec.DecodeError, msgspec.ValidationError):
                self.broken.append(i)
                continue
            self.by_image.setdefault(obj.image_id, []).append(i)
            box = box or bool(obj.bbox)
            seg = bytes(obj.segmentation)[:2]
            polygon = polygon or (seg[:1] == b"[" and seg != b"[]")
            brush = brush or seg[:1] == b"{"
            points = points or bool(obj.keypoints)
        found_kinds = (
            ("rectanglelabels", box),
            ("polygonlabels", polygon),
            ("brushlabels", brush),
            ("keypointlabels", points),
        )
        self.kinds = tuple(k for k, present in found_kinds if present) or ("rectanglelabels",)

    def _categories(self, cats: Any) -> dict[int, str]:
        if not isinstance(cats, list) or not cats:
            raise UsageError(f"{self.dataset_path}: `categories` must be a non-empty list")
        out = {}
        for c in cats:
            if not (isinstance(c, dict) and isinstance(c.get("id"), int) and "name" in c):
                raise UsageError(
                    f"{self.dataset_path}: each category needs an integer id and a name"
                )
            out[c["id"]] = str(c["name"])
        return out

    def plan(self) -> Plan:
        labels = tuple(dict.fromkeys(self.categories[k] for k in sorted(self.categories)))
        return Plan("image", self.kinds, labels)

    def inputs(self) -> list[Path]:
        return self.paths

    def records(self, build: TaskBuilder) -> Iterator[Record]:
        root_url = self.options.image_root_url or DEFAULT_ROOT_URL
        file = str(self.source)
        ordered = sorted(
            (img for img in self.images if isinstance(img, dict)),
            key=lambda img: (str(type(img.get("id"))), img.get("id")),
        )
        seen = set()
        number = 0
        for number, image in enumerate(ordered, 1):
            seen.add(image.get("id"))
            name = image.get("file_name")
            w: Any = image.get("width")
            h: Any = image.get("height")
            if not (isinstance(name, str) and _positive(w) and _positive(h)):
                yield problem(
                    str(self.dataset_path),
                    1,
                    "convert.coco",
                    f"image {image.get('id')!r} needs file_name, width and height",
                    number,
                )
                continue
            data = {"image": join_url(root_url, name)}
            regions: list[dict[str, Any]] = []
            findings = []
            for i in self.by_image.get(image.get("id"), ()):
                try:
                    obj = msgspec.json.decode(self.objects[i])
                    regions.extend(self._regions(obj, (w, h), build))
                except (ValueError, KeyError, TypeError, msgspec.DecodeError) as exc:
                    findings.append(error("convert.coco", f"object {i}: {_reason(exc)}"))
            if findings:
                yield Record(file, number, 1, None, findings=findings)
            elif regions:
                yield Record(file, number, 1, build.task(data, regions))
            else:
                yield Record(file, number, 1, {"data": data})
        orphans = [
            i for image_id, found in self.by_image.items() if image_id not in seen for i in found
        ]
        if orphans or self.broken:
            yield self._leftovers(file, sorted(orphans))

    def _leftovers(self, file: str, orphans: list[int]) -> FileProblem:
        """Objects that went into no task: never dropped without a word (a problem of the
        file as a whole, not of one image's task)."""
        findings = []
        if orphans:
            findings.append(
                error(
                    "convert.coco-image",
                    f"{len(orphans)} object(s) name an image_id that is not among the dataset's "
                    f"images (objects {', '.join(map(str, orphans[:5]))}"
                    f"{', ...' if len(orphans) > 5 else ''}); is it the right dataset file?",
                )
            )
        if self.broken:
            findings.append(
                error(
                    "convert.coco",
                    f"{len(self.broken)} object(s) are not JSON objects "
                    f"(objects {', '.join(map(str, self.broken[:5]))})",
                )
            )
        return FileProblem(file, 0, 1, None, findings=findings)

    def _regions(
        self, obj: dict[str, Any], size: tuple[int, int], build: TaskBuilder
    ) -> list[dict[str, Any]]:
        w, h = size
        cat = obj["category_id"]
        if cat not in self.categories:
            raise ValueError(f"category_id {cat!r} is not among the categories")
        label = self.categories[cat]
        score = obj.get("score")
        if score is not None and not isinstance(score, (int, float)):
            raise ValueError("score must be a number")
        out = []
        if "bbox" in obj:
            x, y, bw, bh = (float(v) for v in obj["bbox"])
            value = rectangle(x / w * 100, y / h * 100, bw / w * 100, bh / h * 100)
            out.append(build.region("rectanglelabels", value, label, score=score, size=size))
        seg = obj.get("segmentation")
        if isinstance(seg, list):
            for poly in seg:
                coords = [float(v) for v in poly]
                if len(coords) < 6 or len(coords) % 2:
                    raise ValueError("a polygon needs 3 or more x, y pairs")
                points = [
                    [coords[i] / w * 100, coords[i + 1] / h * 100] for i in range(0, len(coords), 2)
                ]
                out.append(
                    build.region("polygonlabels", {"points": points}, label, score=score, size=size)
                )
        elif isinstance(seg, dict):
            out.append(self._brush(seg, label, score, size, build))
        if "keypoints" in obj:
            kp = [float(v) for v in obj["keypoints"]]
            if len(kp) % 3:
                raise ValueError("keypoints must be x, y, v triples")
            for i in range(0, len(kp), 3):
                point = keypoint(kp[i] / w * 100, kp[i + 1] / h * 100)
                if score is None and kp[i + 2] < 2:
                    point["hidden"] = True  # v: 0 not labelled, 1 labelled but not visible
                out.append(build.region("keypointlabels", point, label, score=score, size=size))
        return out

    @staticmethod
    def _brush(
        seg: dict[str, Any],
        label: str,
        score: float | None,
        size: tuple[int, int],
        build: TaskBuilder,
    ) -> dict[str, Any]:
        from lsimport.convert.brush import coco_rle_to_mask, mask_to_rle

        mask = coco_rle_to_mask(seg)
        if mask.shape != (size[1], size[0]):
            raise ValueError(
                f"RLE size {list(mask.shape)} is not the image's [height, width] "
                f"{[size[1], size[0]]}"
            )
        value = {"format": "rle", "rle": mask_to_rle(mask)}
        return build.region("brushlabels", value, label, score=score, size=size)


def _positive(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing {exc.args[0]!r}"
    if isinstance(exc, TypeError):
        return "a value of the wrong type (bbox, segmentation and keypoints hold numbers)"
    return str(exc)
