"""Readers: every input format becomes one stream of Records.

`iter_records` is the single entry point: it opens each source (file, `-`, gzip), picks
the reader for its format and chains the results. A problem with one file (truncated
gzip, wrong encoding) is reported as a Record with a finding, never an exception.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from lsimport.model import FORMATS, Format, Record, error
from lsimport.read.common import encoding_problem, file_problem
from lsimport.read.jsonl import iter_jsonl
from lsimport.read.sources import (
    STDIN,
    Source,
    check_sources,
    format_from_name,
    open_binary,
    peek_head,
    sniff_format,
)

__all__ = [
    "FORMATS",
    "STDIN",
    "Format",
    "Source",
    "check_sources",
    "iter_records",
    "iter_source",
    "stream_problem",
]


def iter_records(
    paths: Iterable[str], *, fmt: Format | None = None, stdin: BinaryIO | None = None
) -> Iterator[Record]:
    """All records of all inputs, in order. Missing files raise UsageError up front."""
    sources = check_sources(list(paths))
    for source in sources:
        yield from iter_source(source, fmt=fmt, stdin=stdin)


def iter_source(
    source: Source,
    *,
    fmt: Format | None = None,
    stdin: BinaryIO | None = None,
    screen: Callable[[bytes], bool] | None = None,
) -> Iterator[Record]:
    """The records of one input; stream errors become a finding after the last good record.

    `screen` (validate only): JSON and JSONL records it passes come back clean and unparsed.
    """
    if stdin is None:
        stdin = sys.stdin.buffer
    try:
        with open_binary(source, stdin) as stream:
            problem = encoding_problem(stream.peek(4)[:4])
            if problem:  # UTF-16 (Windows tools, PowerShell's `>`): no line of it would parse
                yield file_problem(source.name, 1, problem)
                return
            chosen = fmt or format_from_name(source.path) or sniff_format(peek_head(stream))
            if chosen == "jsonl":
                yield from iter_jsonl(stream, source.name, screen)
            elif chosen == "json":
                from lsimport.read.jsonarray import iter_json  # lazy, as below: start-up time

                yield from iter_json(stream, source.name, screen)
            else:
                delimiter = "\t" if chosen == "tsv" else ","
                from lsimport.read.delimited import iter_delimited

                yield from iter_delimited(stream, source.name, delimiter=delimiter)
    except (EOFError, zlib.error, OSError) as exc:
        yield stream_problem(source, exc)


def stream_problem(source: Source, exc: Exception) -> Record:
    """A file whose bytes stop making sense part-way (truncated gzip, I/O error)."""
    if isinstance(exc, (EOFError, zlib.error)) or "gzip" in str(exc).lower():
        return file_problem(
            source.name,
            0,
            error(
                "read.gzip",
                f"compressed data is truncated or corrupt ({exc}); records before it were read",
            ),
        )
    return file_problem(source.name, 0, error("read.io", f"read error: {exc}"))
