"""JSON Lines: one task per line; a broken line is a finding for that line only."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable

import orjson

from lsimport.model import Finding, Record
from lsimport.read.common import UTF8_BOM, parse_error_finding, record_from_value

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
# Bytes read at a time when a block screen reads the file: small enough that a block's
# decoded records stay in the CPU's cache (64 KiB: 1.3x faster than 1 MiB, bench/).
BLOCK_BYTES = 64 * 1024


@runtime_checkable
class BlockScreen(Protocol):
    """A screen (lsimport/check/screen.py) that also takes a block of lines at once."""

    def __call__(self, raw: bytes) -> bool: ...

    def block(self, lines: list[bytes]) -> bool: ...

    def triage(self, lines: list[bytes]) -> Sequence[Sequence[Finding]] | None: ...


@dataclass(slots=True)
class LineCount:
    """How many lines iter_jsonl read, once it is done: blank lines and a last line without a
    line ending count too (a chunk of a file numbers the lines after it by this)."""

    lines: int = 0


def iter_jsonl(
    stream: BinaryIO,
    name: str,
    screen: Callable[[bytes], bool] | None = None,
    *,
    first_line: int = 1,
    block_bytes: int = BLOCK_BYTES,
    counted: LineCount | None = None,
) -> Iterator[Record]:
    """Yield one Record per non-blank line; blank lines are skipped, CRLF is fine.

    With a `screen` (validate only, lsimport/check/screen.py), a line it passes becomes a clean
    Record without a task: it is counted, never parsed. A `BlockScreen` reads `block_bytes`
    at a time, and a block whose every line it passes is one Record with a `count`.
    `first_line` is the file's line number of the stream's first line (a chunk of a file):
    only the file's line 1 may start with a BOM. `counted` is told how many lines there were.
    """
    if isinstance(screen, BlockScreen):
        return _iter_blocks(stream, name, screen, first_line, block_bytes, counted)
    return _iter_lines(stream, name, screen, 0, first_line - 1, counted)


def _iter_lines(
    lines: Iterable[bytes],
    name: str,
    screen: Callable[[bytes], bool] | None,
    number: int,
    lineno: int,
    counted: LineCount | None = None,
) -> Iterator[Record]:
    """The Records of `lines` (with their line endings), after `number` records on `lineno`
    lines; `counted` is told how many lines `lines` were."""
    start = lineno
    for raw in lines:
        lineno += 1
        if lineno == 1 and raw.startswith(UTF8_BOM):
            raw = raw[3:]
        if screen is not None and screen(raw):
            number += 1
            yield Record(name, number, lineno, None, raw, screened=True)
            continue
        rec = _parsed(name, number + 1, lineno, raw)
        if rec is not None:
            number += 1
            yield rec
    if counted is not None:
        counted.lines = lineno - start


def _iter_blocks(
    stream: BinaryIO,
    name: str,
    screen: BlockScreen,
    first_line: int,
    block_bytes: int,
    counted: LineCount | None,
) -> Iterator[Record]:
    """iter_jsonl with a block screen: whole lines, `block_bytes` at a time."""
    number = 0
    lineno = first_line - 1
    parts: list[bytes] = []  # the start of a line longer than a block
    tail = b""
    while True:
        chunk = stream.read(block_bytes)
        if not chunk:
            break
        if b"\n" not in chunk:
            parts.append(chunk)
            continue
        if parts:
            chunk = b"".join([tail, *parts, chunk])
            parts = []
        elif tail:
            chunk = tail + chunk
        lines = chunk.split(b"\n")
        tail = lines.pop()  # the line the next chunk finishes (b"" when this one ends a line)
        if screen.block(lines):
            yield _clean_run(name, number, lineno, len(lines))
            number += len(lines)
            lineno += len(lines)
            continue
        triaged = screen.triage(lines)
        if triaged is not None:  # clean but for labels: the records with findings, and runs
            clean = 0
            for line, found in zip(lines, triaged, strict=True):
                if not found:
                    clean += 1
                    continue
                if clean:
                    yield _clean_run(name, number, lineno, clean)
                    number += clean
                    lineno += clean
                    clean = 0
                number += 1
                lineno += 1
                yield Record(name, number, lineno, None, line + b"\n", list(found))
            if clean:
                yield _clean_run(name, number, lineno, clean)
                number += clean
                lineno += clean
            continue
        for rec in _iter_lines([line + b"\n" for line in lines], name, screen, number, lineno):
            number = rec.number
            yield rec
        lineno += len(lines)
    last = b"".join([tail, *parts])  # the last line, without a line ending
    yield from _iter_lines([last], name, screen, number, lineno)
    if counted is not None:
        counted.lines = lineno + bool(last) - (first_line - 1)


def _clean_run(name: str, number: int, lineno: int, count: int) -> Record:
    """`count` clean records after `number` records on `lineno` lines, as one Record."""
    return Record(name, number + 1, lineno + 1, None, None, screened=True, count=count)


def _parsed(name: str, number: int, lineno: int, raw: bytes) -> Record | None:
    """The Record of one line, parsed (None for a blank line)."""
    try:
        value = _loads(raw)
    except _JSONDecodeError as exc:
        if not raw.strip():
            return None
        exc = _bare_line_error(raw) or exc
        return Record(name, number, lineno, None, raw, [parse_error_finding(exc, raw)])
    if type(value) is dict and "data" in value and "stage" not in value:
        return Record(name, number, lineno, value, raw)  # the common case, kept cheap
    return record_from_value(name, number, lineno, value, raw)


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
