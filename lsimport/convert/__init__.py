"""Model output in: YOLO, COCO, masks, MOT tracks and Hugging Face pipelines -> tasks.

The library entry point is `open_conversion`: it picks the format's converter, settles the
labeling config (the one given, or one generated from the classes) and the control names,
and gives the tasks as Records already checked by the same TaskChecker `validate` uses::

    conv = open_conversion("yolo", ["runs/detect/predict"], ConvertOptions(classes="cat,dog"))
    for rec in conv.records():
        if not rec.has_errors:
            print(rec.task)

Heavy modules (NumPy, Pillow, PyYAML) are imported only by the formats that need them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lsimport.check.labelconfig import LabelConfig, parse_label_config
from lsimport.check.pipeline import check_records
from lsimport.check.rules import TaskChecker
from lsimport.convert.config import generate_config
from lsimport.convert.core import (
    Converter,
    Plan,
    Targets,
    TaskBuilder,
    plan_targets,
)
from lsimport.errors import UsageError
from lsimport.model import Record
from lsimport.settings import ConvertOptions

FORMATS = ("yolo", "coco", "masks", "mot", "hf")

__all__ = ["FORMATS", "Conversion", "ConvertOptions", "open_conversion"]


def _converter(fmt: str, paths: list[Path], options: ConvertOptions) -> Converter:
    # Each format's module is imported only when asked for (some need NumPy or Pillow).
    if fmt == "yolo":
        from lsimport.convert.yolo import YoloConverter

        return YoloConverter(paths, options)
    if fmt == "coco":
        from lsimport.convert.coco import CocoConverter

        return CocoConverter(paths, options)
    if fmt == "masks":
        from lsimport.convert.masks import MaskConverter

        return MaskConverter(paths, options)
    if fmt == "mot":
        from lsimport.convert.mot import MotConverter

        return MotConverter(paths, options)
    if fmt == "hf":
        from lsimport.convert.hf import HfConverter

        return HfConverter(paths, options)
    raise UsageError(f"unknown format {fmt!r}", hint=f"choose one of {', '.join(FORMATS)}")


@dataclass
class Conversion:
    """One conversion, ready to stream: its plan, names, config and checker."""

    converter: Converter
    plan: Plan
    targets: Targets
    config: LabelConfig
    generated: bool  # True: `config` was generated (--config-out writes it)
    options: ConvertOptions

    def records(self) -> Iterator[Record]:
        """Every task as a Record, checked against the config (findings attached)."""
        build = TaskBuilder(self.targets, self.options.model_version)
        return check_records(self.converter.records(build), TaskChecker(self.config))

    def inputs(self) -> Iterable[Path | str]:
        """The files the conversion reads (a YOLO dataset's label files one by one)."""
        return self.converter.inputs()


def open_conversion(
    fmt: str,
    paths: list[str],
    options: ConvertOptions,
    config: LabelConfig | None = None,
) -> Conversion:
    """The converter for `fmt` on `paths`; the config is generated when none is given."""
    if not paths:
        raise UsageError("no input given", hint="pass the dataset directory or files to convert")
    resolved = []
    for p in paths:
        path = Path(p)
        if p == "-":
            raise UsageError(
                "convert reads files and directories, not stdin",
                hint="save the model output to a file and pass its path",
            )
        if not path.exists():
            raise UsageError(f"{p}: no such file or directory")
        resolved.append(path)
    converter = _converter(fmt, resolved, options)
    plan = converter.plan()
    targets = plan_targets(plan, options, config)
    generated = config is None
    if config is None:
        config = parse_label_config(generate_config(plan, targets), source="generated config")
    return Conversion(converter, plan, targets, config, generated, options)
