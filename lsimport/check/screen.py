"""The screen: says "this record is clean" from its bytes, without building the task.

Validation is parse, then check; for the (almost all) records that are fine, msgspec does both
in one pass in C: it decodes the bytes straight into types compiled from the labeling config
(from_name/to_name and labels as Literals, numeric ranges, required value keys, regions tagged
by their `type`), and a few `__post_init__` hooks do what types cannot (span order, boxes
inside the image, unique region ids, the data variables). Measured on 100,000 NER tasks: as
fast as orjson parsing alone, where parse + fastpath.py cost 2.4x that (bench/, issue 7).

Sound, not complete, like fastpath.py, which it mirrors rule for rule and is never looser
than: True means orjson would parse the bytes to an object the full checker (schema.py +
rules.py) finds nothing in; False means "parse and check as usual", which then produces the
findings. Every struct is closed (`forbid_unknown_fields`), with the keys Label Studio's own
exports carry declared as `Any`: msgspec skips unknown keys without checking their UTF-8 or
number ranges, so nothing may be skipped. Where msgspec and orjson read bytes differently
(integers beyond 64 bits, nesting depth), the screen declines. Property tests (bytes and
values mutated) hold it to both checkers.

Three sets of types, compiled once per config: lean (model output: only the keys checked),
wide (also the keys of Label Studio's own JSON), and any-label (lean, but a label of a fixed
set may be any string: `Screen.triage` then names the ones the config lacks, with the full
checker's own finding). A JSONL block goes through lean, then any-label, in C, one call per
line from `map`; only a line neither speaks for is parsed and checked in Python.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import UNSET, Meta, UnsetType

from lsimport.check import controls as table
from lsimport.check import rules
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
from lsimport.model import Finding, escape_pointer
from lsimport.read.exports import MIN_EXPORT_COLUMNS, has_export_marks

# orjson reads integers in this range as int, bigger ones as float: outside it, decline.
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1  # (orjson: up to 2**64 - 1; msgspec bounds stop at int64)
_Int = Annotated[int, Meta(ge=_INT_MIN, le=_INT_MAX)]
_Id = str | _Int | UnsetType
_Num = float | UnsetType  # msgspec's float takes ints too, never booleans
_Size = Annotated[float, Meta(ge=0)] | UnsetType
_Percent = Annotated[float, Meta(ge=0, le=100)]
_MISSING = object()

# Keys of Label Studio's task, prediction, annotation and region JSON (its exports, the SDK's
# models) that no check looks at: decoded as Any, so that no struct skips anything.
_TASK_KEYS = (
    "id", "inner_id", "project", "created_at", "updated_at", "updated_by", "is_labeled",
    "overlap", "file_upload", "drafts", "total_annotations", "cancelled_annotations",
    "total_predictions", "comment_count", "unresolved_comment_count", "last_comment_updated_at",
    "comment_authors", "annotators", "storage_filename", "allow_skip",
)  # fmt: skip
_PREDICTION_KEYS = (
    "id", "task", "project", "created_at", "updated_at", "created_ago", "model", "model_run",
    "cluster", "neighbors", "mislabeling",
)  # fmt: skip
_ANNOTATION_KEYS = (
    "id", "task", "project", "created_at", "updated_at", "created_ago", "completed_by",
    "created_username", "updated_by", "was_cancelled", "ground_truth", "lead_time",
    "draft_created_at", "parent_prediction", "parent_annotation", "last_action",
    "last_created_by", "result_count", "unique_id", "import_id", "bulk_created", "prediction",
    "model_version", "score",
)  # fmt: skip
_REGION_KEYS = ("origin", "readonly", "hidden", "parentID", "meta", "item_index")
# Every key some control's value holds (lsimport.check.controls), and a few the editor writes.
_VALUE_KEYS = tuple(
    sorted(
        table.VALUE_KEYS
        | {"globalOffsets", "htmllabels", "channel", "frame", "enabled", "time", "timestamp"}
    )
)


@dataclass(frozen=True)
class _Known:
    """The keys each struct declares as Any beside the ones it checks."""

    task: tuple[str, ...]
    prediction: tuple[str, ...]
    annotation: tuple[str, ...]
    region: tuple[str, ...]
    value: tuple[str, ...]
    # Labels of a fixed set taken as any string: `Screen.triage` checks them after decoding.
    any_label: bool = False
    # `data` holds the config's variables and nothing else, as a struct: no hook runs.
    exact_data: bool = False


# Label Studio's own JSON as well as model output: the screen of single records.
_WIDE = _Known(_TASK_KEYS, _PREDICTION_KEYS, _ANNOTATION_KEYS, _REGION_KEYS, _VALUE_KEYS)
# Model output only: every struct narrow, so a block decodes twice as fast (bench/). It never
# passes an export's record (read/exports.py): the keys that mark one are not declared, and the
# data hook declines the data of a JSON_MIN row.
_LEAN = _Known((), (), (), (), ())
# The lean types but for the labels: a record that decodes is clean but for labels the config
# does not have (the commonest systematic mistake), and those are all its findings.
_ANY_LABEL = _Known((), (), (), (), (), any_label=True)
# The lean types for the commonest data of all, the variables alone: 1.2x faster (bench/).
_EXACT_DATA = _Known((), (), (), (), (), exact_data=True)


def _struct(name: str, fields: list[Any], known: tuple[str, ...] = (), **options: Any) -> Any:
    """A closed struct: `fields`, plus the `known` keys as optional Any.

    Not tracked by the garbage collector (`gc=False`): what it decodes into holds no cycles,
    and tracking a block's worth of them cost a third of the decoding time (bench/)."""
    declared = {f[0] for f in fields}
    extra = [(key, Any, UNSET) for key in known if key not in declared]
    return msgspec.defstruct(
        name, [*fields, *extra], kw_only=True, forbid_unknown_fields=True, gc=False, **options
    )


class Declined(ValueError):
    """Raised by the hooks: msgspec turns it into a ValidationError, the screen into False."""


class Screen:
    """The screen of a config: one record's bytes (`screen(raw)`), or a block of lines.

    A line is tried against the lean types first (model output), then the wide ones (Label
    Studio's own JSON too), which refuse an export's records (read/exports.py): those take the
    full path, where the export's findings come from. `block` tries a whole block of lines
    against the lean types in one loop in C: no Python code runs per line that passes, but
    the hooks. `triage` speaks for a block whose only problems are unknown labels.
    """

    def __init__(
        self,
        lean: Any,
        wide: Any,
        any_label: Any,
        relaxed: dict[type, _Relaxed],
        exact_data: Any = None,
    ) -> None:
        self._lean = msgspec.json.Decoder(lean).decode
        # what `block` tries, the last that passed a block first
        self._blocks = [self._lean]
        if exact_data is not None:
            self._blocks.insert(0, msgspec.json.Decoder(exact_data).decode)
        self._wide = msgspec.json.Decoder(wide).decode
        self._any_label = msgspec.json.Decoder(any_label).decode if relaxed else None
        self._relaxed = relaxed
        self._found: dict[tuple[Any, ...], Finding] = {}  # the same mistake, again and again

    def __call__(self, raw: bytes) -> bool:
        try:
            self._lean(raw)
            return True
        except Exception:  # any refusal (even RecursionError on deep nesting): look closer
            pass
        if has_export_marks(raw):
            return False
        try:
            self._wide(raw)
        except Exception:
            return False
        return True

    def block(self, lines: list[bytes]) -> bool:
        """True when every line (bytes of one record each) passes the lean screen."""
        blocks = self._blocks
        for decode in blocks:
            try:
                deque(map(decode, lines), maxlen=0)
            except Exception:
                continue
            if decode is not blocks[0]:
                blocks.remove(decode)
                blocks.insert(0, decode)
            return True
        return False

    def triage(self, lines: list[bytes]) -> list[tuple[Finding, ...]] | None:
        """Each line's findings (none: clean), when every line is clean but for labels the
        config does not have; None when some line is not, or when no label is a fixed set.

        The findings are the full checker's (rules.py) for such a task, in its order:
        predictions, then annotations, each region in turn. Made once per place and labels.
        """
        if self._any_label is None:
            return None
        try:
            tasks = list(map(self._any_label, lines))
        except Exception:
            return None
        get = self._relaxed.get
        unknown = self._unknown
        out: list[tuple[Finding, ...]] = []
        for task in tasks:
            found: list[Finding] = []
            for key, items in (
                ("predictions", task.predictions),
                ("annotations", task.annotations),
            ):
                if items is UNSET:
                    continue
                for i, item in enumerate(items):
                    for j, region in enumerate(item.result):
                        spec = get(type(region))
                        if spec is None:
                            continue
                        labels = getattr(region.value, spec.key)
                        if labels is UNSET:
                            continue
                        allowed = spec.only or spec.controls[region.from_name].labels
                        if not allowed.issuperset(labels):  # type: ignore[union-attr]
                            found.append(unknown(spec, region.from_name, labels, key, i, j))
            out.append(tuple(found))
        return out

    def _unknown(
        self, spec: _Relaxed, from_name: str, labels: list[str], key: str, i: int, j: int
    ) -> Finding:
        place = (from_name, tuple(labels), key, i, j)
        finding = self._found.get(place)
        if finding is None:
            ctrl = spec.controls[from_name]
            if len(self._found) >= _MAX_REMEMBERED:
                self._found.clear()
            allowed = ctrl.labels
            assert allowed is not None
            unknown = [x for x in labels if x not in allowed]
            ptr = f"/{key}/{i}/result/{j}/value/{escape_pointer(spec.key)}"
            finding = self._found[place] = rules.unknown_labels(ctrl, unknown, spec.lost, ptr)
        return finding


# Findings remembered by place and labels; past it, they are made afresh (memory stays flat).
_MAX_REMEMBERED = 4096


@dataclass(frozen=True)
class _Relaxed:
    """A region type whose labels the any-label types take as any string."""

    key: str  # value.labels, value.choices, ...
    controls: dict[str, Control]  # by from_name
    lost: str  # what becomes of such a region (rules.label_lost)
    only: frozenset[str] | None  # the labels, when one control has this type (the common case)


def compile_screen(config: LabelConfig | None) -> Screen | None:
    """The screen of a config, or None when this config is beyond the screen."""
    wide = task_type(config)
    if wide is None:
        return None
    relaxed: dict[type, _Relaxed] = {}
    any_label = task_type(config, _ANY_LABEL, relaxed)
    lean = task_type(config, _LEAN)
    return Screen(lean, wide, any_label, relaxed, task_type(config, _EXACT_DATA))


def task_type(
    config: LabelConfig | None,
    known: _Known = _WIDE,
    relaxed: dict[type, _Relaxed] | None = None,
) -> Any:
    """The msgspec type a clean task decodes to, or None when this config is beyond it.

    `relaxed` (with `_ANY_LABEL`) is filled with the region types whose labels are not
    checked, and how to check them."""
    if config is not None and any("." in var.key for var in config.variables):
        return None  # dotted data variables: fastpath.py declines them too
    region, numeric_spans, mixed_spans = _region_type(config, known, relaxed)
    result_hook = _result_hook(numeric_spans, mixed_spans)
    result: Any = Annotated[list[Any], Meta(max_length=0)]  # no usable control: empty only
    if region is not None:
        result = list[region]  # type: ignore[valid-type]
    prediction = _struct(
        "Prediction",
        [
            ("result", result),
            ("score", Annotated[float, Meta(ge=0, le=1)] | UnsetType, UNSET),
            ("model_version", str | UnsetType, UNSET),
        ],
        known.prediction,
        namespace={"__post_init__": result_hook},
    )
    annotation = _struct(
        "Annotation",
        [("result", result)],
        known.annotation,
        namespace={"__post_init__": result_hook},
    )
    data: Any = dict[str, Any]
    namespace = {"__post_init__": _data_hook(config, lean=known is not _WIDE)}
    if known.exact_data:
        data = _data_struct(config)
        if data is None:
            return None
        namespace = {}
    task = _struct(
        "Task",
        [
            ("data", data),
            ("meta", dict[str, Any] | UnsetType, UNSET),
            ("predictions", list[prediction] | UnsetType, UNSET),  # type: ignore[valid-type]
            ("annotations", list[annotation] | UnsetType, UNSET),  # type: ignore[valid-type]
        ],
        known.task,
        namespace=namespace,
    )
    return task


# The type of a data value whose Python type is one of these, as orjson reads it.
_DATA_VALUE: dict[type, Any] = {str: str, list: list[Any], dict: dict[str, Any], int: _Int}


def _data_struct(config: LabelConfig | None) -> Any:
    """`data` as a closed struct of the config's variables, each of the types the full check
    accepts for it (DataVariable.accepted); None when that cannot be said exactly."""
    if config is None or not config.variables:
        return None
    fields = []
    names: dict[str, str] = {}
    for i, var in enumerate(config.variables):
        if var.key in names.values() or var.key in ("predictions", "annotations"):
            return None  # (the data hook's cases)
        accepted = set(var.accepted)
        if float in accepted and int not in accepted:
            return None  # msgspec reads 5 into a float: orjson's int would not pass
        if not accepted - {float} <= _DATA_VALUE.keys():
            return None
        kinds = [_DATA_VALUE[t] for t in var.accepted if t is not float]
        kinds += [float] if float in accepted else []
        names[f"v{i}"] = var.key
        fields.append((f"v{i}", Union[tuple(kinds)]))  # noqa: UP007
    if _MIN_EXPORT_COLUMN in names.values():
        return None
    return _struct("Data", fields, rename=names)


# --------------------------------------------------------------------------- hooks


def _result_hook(numeric: frozenset[type], mixed: frozenset[type]) -> Callable[[Any], None]:
    """Checks on a whole result, once per prediction (a hook per region costs 3x more):
    unique region ids, and the order of spans: value types whose start and end are typed
    numbers (`numeric`: only their order is left) or numbers or strings (`mixed`)."""
    only: Any = next(iter(numeric)) if len(numeric) == 1 and not mixed else None

    def ids_only(self: Any) -> None:  # no spans in the config: a hook called a million times
        result = self.result
        if len(result) > 1 and len({r.id for r in result}) != len(result):
            _unique_ids(result)

    if not numeric and not mixed:
        return ids_only

    def one_span_type(self: Any) -> None:  # the common case (one kind of span), kept tight
        result = self.result
        ids = set()
        for r in result:
            ids.add(r.id)
            value = r.value
            if type(value) is only and value.start > value.end:
                raise Declined("span out of order")
        if len(ids) != len(result):
            _unique_ids(result)

    if only is not None:
        return one_span_type

    def hook(self: Any) -> None:
        result = self.result
        if len(result) > 1 and len({r.id for r in result}) != len(result):
            _unique_ids(result)
        for r in result:
            value = r.value
            kind = type(value)
            if kind in numeric:
                if value.start > value.end:
                    raise Declined("span out of order")
            elif kind in mixed:
                start, end = value.start, value.end
                if type(start) is not str and type(end) is not str and start > end:
                    raise Declined("span out of order")

    return hook


# A JSON_MIN row (read/exports.py: is_min_export_row) has all these columns in its data.
_MIN_EXPORT_COLUMN = "lead_time"
assert _MIN_EXPORT_COLUMN in MIN_EXPORT_COLUMNS


def _unique_ids(result: list[Any]) -> None:
    ids = [r.id for r in result if r.id is not UNSET]  # several may have none
    if len(set(ids)) != len(ids):
        raise Declined("shared region ids: the full check decides")


def _data_hook(config: LabelConfig | None, *, lean: bool) -> Callable[[Any], None]:
    variables = [(v.key, v.accepted) for v in config.variables] if config else []
    if len(variables) == 1 and lean:  # the common case, kept tight: one call per record
        ((key, types),) = variables
        predictions, annotations, export = "predictions", "annotations", _MIN_EXPORT_COLUMN

        def one(self: Any) -> None:
            data = self.data
            if (
                type(data.get(key, _MISSING)) not in types
                or predictions in data
                or annotations in data
                or export in data
            ):
                raise Declined("data: the full check decides")

        return one

    def hook(self: Any) -> None:
        data = self.data
        if "predictions" in data or "annotations" in data:
            raise Declined("predictions inside data")
        if lean and _MIN_EXPORT_COLUMN in data:
            raise Declined("maybe a JSON_MIN export's row")
        for key, types in variables:
            if type(data.get(key, _MISSING)) not in types:
                raise Declined(key)

    return hook


def _box_hook(self: Any) -> None:
    x, y, w, h = self.x, self.y, self.width, self.height
    if type(x) is float and type(w) is float and x + w > 100.001:
        raise Declined("box past the right edge")
    if type(y) is float and type(h) is float and y + h > 100.001:
        raise Declined("box past the bottom edge")


# --------------------------------------------------------------------------- regions


def _region_type(
    config: LabelConfig | None, known: _Known, relaxed: dict[type, _Relaxed] | None = None
) -> tuple[Any, frozenset[type], frozenset[type]]:
    """The type of one result item (a tagged union of one struct per region type), and the
    value types whose start and end must be in order: typed numbers, and numbers or strings."""
    if config is None:
        region = _struct(
            "Region",
            [
                ("from_name", str),
                ("to_name", str),
                ("type", str),
                ("value", dict[str, Any]),
                *_REGION_EXTRAS,
            ],
            known.region,
            namespace={"__post_init__": _not_relation},
        )
        return region, frozenset(), frozenset()
    groups: dict[str, list[Control]] = {}
    for ctrl in config.controls.values():
        if ctrl.to_names and ctrl.row is not None:
            groups.setdefault(ctrl.type, []).append(ctrl)
    members = []
    numeric: set[type] = set()
    mixed: set[type] = set()
    for ctrls in groups.values():
        row = ctrls[0].row
        assert row is not None
        value = _value_struct(row, ctrls, config.objects, known)
        if value is None:
            continue
        member = _region_struct(row, ctrls, value, known)
        members.append(member)
        if relaxed is not None and _labels_relaxed(row, ctrls, known):
            assert row.label_key is not None
            only = ctrls[0].labels if len(ctrls) == 1 else None
            relaxed[member] = _Relaxed(
                row.label_key, {c.name: c for c in ctrls}, rules.label_lost(row), only
            )
        if row.geometry in ("span", "time"):
            first = ctrls[0]
            fields = value_fields(row, first.attrs, config.objects.get(first.to_names[0]))
            start = next((f.kind for f in fields if f.name == "start"), None)
            if isinstance(start, Num):
                numeric.add(value)
            elif isinstance(start, NumOrStr):
                mixed.add(value)  # (a Str start, an XPath, is never compared)
    if not members:
        return None, frozenset(), frozenset()
    # A lone tagged struct accepts a missing `type`; in a union the tag is required.
    members.append(_NEVER)
    return Union[tuple(members)], frozenset(numeric), frozenset(mixed)  # noqa: UP007


def _not_relation(self: Any) -> None:
    if self.type == "relation":
        raise Declined("relations need the whole result")


def _never(self: Any) -> None:
    raise Declined("placeholder member")


_REGION_EXTRAS: list[tuple[str, Any, Any]] = [
    ("id", _Id, UNSET),
    ("score", _Num, UNSET),
    ("image_rotation", _Num, UNSET),
    ("original_width", _Size, UNSET),
    ("original_height", _Size, UNSET),
]
_NEVER = msgspec.defstruct(
    "Never", [], tag_field="type", tag="\x00", namespace={"__post_init__": _never}
)


def _literal(values: frozenset[str] | set[str] | tuple[str, ...]) -> Any:
    return Literal[tuple(sorted(values))]


def _region_struct(row: ControlType, ctrls: list[Control], value: Any, known: _Known) -> Any:
    """One region type's struct, for every control of that type."""
    rtype = row.result_type
    names = {c.name for c in ctrls}
    targets = {t for c in ctrls for t in c.to_names}
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        ("from_name", _literal(names)),
        ("to_name", _literal(targets)),
        ("value", value),
    ]
    extras = _REGION_EXTRAS
    if row.image:  # without original_width the full check warns
        fields.append(("original_width", Annotated[float, Meta(ge=0)]))
        extras = [e for e in extras if e[0] != "original_width"]
    namespace = {}
    if len(ctrls) > 1:
        namespace["__post_init__"] = _pairing_hook(row, ctrls, _labels_relaxed(row, ctrls, known))
    return _struct(
        f"Region_{rtype}",
        [*fields, *extras],
        known.region,
        tag_field="type",
        tag=rtype,
        namespace=namespace,
    )


def _labels_relaxed(row: ControlType, ctrls: list[Control], known: _Known) -> bool:
    """Does this region type take any string as a label (`_Known.any_label`)?"""
    return (
        known.any_label
        and row.label_key is not None
        and row.result_type != "taxonomy"
        and all(c.labels for c in ctrls)
    )


def _pairing_hook(row: ControlType, ctrls: list[Control], any_label: bool) -> Callable[[Any], None]:
    """Several controls share this type: from_name picks the targets and labels allowed
    (unless `any_label`: then Screen.triage checks them)."""
    label_key = None if any_label else row.label_key
    taxonomy = row.result_type == "taxonomy"
    by_name = {c.name: (frozenset(c.to_names), c.labels) for c in ctrls}

    def hook(self: Any) -> None:
        targets, allowed = by_name[self.from_name]
        if self.to_name not in targets:
            raise Declined("to_name of another control")
        if label_key is None or allowed is None:
            return
        labels = getattr(self.value, label_key)
        if labels is UNSET:
            return
        if taxonomy:
            if not all(allowed.issuperset(path) for path in labels):
                raise Declined("taxonomy label of another control")
        elif not allowed.issuperset(labels):
            raise Declined("label of another control")

    return hook


def _value_struct(
    row: ControlType, ctrls: list[Control], objects: dict[str, str], known: _Known
) -> Any:
    """The struct of one region type's `value`; None to leave the type unscreened."""
    variants = {value_fields(row, c.attrs, objects.get(t)) for c in ctrls for t in c.to_names}
    if len(variants) != 1:
        return None  # the controls of this type take different values: not worth a union
    (fields,) = variants
    label_key = row.label_key
    spec: list[Any] = []
    for f in fields:
        if f.name == label_key:
            allowed: set[str] | None = set()
            for c in ctrls:
                if c.labels is None:
                    allowed = None
                elif allowed is not None:
                    allowed |= c.labels
            if allowed is not None and not allowed:
                return None  # no label can be right: let the full check say so
            relax = _labels_relaxed(row, ctrls, known)
            label: Any = str if allowed is None or relax else _literal(allowed)
            kind: Any = list[list[label]] if row.result_type == "taxonomy" else list[label]
        else:
            kind = _type(f.kind, f"{row.result_type}_{f.name}")
        spec.append((f.name, kind) if f.required else (f.name, kind | UnsetType, UNSET))
    names = {f.name for f in fields}
    box = row.geometry == "percent" and {"x", "width", "y", "height"} <= names
    return _struct(
        f"Value_{row.result_type}",
        spec,
        known.value,
        namespace={"__post_init__": _box_hook} if box else {},
    )


def _bounded(kind: Num) -> Any:
    """A number type with the hard and soft bounds (anything the full check warns about
    fails), as msgspec checks them in C."""
    los = [b for b in (kind.lo, kind.warn_lo) if b is not None]
    his = [b for b in (kind.hi, kind.warn_hi) if b is not None]
    lo = max(los) if los else None
    hi = min(his) if his else None
    if kind.integer:
        return Annotated[
            int,
            Meta(ge=_INT_MIN if lo is None else math.ceil(lo),
                 le=_INT_MAX if hi is None else math.floor(hi)),
        ]  # fmt: skip
    if lo is None and hi is None:
        return float
    return Annotated[float, Meta(ge=lo, le=hi)]


def _type(kind: Kind, name: str) -> Any:
    """The msgspec type of one value kind (lsimport.check.controls)."""
    if isinstance(kind, Num):
        return _bounded(kind)
    if isinstance(kind, Str):
        return _literal(kind.values) if kind.values else str
    if isinstance(kind, Bool):
        return bool
    if isinstance(kind, Json):
        return dict[str, Any] if kind.object_only else Any
    if isinstance(kind, Nullable):
        return _type(kind.kind, name) | None
    if isinstance(kind, NumOrStr):
        return _bounded(kind.num) | str
    if isinstance(kind, Pair):
        coordinate = _bounded(kind.item)
        return tuple[coordinate, coordinate]  # type: ignore[valid-type]
    if isinstance(kind, ListOf):
        item = _type(kind.item, name)
        least = max(kind.min_items, kind.warn_min_items)
        return Annotated[list[item], Meta(min_length=least)] if least else list[item]  # type: ignore[valid-type]
    if isinstance(kind, MapOf):
        return dict[str, _type(kind.item, name)]  # type: ignore[misc]
    return _object(kind.fields, name)


def _object(fields: tuple[ControlField, ...], name: str) -> Any:
    spec = [
        (f.name, _type(f.kind, f"{name}_{f.name}"))
        if f.required
        else (f.name, _type(f.kind, f"{name}_{f.name}") | UnsetType, UNSET)
        for f in fields
    ]
    return _struct(f"Obj_{name}", spec)
