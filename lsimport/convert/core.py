"""What every converter shares: options, the plan of controls, names, regions and tasks.

A converter reads one kind of model output and yields Records whose task is a Label Studio
task with one prediction. Before it yields anything it says what it will emit (a `Plan`:
the object tag, the region kinds, the label names), so that a labeling config can be
generated, or the given one searched for the controls to use (`Targets`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from lsimport.check.labelconfig import LabelConfig
from lsimport.errors import UsageError
from lsimport.model import Record, Task, error
from lsimport.settings import ConvertOptions

EXTRA_HINT = "pip install 'lsimport[convert]'"


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of region a converter emits: its control tag and its value's label key."""

    tag: str  # the control tag (RectangleLabels)
    suffix: str  # appended to --from-name when a config needs several controls
    label_key: str  # where the label names go in the region's value

    @property
    def type(self) -> str:
        return self.tag.lower()


# The one table of region kinds: the generated config, the control lookup in a given config
# and the region builders all read it.
KINDS: dict[str, Kind] = {
    "rectanglelabels": Kind("RectangleLabels", "rectangles", "rectanglelabels"),
    "polygonlabels": Kind("PolygonLabels", "polygons", "polygonlabels"),
    "keypointlabels": Kind("KeyPointLabels", "keypoints", "keypointlabels"),
    "brushlabels": Kind("BrushLabels", "brush", "brushlabels"),
    "choices": Kind("Choices", "choices", "choices"),
    "labels": Kind("Labels", "labels", "labels"),
    "videorectangle": Kind("VideoRectangle", "box", "labels"),
}
# The object tag each data key is shown with.
OBJECT_TAGS = {"image": "Image", "text": "Text", "video": "Video"}


@dataclass(frozen=True)
class Plan:
    """What a converter will emit, known before its first task."""

    data_key: str  # "image", "text" or "video"
    kinds: tuple[str, ...]  # keys of KINDS
    labels: tuple[str, ...]  # label names, in the order the config should list them
    object_attrs: dict[str, str] = field(default_factory=dict)  # e.g. Video framerate


@dataclass(frozen=True)
class Targets:
    """The from_name of each kind and the to_name they point at."""

    to_name: str
    from_names: dict[str, str]  # kind -> control name


def plan_targets(plan: Plan, options: ConvertOptions, config: LabelConfig | None) -> Targets:
    """Control and object names: from the given config when there is one, else generated."""
    if config is None:
        to_name = options.to_name or plan.data_key
        base = options.from_name or "label"
        if len(plan.kinds) == 1:
            return Targets(to_name, {plan.kinds[0]: base})
        return Targets(to_name, {k: f"{base}_{KINDS[k].suffix}" for k in plan.kinds})
    from_names: dict[str, str] = {}
    to_names: set[str] = set()
    for kind in plan.kinds:
        tag = KINDS[kind].tag
        found = [c for c in config.controls.values() if c.tag == tag]
        if options.to_name:
            found = [c for c in found if options.to_name in c.to_names]
        if options.from_name and any(c.name == options.from_name for c in found):
            found = [c for c in found if c.name == options.from_name]
        elif options.from_name and len(plan.kinds) == 1:
            raise UsageError(
                f"--from-name {options.from_name!r} is not a <{tag}> of the labeling config"
                + (f" (those: {', '.join(c.name for c in found)})" if found else "")
            )
        if not found:
            raise UsageError(
                f"the labeling config has no <{tag}>"
                + (f" pointing at {options.to_name!r}" if options.to_name else "")
                + f" for the {kind} regions this input makes",
                hint="add one, or leave out --label-config/--project and use --config-out",
            )
        from_names[kind] = found[0].name
        to_names.update(found[0].to_names if not options.to_name else (options.to_name,))
    objects = sorted(n for n in to_names if n in config.objects) or sorted(to_names)
    to_name = options.to_name or objects[0]
    return Targets(to_name, from_names)


def join_url(root: str, name: str) -> str:
    """`root` + "/" + `name`, exactly as label-studio-converter's `join_input_url`.

    A Label Studio local-files URL (`/data/local-files/?d=dir`) gets the name inside `d`.
    """
    part = name.replace("\\", "/").strip("/")
    parsed = urlsplit(root)
    query = parse_qsl(parsed.query, keep_blank_values=True)
    if parsed.path.rstrip("/").endswith("/data/local-files") and any(k == "d" for k, _ in query):
        items = [
            (k, (f"{v.rstrip('/')}/{part}" if v else part) if k == "d" else v) for k, v in query
        ]
        encoded = urlencode(items, doseq=True, quote_via=quote, safe="/")
        return urlunsplit((parsed.scheme, parsed.netloc, parsed.path, encoded, parsed.fragment))
    path = quote(part, safe="/")
    if parsed.scheme or parsed.netloc:
        prefix = parsed.path.rstrip("/")
        joined = posixpath.join(prefix, path) if prefix else f"/{path}"
        return urlunsplit((parsed.scheme, parsed.netloc, joined, parsed.query, parsed.fragment))
    return f"{root.rstrip('/')}/{path}"


class TaskBuilder:
    """Builds regions and tasks with the chosen names; region ids count up within a task."""

    def __init__(self, targets: Targets, model_version: str | None) -> None:
        self.targets = targets
        self.model_version = model_version

    def region(
        self,
        kind: str,
        value: dict[str, Any],
        label: str,
        *,
        score: float | None = None,
        size: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        """One region; `size` (width, height in pixels) for image regions."""
        value[KINDS[kind].label_key] = [label]
        region: dict[str, Any] = {
            "id": "",  # numbered by task() unless the converter names it
            "from_name": self.targets.from_names[kind],
            "to_name": self.targets.to_name,
            "type": kind,
            "value": value,
        }
        if size is not None:
            region["original_width"], region["original_height"] = size
            region["image_rotation"] = 0
        if score is not None:
            region["score"] = score
        return region

    def task(self, data: dict[str, Any], regions: list[dict[str, Any]]) -> Task:
        """A task with one prediction; its score is the mean of its regions' scores."""
        for i, r in enumerate(regions, 1):
            if not r["id"]:
                r["id"] = f"r{i}"
        prediction: dict[str, Any] = {"result": regions}
        scores = [r["score"] for r in regions if "score" in r]
        if scores:
            prediction["score"] = sum(scores) / len(scores)
        if self.model_version:
            prediction["model_version"] = self.model_version
        return {"data": data, "predictions": [prediction]}


def rectangle(x: float, y: float, w: float, h: float, rotation: float = 0.0) -> dict[str, Any]:
    """A box value from percent top-left corner and size."""
    return {"x": x, "y": y, "width": w, "height": h, "rotation": rotation}


# Label Studio's editor loses a keypoint whose value has no `width` (measured in 1.23.2: of
# two such keypoints one region is left, without x and y); label-studio-converter writes 1.0.
KEYPOINT_WIDTH = 1.0


def keypoint(x: float, y: float) -> dict[str, Any]:
    """A keypoint value from percent coordinates."""
    return {"x": x, "y": y, "width": KEYPOINT_WIDTH}


class Converter(Protocol):
    """One input format: what it will emit, then its tasks as Records."""

    def plan(self) -> Plan: ...

    def records(self, build: TaskBuilder) -> Iterator[Record]: ...

    def inputs(self) -> Iterable[Path | str]:
        """The files it reads (never to be overwritten by -o)."""
        ...


def problem(file: str, line: int, code: str, message: str, number: int = 0) -> Record:
    """A record that could not be converted: where, and what is wrong."""
    return Record(file, number, line, None, findings=[error(code, message)])


def need(module: str) -> Any:
    """Import a module of the convert extra, or say how to install it (one line, exit 2)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(
            f"this conversion needs {module.split('.')[0]}, which is not installed",
            hint=EXTRA_HINT,
        ) from exc


def parse_classes(text: str) -> dict[int, str]:
    """Class names from `--classes`: "a,b,c" (0, 1, 2), "1=a,2=b", or a file naming them."""
    path = Path(text)
    if path.is_file():
        return read_class_file(path)
    names: dict[int, str] = {}
    items = [t.strip() for t in text.split(",") if t.strip()]
    for i, item in enumerate(items):
        key, eq, name = item.partition("=")
        if eq:
            try:
                names[int(key)] = name.strip()
            except ValueError:
                raise UsageError(f"--classes: {item!r} is not ID=NAME with an integer ID") from None
        else:
            names[i] = item
    if not names:
        raise UsageError("--classes is empty", hint="e.g. --classes cat,dog or --classes 1=cat")
    return names


def read_class_file(path: Path) -> dict[int, str]:
    """classes.txt (one name a line), data.yaml (`names:` list or map) or JSON {"1": "cat"}."""
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read class names: {exc}") from exc
    if path.suffix in (".yaml", ".yml"):
        doc = load_yaml(path, text)
        names = doc.get("names") if isinstance(doc, dict) else None
        return names_from(names, f"{path}: `names`")
    if path.suffix == ".json":
        import orjson

        try:
            return names_from(orjson.loads(text), str(path))
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"{path}: not JSON: {exc}") from exc
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return dict(enumerate(lines))


def load_yaml(path: Path, text: str) -> Any:
    yaml = need("yaml")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not YAML: {exc}") from exc


def names_from(names: Any, where: str) -> dict[int, str]:
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return dict(enumerate(names))
    if isinstance(names, dict):
        try:
            return {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            pass
    raise UsageError(f"{where} must be a list of names or a map of class id to name")


def ordered_labels(names: dict[int, str]) -> tuple[str, ...]:
    """Label names in class-id order, each once."""
    return tuple(dict.fromkeys(names[k] for k in sorted(names)))
