"""Masks as Label Studio brush RLE, and COCO's RLE read back into masks (NumPy).

Label Studio's editor keeps a brush region as an RGBA image of the photo's size, packed with
thi.ng's rle-pack: a 32-bit value count, a 5-bit word size less one, four 4-bit run-length
sizes less one, then runs (a 1 bit, 2 bits choosing the size, the length less one, one
word) or literals (a 0 bit, the same, then that many words). `label_studio_sdk.converter.
brush.decode_rle` reads the same format; a region's pixels are its alpha channel, 255 where
the mask is set (the SDK's `mask2rle` writes every channel alike, and so does this).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsimport.convert.core import need

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_WORD_BITS = 8
_RLE_SIZES = (3, 4, 8, 16)  # bits of a run length less one, chosen by 2 bits per run
_HEADER_TAIL = f"{_WORD_BITS - 1:05b}" + "".join(f"{s - 1:04b}" for s in _RLE_SIZES)
_MAX_RUN = 1 << _RLE_SIZES[-1]


def _run_bits(length: int, word: str) -> str:
    """One run of `length` equal words (length >= 2), split at the longest run size."""
    out = []
    while length > 0:
        n = min(length, _MAX_RUN)
        if n <= 8:
            out.append(f"100{n - 1:03b}{word}")
        elif n <= 16:
            out.append(f"101{n - 1:04b}{word}")
        elif n <= 256:
            out.append(f"110{n - 1:08b}{word}")
        else:
            out.append(f"111{n - 1:016b}{word}")
        length -= n
    return "".join(out)


def mask_to_rle(mask: npt.NDArray[Any]) -> list[int]:
    """A 2-D mask (non-zero = set) -> brush RLE bytes, as the editor reads them."""
    xp = need("numpy")
    pixels = (xp.asarray(mask).reshape(-1) != 0).astype(xp.uint8)
    n = int(pixels.size)
    bits = [f"{n * 4:032b}", _HEADER_TAIL]
    if n:
        starts = xp.concatenate(([0], xp.flatnonzero(pixels[1:] != pixels[:-1]) + 1))
        lengths = xp.diff(xp.concatenate((starts, [n]))) * 4  # RGBA: four words a pixel
        words = ("00000000", "11111111")
        for length, value in zip(lengths.tolist(), pixels[starts].tolist(), strict=True):
            bits.append(_run_bits(length, words[value]))
    text = "".join(bits)
    text += "0" * (-len(text) % 8)
    return list(int(text, 2).to_bytes(len(text) // 8, "big"))


def coco_rle_to_mask(segmentation: dict[str, Any]) -> np.ndarray[Any, Any]:
    """COCO RLE (`counts` a list, or pycocotools' compressed string; `size` [h, w]) -> mask.

    Counts alternate background and foreground runs, starting with background, down the
    columns (column-major), as pycocotools writes them.
    """
    xp = need("numpy")
    size = segmentation.get("size")
    counts = segmentation.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        raise ValueError("RLE `size` must be [height, width]")
    h, w = size
    if isinstance(counts, str):
        counts = _decompress(counts)
    if not isinstance(counts, list) or not all(isinstance(c, int) and c >= 0 for c in counts):
        raise ValueError("RLE `counts` must be a list of run lengths or a compressed string")
    if sum(counts) != h * w:
        raise ValueError(f"RLE counts add up to {sum(counts)} pixels, not {h} x {w}")
    values = xp.arange(len(counts), dtype=xp.uint8) % 2
    flat = xp.repeat(values, counts)
    mask: np.ndarray[Any, Any] = flat.reshape(w, h).T
    return mask


def _decompress(text: str) -> list[int]:
    """pycocotools' rleFrString: 5 bits a character (+48), continuation bit 0x20, sign 0x10,
    each count after the second one stored as the difference to the count two before."""
    counts: list[int] = []
    p = 0
    data = text.encode("ascii")
    while p < len(data):
        x = 0
        k = 0
        more = True
        while more:
            if p >= len(data):
                raise ValueError("compressed RLE counts end in the middle of a number")
            c = data[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts
