"""The fast yes: a compiled-per-config predicate that says "this task has no findings".

Almost every task in a real file is fine, and building findings costs more than parsing.
`compile_fast_check` turns a labeling config into one tight function of exact-type tests
and set lookups. It is sound, not complete: True means the full checker (schema.py +
rules.py) would report nothing; False means "look closer", and the full checker then
produces the detailed findings. A property test holds the two together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lsimport.check.controls import (
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
    value_fields,
)
from lsimport.check.controls import Field as ControlField
from lsimport.check.labelconfig import Control, LabelConfig

FastCheck = Callable[[dict[str, Any]], bool]
ValueCheck = Callable[[dict[str, Any], dict[str, Any]], bool]
Test = Callable[[Any], bool]

_MISSING = object()
_NUM = (int, float)
_OPTIONAL_NUMBERS = ("score", "image_rotation")
_OPTIONAL_SIZES = ("original_width", "original_height")


def _num_test(kind: Num) -> Test:
    """Exact types, and the soft bounds too: anything the full check would warn about fails."""
    los = [b for b in (kind.lo, kind.warn_lo) if b is not None]
    his = [b for b in (kind.hi, kind.warn_hi) if b is not None]
    lo = max(los) if los else None
    hi = min(his) if his else None
    if kind.integer:  # (the common case, text offsets: `is int` is the cheapest test)
        if lo is not None and hi is not None:
            return lambda v: type(v) is int and lo <= v <= hi
        if lo is not None:
            return lambda v: type(v) is int and v >= lo
        if hi is not None:
            return lambda v: type(v) is int and v <= hi
        return lambda v: type(v) is int
    if lo is not None and hi is not None:
        return lambda v: type(v) in _NUM and lo <= v <= hi
    if lo is not None:
        return lambda v: type(v) in _NUM and v >= lo
    if hi is not None:
        return lambda v: type(v) in _NUM and v <= hi
    return lambda v: type(v) in _NUM


def _test(kind: Kind) -> Test:
    """A predicate that is True only for values the full check finds nothing in."""
    if isinstance(kind, Num):
        return _num_test(kind)
    if isinstance(kind, Str):
        if kind.values:
            allowed = frozenset(kind.values)
            return lambda v: type(v) is str and v in allowed
        return lambda v: type(v) is str
    if isinstance(kind, Bool):
        return lambda v: type(v) is bool
    if isinstance(kind, Json):
        return (lambda v: type(v) is dict) if kind.object_only else (lambda v: True)
    if isinstance(kind, Nullable):
        inner = _test(kind.kind)
        return lambda v: v is None or inner(v)
    if isinstance(kind, NumOrStr):
        number = _num_test(kind.num)
        return lambda v: type(v) is str or number(v)
    if isinstance(kind, Pair):
        coordinate = _num_test(kind.item)
        return lambda v: type(v) is list and len(v) == 2 and coordinate(v[0]) and coordinate(v[1])
    if isinstance(kind, ListOf):
        item = _test(kind.item)
        least = max(kind.min_items, kind.warn_min_items)
        return lambda v: type(v) is list and len(v) >= least and all(map(item, v))
    if isinstance(kind, MapOf):
        item = _test(kind.item)
        return lambda v: type(v) is dict and all(map(item, v.values()))
    return _object_test(kind.fields)


def _object_test(fields: tuple[ControlField, ...]) -> Test:
    required = frozenset(f.name for f in fields if f.required)
    tests = [(f.name, _test(f.kind)) for f in fields]

    def ok(v: Any) -> bool:
        if type(v) is not dict or not v.keys() >= required:
            return False
        for key, test in tests:
            x = v.get(key, _MISSING)
            if x is not _MISSING and not test(x):
                return False
        return True

    return ok


def _labels_test(row: ControlType, allowed: frozenset[str] | None) -> Test:
    if row.result_type == "taxonomy":

        def paths(labels: Any) -> bool:
            if type(labels) is not list:
                return False
            for path in labels:
                if type(path) is not list:
                    return False
                for x in path:
                    if type(x) is not str or (allowed is not None and x not in allowed):
                        return False
            return True

        return paths
    if allowed is None:
        return lambda labels: type(labels) is list and all(type(x) is str for x in labels)

    def known(labels: Any) -> bool:
        if type(labels) is not list:
            return False
        try:  # only strings are in `allowed`: anything else fails the superset test
            return allowed.issuperset(labels)
        except TypeError:
            return False

    return known


def _value_check(ctrl: Control, row: ControlType, fields: tuple[ControlField, ...]) -> ValueCheck:
    label_key = row.label_key
    required = frozenset(f.name for f in fields if f.required)
    # required fields are there once `required` is: indexed, not looked up
    present = [(f.name, _test(f.kind)) for f in fields if f.required and f.name != label_key]
    optional = [(f.name, _test(f.kind)) for f in fields if not f.required and f.name != label_key]
    labels_ok = _labels_test(row, ctrl.labels)
    names = {f.name for f in fields}
    box = row.geometry == "percent" and {"x", "width", "y", "height"} <= names
    span = row.geometry in ("span", "time") and {"start", "end"} <= names
    numeric_span = span and all(
        isinstance(f.kind, Num) and f.required for f in fields if f.name in ("start", "end")
    )
    image = row.image

    def ok(value: dict[str, Any], region: dict[str, Any]) -> bool:
        if required and not value.keys() >= required:
            return False
        for key, test in present:
            if not test(value[key]):
                return False
        for key, test in optional:
            v = value.get(key, _MISSING)
            if v is not _MISSING and not test(v):
                return False
        if label_key is not None:
            labels = value.get(label_key, _MISSING)
            if labels is not _MISSING and not labels_ok(labels):
                return False
        if image and "original_width" not in region:
            return False
        if box:
            x, w = value["x"], value["width"]
            y, h = value["y"], value["height"]
            if x + w > 100.001 or y + h > 100.001:
                return False
        if span:
            s, e = value["start"], value["end"]
            if numeric_span:  # both passed their number tests above
                if s > e:
                    return False
            elif type(s) in _NUM and type(e) in _NUM and s > e:
                return False
        return True

    return ok


def compile_fast_check(config: LabelConfig | None) -> FastCheck:
    """A predicate that is True only for tasks the full checker finds nothing in."""
    # control name -> (region type, {to_name: value check}); no row: unknown tag, decline
    controls: dict[str, tuple[str, dict[str, ValueCheck]]] = {}
    variables: list[tuple[str, frozenset[type]]] = []
    needs_slow_data = False
    if config is not None:
        for name, ctrl in config.controls.items():
            row = ctrl.row
            if row is None:
                continue
            checks = {
                t: _value_check(ctrl, row, value_fields(row, ctrl.attrs, config.objects.get(t)))
                for t in ctrl.to_names
            }
            controls[name] = (ctrl.type, checks)
        for var in config.variables:
            if "." in var.key:
                needs_slow_data = True
            variables.append((var.key, frozenset(var.accepted)))
    with_config = config is not None

    def result_ok(result: list[Any]) -> bool:
        ids: list[Any] = []
        for r in result:
            if type(r) is not dict:
                return False
            rtype = r.get("type")
            if rtype == "relation":
                return False  # relations need the whole result: the full checker does it
            from_name = r.get("from_name")
            to_name = r.get("to_name")
            value = r.get("value")
            if type(from_name) is not str or type(to_name) is not str:
                return False
            if type(rtype) is not str or type(value) is not dict:
                return False
            basic = 4
            rid = r.get("id", _MISSING)
            if rid is not _MISSING:
                if type(rid) is not str and type(rid) is not int:
                    return False
                ids.append(rid)
                basic = 5
            if len(r) > basic:  # optional keys the schema constrains
                for k in _OPTIONAL_NUMBERS:
                    if k in r and type(r[k]) not in _NUM:
                        return False
                for k in _OPTIONAL_SIZES:
                    if k in r:
                        v = r[k]
                        if type(v) not in _NUM or v < 0:
                            return False
            if with_config:
                spec = controls.get(from_name)
                if spec is None or rtype != spec[0]:
                    return False
                check = spec[1].get(to_name)
                if check is None or not check(value, r):
                    return False
        # Shared ids are legal across controls (per-region attributes); let the full check decide.
        return len(ids) < 2 or len(set(ids)) == len(ids)

    def items_ok(items: Any, predictions: bool) -> bool:
        if type(items) is not list:
            return False
        for p in items:
            if type(p) is not dict:
                return False
            result = p.get("result", _MISSING)
            if type(result) is not list:
                return False
            if predictions:
                score = p.get("score", _MISSING)
                if score is not _MISSING and (type(score) not in _NUM or not 0 <= score <= 1):
                    return False
                mv = p.get("model_version", _MISSING)
                if mv is not _MISSING and type(mv) is not str:
                    return False
            if result and not result_ok(result):
                return False
        return True

    def fast(task: dict[str, Any]) -> bool:
        data = task.get("data")
        if type(data) is not dict:
            return False
        if "predictions" in data or "annotations" in data:
            return False
        meta = task.get("meta", _MISSING)
        if meta is not _MISSING and type(meta) is not dict:
            return False
        if with_config:
            if needs_slow_data:
                return False
            for key, types in variables:
                if type(data.get(key, _MISSING)) not in types:
                    return False
        preds = task.get("predictions", _MISSING)
        if preds is not _MISSING and not items_ok(preds, True):
            return False
        anns = task.get("annotations", _MISSING)
        return anns is _MISSING or items_ok(anns, False)

    return fast
