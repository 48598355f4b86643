"""CSV and TSV: the header names `data` keys; a few columns hold JSON.

Values stay strings (no type guessing, as Label Studio's own CSV import does), a UTF-8
BOM is dropped, and a row whose shape or encoding is wrong is a finding for that row only.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson

from lsimport.model import Record, error
from lsimport.read.common import UTF8_BOM, encoding_problem, file_problem

JSON_COLUMNS = frozenset({"predictions", "annotations", "meta"})
# Long cells (a whole document, a big base64 image) are legitimate; bound them anyway.
FIELD_LIMIT = min(sys.maxsize, 256 * 1024 * 1024)


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _sniff_delimiter(header_line: str, default: str) -> str:
    """Semicolon CSV is what spreadsheets in many locales write: accept it."""
    if default == "," and header_line.count(";") > header_line.count(","):
        return ";"
    return default


def iter_delimited(stream: BinaryIO, name: str, *, delimiter: str = ",") -> Iterator[Record]:
    """Yield one Record per row after the header."""
    head = stream.peek(4)[:4] if hasattr(stream, "peek") else b""
    problem = encoding_problem(head)
    if problem:
        yield file_problem(name, 1, problem)
        return
    csv.field_size_limit(FIELD_LIMIT)
    # surrogateescape keeps invalid bytes visible per row instead of failing the file.
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    try:
        first = text.readline()
        if first.startswith(UTF8_BOM.decode("utf-8")):
            first = first[1:]
        if not first.strip():
            yield file_problem(name, 1, error("read.empty", "file is empty: no header row"))
            return
        delimiter = _sniff_delimiter(first, delimiter)
        header = next(csv.reader([first], delimiter=delimiter))
        header_problem = _check_header(header)
        if header_problem:
            yield file_problem(name, 1, header_problem)
            return
        yield from _rows(text, name, header, delimiter)
    finally:
        text.detach()


def _check_header(header: list[str]) -> Any:
    seen: set[str] = set()
    for i, col in enumerate(header, 1):
        if _has_surrogates(col):
            return error("read.encoding", "header row is not valid UTF-8")
        if not col.strip():
            return error(
                "read.header", f"column {i} of the header has no name: every column needs one"
            )
        if col in seen:
            return error(
                "read.header", f"column name {col!r} appears twice in the header: rename one"
            )
        seen.add(col)
    return None


def _rows(text: io.TextIOWrapper, name: str, header: list[str], delimiter: str) -> Iterator[Record]:
    reader = csv.reader(text, delimiter=delimiter, strict=False)
    width = len(header)
    number = 0
    prev_line = 1  # the header ended on line 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            yield Record(name, number, prev_line + 1, None, None, [error("read.csv", str(exc))])
            prev_line = reader.line_num + 1
            continue
        line = prev_line + 1
        prev_line = reader.line_num + 1
        if not row or (len(row) == 1 and not row[0].strip() and width > 1):
            continue  # blank line
        number += 1
        raw = delimiter.join(row).encode("utf-8", "surrogateescape")
        if any(_has_surrogates(cell) for cell in row):
            yield Record(
                name,
                number,
                line,
                None,
                raw,
                [error("read.encoding", "row is not valid UTF-8 text")],
            )
            continue
        if len(row) != width:
            yield Record(
                name,
                number,
                line,
                None,
                raw,
                [
                    error(
                        "read.csv-shape",
                        f"row has {len(row)} cells but the header has {width}: "
                        "quote cells that contain the delimiter",
                    )
                ],
            )
            continue
        yield _record_from_row(name, number, line, header, row, raw)


def _record_from_row(
    name: str, number: int, line: int, header: list[str], row: list[str], raw: bytes
) -> Record:
    data: dict[str, Any] = {}
    task: dict[str, Any] = {"data": data}
    findings = []
    for col, cell in zip(header, row, strict=False):
        if col in JSON_COLUMNS:
            if not cell.strip():
                continue
            try:
                task[col] = orjson.loads(cell)
            except orjson.JSONDecodeError as exc:
                findings.append(
                    error("read.json", f"column {col!r} must hold JSON: {exc.msg}", f"/{col}")
                )
        else:
            data[col] = cell
    if findings:
        return Record(name, number, line, None, raw, findings)
    return Record(name, number, line, task, raw)


__all__ = ["iter_delimited"]
