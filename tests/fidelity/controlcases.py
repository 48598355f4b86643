"""Test cases generated from lsimport.check.controls: for every row, a labeling config, a
task, a valid region made from the row's fields, and mutations of it (wrong name, type,
label, missing field, wrong type, out of range). Adding a row adds its cases.

Shared by the differential test against the SDK (tests/fidelity/test_sdk_differential.py) and
the editor oracle (tests/editor/). Knows nothing of what lsimport decides about them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lsimport.check.controls import (
    CONTROL_TYPES,
    Bool,
    ControlType,
    Json,
    Kind,
    ListOf,
    MapOf,
    Nullable,
    Num,
    NumOrStr,
    Obj,
    Pair,
    Str,
    value_fields,
)

LABELS = ("Alpha", "Beta")
# A 1x1 PNG: a valid imageDataURL for bitmasks.
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9Q"
    "DwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
# How each object tag is written, and the data it reads.
OBJECTS: dict[str, tuple[str, dict[str, Any]]] = {
    "Text": ('<Text name="obj" value="$text"/>', {"text": "Alpha and Beta went home"}),
    "HyperText": ('<HyperText name="obj" value="$html"/>', {"html": "<p>Alpha went home</p>"}),
    "Paragraphs": (
        '<Paragraphs name="obj" value="$dialogue" layout="dialogue"/>',
        {"dialogue": [{"author": "a", "text": "Alpha there"}, {"author": "b", "text": "Beta"}]},
    ),
    "Image": ('<Image name="obj" value="$image"/>', {"image": "/static/images/logo.png"}),
    "Audio": ('<Audio name="obj" value="$audio"/>', {"audio": "/static/samples/game.wav"}),
    "Video": (
        '<Video name="obj" value="$video"/>',
        {"video": "/static/samples/opossum_snow.mp4"},
    ),
    "TimeSeries": (
        '<TimeSeries name="obj" value="$ts" valueType="json" timeColumn="time">'
        '<Channel column="v"/></TimeSeries>',
        {"ts": {"time": [1, 2, 3, 4, 5, 6], "v": [1, 3, 2, 5, 4, 6]}},
    ),
    "List": (
        '<List name="obj" value="$items" title="Items"/>',
        {"items": [{"id": "a", "title": "A", "body": "x"}, {"id": "b", "title": "B", "body": "y"}]},
    ),
    "Pdf": ('<Pdf name="obj" value="$pdf"/>', {"pdf": "/static/samples/opossum-cuteness.pdf"}),
    "Chat": (
        '<Chat name="obj" value="$chat"/>',
        {"chat": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
    ),
    "ReactCode": ("", {"x": "1"}),
}
# Values that a field of this name takes in a real result, where the kind alone does not say.
NAMED: dict[str, Any] = {
    "points": [[10, 10], [50, 10], [50, 50]],
    "vertices": [
        {"id": "p1", "x": 10, "y": 10},
        {"id": "p2", "x": 50, "y": 50, "prevPointId": "p1"},
    ],
    "imageDataURL": PNG,
    "datetime": "2024-01-02",
    "rle": [0, 0, 1, 2, 3, 255],
    "format": "rle",
    "framesCount": 100,
    "duration": 4.0,
    "time": 0.04,
    "frame": 1,
    "ranges": [{"start": 1, "end": 5}],
}


@dataclass(frozen=True)
class Case:
    """One prediction of one control type: `mutation` says how it was broken ("ok": not)."""

    row: ControlType
    object_tag: str
    mutation: str
    config: str
    task: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.row.result_type}@{self.object_tag}:{self.mutation}"

    @property
    def prediction(self) -> dict[str, Any]:
        predictions: list[dict[str, Any]] = self.task["predictions"]
        return predictions[0]


def config_for(row: ControlType, object_tag: str) -> tuple[str, dict[str, Any], str, str]:
    """(config XML, task data, control name, to_name) for a control of `row` on an object."""
    obj, data = OBJECTS[object_tag]
    if row.self_targeting:
        xml = obj or f'<{row.tag} name="obj" toName="obj" outputs="a"/>'
        return f"<View>{xml}</View>", copy.deepcopy(data), "obj", "obj"
    children = ""
    if row.result_type == "taxonomy":
        children = f'<Choice value="{LABELS[0]}"><Choice value="{LABELS[1]}"/></Choice>'
    elif row.result_type == "choices":
        children = "".join(f'<Choice value="{v}"/>' for v in LABELS)
    elif row.label_key is not None and not row.labels_from_siblings:
        children = "".join(f'<Label value="{v}"/>' for v in LABELS)
    attrs = {"rating": ' maxRating="5"', "number": ' min="0" max="10"'}.get(row.result_type, "")
    to_name = "obj,obj2" if row.result_type == "pairwise" else "obj"
    parts = [obj, f'<{row.tag} name="ctl" toName="{to_name}"{attrs}>{children}</{row.tag}>']
    data = copy.deepcopy(data)
    if row.result_type == "pairwise":
        parts.append('<Text name="obj2" value="$text2"/>')
        data["text2"] = "Beta went home"
    if row.labels_from_siblings:
        labels = "".join(f'<Label value="{v}"/>' for v in LABELS)
        parts.append(f'<Labels name="siblings" toName="obj">{labels}</Labels>')
    return f"<View>{''.join(parts)}</View>", data, "ctl", "obj"


def sample(kind: Kind, name: str, object_tag: str) -> Any:
    """A valid value of `kind` for a field called `name`."""
    if name in NAMED:
        return copy.deepcopy(NAMED[name])
    if name in ("start", "end"):
        if object_tag == "Text":
            return 0 if name == "start" else 5
        if object_tag in ("HyperText",):
            return "/p[1]/text()[1]"
        if object_tag == "Paragraphs":
            return "0"
        return 1.0 if name == "start" else 2.0
    if name in ("startOffset", "endOffset"):
        return 0 if name == "startOffset" else 5
    if isinstance(kind, Nullable):
        return sample(kind.kind, name, object_tag)
    if isinstance(kind, NumOrStr):
        return sample(kind.num, name, object_tag)
    if isinstance(kind, Num):
        lows = [b for b in (kind.lo, kind.warn_lo) if b is not None]
        highs = [b for b in (kind.hi, kind.warn_hi) if b is not None]
        lo = max(lows) if lows else 0.0
        hi = min(highs) if highs else lo + 20
        mid = (lo + hi) / 2
        return int(mid) if kind.integer else mid
    if isinstance(kind, Str):
        return kind.values[0] if kind.values else "a"
    if isinstance(kind, Bool):
        return False
    if isinstance(kind, Json):
        return {"a": "b"}
    if isinstance(kind, Pair):
        return [10, 10]
    if isinstance(kind, ListOf):
        item = sample(kind.item, name, object_tag)
        return [copy.deepcopy(item) for _ in range(max(1, kind.min_items, kind.warn_min_items))]
    if isinstance(kind, MapOf):
        return {"ctl": sample(kind.item, name, object_tag)}
    assert isinstance(kind, Obj)
    return {f.name: sample(f.kind, f.name, object_tag) for f in kind.fields if f.required}


def sample_value(row: ControlType, object_tag: str, attrs: dict[str, str]) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for f in value_fields(row, attrs, object_tag):
        if f.name == row.label_key:
            value[f.name] = [[LABELS[0]]] if row.result_type == "taxonomy" else [LABELS[0]]
        elif f.required or f.name in ("startOffset", "endOffset", "rotation"):
            value[f.name] = sample(f.kind, f.name, object_tag)
    if row.result_type == "ranker":
        value["ranker"] = {"ctl": ["b", "a"]}
    if row.result_type == "labels" and object_tag == "Text":
        value["text"] = "Alpha"
    return value


def _wrong_type(kind: Kind) -> Any:
    """A value of another JSON type than `kind` takes."""
    inner = kind.kind if isinstance(kind, Nullable) else kind
    if isinstance(inner, (Num, NumOrStr)):
        return [1] if isinstance(inner, NumOrStr) else "x"
    if isinstance(inner, Str):
        return 5
    if isinstance(inner, Bool):
        return "x"
    return "x"


def mutations(
    row: ControlType, object_tag: str, region: dict[str, Any]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, region) for the valid region and each broken variant of it."""

    def changed(**top: Any) -> dict[str, Any]:
        return {**copy.deepcopy(region), **top}

    def with_value(key: str, v: Any) -> dict[str, Any]:
        r = copy.deepcopy(region)
        r["value"][key] = v
        return r

    yield "ok", copy.deepcopy(region)
    yield "from_name", changed(from_name="nope")
    if not row.self_targeting:
        yield "to_name", changed(to_name="nope")
    yield "type", changed(type="nope")
    for legacy in row.legacy_types:
        yield f"legacy type {legacy}", changed(type=legacy)
    for legacy in row.legacy_label_keys:
        r = copy.deepcopy(region)
        r["value"][legacy] = r["value"].pop(row.label_key)
        yield f"legacy key {legacy}", r
    if row.label_key is not None:
        bad = [["Nope"]] if row.result_type == "taxonomy" else ["Nope"]
        yield "label", with_value(row.label_key, bad)
        yield "label shape", with_value(row.label_key, "Nope")
    for f in value_fields(row, {}, object_tag):
        if f.name == row.label_key or f.name not in region["value"]:
            continue
        if f.required:
            r = copy.deepcopy(region)
            del r["value"][f.name]
            yield f"missing {f.name}", r
        if not isinstance(f.kind, Nullable):
            yield f"null {f.name}", with_value(f.name, None)
        yield f"type {f.name}", with_value(f.name, _wrong_type(f.kind))
        kind = f.kind.kind if isinstance(f.kind, Nullable) else f.kind
        if isinstance(kind, Num):
            yield f"numstr {f.name}", with_value(f.name, str(region["value"][f.name]))
            if kind.hi is not None:
                yield f"above {f.name}", with_value(f.name, kind.hi + 1)
            if kind.lo is not None:
                yield f"below {f.name}", with_value(f.name, kind.lo - 1)
            if kind.warn_lo is not None:
                yield f"soft-below {f.name}", with_value(f.name, kind.warn_lo - 1)
            if kind.integer:
                yield f"fraction {f.name}", with_value(f.name, region["value"][f.name] + 0.5)
        if isinstance(kind, Str) and kind.values:
            yield f"enum {f.name}", with_value(f.name, "middle")
        if isinstance(kind, ListOf) and kind.min_items:
            yield f"empty {f.name}", with_value(f.name, [])


def cases() -> Iterator[Case]:
    """Every control type on every object it labels, valid and broken."""
    for row in CONTROL_TYPES:
        for object_tag in row.objects:
            if object_tag not in OBJECTS:
                continue
            config, data, name, to_name = config_for(row, object_tag)
            attrs = {"maxRating": "5"} if row.result_type == "rating" else {}
            region = {
                "id": "r1",
                "from_name": name,
                "to_name": to_name,
                "type": row.result_type,
                "value": sample_value(row, object_tag, attrs),
            }
            if row.image:
                region.update(original_width=100, original_height=100)
            for mutation, r in mutations(row, object_tag, region):
                task = {"data": data, "predictions": [{"model_version": mutation, "result": [r]}]}
                yield Case(row, object_tag, mutation, config, task)
