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

from lsimport.check.labelconfig import (
    IMAGE_TYPES,
    LABEL_KEYS,
    PERCENT_TYPES,
    VALUE_KEYS,
    Control,
    LabelConfig,
)

FastCheck = Callable[[dict[str, Any]], bool]
ValueCheck = Callable[[dict[str, Any], dict[str, Any]], bool]

_MISSING = object()
_NUM = (int, float)
_OPTIONAL_NUMBERS = ("score", "image_rotation")
_OPTIONAL_SIZES = ("original_width", "original_height")


def _value_check(ctrl: Control) -> ValueCheck:
    rtype = ctrl.type
    required = frozenset(VALUE_KEYS.get(rtype, ()))
    label_key = LABEL_KEYS.get(rtype)
    allowed = ctrl.labels
    taxonomy = rtype == "taxonomy"
    free_text = rtype == "textarea"
    percent = rtype in PERCENT_TYPES
    image = rtype in IMAGE_TYPES
    span = rtype == "labels"

    def ok(value: dict[str, Any], region: dict[str, Any]) -> bool:
        if required and not value.keys() >= required:
            return False
        if label_key is not None and label_key in value:
            labels = value[label_key]
            if type(labels) is not list:
                return False
            if taxonomy:
                for path in labels:
                    if type(path) is not list:
                        return False
                    for x in path:
                        if type(x) is not str or (allowed is not None and x not in allowed):
                            return False
            elif not free_text:
                if allowed is not None:
                    # Only strings are in `allowed`: anything else fails the superset test.
                    try:
                        if not allowed.issuperset(labels):
                            return False
                    except TypeError:
                        return False
                else:
                    for x in labels:
                        if type(x) is not str:
                            return False
        if image and "original_width" not in region:
            return False
        if percent:
            x = value.get("x")
            y = value.get("y")
            w = value.get("width")
            h = value.get("height")
            for v in (x, y, w, h):
                if v is not None and (type(v) not in _NUM or not 0 <= v <= 100):
                    return False
            if type(x) in _NUM and type(w) in _NUM and x + w > 100.001:  # type: ignore[operator]
                return False
            if type(y) in _NUM and type(h) in _NUM and y + h > 100.001:  # type: ignore[operator]
                return False
            points = value.get("points", _MISSING)
            if points is not _MISSING:
                if type(points) is not list:
                    return False
                for pt in points:
                    if (
                        type(pt) is not list
                        or len(pt) != 2
                        or type(pt[0]) not in _NUM
                        or type(pt[1]) not in _NUM
                        or not 0 <= pt[0] <= 100
                        or not 0 <= pt[1] <= 100
                    ):
                        return False
        if span:
            s = value.get("start")
            e = value.get("end")
            if type(s) is int and type(e) is int and not 0 <= s <= e:
                return False
        return True

    return ok


def compile_fast_check(config: LabelConfig | None) -> FastCheck:
    """A predicate that is True only for tasks the full checker finds nothing in."""
    controls: dict[str, tuple[frozenset[str], str, ValueCheck]] = {}
    variables: list[tuple[str, frozenset[type]]] = []
    needs_slow_data = False
    if config is not None:
        for name, ctrl in config.controls.items():
            controls[name] = (frozenset(ctrl.to_names), ctrl.type, _value_check(ctrl))
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
                if spec is None or to_name not in spec[0] or rtype != spec[1]:
                    return False
                if not spec[2](value, r):
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
