"""Parse a Label Studio labeling config (safely) into objects, controls and labels.

Mirrors what Label Studio itself derives from the XML: `extract_data_types` in
`label_studio/core/label_config.py` for the `$variables` a task must carry, and the SDK's
`LabelInterface` for controls, their `toName` objects and their labels (a label's `alias`
wins over its `value`, as in the SDK).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as SafeET

from lsimport.check.controls import BY_TAG, NOT_CONTROLS, SELF_TARGETING, ControlType
from lsimport.errors import ConfigError

# Accepted Python types for an object tag's $variable (label_studio/tasks/validation.py).
DATA_TYPES: dict[str, tuple[type, ...]] = {
    "Text": (str, int, float, list),
    "Header": (str, int, float),
    "HyperText": (str,),
    "Image": (str, list),
    "Paragraphs": (list, str),
    "Chat": (list, str),
    "Table": (dict, list, str),
    "TimeSeries": (dict, list, str),
    "TimeSeriesChannel": (dict, list, str),
    "List": (list, str),
    "Choices": (str, list),
    "PolygonLabels": (str, list),
    "Labels": (str, list),
    "BrushLabels": (str, list),
    "EllipseLabels": (str, list),
    "HyperTextLabels": (str, list),
    "KeyPointLabels": (str, list),
    "ParagraphLabels": (str, list),
    "RectangleLabels": (str, list),
    "TimeSeriesLabels": (str, list),
    "Taxonomy": (str, list, type(None)),
    "Ranker": (list, str),
}
_DEFAULT_TYPES: tuple[type, ...] = (str,)

LABEL_CHILD_TAGS = frozenset({"Label", "Choice", "Relation"})
_NOT_CONTROLS = frozenset({"View", "Style", "Header", "Label", "Choice", "Relation"}) | NOT_CONTROLS
_VAR = re.compile(r"\$\w+")


@dataclass(frozen=True, slots=True)
class Control:
    """A control tag: what a prediction region's `from_name` names."""

    name: str
    tag: str
    to_names: tuple[str, ...]
    # Declared label/choice names; None when dynamic (value="$var", apiUrl) or not labeled.
    labels: frozenset[str] | None
    attrs: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def row(self) -> ControlType | None:
        """Its row in lsimport.check.controls; None for a tag Label Studio 1.23.2 does not know."""
        return BY_TAG.get(self.tag)

    @property
    def type(self) -> str:
        """The `type` of its regions."""
        row = BY_TAG.get(self.tag)
        return row.result_type if row is not None else self.tag.lower()


@dataclass(frozen=True, slots=True)
class DataVariable:
    """A task `data` key the config reads, and the tag reading it."""

    key: str  # may be dotted ("meta.text") as in Label Studio
    tag: str
    is_array: bool  # Repeater: "$items[{{idx}}].x" needs a list

    @property
    def accepted(self) -> tuple[type, ...]:
        return (list,) if self.is_array else DATA_TYPES.get(self.tag, _DEFAULT_TYPES)


@dataclass(frozen=True)
class LabelConfig:
    """What lsimport needs from a labeling config to check tasks against it."""

    xml: str
    objects: dict[str, str]  # object name -> tag
    controls: dict[str, Control]
    variables: tuple[DataVariable, ...]
    relation_labels: frozenset[str] = field(default_factory=frozenset)


def load_label_config(path: str | Path) -> LabelConfig:
    """Read and parse a config file; unreadable or unsafe files raise ConfigError."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such labeling config file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read labeling config: {exc}") from exc
    return parse_label_config(text, source=str(path))


def parse_label_config(xml: str, *, source: str = "labeling config") -> LabelConfig:
    """Parse the XML with DTDs and entities refused (no XML bombs, no external entities)."""
    if not xml.strip():
        raise ConfigError(f"{source}: labeling config is empty")
    try:
        root = SafeET.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (
        defusedxml.DTDForbidden,
        defusedxml.EntitiesForbidden,
        defusedxml.ExternalReferenceForbidden,
    ) as exc:
        raise ConfigError(
            f"{source}: refused: the config declares a DTD or entities ({type(exc).__name__}); "
            "labeling configs never need them",
        ) from exc
    except ET.ParseError as exc:
        line, col = exc.position
        raise ConfigError(
            f"{source}:{line}:{col}: not valid XML: {exc.msg if hasattr(exc, 'msg') else exc}",
            hint='a labeling config is XML like <View><Text name="text" value="$text"/>...</View>',
        ) from exc
    return _build(xml, root, source)


def _build(xml: str, root: ET.Element, source: str) -> LabelConfig:
    objects: dict[str, str] = {}
    controls: dict[str, Control] = {}
    variables: dict[str, DataVariable] = {}
    relation_labels: set[str] = set()
    for el in root.iter():
        tag = el.tag
        if not isinstance(tag, str):
            continue
        name = el.get("name")
        value = el.get("value")
        if name and value:
            _add_variable(variables, value, tag)
        if not name:
            if tag == "Relations":
                relation_labels.update(_child_labels(el))
            continue
        to_name = el.get("toName")
        if tag in SELF_TARGETING:
            # Object and control at once: regions have from_name == to_name == its name
            # (the SDK's _SELF_REFERENCING_TAGS; projects/models.py for chatmessage).
            controls[name] = Control(name, tag, (name,), None, dict(el.attrib))
            objects[name] = tag
        elif to_name and tag not in _NOT_CONTROLS:
            dynamic = bool(value and value.startswith("$")) or bool(el.get("apiUrl"))
            labels = None if dynamic else frozenset(_child_labels(el))
            row = BY_TAG.get(tag)
            if labels is not None and not labels and (row is None or row.label_key is None):
                labels = None
            controls[name] = Control(
                name,
                tag,
                tuple(t.strip() for t in to_name.split(",") if t.strip()),
                labels,
                dict(el.attrib),
            )
        elif (
            value is not None
            or el.get("valueList") is not None
            or tag.lower() in ("chat", "ranker", "list")
        ):
            objects[name] = tag
    for name, ctrl in controls.items():
        row = ctrl.row
        if row is not None and row.labels_from_siblings:
            controls[name] = replace(ctrl, labels=_sibling_labels(ctrl, controls.values()))
    if not controls and not objects:
        raise ConfigError(
            f"{source}: the config has no object or control tags; is it a labeling config?"
        )
    return LabelConfig(
        xml, objects, controls, tuple(variables.values()), frozenset(relation_labels)
    )


def _add_variable(variables: dict[str, DataVariable], value: str, tag: str) -> None:
    # Same rule as label_studio.core.label_config.extract_data_types.
    if len(value) > 1 and value[0] == "$":
        key = value[1:]
    else:
        found = _VAR.findall(value)
        if not found:
            return
        key = found[0][1:]
    if variables.get(key.split("[")[0]) is not None and variables[key.split("[")[0]].tag == "Video":
        return
    is_array = "[" in key
    key = key.split("[")[0]
    variables[key] = DataVariable(key, tag, is_array)


def _sibling_labels(ctrl: Control, controls: Iterable[Control]) -> frozenset[str] | None:
    """The labels of the <Labels> on the same objects (VideoRectangle takes its labels there,
    as in Label Studio's video object tracking template); None when one of them is dynamic."""
    found: set[str] = set()
    for other in controls:
        if other.tag == "Labels" and set(other.to_names) & set(ctrl.to_names):
            if other.labels is None:
                return None
            found |= other.labels
    return frozenset(found)


def _child_labels(el: ET.Element) -> list[str]:
    out = []
    for child in el.iter():
        if child is el or child.tag not in LABEL_CHILD_TAGS:
            continue
        v = child.get("alias") or child.get("value")
        if v is not None:
            out.append(v)
    return out
