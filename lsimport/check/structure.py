"""The task format's JSON Schema, and the fast structural check that mirrors it.

`schemas/task.schema.json` is the reference: it ships inside the package, `lsimport
schema` prints it, and `jsonschema` validates against it in the tests. Validating every
task with `jsonschema` would cost more than parsing it, so `check_structure` is a
hand-written equivalent that returns the same verdicts (a property test holds the two
together) with messages that name the JSON pointer and the fix.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from lsimport.model import Finding, error
from lsimport.model import json_type_name as _kind

SCHEMA_RESOURCE = "task.schema.json"


def schema_text() -> str:
    """The JSON Schema for one task, as shipped inside the package."""
    from importlib import resources  # lazy: with tempfile, 2 ms of every start-up

    return resources.files("lsimport.schemas").joinpath(SCHEMA_RESOURCE).read_text("utf-8")


@cache
def load_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(schema_text())
    return loaded


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_structure(task: dict[str, Any]) -> list[Finding]:
    """Findings for everything in `task` that breaks the task schema (empty when it fits)."""
    out: list[Finding] = []
    data = task.get("data")
    if not isinstance(data, dict):
        out.append(error("schema.data", f"`data` must be an object, got {_kind(data)}", "/data"))
    if "meta" in task and not isinstance(task["meta"], (dict, list)):
        out.append(
            error(
                "schema.meta",
                f"`meta` must be an object, got {_kind(task['meta'])}",
                "/meta",
            )
        )
    for key in ("predictions", "annotations"):
        if key not in task:
            continue
        items = task[key]
        if not isinstance(items, list):
            out.append(
                error(
                    f"schema.{key}",
                    f"`{key}` must be a list, got {_kind(items)}",
                    f"/{key}",
                )
            )
            continue
        for i, item in enumerate(items):
            _check_prediction(item, f"/{key}/{i}", key == "predictions", out)
    return out


def _check_prediction(pred: Any, ptr: str, is_prediction: bool, out: list[Finding]) -> None:
    what = "prediction" if is_prediction else "annotation"
    if not isinstance(pred, dict):
        out.append(error(f"schema.{what}", f"a {what} must be an object, got {_kind(pred)}", ptr))
        return
    if "result" not in pred:
        out.append(
            error(f"schema.{what}", f"{what} has no `result` (a list of regions)", ptr + "/result")
        )
    else:
        result = pred["result"]
        if not isinstance(result, list):
            out.append(
                error(
                    "schema.result",
                    f"`result` must be a list, got {_kind(result)}",
                    ptr + "/result",
                )
            )
        else:
            for j, region in enumerate(result):
                if not isinstance(region, dict) or not _region_ok(region):
                    _explain_region(region, f"{ptr}/result/{j}", out)
    if is_prediction:
        if "score" in pred:
            score = pred["score"]
            if score is None or isinstance(score, str):
                pass  # stored; rules.py says what a string becomes
            elif not _is_number(score):
                out.append(
                    error(
                        "schema.score",
                        f"`score` must be a number, got {_kind(score)}",
                        ptr + "/score",
                    )
                )
            elif not 0 <= score <= 1:
                out.append(
                    error(
                        "schema.score",
                        f"`score` must be between 0 and 1, got {score}",
                        ptr + "/score",
                    )
                )
        if "model_version" in pred and not (
            isinstance(pred["model_version"], str) or _is_number(pred["model_version"])
        ):
            out.append(
                error(
                    "schema.model_version",
                    f"`model_version` must be a string, got {_kind(pred['model_version'])}",
                    ptr + "/model_version",
                )
            )


_REGION_STR = ("from_name", "to_name", "type")


def _is_id(value: Any) -> bool:
    """A region id as the schema's `["string", "integer"]` means it: JSON Schema counts
    1.0 as an integer, so an id written as a float with no fraction is one too."""
    if isinstance(value, (str, int)):
        return not isinstance(value, bool)
    return isinstance(value, float) and value.is_integer()


def _region_ok(r: dict[str, Any]) -> bool:
    """The fast yes: most regions are fine, so check them without building messages."""
    if r.get("type") == "relation":
        return _relation_ok(r)
    if not isinstance(r.get("from_name"), str) or not isinstance(r.get("to_name"), str):
        return False
    if not isinstance(r.get("type"), str) or not isinstance(r.get("value"), dict):
        return False
    if "id" in r and not _is_id(r["id"]):
        return False
    for key in ("original_width", "original_height"):
        if key in r and (not _is_number(r[key]) or r[key] < 0):
            return False
    return all(not (key in r and not _is_number(r[key])) for key in ("score", "image_rotation"))


def _relation_ok(r: dict[str, Any]) -> bool:
    for key in ("from_id", "to_id"):
        if key not in r or not _is_id(r[key]):
            return False
    if "direction" in r and r["direction"] not in ("left", "right", "bi"):
        return False
    labels = r.get("labels", [])
    return type(labels) is list and all(isinstance(x, str) for x in labels)


def _explain_region(r: Any, ptr: str, out: list[Finding]) -> None:
    """The slow path: say exactly what is wrong with a region that failed the fast check."""
    if not isinstance(r, dict):
        out.append(
            error(
                "schema.region",
                "a region must be an object with from_name, to_name, type and value, "
                f"got {_kind(r)}",
                ptr,
            )
        )
        return
    if r.get("type") == "relation":
        for key in ("from_id", "to_id"):
            if key not in r:
                out.append(error("schema.relation", f"relation has no `{key}`", f"{ptr}/{key}"))
            elif not _is_id(r[key]):
                out.append(
                    error(
                        "schema.relation",
                        f"`{key}` must be a region id (string), got {_kind(r[key])}",
                        f"{ptr}/{key}",
                    )
                )
        if "direction" in r and r["direction"] not in ("left", "right", "bi"):
            out.append(
                error(
                    "schema.relation",
                    f"`direction` must be left, right or bi, got {r['direction']!r}",
                    f"{ptr}/direction",
                )
            )
        labels = r.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            out.append(
                error("schema.relation", "`labels` must be a list of strings", f"{ptr}/labels")
            )
        return
    missing = [k for k in ("from_name", "to_name", "type", "value") if k not in r]
    if missing:
        out.append(
            error(
                "schema.region",
                "region lacks " + ", ".join(f"`{k}`" for k in missing),
                f"{ptr}/{missing[0]}",
            )
        )
    for key in _REGION_STR:
        if key in r and not isinstance(r[key], str):
            out.append(
                error(
                    "schema.region",
                    f"`{key}` must be a string, got {_kind(r[key])}",
                    f"{ptr}/{key}",
                )
            )
    if "value" in r and not isinstance(r["value"], dict):
        out.append(
            error(
                "schema.region",
                f"`value` must be an object, got {_kind(r['value'])}",
                f"{ptr}/value",
            )
        )
    if "id" in r and not _is_id(r["id"]):
        out.append(
            error(
                "schema.region",
                f"`id` must be a string, got {_kind(r['id'])}",
                f"{ptr}/id",
            )
        )
    for key in ("original_width", "original_height"):
        if key in r and (not _is_number(r[key]) or r[key] < 0):
            out.append(
                error("schema.region", f"`{key}` must be a number of pixels >= 0", f"{ptr}/{key}")
            )
    for key in ("score", "image_rotation"):
        if key in r and not _is_number(r[key]):
            out.append(
                error(
                    "schema.region",
                    f"`{key}` must be a number, got {_kind(r[key])}",
                    f"{ptr}/{key}",
                )
            )
