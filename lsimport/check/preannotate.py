"""Flat inference output -> proper predictions, like Label Studio's `preannotated_from_fields`.

Batch inference usually writes one row per item: the data plus a column with the predicted
label (and often a score). `--preannotated-from-fields label,score` turns each such row into
a task whose prediction targets the project's control:

- a field named after a control of the config fills that control (Label Studio's rule);
- otherwise, when the config has exactly one control, the field fills that one;
- a field named `score` or ending in `_score` is the prediction's score (0..1).
Values are strings in CSV: `0.93` becomes a number, a JSON list or object is parsed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from lsimport.check.controls import ControlType, Json, ListOf, MapOf, Num, Obj, Str
from lsimport.check.labelconfig import Control, LabelConfig
from lsimport.model import Record, error

DEFAULT_MODEL_VERSION = "preannotated"


def _is_score_field(name: str) -> bool:
    return name == "score" or name.endswith("_score")


def _parse(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _primary(row: ControlType | None, tag: str) -> tuple[str, object]:
    """The value key a flat field fills, and its kind (lsimport.check.controls): the label key,
    else the one field a classification-like control holds (rating, number, text...)."""
    if row is None:
        return tag.lower(), ListOf(Str())
    key = row.label_key or next(f.name for f in row.fields if f.required)
    found = row.field(key)
    return key, found.kind if found is not None else ListOf(Str())


def _region_value(ctrl: Control, value: Any) -> dict[str, Any]:
    key, kind = _primary(ctrl.row, ctrl.tag)
    if isinstance(value, dict):
        # an object is the whole value, except for controls whose one field is an object
        # (a Ranker's {"bucket": [ids]}, a ReactCode's outputs)
        return {key: value} if isinstance(kind, (MapOf, Json, Obj)) and key not in value else value
    if isinstance(kind, Num):
        if isinstance(value, str):
            # not a number: left as it is, and the checker then says what is wrong with it
            with contextlib.suppress(ValueError):
                value = float(value)
        if kind.integer and isinstance(value, float) and value.is_integer():
            value = int(value)
        return {key: value}
    if isinstance(kind, ListOf) and isinstance(kind.item, ListOf):  # taxonomy paths
        paths = value if isinstance(value, list) else [value]
        return {key: [p if isinstance(p, list) else [p] for p in paths]}
    if isinstance(kind, ListOf):
        return {key: value if isinstance(value, list) else [value]}
    return {key: value}


def preannotate(
    records: Iterable[Record],
    config: LabelConfig,
    fields: tuple[str, ...],
    model_version: str | None,
) -> Iterator[Record]:
    """Turn the named flat fields of each record's data into one prediction."""
    controls = config.controls
    only = next(iter(controls.values())) if len(controls) == 1 else None
    version = model_version or DEFAULT_MODEL_VERSION
    for rec in records:
        task = rec.task
        if task is None or not isinstance(task.get("data"), dict):
            yield rec
            continue
        data: dict[str, Any] = task["data"]
        result: list[dict[str, Any]] = []
        score: float | None = None
        for name in fields:
            if name not in data:
                rec.findings.append(
                    error(
                        "preannotate.missing",
                        f"no field {name!r} (named by --preannotated-from-fields)",
                        f"/data/{name}",
                    )
                )
                continue
            raw = data[name]
            if _is_score_field(name):
                if raw is None or raw == "":
                    continue  # no score for this item (a CSV row without model output)
                try:
                    score = float(raw)
                except (TypeError, ValueError):
                    rec.findings.append(
                        error(
                            "preannotate.score", f"{name} {raw!r} is not a number", f"/data/{name}"
                        )
                    )
                continue
            ctrl = controls.get(name) or only
            if ctrl is None:
                rec.findings.append(
                    error(
                        "preannotate.control",
                        f"field {name!r} names no control of the project's config, and the "
                        f"config has several ({', '.join(sorted(controls))}): name the column "
                        "after the control",
                        f"/data/{name}",
                    )
                )
                continue
            value = _parse(raw)
            if value is None or value == "":
                continue  # no prediction for this item
            result.append(
                {
                    "from_name": ctrl.name,
                    "to_name": ctrl.to_names[0] if ctrl.to_names else "",
                    "type": ctrl.type,
                    "value": _region_value(ctrl, value),
                }
            )
        if result:
            prediction: dict[str, Any] = {"result": result, "model_version": version}
            if score is not None:
                prediction["score"] = score
            preds = task.get("predictions")
            task["predictions"] = [*(preds if isinstance(preds, list) else []), prediction]
        yield rec
