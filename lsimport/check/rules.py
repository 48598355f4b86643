"""Checks against a labeling config: does Label Studio accept the task, and will its
predictions show? Each problem becomes a Finding with a JSON pointer."""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from typing import Any

from lsimport.check.fastpath import compile_fast_check
from lsimport.check.labelconfig import (
    IMAGE_TYPES,
    LABEL_KEY_ALIASES,
    LABEL_KEYS,
    PERCENT_TYPES,
    VALUE_KEYS,
    Control,
    LabelConfig,
    region_labels,
)
from lsimport.check.structure import check_structure
from lsimport.model import Finding, error, escape_pointer, warning

UNDEFINED_KEY = "$undefined$"  # Label Studio maps it onto the config's first variable


def _names(values: Any, limit: int = 8) -> str:
    items = sorted(values)
    shown = ", ".join(repr(v) for v in items[:limit])
    return shown + (", ..." if len(items) > limit else "")


def _type_name(t: type) -> str:
    return {str: "string", int: "integer", float: "number", list: "list", dict: "object"}.get(
        t, t.__name__ if t is not type(None) else "null"
    )


class TaskChecker:
    """Checks tasks: always the schema's structure, and a labeling config when given."""

    def __init__(self, config: LabelConfig | None = None) -> None:
        self.config = config
        self._controls: dict[str, Control] = config.controls if config else {}
        self._relation_labels = config.relation_labels if config else frozenset()
        self._labels = {n: region_labels(self._controls, c) for n, c in self._controls.items()}
        self._data_checks: list[Callable[[dict[str, Any], list[Finding]], None]] = []
        self._fast = compile_fast_check(config)
        if config:
            first = config.variables[0].key if config.variables else None
            for var in config.variables:
                self._data_checks.append(_data_check(var.key, var.tag, var.accepted, first))

    def check(self, task: dict[str, Any]) -> list[Finding]:
        """All findings for one normalised task (empty when it is fine)."""
        if self._fast(task):
            return []
        return self.check_fully(task)

    def check_fully(self, task: dict[str, Any]) -> list[Finding]:
        """The full check, without the fast path (the reference the fast path must agree with)."""
        findings = check_structure(task)
        data = task.get("data")
        if isinstance(data, dict) and ("predictions" in data or "annotations" in data):
            _check_flat_predictions(task, data, findings)
        if self.config is None:
            return findings
        if isinstance(data, dict):
            for check in self._data_checks:
                check(data, findings)
        for key in ("predictions", "annotations"):
            items = task.get(key)
            if not isinstance(items, list):
                continue
            for i, pred in enumerate(items):
                if isinstance(pred, dict):
                    result = pred.get("result")
                    if isinstance(result, list) and result:
                        self._check_result(result, f"/{key}/{i}/result", findings)
        return findings

    def _check_result(self, result: list[Any], ptr: str, out: list[Finding]) -> None:
        controls = self._controls
        ids: set[Any] = set()  # region ids, for relations
        # One region per control and id: the same id under several controls is one region
        # with per-region attributes (a TextArea or Choices with perRegion="true").
        seen: set[tuple[Any, str | None]] = set()
        relations = []
        for j, r in enumerate(result):
            if not isinstance(r, dict):
                continue
            rtype = r.get("type")
            if rtype == "relation":
                relations.append((j, r))
                continue
            from_name = r.get("from_name")
            rid = r.get("id")
            if isinstance(rid, (str, int, float)):
                ids.add(rid)
                key = (rid, from_name if isinstance(from_name, str) else None)
                if key not in seen:
                    seen.add(key)
                else:
                    out.append(
                        error(
                            "config.duplicate-id",
                            f"region id {rid!r} is used twice for {from_name!r} in this result; "
                            "region ids must be unique",
                            f"{ptr}/{j}/id",
                        )
                    )
            if not isinstance(from_name, str):
                continue
            ctrl = controls.get(from_name)
            if ctrl is None:
                out.append(
                    error(
                        "config.from-name",
                        f"from_name {from_name!r} is not a control of the labeling config "
                        f"(controls: {_names(controls)}); the prediction would never show",
                        f"{ptr}/{j}/from_name",
                    )
                )
                continue
            to_name = r.get("to_name")
            if to_name not in ctrl.to_names:
                out.append(
                    error(
                        "config.to-name",
                        f"to_name {to_name!r} is not an object of control {from_name!r} "
                        f"(toName: {_names(ctrl.to_names)})",
                        f"{ptr}/{j}/to_name",
                    )
                )
            if rtype != ctrl.type:
                out.append(
                    error(
                        "config.type",
                        f"type {rtype!r} does not match control {from_name!r}: "
                        f"<{ctrl.tag}> regions have type {ctrl.type!r}",
                        f"{ptr}/{j}/type",
                    )
                )
                continue
            value = r.get("value")
            if isinstance(value, dict):
                self._check_value(ctrl, value, r, f"{ptr}/{j}", out)
        if relations:
            self._check_relations(relations, ids, ptr, out)

    def _check_value(
        self,
        ctrl: Control,
        value: dict[str, Any],
        region: dict[str, Any],
        ptr: str,
        out: list[Finding],
    ) -> None:
        rtype = ctrl.type
        required = VALUE_KEYS.get(rtype)
        label_key = LABEL_KEYS.get(rtype)
        if label_key is not None and label_key not in value:
            for alt in LABEL_KEY_ALIASES.get(rtype, ()):
                if alt in value:
                    label_key = alt
                    break
        if required:
            missing = [
                k
                for k in required
                if k not in value and not (k == LABEL_KEYS.get(rtype) and label_key in value)
            ]
            if missing:
                out.append(
                    error(
                        "config.value",
                        f"a {rtype!r} region's value needs " + ", ".join(f"`{k}`" for k in missing),
                        f"{ptr}/value/{escape_pointer(missing[0])}",
                    )
                )
        if label_key is not None and label_key in value:
            self._check_labels(
                ctrl, value[label_key], f"{ptr}/value/{escape_pointer(label_key)}", out
            )
        if rtype in PERCENT_TYPES:
            _check_percent(value, f"{ptr}/value", out)
        if rtype in IMAGE_TYPES and "original_width" not in region:
            out.append(
                warning(
                    "config.original-size",
                    "image region without original_width/original_height: Label Studio "
                    "cannot convert it to pixels on export",
                    f"{ptr}/original_width",
                )
            )
        if rtype == "labels":
            start, end = value.get("start"), value.get("end")
            if (
                isinstance(start, int)
                and isinstance(end, int)
                and not isinstance(start, bool)
                and not 0 <= start <= end
            ):
                out.append(
                    error(
                        "config.span",
                        f"span start {start} and end {end}: need 0 <= start <= end",
                        f"{ptr}/value/start",
                    )
                )

    def _check_labels(self, ctrl: Control, labels: Any, ptr: str, out: list[Finding]) -> None:
        if ctrl.type == "taxonomy":
            if not isinstance(labels, list) or not all(
                isinstance(p, list) and all(isinstance(x, str) for x in p) for p in labels
            ):
                out.append(
                    error(
                        "config.labels", "taxonomy must be a list of paths (lists of strings)", ptr
                    )
                )
                return
            flat = [x for p in labels for x in p]
        elif ctrl.type in ("textarea",):
            return
        else:
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                out.append(error("config.labels", "labels must be a list of strings", ptr))
                return
            flat = labels
        allowed = self._labels[ctrl.name]
        if allowed is None:
            return
        unknown = [x for x in flat if x not in allowed]
        if unknown:
            out.append(
                error(
                    "config.label",
                    f"{_names(set(unknown))} not among the labels of {ctrl.name!r} "
                    f"({_names(allowed)}); the prediction would never show",
                    ptr,
                )
            )

    def _check_relations(
        self,
        relations: list[tuple[int, dict[str, Any]]],
        ids: set[Any],
        ptr: str,
        out: list[Finding],
    ) -> None:
        for j, r in relations:
            for key in ("from_id", "to_id"):
                rid = r.get(key)
                # other kinds (a list, an object) are the schema's finding, and unhashable
                if isinstance(rid, (str, int, float)) and rid not in ids:
                    out.append(
                        error(
                            "config.relation",
                            f"relation {key} {rid!r} is not the id of a region in this result",
                            f"{ptr}/{j}/{key}",
                        )
                    )
            labels = r.get("labels")
            if self._relation_labels and isinstance(labels, list):
                # (non-strings are the schema's finding, and may be unhashable)
                unknown = [
                    x for x in labels if isinstance(x, str) and x not in self._relation_labels
                ]
                if unknown:
                    out.append(
                        error(
                            "config.relation-label",
                            f"relation labels {_names(set(map(str, unknown)))} not declared in "
                            f"<Relations> ({_names(self._relation_labels)})",
                            f"{ptr}/{j}/labels",
                        )
                    )


def _check_percent(value: dict[str, Any], ptr: str, out: list[Finding]) -> None:
    """Geometry is in percent of the image: outside 0..100 it cannot show."""
    for key in ("x", "y", "width", "height"):
        v = value.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not 0 <= v <= 100:
            out.append(
                error(
                    "config.percent",
                    f"{key} = {v} is outside 0..100 (percent of the image, not pixels?)",
                    f"{ptr}/{key}",
                )
            )
            return
    x, w = value.get("x"), value.get("width")
    y, h = value.get("y"), value.get("height")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, w, y, h))
    if numbers and (x + w > 100.001 or y + h > 100.001):  # type: ignore[operator]
        out.append(
            warning(
                "config.outside-image",
                "box runs past the image edge (x + width or y + height > 100)",
                ptr,
            )
        )
    points = value.get("points")
    if isinstance(points, list):
        for k, pt in enumerate(points):
            if not (
                isinstance(pt, list)
                and len(pt) == 2
                and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in pt)
            ):
                out.append(
                    error("config.points", "each point must be [x, y] numbers", f"{ptr}/points/{k}")
                )
                return
            if not (0 <= pt[0] <= 100 and 0 <= pt[1] <= 100):
                # like x = 150 above: a coordinate, not a shape running past the edge
                out.append(
                    error(
                        "config.percent",
                        f"point {k} {pt} is outside 0..100 (percent of the image, not pixels?)",
                        f"{ptr}/points/{k}",
                    )
                )
                return


def _data_check(
    key: str, tag: str, accepted: tuple[type, ...], first_key: str | None
) -> Callable[[dict[str, Any], list[Finding]], None]:
    """A closure checking one $variable: present in data, of a type its tag accepts."""
    dotted = key.split(".") if "." in key else None
    pointer = "/data/" + "/".join(escape_pointer(k) for k in (dotted or [key]))
    names = " or ".join(_type_name(t) for t in accepted)

    def check(data: dict[str, Any], out: list[Finding]) -> None:
        if dotted is None:
            if key in data:
                item = data[key]
            elif key == first_key and UNDEFINED_KEY in data:
                item = data[UNDEFINED_KEY]
            else:
                out.append(
                    error(
                        "config.data-missing",
                        f"data has no {key!r}, which the config's <{tag}> reads as ${key}",
                        pointer,
                    )
                )
                return
        else:
            try:
                item = reduce(lambda d, k: d[k], dotted, data)
            except (KeyError, TypeError, IndexError):
                out.append(
                    error(
                        "config.data-missing",
                        f"data has no {key!r}, which the config's <{tag}> reads as ${key}",
                        pointer,
                    )
                )
                return
        if not isinstance(item, accepted) or (isinstance(item, bool) and bool not in accepted):
            out.append(
                error(
                    "config.data-type",
                    f"data {key!r} is {_type_name(type(item))}, but <{tag}> takes {names}",
                    pointer,
                )
            )

    return check


def _check_flat_predictions(task: dict[str, Any], data: dict[str, Any], out: list[Finding]) -> None:
    """`{"text": ..., "predictions": [...]}` without `data`: Label Studio stores the
    predictions as a data field and they never show. A common, silent mistake."""
    if "predictions" in task or "annotations" in task:
        return
    key = "predictions" if "predictions" in data else "annotations"
    out.append(
        error(
            "task.flat-predictions",
            f"this task has no `data` key, so Label Studio takes the whole object as data and "
            f"its {key} never show: put the data fields under `data`",
            f"/data/{key}",
        )
    )
