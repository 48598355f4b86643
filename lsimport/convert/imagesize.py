"""Image width and height from the file's header, without decoding a pixel.

PNG, JPEG, GIF, BMP and WebP are read here from their first bytes (a JPEG up to its frame
header); other formats go to Pillow's lazy `Image.open`, which also reads only the header,
when the convert extra is installed. The size is the stored one, before any EXIF rotation,
as label-studio-converter reads it (`PIL.Image.open(...).size`).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class ImageSizeError(ValueError):
    """The file is not an image whose size can be read; the message says why."""


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) in pixels; ImageSizeError when the header cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
            size = _from_head(head) or (_jpeg(fh) if head[:2] == b"\xff\xd8" else None)
    except OSError as exc:
        raise ImageSizeError(f"cannot read image: {exc.strerror or exc}") from exc
    if size is None:
        size = _pillow(path)
    if size[0] <= 0 or size[1] <= 0:
        raise ImageSizeError(f"image header gives a size of {size[0]}x{size[1]}")
    return size


def _from_head(head: bytes) -> tuple[int, int] | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        w, h = struct.unpack(">II", head[16:24])
        return int(w), int(h)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        w, h = struct.unpack("<HH", head[6:10])
        return int(w), int(h)
    if head[:2] == b"BM" and len(head) >= 26:
        w, h = struct.unpack("<ii", head[18:26])
        return abs(int(w)), abs(int(h))
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
        chunk = head[12:16]
        if chunk == b"VP8 ":
            w, h = struct.unpack("<HH", head[26:30])
            return int(w) & 0x3FFF, int(h) & 0x3FFF
        if chunk == b"VP8L":
            b = head[21:25]
            return 1 + (b[0] | (b[1] & 0x3F) << 8), 1 + (b[1] >> 6 | b[2] << 2 | (b[3] & 0xF) << 10)
        if chunk == b"VP8X":
            return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(
                head[27:30], "little"
            )
    return None


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(fh: BinaryIO) -> tuple[int, int]:
    """Walk the JPEG's segments to its start-of-frame header."""
    fh.seek(2)
    while True:
        byte = fh.read(1)
        while byte and byte != b"\xff":  # garbage between segments: skip as decoders do
            byte = fh.read(1)
        while byte == b"\xff":
            byte = fh.read(1)
        if not byte:
            raise ImageSizeError("JPEG ends before its frame header (truncated?)")
        marker = byte[0]
        if marker in (0x01, *range(0xD0, 0xD9)):
            continue
        if marker == 0xD9:
            raise ImageSizeError("JPEG has no frame header")
        length_bytes = fh.read(2)
        if len(length_bytes) < 2:
            raise ImageSizeError("JPEG ends before its frame header (truncated?)")
        (length,) = struct.unpack(">H", length_bytes)
        if marker in _SOF:
            frame = fh.read(5)
            if len(frame) < 5:
                raise ImageSizeError("JPEG frame header is cut off")
            h, w = struct.unpack(">HH", frame[1:5])
            return int(w), int(h)
        fh.seek(length - 2, 1)


def _pillow(path: str | Path) -> tuple[int, int]:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImageSizeError(
            "not a PNG, JPEG, GIF, BMP or WebP image; for other formats: "
            "pip install 'lsimport[convert]'"
        ) from None
    try:
        with Image.open(path) as im:  # lazy: reads the header only
            return int(im.size[0]), int(im.size[1])
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageSizeError(f"not an image Pillow can read: {exc}") from exc
