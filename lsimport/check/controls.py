"""Label Studio's control types: one row each, the only place lsimport says what a region holds.

Label Studio 1.23.2 knows these from three sources that do not always agree: the SDK's
`label_interface/control_tags.py` (whose `validate_prediction` the bulk predictions endpoint
runs, dropping what fails), `projects/models.py` (Chat is object and control at once), and the
editor (what it shows of a region). Each row gives the XML tag, the region `type`, legacy types,
the value's fields with their types and ranges, the key holding label names, whether the tag
targets itself, and its geometry. The full checker (rules.py), the fast path (fastpath.py), the
screen (screen.py) and preannotate (preannotate.py) are compiled from these rows, once per
config; docs/severity.md says why each range is an error or a warning, and
docs/sdk-differences.md where lsimport and the SDK disagree on purpose.

Kinds are a small schema language: `Num`, `Str`, `Bool`, `ListOf`, `Pair`, `Obj`, `MapOf`,
`Nullable`, `Json`. A `Num` has hard bounds (outside: an error) and soft bounds (outside: a
warning, Label Studio stores and shows it); bounds may come from an attribute of the control
(`maxRating`), resolved when the config is compiled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, Union

Geometry = Literal["none", "percent", "span", "time", "mask", "page", "video"]


@dataclass(frozen=True, slots=True)
class Num:
    """A JSON number (never a boolean)."""

    lo: float | None = None  # below: error
    hi: float | None = None  # above: error
    warn_lo: float | None = None  # below: warning
    warn_hi: float | None = None  # above: warning
    integer: bool = False  # fractional values are an error (integral floats like 5.0 pass)
    hi_attr: str | None = None  # the control attribute that sets `hi` (maxRating)
    warn_lo_attr: str | None = None  # ... that sets `warn_lo` (Number's min)
    warn_hi_attr: str | None = None  # ... that sets `warn_hi` (Number's max)
    numeric_str_warns: bool = False  # "5": the editor reads it as 5 (warning), not an error
    code: str = "config.range"  # finding code for the hard bounds
    warn_code: str = "config.suspicious"  # finding code for the soft bounds


@dataclass(frozen=True, slots=True)
class Str:
    """A JSON string; one of `values` when given."""

    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Bool:
    """true or false."""


@dataclass(frozen=True, slots=True)
class Json:
    """Any JSON value, left unchecked (ReactCode's outputs are the app's own)."""

    object_only: bool = False


@dataclass(frozen=True, slots=True)
class ListOf:
    item: Kind
    min_items: int = 0  # fewer: error
    warn_min_items: int = 0  # fewer: warning


@dataclass(frozen=True, slots=True)
class Pair:
    """A point [x, y]: a list of exactly two numbers."""

    item: Num


@dataclass(frozen=True, slots=True)
class Obj:
    """A JSON object with these fields; other keys are allowed and ignored."""

    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class MapOf:
    """A JSON object whose every value is `item` (Ranker's buckets)."""

    item: Kind


@dataclass(frozen=True, slots=True)
class Nullable:
    kind: Kind


@dataclass(frozen=True, slots=True)
class NumOrStr:
    """A number or a string, as the SDK's SpanSelection (float | int | str)."""

    num: Num = Num()


Kind = Union[Num, Str, Bool, Json, ListOf, Pair, Obj, MapOf, Nullable, NumOrStr]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind
    required: bool = True


@dataclass(frozen=True, slots=True)
class ControlType:
    """One control tag of Label Studio and the regions it makes."""

    tag: str  # the XML tag
    result_type: str  # the region's `type`
    fields: tuple[Field, ...]  # the value's fields, the label key included
    label_key: str | None = None  # the value key holding label names checked against the config
    geometry: Geometry = "none"
    self_targeting: bool = False  # from_name == to_name == the tag's name (Chat, ReactCode)
    legacy_types: tuple[str, ...] = ()  # old `type`s: the editor renames them, the SDK refuses
    legacy_label_keys: tuple[str, ...] = ()  # old label keys: the editor loses those labels
    labels_from_siblings: bool = False  # labels come from <Labels> on the same object
    split_partner: bool = False  # its region may share its id with a `labels` region
    # The object tags it labels, the usual first (tests build their configs from it).
    objects: tuple[str, ...] = ("Image",)
    # Per object tag (of to_name), fields replacing those of the same name (text offsets are
    # characters on a Text, seconds on an Audio, XPaths on a HyperText).
    by_object: Mapping[str, tuple[Field, ...]] = field(default_factory=dict)

    @property
    def image(self) -> bool:
        """Regions on an image: without original_width Label Studio cannot export pixels."""
        return self.geometry in ("percent", "mask")

    def fields_for(self, object_tag: str | None) -> tuple[Field, ...]:
        """The value's fields when the region's to_name is an `object_tag`."""
        override = self.by_object.get(object_tag or "")
        if not override:
            return self.fields
        names = {f.name for f in override}
        return (*override, *(f for f in self.fields if f.name not in names))

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


# --------------------------------------------------------------------------- shared pieces

STRINGS = ListOf(Str())
# Percent of the image. Over 100: the SDK refuses it (the predictions endpoint drops it).
# Below 0: the SDK has no lower bound and the editor shows it: a warning.
_PCT = Num(hi=100, warn_lo=0, code="config.percent", warn_code="config.outside-image")
_SIZE = _PCT  # a negative width or height shows too (the box is drawn the other way)
# The SDK's Optional[confloat(le=360)]: null is no rotation; negative angles show as such.
_ROTATION = Nullable(Num(hi=360, warn_lo=0))
_RADIUS = Num(hi=50, warn_lo=0, code="config.percent", warn_code="config.outside-image")
_COORD = Num()  # vectors: any number (the SDK bounds nothing)
_BYTE = Num(lo=0, hi=255, integer=True)


def _labels(key: str) -> Field:
    return Field(key, STRINGS)


_BOX = (
    Field("x", _PCT),
    Field("y", _PCT),
    Field("width", _SIZE),
    Field("height", _SIZE),
    Field("rotation", _ROTATION, required=False),
)
_POINTS = Field(
    "points", ListOf(Pair(Num(hi=100, warn_lo=0, code="config.percent",
                                  warn_code="config.outside-image")),
                     warn_min_items=3)
)  # fmt: skip
# The editor needs `width` to place a keypoint: without it the point vanishes (measured).
_KEYPOINT = (Field("x", _PCT), Field("y", _PCT), Field("width", Num(warn_lo=0)))
_ELLIPSE = (
    Field("x", _PCT),
    Field("y", _PCT),
    Field("radiusX", _RADIUS),
    Field("radiusY", _RADIUS),
    Field("rotation", _ROTATION, required=False),
)
_RLE = (
    Field("format", Str(), required=False),
    Field("rle", ListOf(_BYTE, min_items=1)),
)
_BITMASK = (Field("imageDataURL", Str()), Field("format", Str(), required=False))
_VERTEX = Obj(
    (
        Field("x", _COORD),
        Field("y", _COORD),
        Field("id", Str(), required=False),
        Field("isBezier", Bool(), required=False),
        Field("prevPointId", Str(), required=False),
    )
)
_VECTOR = (Field("vertices", ListOf(_VERTEX)), Field("closed", Bool(), required=False))

# Text offsets: characters of a Text. The editor drops a fractional or null offset (the region
# vanishes), shows a negative one, and reads "5" as 5.
_CHAR = Num(integer=True, warn_lo=0, numeric_str_warns=True)
_SECONDS = Num(warn_lo=0)
_XPATH = Str()
_OFFSET = Num(lo=0, integer=True)
_SPAN_BY_OBJECT: dict[str, tuple[Field, ...]] = {
    # `text`, the span's text: the SDK ignores it, but a null one makes the editor drop the span
    "Text": (Field("start", _CHAR), Field("end", _CHAR), Field("text", Str(), required=False)),
    # Without startOffset/endOffset the editor drops the region, keeping only its labels.
    "HyperText": (
        Field("start", _XPATH),
        Field("end", _XPATH),
        Field("startOffset", _OFFSET),
        Field("endOffset", _OFFSET),
    ),
    **{
        tag: (Field("start", _SECONDS), Field("end", _SECONDS))
        for tag in ("Audio", "AudioPlus", "Video", "TimeSeries")
    },
}


_SPAN = (Field("start", NumOrStr()), Field("end", NumOrStr()))
_SEQUENCE_ITEM = Obj(
    (
        Field("x", _PCT),
        Field("y", _PCT),
        Field("width", _SIZE),
        Field("height", _SIZE),
        Field("time", Num(warn_lo=0)),
        Field("frame", Num(integer=True, warn_lo=0)),
        Field("rotation", Nullable(Num()), required=False),
        Field("enabled", Bool(), required=False),
    )
)
_VIDEO_VECTOR_ITEM = Obj(
    (
        Field("frame", Num(integer=True, warn_lo=0)),
        Field("vertices", ListOf(_VERTEX)),
        Field("time", Nullable(Num()), required=False),
        Field("closed", Bool(), required=False),
        Field("enabled", Bool(), required=False),
    )
)
_VIDEO = (
    Field("framesCount", Num(integer=True, warn_lo=1)),
    Field("duration", Num(warn_lo=0)),
)


def _row(tag: str, fields: tuple[Field, ...], **kw: object) -> ControlType:
    return ControlType(tag, tag.lower(), fields, **kw)  # type: ignore[arg-type]


def _labeled(geometry_row: ControlType, tag: str) -> ControlType:
    key = tag.lower()
    return replace(
        geometry_row,
        tag=tag,
        result_type=key,
        fields=(*geometry_row.fields, _labels(key)),
        label_key=key,
        split_partner=False,
    )


_RECTANGLE = _row("Rectangle", _BOX, geometry="percent", split_partner=True)
_POLYGON = _row("Polygon", (_POINTS,), geometry="percent", split_partner=True)
_KEYPOINT_ROW = _row("KeyPoint", _KEYPOINT, geometry="percent", split_partner=True)
_ELLIPSE_ROW = _row("Ellipse", _ELLIPSE, geometry="percent", split_partner=True)
_BRUSH = _row("Brush", _RLE, geometry="mask", split_partner=True)
_BITMASK_ROW = _row("Bitmask", _BITMASK, geometry="mask", split_partner=True)
_VECTOR_ROW = _row("Vector", _VECTOR, geometry="percent", split_partner=True)
_SPAN_LABELS = ControlType(
    "Labels", "labels", (*_SPAN, _labels("labels")), label_key="labels", geometry="span",
    by_object=_SPAN_BY_OBJECT, objects=("Text", "HyperText", "Audio", "Video", "TimeSeries"),
)  # fmt: skip

CONTROL_TYPES: tuple[ControlType, ...] = (
    _row("Choices", (_labels("choices"),), label_key="choices", objects=("Text", "Image")),
    _SPAN_LABELS,
    ControlType(
        "HyperTextLabels", "hypertextlabels",
        (*_SPAN_BY_OBJECT["HyperText"], _labels("hypertextlabels")),
        label_key="hypertextlabels", geometry="span", legacy_types=("htmllabels",),
        legacy_label_keys=("htmllabels",), objects=("HyperText",),
    ),
    # Paragraph indexes are strings ("0"): with numbers, or without the offsets, the editor
    # drops the region (measured), though the SDK takes both.
    ControlType(
        "ParagraphLabels", "paragraphlabels",
        (Field("start", Str()), Field("end", Str()), Field("startOffset", _OFFSET),
         Field("endOffset", _OFFSET), _labels("paragraphlabels")),
        label_key="paragraphlabels", geometry="span", objects=("Paragraphs",),
    ),
    ControlType(
        "TimeSeriesLabels", "timeserieslabels",
        (*_SPAN, Field("instant", Bool()), _labels("timeserieslabels")),
        label_key="timeserieslabels", geometry="time", objects=("TimeSeries",),
    ),
    ControlType(
        "TimelineLabels", "timelinelabels",
        (Field("ranges", ListOf(Obj((Field("start", Num(warn_lo=0)), Field("end", Num(warn_lo=0)),
                                     Field("enabled", Nullable(Bool()), required=False))),
                                min_items=1)),
         _labels("timelinelabels")),
        label_key="timelinelabels", geometry="time", objects=("Video", "Audio"),
    ),
    _RECTANGLE,
    _labeled(_RECTANGLE, "RectangleLabels"),
    _POLYGON,
    _labeled(_POLYGON, "PolygonLabels"),
    _KEYPOINT_ROW,
    _labeled(_KEYPOINT_ROW, "KeyPointLabels"),
    _ELLIPSE_ROW,
    _labeled(_ELLIPSE_ROW, "EllipseLabels"),
    _BRUSH,
    _labeled(_BRUSH, "BrushLabels"),
    replace(_BRUSH, tag="MagicWand", result_type="magicwand", split_partner=False),
    _BITMASK_ROW,
    _labeled(_BITMASK_ROW, "BitmaskLabels"),
    _VECTOR_ROW,
    _labeled(_VECTOR_ROW, "VectorLabels"),
    ControlType(
        "OcrLabels", "ocrlabels",
        (Field("x", Num()), Field("y", Num()), Field("width", Num()), Field("height", Num()),
         Field("rotation", Nullable(Num()), required=False),
         Field("ocrtext", Nullable(Str()), required=False),
         Field("pageIndex", Nullable(Num(integer=True, warn_lo=0)), required=False),
         _labels("ocrlabels")),
        label_key="ocrlabels", geometry="page", objects=("Pdf", "Image"),
    ),
    ControlType(
        "VideoRectangle", "videorectangle",
        (*_VIDEO, Field("sequence", ListOf(_SEQUENCE_ITEM, warn_min_items=1)),
         Field("labels", Nullable(STRINGS), required=False)),
        label_key="labels", geometry="video", labels_from_siblings=True, objects=("Video",),
    ),
    ControlType(
        "VideoVector", "videovector",
        (Field("framesCount", Nullable(Num(integer=True)), required=False),
         Field("duration", Nullable(Num()), required=False),
         Field("sequence", ListOf(_VIDEO_VECTOR_ITEM))),
        geometry="video", objects=("Video",),
    ),
    ControlType(
        "VideoVectorLabels", "videovectorlabels",
        (Field("framesCount", Nullable(Num(integer=True)), required=False),
         Field("duration", Nullable(Num()), required=False),
         Field("sequence", ListOf(_VIDEO_VECTOR_ITEM)),
         Field("labels", Nullable(STRINGS), required=False)),
        label_key="labels", geometry="video", objects=("Video",),
    ),
    _row("TextArea", (Field("text", STRINGS),), objects=("Text", "Image", "Audio")),
    _row(
        "Rating",
        (Field("rating", Num(lo=0, integer=True, hi_attr="maxRating", hi=5)),),
        objects=("Text", "Image"),
    ),
    _row(
        "Number",
        (Field("number", Num(warn_lo_attr="min", warn_hi_attr="max")),),
        objects=("Text", "Image"),
    ),
    _row("DateTime", (Field("datetime", Str()),), objects=("Text", "Image")),
    _row("Taxonomy", (Field("taxonomy", ListOf(STRINGS)),), label_key="taxonomy",
         objects=("Text", "Image")),
    # Pairwise compares two objects: to_name is one of them (the SDK refuses its own name).
    # The editor drops a `selected` other than left or right (measured); the SDK takes any.
    _row("Pairwise", (Field("selected", Str(("left", "right"))),), objects=("Text",)),
    _row("Ranker", (Field("ranker", MapOf(STRINGS)),), objects=("List",)),
    ControlType(
        "Chat", "chatmessage",
        (Field("chatmessage", Obj((Field("role", Str()), Field("content", Str()),
                                   Field("createdAt", Nullable(Num()), required=False)))),),
        self_targeting=True, objects=("Chat",),
    ),
    ControlType("ReactCode", "reactcode", (Field("reactcode", Json(object_only=True)),),
                self_targeting=True, objects=("ReactCode",)),
)  # fmt: skip

BY_TAG: dict[str, ControlType] = {row.tag: row for row in CONTROL_TYPES}
BY_TYPE: dict[str, ControlType] = {row.result_type: row for row in CONTROL_TYPES}
LEGACY_TYPES: dict[str, ControlType] = {t: row for row in CONTROL_TYPES for t in row.legacy_types}
# Tags with name and toName that are not controls (the SDK's _NOT_CONTROL_TAGS).
NOT_CONTROLS = frozenset({"Filter"})
SELF_TARGETING = frozenset(row.tag for row in CONTROL_TYPES if row.self_targeting)
# Every key a value of some control may hold: the screen's closed structs let them through.
VALUE_KEYS: frozenset[str] = frozenset(f.name for row in CONTROL_TYPES for f in row.fields) | {
    f.name for row in CONTROL_TYPES for fs in row.by_object.values() for f in fs
}


def _attr_number(attrs: Mapping[str, str], name: str | None) -> float | None:
    if name is None or name not in attrs:
        return None
    try:
        return float(attrs[name])
    except ValueError:
        return None


def _resolve(kind: Kind, attrs: Mapping[str, str]) -> Kind:
    if not isinstance(kind, Num):
        return kind
    hi = _attr_number(attrs, kind.hi_attr)
    warn_lo = _attr_number(attrs, kind.warn_lo_attr)
    warn_hi = _attr_number(attrs, kind.warn_hi_attr)
    if hi is None and warn_lo is None and warn_hi is None:
        return kind
    return replace(
        kind,
        hi=kind.hi if hi is None else hi,
        warn_lo=kind.warn_lo if warn_lo is None else warn_lo,
        warn_hi=kind.warn_hi if warn_hi is None else warn_hi,
    )


def value_fields(
    row: ControlType, attrs: Mapping[str, str], object_tag: str | None
) -> tuple[Field, ...]:
    """The fields of one control's region value, on an object of `object_tag`, with the bounds
    its attributes set (a Rating's maxRating, a Number's min and max)."""
    return tuple(replace(f, kind=_resolve(f.kind, attrs)) for f in row.fields_for(object_tag))


def split_fields(partner: ControlType, label_key: str) -> tuple[Field, ...]:
    """The fields of a `labels` region that shares its id with a `partner` geometry region
    (Label Studio's split format): the partner's geometry, plus the labels."""
    return (*partner.fields, Field(label_key, STRINGS))
