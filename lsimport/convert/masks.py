"""Label masks -> brush regions: one mask per image, one region per class in it.

A mask is a 2-D array of class values: a PNG (grey or palette: the value is the index), a
`.npy` array, or a `.npz` holding one array per image (the array's name is the image's).
The class map (`--classes 1=road,2=car`, or a names file) says which value is which label;
0 is the background unless the map names it. A value the map lacks is an error for that
mask, so that no class disappears unseen. The image of `dir/a.png` is `a` + `--image-ext`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lsimport.convert.brush import mask_to_rle
from lsimport.convert.core import (
    Plan,
    TaskBuilder,
    join_url,
    need,
    ordered_labels,
    parse_classes,
    problem,
)
from lsimport.errors import UsageError
from lsimport.model import Record
from lsimport.settings import ConvertOptions

MASK_EXTENSIONS = (".png", ".npy", ".npz")
DEFAULT_ROOT_URL = "/data/local-files/?d=images"


class MaskConverter:
    def __init__(self, paths: list[Path], options: ConvertOptions) -> None:
        if not options.classes:
            raise UsageError(
                "masks need a class map: which pixel value is which label",
                hint="pass --classes 1=road,2=car (0 is the background) or a names file",
            )
        self.names = parse_classes(options.classes)
        self.options = options
        self.files: list[Path] = []
        for path in paths:
            if path.is_dir():
                self.files.extend(
                    sorted(p for p in path.iterdir() if p.suffix.lower() in MASK_EXTENSIONS)
                )
            elif path.suffix.lower() in MASK_EXTENSIONS:
                self.files.append(path)
            else:
                raise UsageError(f"{path}: not a mask file (.png, .npy or .npz)")
        if not self.files:
            raise UsageError("no mask files (.png, .npy, .npz) in the inputs")
        self.np = need("numpy")

    def plan(self) -> Plan:
        return Plan("image", ("brushlabels",), ordered_labels(self.names))

    def inputs(self) -> list[Path]:
        return self.files

    def records(self, build: TaskBuilder) -> Iterator[Record]:
        number = 0
        for path in self.files:
            try:
                for where, stem, mask in self._masks(path):
                    number += 1
                    yield self._task(where, number, stem, mask, build)
            except (OSError, ValueError) as exc:
                number += 1
                yield problem(str(path), 1, "convert.mask", f"cannot read: {exc}", number)

    def _masks(self, path: Path) -> Iterator[tuple[str, str, Any]]:
        """(where, image stem, mask) for each mask in the file; one in memory at a time."""
        np = self.np
        suffix = path.suffix.lower()
        if suffix == ".npy":
            yield str(path), path.stem, np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                for key in archive.files:
                    yield f"{path}[{key}]", key, archive[key]
        else:
            image = need("PIL.Image")
            with image.open(path) as im:
                if im.mode not in ("L", "P", "I", "I;16", "1"):
                    raise ValueError(
                        f"a {im.mode} PNG: a label mask holds one class value a pixel "
                        "(grey or palette), not colours"
                    )
                yield str(path), path.stem, np.asarray(im)

    def _task(self, file: str, number: int, stem: str, mask: Any, build: TaskBuilder) -> Record:
        np = self.np
        if mask.ndim != 2 or (not np.issubdtype(mask.dtype, np.integer) and mask.dtype != bool):
            return problem(
                file,
                1,
                "convert.mask",
                f"a mask is a 2-D array of integer class values; got {mask.ndim}-D {mask.dtype}",
                number,
            )
        values = [int(v) for v in np.unique(mask)]
        unknown = [v for v in values if v not in self.names and v != 0]
        if unknown:
            return problem(
                file,
                1,
                "convert.mask-class",
                f"pixel value(s) {unknown} are not in the class map "
                f"({', '.join(f'{k}={v}' for k, v in sorted(self.names.items()))})",
                number,
            )
        h, w = mask.shape
        regions = [
            build.region(
                "brushlabels",
                {"format": "rle", "rle": mask_to_rle(mask == v)},
                self.names[v],
                size=(int(w), int(h)),
            )
            for v in values
            if v in self.names
        ]
        root = self.options.image_root_url or DEFAULT_ROOT_URL
        data = {"image": join_url(root, stem + self.options.image_ext)}
        return Record(file, number, 1, build.task(data, regions))
