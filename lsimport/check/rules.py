"""Checks against a labeling config: does Label Studio accept the task, and will its
predictions show? Each problem becomes a Finding with a JSON pointer.

What a region's value may hold comes from lsimport.check.controls, one row per control type,
compiled here into closures once per config (and control, and target object); severities
follow docs/severity.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import reduce
from typing import Any

from lsimport.check.controls import (
    BY_TYPE,
    LEGACY_TYPES,
    Bool,
    ControlType,
    Json,
    Kind,
    ListOf,
    MapOf,
    Nullable,
    Num,
    NumOrStr,
    Pair,
    Str,
    split_fields,
    value_fields,
)
from lsimport.check.controls import Field as ControlField
from lsimport.check.fastpath import compile_fast_check
from lsimport.check.labelconfig import Control, LabelConfig
from lsimport.check.structure import check_structure
from lsimport.model import Finding, error, escape_pointer, warning
from lsimport.model import json_type_name as _kind

UNDEFINED_KEY = "$undefined$"  # Label Studio maps it onto the config's first variable
_MISSING: Any = object()
# Checks one region's value: (value, region, pointer to the region, findings).
ValueCheck = Callable[[dict[str, Any], dict[str, Any], str, list[Finding]], None]


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
        self._objects: dict[str, str] = config.objects if config else {}
        self._relation_labels = config.relation_labels if config else frozenset()
        self._value_checks: dict[tuple[str, Any], ValueCheck | None] = {}
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
        _check_lenient(task, findings)
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

    def _value_check(self, ctrl: Control, to_name: Any) -> ValueCheck | None:
        """The compiled check of `ctrl`'s values on `to_name` (cached: once per config)."""
        key = (ctrl.name, to_name if isinstance(to_name, str) else None)
        check = self._value_checks.get(key, _MISSING)
        if check is _MISSING:
            row = ctrl.row
            check = None
            if row is not None:
                object_tag = self._objects.get(to_name) if isinstance(to_name, str) else None
                check = compile_value_check(ctrl, row, value_fields(row, ctrl.attrs, object_tag))
            self._value_checks[key] = check
        return check  # type: ignore[no-any-return]

    def _split_check(self, ctrl: Control, row: ControlType, partner: ControlType) -> ValueCheck:
        key = (ctrl.name, "\x00split:" + partner.result_type)
        check = self._value_checks.get(key)
        if check is None:
            assert row.label_key is not None
            check = compile_value_check(ctrl, row, split_fields(partner, row.label_key))
            self._value_checks[key] = check
        return check

    def _check_result(self, result: list[Any], ptr: str, out: list[Finding]) -> None:
        controls = self._controls
        ids: set[Any] = set()  # region ids, for relations
        # One region per control and id: the same id under several controls is one region
        # with per-region attributes (a TextArea or Choices with perRegion="true").
        seen: set[tuple[Any, str | None]] = set()
        # Split format: a geometry region and a `labels` region share one id.
        partners: dict[Any, ControlType] = {}
        for r in result:
            if isinstance(r, dict) and isinstance(r.get("id"), (str, int, float)):
                rtype = r.get("type")
                row = BY_TYPE.get(rtype) if isinstance(rtype, str) else None
                if row is not None and row.split_partner:
                    partners.setdefault(r["id"], row)
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
                        f"(controls: {_names(controls)}): the editor shows the region grey, "
                        "without its label, and /import/predictions drops the prediction",
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
                        f"(toName: {_names(ctrl.to_names)}): the editor does not show the region",
                        f"{ptr}/{j}/to_name",
                    )
                )
            if rtype != ctrl.type:
                out.append(_type_mismatch(ctrl, rtype, f"{ptr}/{j}/type"))
                continue
            value = r.get("value")
            if not isinstance(value, dict):
                continue
            row = ctrl.row
            partner = (
                partners.get(rid) if rtype == "labels" and isinstance(rid, (str, int)) else None
            )
            if partner is not None and row is not None and row.label_key is not None:
                check: ValueCheck | None = self._split_check(ctrl, row, partner)
            else:
                check = self._value_check(ctrl, to_name)
            if check is not None:
                check(value, r, f"{ptr}/{j}", out)
        if relations:
            self._check_relations(relations, ids, ptr, out)

    def _check_relations(
        self,
        relations: list[tuple[int, dict[str, Any]]],
        ids: set[Any],
        ptr: str,
        out: list[Finding],
    ) -> None:
        for j, r in relations:
            if "direction" not in r:
                out.append(
                    error(
                        "config.relation",
                        "relation without `direction`: the editor assumes right, but Label "
                        "Studio's check refuses it, so /import/predictions drops the prediction",
                        f"{ptr}/{j}/direction",
                    )
                )
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


def _check_lenient(task: dict[str, Any], out: list[Finding]) -> None:
    """What the schema lets through because Label Studio stores it, but is suspicious, or
    (a score that is no number) what /import/predictions then drops."""
    meta = task.get("meta")
    if isinstance(meta, list):
        out.append(
            warning(
                "schema.meta",
                "`meta` is a list: Label Studio stores it, but expects an object",
                "/meta",
            )
        )
    predictions = task.get("predictions")
    if not isinstance(predictions, list):
        return
    for i, pred in enumerate(predictions):
        if not isinstance(pred, dict):
            continue
        ptr = f"/predictions/{i}"
        score = pred.get("score")
        if isinstance(score, str):
            try:
                number = float(score)
            except ValueError:
                out.append(
                    error(
                        "schema.score",
                        f"`score` {score!r} is not a number: Label Studio's check refuses it, "
                        "so /import/predictions drops the prediction",
                        f"{ptr}/score",
                    )
                )
                continue
            if not 0 <= number <= 1:
                out.append(
                    error(
                        "schema.score",
                        f"`score` must be between 0 and 1, got {score!r}",
                        f"{ptr}/score",
                    )
                )
            else:
                out.append(
                    warning(
                        "schema.score",
                        f"`score` is the string {score!r}: Label Studio reads it as a number, "
                        "but write a number",
                        f"{ptr}/score",
                    )
                )
        version = pred.get("model_version")
        if version is not None and not isinstance(version, str) and not isinstance(version, bool):
            out.append(
                warning(
                    "schema.model_version",
                    f"`model_version` is the number {version}: Label Studio stores it as text; "
                    "write a string",
                    f"{ptr}/model_version",
                )
            )


def _type_mismatch(ctrl: Control, rtype: Any, ptr: str) -> Finding:
    legacy = LEGACY_TYPES.get(rtype) if isinstance(rtype, str) else None
    if legacy is not None and legacy.result_type == ctrl.type:
        why = (
            f"{rtype!r} is the old name: the editor renames it, but Label Studio's check "
            "refuses it, so /import/predictions drops the prediction"
        )
    else:
        why = "the editor shows the region without its label, or not at all"
    return error(
        "config.type",
        f"type {rtype!r} does not match control {ctrl.name!r}: <{ctrl.tag}> regions have "
        f"type {ctrl.type!r}; {why}",
        ptr,
    )


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
        if isinstance(item, bool) and bool not in accepted and int in accepted:
            # Label Studio's own check (tasks/validation.py) is isinstance(value, int): it
            # stores true and false where a number may go
            out.append(
                warning(
                    "config.data-type",
                    f"data {key!r} is {str(item).lower()}: Label Studio stores it, but <{tag}> "
                    f"takes {names}",
                    pointer,
                )
            )
        elif not isinstance(item, accepted) or (isinstance(item, bool) and bool not in accepted):
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


# --------------------------------------------------------------------------- values

Explain = Callable[[Any, str, list[Finding]], None]


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _numeric_str(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _bounds(lo: float | None, hi: float | None) -> str:
    def n(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else str(x)

    if lo is not None and hi is not None:
        return f"{n(lo)}..{n(hi)}"
    return f">= {n(lo)}" if lo is not None else f"<= {n(hi)}"  # type: ignore[arg-type]


def _num_explain(kind: Num, name: str) -> Explain:
    lo, hi, wlo, whi = kind.lo, kind.hi, kind.warn_lo, kind.warn_hi
    percent = kind.code == "config.percent"

    def explain(v: Any, ptr: str, out: list[Finding]) -> None:
        if not _is_num(v):
            if isinstance(v, str) and kind.numeric_str_warns and _numeric_str(v):
                out.append(
                    warning(
                        "config.value-type",
                        f"`{name}` is the string {v!r}: the editor reads it as a number, "
                        "but write a number",
                        ptr,
                    )
                )
                return
            out.append(
                error("config.value-type", f"`{name}` must be a number, got {_kind(v)}", ptr)
            )
            return
        if kind.integer and not float(v).is_integer():
            out.append(
                error(
                    "config.value-type",
                    f"`{name}` = {v} must be a whole number (the editor drops the region)",
                    ptr,
                )
            )
            return
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            message = (
                f"{name} = {v} is outside 0..100 (percent of the image, not pixels?)"
                if percent
                else f"{name} = {v} is outside {_bounds(lo, hi)}: Label Studio's check "
                "refuses it, so /import/predictions drops the prediction"
            )
            out.append(error(kind.code, message, ptr))
            return
        if (wlo is not None and v < wlo) or (whi is not None and v > whi):
            what = "runs off the image" if percent else "is outside the usual range"
            out.append(
                warning(
                    kind.warn_code,
                    f"{name} = {v} {what} ({_bounds(wlo, whi)}): Label Studio stores and shows it",
                    ptr,
                )
            )

    return explain


def _type_explain(test: type | tuple[type, ...], what: str, name: str) -> Explain:
    def explain(v: Any, ptr: str, out: list[Finding]) -> None:
        if not isinstance(v, test) or (isinstance(v, bool) and bool is not test):
            out.append(error("config.value-type", f"`{name}` must be {what}, got {_kind(v)}", ptr))

    return explain


def _choice_explain(values: tuple[str, ...], name: str) -> Explain:
    allowed = frozenset(values)

    def explain(v: Any, ptr: str, out: list[Finding]) -> None:
        if not isinstance(v, str) or v not in allowed:
            out.append(
                error(
                    "config.value-type",
                    f"`{name}` must be one of {_names(allowed)}, got {v!r}: the editor drops "
                    "anything else",
                    ptr,
                )
            )

    return explain


def _kind_explain(kind: Kind, name: str) -> Explain:
    """A closure reporting what is wrong with one value of `kind` (compiled once per config)."""
    if isinstance(kind, Num):
        return _num_explain(kind, name)
    if isinstance(kind, Str):
        if kind.values:
            return _choice_explain(kind.values, name)
        return _type_explain(str, "a string", name)
    if isinstance(kind, Bool):
        return _type_explain(bool, "true or false", name)
    if isinstance(kind, Json):
        if kind.object_only:
            return _type_explain(dict, "an object", name)
        return lambda v, ptr, out: None
    if isinstance(kind, Nullable):
        inner = _kind_explain(kind.kind, name)

        def nullable(v: Any, ptr: str, out: list[Finding]) -> None:
            if v is not None:
                inner(v, ptr, out)

        return nullable
    if isinstance(kind, NumOrStr):
        number = _num_explain(kind.num, name)

        def num_or_str(v: Any, ptr: str, out: list[Finding]) -> None:
            if isinstance(v, str):
                return
            if not _is_num(v):
                out.append(
                    error(
                        "config.value-type",
                        f"`{name}` must be a number or a string, got {_kind(v)}",
                        ptr,
                    )
                )
                return
            number(v, ptr, out)

        return num_or_str
    if isinstance(kind, Pair):
        coordinate = _num_explain(kind.item, name)

        def pair(v: Any, ptr: str, out: list[Finding]) -> None:
            if not (isinstance(v, list) and len(v) == 2 and all(_is_num(c) for c in v)):
                out.append(error("config.points", "each point must be [x, y] numbers", ptr))
                return
            found: list[Finding] = []
            coordinate(v[0], ptr, found)
            coordinate(v[1], ptr, found)
            if found:
                f = found[0]
                out.append(Finding(f.severity, f.code, f"point {v}: {f.message}", ptr))

        return pair
    if isinstance(kind, ListOf):
        return _list_explain(kind, name)
    if isinstance(kind, MapOf):
        item = _kind_explain(kind.item, name)

        def mapping(v: Any, ptr: str, out: list[Finding]) -> None:
            if not isinstance(v, dict):
                out.append(
                    error("config.value-type", f"`{name}` must be an object, got {_kind(v)}", ptr)
                )
                return
            for k, x in v.items():
                item(x, f"{ptr}/{escape_pointer(k)}", out)

        return mapping
    return _object_explain(kind.fields, name)


def _list_explain(kind: ListOf, name: str) -> Explain:
    item = _kind_explain(kind.item, name)
    least, warn_least = kind.min_items, kind.warn_min_items

    def explain(v: Any, ptr: str, out: list[Finding]) -> None:
        if not isinstance(v, list):
            out.append(error("config.value-type", f"`{name}` must be a list, got {_kind(v)}", ptr))
            return
        if len(v) < least:
            out.append(error("config.value-type", f"`{name}` needs at least {least} item(s)", ptr))
            return
        for k, x in enumerate(v):
            before = len(out)
            item(x, f"{ptr}/{k}", out)
            if len(out) > before and any(f.is_error for f in out[before:]):
                return  # one bad item says enough
        if len(v) < warn_least:
            out.append(
                warning(
                    "config.suspicious",
                    f"`{name}` has {len(v)} item(s), fewer than {warn_least}: Label Studio "
                    "stores and shows it, but the shape is degenerate",
                    ptr,
                )
            )

    return explain


def _object_explain(fields: tuple[ControlField, ...], name: str) -> Explain:
    checks = [(f.name, f.required, _kind_explain(f.kind, f.name)) for f in fields]

    def explain(v: Any, ptr: str, out: list[Finding]) -> None:
        if not isinstance(v, dict):
            out.append(
                error("config.value-type", f"`{name}` must be an object, got {_kind(v)}", ptr)
            )
            return
        for key, required, check in checks:
            if key in v:
                check(v[key], f"{ptr}/{escape_pointer(key)}", out)
            elif required:
                out.append(error("config.value", f"`{name}` needs `{key}`", f"{ptr}/{key}"))

    return explain


def compile_value_check(
    ctrl: Control, row: ControlType, fields: tuple[ControlField, ...]
) -> ValueCheck:
    """The full check of one control's region values, from its row in lsimport.check.controls."""
    rtype = row.result_type
    label_key = row.label_key
    legacy_keys = row.legacy_label_keys
    required = [f.name for f in fields if f.required]
    checks = [(f.name, _kind_explain(f.kind, f.name)) for f in fields if f.name != label_key]
    label_field = next((f for f in fields if f.name == label_key), None)
    nullable_labels = label_field is not None and isinstance(label_field.kind, Nullable)
    lost = label_lost(row)
    allowed = ctrl.labels
    taxonomy = rtype == "taxonomy"
    box = row.geometry == "percent" and {"x", "width", "y", "height"} <= {f.name for f in fields}
    span = row.geometry in ("span", "time") and {"start", "end"} <= {f.name for f in fields}
    image = row.image
    start_kind = next((f.kind for f in fields if f.name == "start"), None)
    characters = isinstance(start_kind, Num) and start_kind.integer  # text offsets

    def check(value: dict[str, Any], region: dict[str, Any], ptr: str, out: list[Finding]) -> None:
        vptr = f"{ptr}/value"
        missing = [k for k in required if k not in value]
        if missing and label_key in missing:
            legacy = next((k for k in legacy_keys if k in value), None)
            if legacy is not None:
                missing.remove(label_key)
                out.append(
                    error(
                        "config.value",
                        f"`{legacy}` is the old name of `{label_key}`: the editor shows the "
                        "region without these labels and Label Studio's check refuses it; "
                        f"rename the key to `{label_key}`",
                        f"{vptr}/{escape_pointer(legacy)}",
                    )
                )
        if missing:
            out.append(
                error(
                    "config.value",
                    f"a {rtype!r} region's value needs " + ", ".join(f"`{k}`" for k in missing),
                    f"{vptr}/{escape_pointer(missing[0])}",
                )
            )
        before = len(out)
        for key, explain in checks:
            if key in value:
                explain(value[key], f"{vptr}/{escape_pointer(key)}", out)
                if len(out) > before and out[-1].is_error:
                    break  # one wrong field says enough (x = 150 is pixels: so is the rest)
        clean = len(out) == before
        if label_key is not None and label_key in value:
            _check_labels(
                ctrl, value[label_key], allowed, taxonomy, nullable_labels, lost,
                f"{vptr}/{escape_pointer(label_key)}", out,
            )  # fmt: skip
        if box and clean:
            x, w, y, h = value.get("x"), value.get("width"), value.get("y"), value.get("height")
            numbers = all(_is_num(v) for v in (x, w, y, h))
            if numbers and (x + w > 100.001 or y + h > 100.001):  # type: ignore[operator]
                out.append(
                    warning(
                        "config.outside-image",
                        "box runs past the image edge (x + width or y + height > 100)",
                        vptr,
                    )
                )
        if span and clean:
            start, end = value.get("start"), value.get("end")
            if _is_num(start) and _is_num(end) and start > end:  # type: ignore[operator]
                if characters:
                    out.append(
                        error(
                            "config.span",
                            f"span start {start} and end {end}: need start <= end",
                            f"{vptr}/start",
                        )
                    )
                else:  # seconds or timestamps: the editor stores and shows them reversed
                    out.append(
                        warning(
                            "config.suspicious",
                            f"start {start} is after end {end}: Label Studio stores and shows "
                            "the region as it is",
                            f"{vptr}/start",
                        )
                    )
        if image and "original_width" not in region:
            out.append(
                warning(
                    "config.original-size",
                    "image region without original_width/original_height: Label Studio "
                    "cannot convert it to pixels on export",
                    f"{ptr}/original_width",
                )
            )

    return check


def _check_labels(
    ctrl: Control,
    labels: Any,
    allowed: frozenset[str] | None,
    taxonomy: bool,
    nullable: bool,
    lost: str,
    ptr: str,
    out: list[Finding],
) -> None:
    if labels is None and nullable:
        out.append(
            warning(
                "config.suspicious",
                "labels is null: the editor shows the region but drops it when the "
                "annotation is saved; leave the key out instead",
                ptr,
            )
        )
        return
    if taxonomy:
        if not isinstance(labels, list) or not all(
            isinstance(p, list) and all(isinstance(x, str) for x in p) for p in labels
        ):
            out.append(
                error("config.labels", "taxonomy must be a list of paths (lists of strings)", ptr)
            )
            return
        flat = [x for p in labels for x in p]
    else:
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            out.append(
                error(
                    "config.labels",
                    "labels must be a list of strings (the editor drops anything else)",
                    ptr,
                )
            )
            return
        flat = labels
    if allowed is None:
        return
    unknown = [x for x in flat if x not in allowed]
    if unknown:
        out.append(unknown_labels(ctrl, unknown, lost, ptr))


def label_lost(row: ControlType) -> str:
    """What becomes of a region of this type whose label the config does not have."""
    if row.geometry != "none":
        return (
            "the editor shows the region without this label, and /import/predictions drops "
            "the prediction"
        )
    return "Label Studio's check refuses it, so /import/predictions drops the prediction"


def unknown_labels(ctrl: Control, unknown: Iterable[str], lost: str, ptr: str) -> Finding:
    """The finding for labels (at `ptr`) that are not among `ctrl`'s."""
    assert ctrl.labels is not None
    return error(
        "config.label",
        f"{_names(set(unknown))} not among the labels of {ctrl.name!r} "
        f"({_names(ctrl.labels)}): {lost}",
        ptr,
    )
