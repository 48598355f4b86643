"""Hugging Face `pipeline` outputs, one JSON line per input, the output next to the input:

    {"text": "I love it", "output": [{"label": "POSITIVE", "score": 0.99}]}
    {"image": "cat.jpg", "output": [{"label": "cat", "score": 0.9,
                                     "box": {"xmin": 10, "ymin": 20, "xmax": 90, "ymax": 80}}]}

`output` is what the pipeline returned for that one input; every other key is the task's
data. The shapes are those the `Return:` sections of transformers' pipeline docstrings
give (src/transformers/pipelines/text_classification.py, token_classification.py,
object_detection.py, image_classification.py; the samples in sample_data/convert/hf are
recorded in them, no tiny model being shipped in a package that CI could run):

- a list of `{label, score}` -> choices (the top label, its score), for `text` or `image`;
- a list of `{entity_group | entity, start, end, score}` -> labels spans with their text
  (`B-`/`I-` prefixes of `entity` dropped);
- a list of `{label, score, box: {xmin, ymin, xmax, ymax}}` in pixels -> rectanglelabels.
  The image's size comes from the image file (a path relative to the JSONL file), or from
  `width` and `height` keys on the line.

The kind and the labels come from a first pass over the files (for --config-out), the
tasks from a second: the inputs are files, not stdin.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lsimport.convert.core import Plan, TaskBuilder, join_url, problem, rectangle
from lsimport.convert.imagesize import ImageSizeError, image_size
from lsimport.errors import UsageError
from lsimport.model import Record
from lsimport.read.stream import iter_records
from lsimport.settings import ConvertOptions

OUTPUT_KEY = "output"
SIZE_KEYS = ("width", "height")


class ShapeError(ValueError):
    """A line's output is not in any pipeline's shape; the message says what is wrong."""


def _items(output: Any) -> list[dict[str, Any]]:
    if isinstance(output, dict):
        output = [output]
    if not isinstance(output, list) or not all(isinstance(x, dict) for x in output):
        raise ShapeError("`output` must be the pipeline's list of {label, score, ...} objects")
    return output


def _kind(items: list[dict[str, Any]], data: dict[str, Any]) -> str | None:
    if not items:
        return None
    first = items[0]
    if "box" in first:
        return "rectanglelabels"
    if "entity_group" in first or "entity" in first:
        return "labels"
    if "label" in first and "score" in first:
        return "choices"
    raise ShapeError(
        "unknown output shape: expected {label, score}, {entity_group, start, end} or "
        "{label, score, box}"
    )


def _entity(item: dict[str, Any]) -> str:
    label = item.get("entity_group", item.get("entity"))
    if not isinstance(label, str):
        raise ShapeError("an entity needs `entity_group` or `entity`, a string")
    if "entity_group" not in item and label[:2] in ("B-", "I-"):
        return label[2:]
    return label


def _label(item: dict[str, Any], kind: str) -> str:
    if kind == "labels":
        return _entity(item)
    label = item.get("label")
    if not isinstance(label, str):
        raise ShapeError("each output needs a `label`, a string")
    return label


class HfConverter:
    def __init__(self, paths: list[Path], options: ConvertOptions) -> None:
        if any(p.is_dir() for p in paths):
            raise UsageError("hf takes JSONL files of pipeline outputs, not directories")
        self.paths = paths
        self.options = options
        self._plan = self._first_pass()

    def _first_pass(self) -> Plan:
        kind: str | None = None
        data_key = "text"
        labels: dict[str, None] = {}
        for rec in iter_records([str(p) for p in self.paths], fmt="jsonl"):
            if rec.task is None:
                continue
            data = rec.task["data"]
            try:
                items = _items(data.get(OUTPUT_KEY))
                found = _kind(items, data)
                if found is None:
                    continue
                if kind is None:
                    kind = found
                    data_key = "image" if "image" in data and found != "labels" else "text"
                for item in items:
                    labels[_label(item, kind)] = None
            except ShapeError:
                continue  # the second pass reports it, where it is
        if kind is None:
            raise UsageError("no pipeline output found in the inputs (every `output` empty?)")
        return Plan(data_key, (kind,), tuple(labels))

    def plan(self) -> Plan:
        return self._plan

    def inputs(self) -> list[Path]:
        return self.paths

    def records(self, build: TaskBuilder) -> Iterator[Record]:
        kind = self._plan.kinds[0]
        for rec in iter_records([str(p) for p in self.paths], fmt="jsonl"):
            if rec.task is None:
                yield rec
                continue
            try:
                rec.task = self._task(rec, kind, build)
            except ShapeError as exc:
                yield problem(rec.file, rec.line, "convert.hf", str(exc), rec.number)
                continue
            yield rec

    def _task(self, rec: Record, kind: str, build: TaskBuilder) -> dict[str, Any]:
        assert rec.task is not None
        line = rec.task["data"]
        if not isinstance(line, dict) or OUTPUT_KEY not in line:
            raise ShapeError("each line needs `output`: the pipeline's output for its input")
        items = _items(line[OUTPUT_KEY])
        data = {k: v for k, v in line.items() if k != OUTPUT_KEY and k not in SIZE_KEYS}
        found = _kind(items, data)
        if found not in (None, kind):
            raise ShapeError(f"a {found} output among {kind} outputs: convert them apart")
        regions: list[dict[str, Any]] = []
        if kind == "choices" and items:
            top = max(items, key=lambda x: _score(x))
            regions.append(build.region("choices", {}, _label(top, kind), score=_score(top)))
        elif kind == "labels":
            text = data.get("text")
            if not isinstance(text, str):
                raise ShapeError("token classification needs the input as `text`, a string")
            for item in items:
                start, end = item.get("start"), item.get("end")
                if not (isinstance(start, int) and isinstance(end, int)):
                    raise ShapeError(
                        "an entity without start/end offsets: run the pipeline with a fast "
                        "tokenizer"
                    )
                value = {"start": start, "end": end, "text": text[start:end]}
                regions.append(build.region("labels", value, _entity(item), score=_score(item)))
        elif kind == "rectanglelabels" and items:
            size = self._size(rec, line)
            for item in items:
                regions.append(self._box(item, size, build))
        if "image" in data and self.options.image_root_url and isinstance(data["image"], str):
            data["image"] = join_url(self.options.image_root_url, Path(data["image"]).name)
        return build.task(data, regions)

    def _size(self, rec: Record, line: dict[str, Any]) -> tuple[int, int]:
        w, h = line.get("width"), line.get("height")
        if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
            return w, h
        image = line.get("image")
        if isinstance(image, str) and "://" not in image:
            path = Path(rec.file).parent / image
            try:
                return image_size(path)
            except ImageSizeError as exc:
                raise ShapeError(f"{path}: {exc}") from exc
        raise ShapeError(
            "boxes are in pixels: give the image as a local path, or `width` and `height`"
        )

    def _box(
        self, item: dict[str, Any], size: tuple[int, int], build: TaskBuilder
    ) -> dict[str, Any]:
        box = item.get("box")
        w, h = size
        try:
            x0, y0 = float(box["xmin"]), float(box["ymin"])  # type: ignore[index]
            x1, y1 = float(box["xmax"]), float(box["ymax"])  # type: ignore[index]
        except (TypeError, KeyError, ValueError):
            raise ShapeError("`box` must be {xmin, ymin, xmax, ymax} in pixels") from None
        value = rectangle(x0 / w * 100, y0 / h * 100, (x1 - x0) / w * 100, (y1 - y0) / h * 100)
        return build.region(
            "rectanglelabels", value, _label(item, "rectanglelabels"), score=_score(item), size=size
        )


def _score(item: dict[str, Any]) -> float:
    score = item.get("score")
    if not isinstance(score, (int, float)) or isinstance(score, bool):
        raise ShapeError("each output needs a `score`, a number")
    return float(score)
