"""convert: regions per second for YOLO and COCO, and peak memory as the image count grows.

Each side is the whole `lsimport convert FORMAT ... -o out.jsonl` process (start-up, reading,
the check against the generated config, writing). The baseline is label-studio-converter
(`label_studio_sdk.converter`, the official `label-studio-converter import yolo|coco`) on the
same input, in Label Studio's venv, when it is installed. Memory: the same conversion at N
and 4N images; YOLO streams (flat), COCO keeps its one JSON document in memory (its size,
as raw bytes) while the tasks stream.

Data: --size regions, 10 a image (boxes for YOLO, a box and a polygon each for COCO); the
images are small valid PNGs (lsimport reads their headers, the official converter opens
them with Pillow).
"""

from __future__ import annotations

import json
import random
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from common import (
    BenchError,
    Context,
    Run,
    Section,
    Side,
    Table,
    Target,
    compare,
    every_repeat,
    ls_python,
    lsimport_command,
    results_data,
)

PER_IMAGE = 10  # regions per image
TARGET_RATE = 20_000  # regions/s, issue 16
FLAT = 1.15  # peak memory at 4N images at most this times the peak at N (plus FLAT_MB)
FLAT_MB = 5.0
CLASSES = 10
ORACLE = {
    "yolo": "from label_studio_sdk.converter.imports.yolo import convert_yolo_to_ls as c\n"
    "import sys; c(sys.argv[1], sys.argv[2], out_type='predictions', image_ext='.png')",
    "coco": "from label_studio_sdk.converter.imports.coco import convert_coco_to_ls as c\n"
    "import sys; c(sys.argv[1], sys.argv[2], out_type='predictions')",
}


def _png(width: int, height: int) -> bytes:
    """A valid grey PNG (about 1 kB: all zeros compress well), for the official converter,
    which opens every image with Pillow."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">II", width, height) + b"\x08\x00\x00\x00\x00"
    pixels = zlib.compress(b"\x00" * ((width + 1) * height), 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def yolo_dataset(root: Path, images: int) -> Path:
    """images/ (PNGs), labels/ (PER_IMAGE boxes each, with confidences), classes.txt."""
    done = root / f"yolo-{images}"
    if (done / "classes.txt").exists():
        return done
    rnd = random.Random(images)
    (done / "images").mkdir(parents=True, exist_ok=True)
    (done / "labels").mkdir(exist_ok=True)
    header = _png(640, 480)
    for i in range(images):
        (done / "images" / f"{i:07d}.png").write_bytes(header)
        lines = (
            f"{rnd.randrange(CLASSES)} {rnd.uniform(0.2, 0.8):.6f} {rnd.uniform(0.2, 0.8):.6f} "
            f"{rnd.uniform(0.05, 0.3):.6f} {rnd.uniform(0.05, 0.3):.6f} {rnd.random():.5f}\n"
            for _ in range(PER_IMAGE)
        )
        (done / "labels" / f"{i:07d}.txt").write_text("".join(lines))
    (done / "classes.txt").write_text("".join(f"class{c}\n" for c in range(CLASSES)))
    return done


def coco_dataset(root: Path, images: int) -> Path:
    """A COCO dataset file: PER_IMAGE / 2 objects an image, each a box and a polygon.

    Written piece by piece: this process stays small, and so do the children it forks
    (their peak RSS starts from this process's size).
    """
    path = root / f"coco-{images}.json"
    if path.exists():
        return path
    rnd = random.Random(images)
    root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as out:
        out.write('{"images": [')
        for i in range(images):
            image = {"id": i + 1, "file_name": f"{i:07d}.jpg", "width": 640, "height": 480}
            out.write(("," if i else "") + json.dumps(image))
        categories = [{"id": c, "name": f"class{c}"} for c in range(1, CLASSES + 1)]
        out.write(f'], "categories": {json.dumps(categories)}, "annotations": [')
        n = 0
        for i in range(images):
            for _ in range(PER_IMAGE // 2):
                x, y = rnd.uniform(0, 400), rnd.uniform(0, 300)
                w, h = rnd.uniform(10, 200), rnd.uniform(10, 150)
                n += 1
                ann = {
                    "id": n,
                    "image_id": i + 1,
                    "category_id": rnd.randrange(1, CLASSES + 1),
                    "bbox": [round(v, 2) for v in (x, y, w, h)],
                    "segmentation": [[round(v, 2) for v in (x, y, x + w, y, x + w, y + h)]],
                    "area": round(w * h, 2),
                    "iscrowd": 0,
                }
                out.write(("," if n > 1 else "") + json.dumps(ann))
        out.write("]}")
    tmp.replace(path)
    return path


def _count(path: Path, pattern: bytes) -> int:
    """Occurrences of `pattern` in a file, read in chunks: reading a whole output here would
    raise this process's peak RSS, and Linux reports a child's peak as at least its parent's
    peak at fork."""
    count = 0
    tail = b""
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            block = tail + chunk
            count += block.count(pattern)
            tail = block[len(block) - len(pattern) + 1 :]  # a match cut in two
    return count


def _verifier(out: Path, images: int, pattern: bytes) -> Callable[[Run], None]:
    def verify(run: Run) -> None:
        tasks = _count(out, pattern)
        if tasks != images:
            raise BenchError(f"{out}: {tasks} tasks written, expected {images}")

    return verify


def run(ctx: Context) -> Section:
    opts = ctx.options
    images = max(opts.size // PER_IMAGE, 10)
    root = opts.workdir / "convert"
    out_dir = root / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    sdk = ls_python()
    sides: list[Side] = []
    for fmt in ("yolo", "coco"):
        for n in (images, 4 * images):
            ctx.say(f"convert: generating a {fmt} dataset of {n:,} images")
            src = yolo_dataset(root, n) if fmt == "yolo" else coco_dataset(root, n)
            out = out_dir / f"{fmt}-{n}.jsonl"
            command = lsimport_command("convert", fmt, src, "-o", out, "-q")
            side = Side(f"lsimport {fmt} {n:,}", every_repeat(command), n * PER_IMAGE)
            side.verify = _verifier(out, n, b"\n")
            sides.append(side)
        if sdk is not None:
            src = yolo_dataset(root, images) if fmt == "yolo" else coco_dataset(root, images)
            out = out_dir / f"sdk-{fmt}-{images}.json"
            command = [str(sdk), "-c", ORACLE[fmt], str(src), str(out)]
            side = Side(f"label-studio-converter {fmt} {images:,}", every_repeat(command),
                        images * PER_IMAGE)  # fmt: skip
            side.verify = _verifier(out, images, b'{"data": ')  # its json.dump
            sides.append(side)
    results = compare(sides, opts.repeat, ctx.say)
    by_name = {r.name: r for r in results}
    section = Section(
        f"convert: yolo and coco, {images:,} and {4 * images:,} images, {PER_IMAGE} regions each"
    )
    table = Table(
        [
            "side",
            "regions",
            f"median s (of {opts.repeat})",
            "regions/s",
            "cpu s",
            "regions per cpu s",
            "peak MB",
        ],
        caption="whole process, output to a file (cpu: user + system, the machine's load aside):",
    )
    for r in results:
        table.rows.append(
            [
                r.name,
                f"{r.side.tasks:,}",
                f"{r.median_s:.2f}",
                f"{r.rate:,.0f}",
                f"{r.cpu_s:.2f}",
                f"{r.side.tasks / r.cpu_s:,.0f}",
                f"{r.peak_mb:.0f}",
            ]
        )
    section.tables.append(table)
    for fmt in ("yolo", "coco"):
        small, big = (
            by_name[f"lsimport {fmt} {images:,}"],
            by_name[f"lsimport {fmt} {4 * images:,}"],
        )
        section.targets.append(
            Target(
                f"{fmt}: regions/s at {4 * images:,} images",
                f"{big.rate:,.0f}",
                f">= {TARGET_RATE:,}",
                big.rate >= TARGET_RATE,
            )
        )
        baseline = by_name.get(f"label-studio-converter {fmt} {images:,}")
        if baseline is not None:
            section.notes.append(
                f"{fmt}: lsimport {small.rate / baseline.rate:.2f}x label-studio-converter's "
                f"regions/s at {images:,} images (peak {small.peak_mb:.0f} vs "
                f"{baseline.peak_mb:.0f} MB); lsimport also checks every task"
            )
    small, big = by_name[f"lsimport yolo {images:,}"], by_name[f"lsimport yolo {4 * images:,}"]
    section.targets.append(
        Target(
            "yolo: peak memory flat in the images (4N vs N)",
            f"{big.peak_mb:.0f} vs {small.peak_mb:.0f} MB",
            f"<= {FLAT:g}x + {FLAT_MB:g} MB",
            big.peak_mb <= small.peak_mb * FLAT + FLAT_MB,
        )
    )
    small, big = by_name[f"lsimport coco {images:,}"], by_name[f"lsimport coco {4 * images:,}"]
    size_mb = coco_dataset(root, 4 * images).stat().st_size / 1e6
    section.notes.append(
        f"coco: peak {small.peak_mb:.0f} -> {big.peak_mb:.0f} MB for 4x the images: the dataset "
        f"is one JSON document ({size_mb:.0f} MB at {4 * images:,} images), kept as raw bytes "
        "while the tasks stream"
    )
    section.data = results_data(results)
    return section
