"""Long answers of the server, parsed as they arrive: one element in memory at a time.

Label Studio does not page `GET /api/predictions/?project=N`: a project of a million
predictions answers one JSON array of some 400 MB. lsimport never holds it whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

# A whole string, a bracket or brace, or a lone quote (a string cut by the chunk's end).
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|"')
_QUOTE = 0x22


def iter_json_array(chunks: Iterable[bytes]) -> Iterator[Any]:
    """The objects and arrays of one JSON array, each parsed as soon as its bytes are in.

    Scalars between them (which no answer read this way holds) are skipped. ValueError when
    the bytes are not one whole JSON array.
    """
    buf = bytearray()
    pos = 0  # where scanning resumes
    start = -1  # where the element being read starts
    depth = 0  # 0: before the array; 1: in it, between elements
    ended = False
    for chunk in chunks:
        if ended:
            if chunk.strip():
                raise ValueError("bytes after the end of the array")
            continue
        buf += chunk
        while True:
            m = _TOKEN.search(buf, pos)
            if m is None:
                pos = len(buf)
                break
            token = m.group()
            if token == b'"':  # a string not whole yet: wait for more bytes
                pos = m.start()
                break
            pos = m.end()
            if token[0] == _QUOTE:
                continue
            if token in (b"[", b"{"):
                if depth == 0:
                    if token != b"[":
                        raise ValueError("not a JSON array")
                elif depth == 1:
                    start = m.start()
                depth += 1
                continue
            depth -= 1
            if depth == 0:
                ended = True
                break
            if depth == 1:
                try:
                    yield orjson.loads(bytes(buf[start : m.end()]))
                except orjson.JSONDecodeError as exc:
                    raise ValueError(f"an element is not JSON: {exc}") from exc
                start = -1
        # Forget what was read, once per chunk (not per element: a chunk can hold thousands).
        keep = start if start >= 0 else pos
        if keep > 0:
            del buf[:keep]
            pos -= keep
            start = 0 if start >= 0 else -1
    if not ended:
        raise ValueError("the array does not end")
