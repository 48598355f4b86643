"""JSON Lines: one task per line; a broken line is a finding for that line only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

import orjson

from lsimport.model import Record
from lsimport.read.common import UTF8_BOM, parse_error_finding, record_from_value

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


def iter_jsonl(
    stream: BinaryIO,
    name: str,
    screen: Callable[[bytes], bool] | None = None,
    *,
    first_line: int = 1,
) -> Iterator[Record]:
    """Yield one Record per non-blank line; blank lines are skipped, CRLF is fine.

    With a `screen` (validate only, lsimport/check/screen.py), a line it passes becomes a clean
    Record without a task: it is counted, never parsed. `first_line` is the file's line number
    of the stream's first line (a chunk of a file): only the file's line 1 may start with a BOM.
    """
    number = 0
    lineno = first_line - 1
    for raw in stream:
        lineno += 1
        if lineno == 1 and raw.startswith(UTF8_BOM):
            raw = raw[3:]
        if screen is not None and screen(raw):
            number += 1
            yield Record(name, number, lineno, None, raw, screened=True)
            continue
        try:
            value = _loads(raw)
        except _JSONDecodeError as exc:
            if not raw.strip():
                continue
            number += 1
            exc = _bare_line_error(raw) or exc
            yield Record(name, number, lineno, None, raw, [parse_error_finding(exc, raw)])
            continue
        number += 1
        if type(value) is dict and "data" in value and "stage" not in value:
            yield Record(name, number, lineno, value, raw)  # the common case, kept cheap
        else:
            yield record_from_value(name, number, lineno, value, raw)


def _bare_line_error(raw: bytes) -> _JSONDecodeError | None:
    """The error for the line without its line ending.

    A line cut short inside a string (a crashed writer, a truncated file) would otherwise be
    reported as "unexpected control character in string", about the newline.
    """
    try:
        _loads(raw.rstrip(b"\r\n"))
    except _JSONDecodeError as exc:
        return exc
    return None
