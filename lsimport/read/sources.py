"""Open inputs (files, stdin, gzip) as binary streams and tell their format."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from lsimport.errors import UsageError
from lsimport.model import Format

if TYPE_CHECKING:
    import gzip

STDIN = "-"

_EXTENSIONS: dict[str, Format] = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonlines": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
}
_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Source:
    """One input: a path or `-`, how to read it, and the name used in messages."""

    path: str
    name: str  # what findings call it: the path, or <stdin>


def check_sources(paths: list[str]) -> list[Source]:
    """Fail early, before any record is read, when a named file cannot be opened."""
    if not paths:
        raise UsageError("no input files given", hint="pass one or more paths, or - for stdin")
    sources = []
    for p in paths:
        if p == STDIN:
            sources.append(Source(p, "<stdin>"))
            continue
        path = Path(p)
        if not path.exists():
            raise UsageError(f"{p}: no such file")
        if path.is_dir():
            raise UsageError(
                f"{p}: is a directory", hint="pass the files inside it, e.g. dir/*.jsonl"
            )
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise UsageError(f"{p}: cannot open: {exc.strerror}") from exc
        sources.append(Source(p, p))
    return sources


def is_input(path: str | Path, inputs: Iterable[str]) -> bool:
    """Whether `path` is one of the input paths, under any name (`./a.jsonl`, a link, a hard
    link): a file the run reads must never be opened for writing by it."""
    try:
        target = os.stat(path)
    except OSError:
        return False  # not there yet: it cannot be an input
    for name in inputs:
        if name == STDIN:
            continue
        try:
            st = os.stat(name)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False


def format_from_name(name: str) -> Format | None:
    """The format an extension names (`.jsonl.gz` counts as `.jsonl`), or None."""
    lower = name.lower()
    if lower.endswith(".gz"):
        lower = lower[:-3]
    return _EXTENSIONS.get(Path(lower).suffix)


def sniff_format(head: bytes) -> Format:
    """Guess the format from the first bytes: for stdin and unknown extensions."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        first_line = text.split(b"\n", 1)[0]
        try:
            orjson.loads(first_line)
        except orjson.JSONDecodeError:
            return "json"  # one object spread over several lines
        return "jsonl"
    first_line = text.split(b"\n", 1)[0]
    if first_line.count(b"\t") > first_line.count(b","):
        return "tsv"
    return "csv"


class _ChunkReader(io.RawIOBase):
    """Passes on gzip output one decompressed chunk at a time.

    `GzipFile.readinto` reads until the buffer is full and, when the data is cut off,
    raises and drops everything it had inflated in that call (up to a megabyte of good
    records). `read1` returns what it has, so the error surfaces only after the last byte.
    """

    def __init__(self, gz: gzip.GzipFile) -> None:
        self._gz = gz

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._gz.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def file_size(source: Source) -> int | None:
    """The size of a file on disk; None for standard input or a file that cannot be stat'ed."""
    if source.path == STDIN:
        return None
    try:
        return os.path.getsize(source.path)
    except OSError:
        return None


def plain_file(source: Source) -> str | None:
    """The source's path when it is a regular file on disk, not compressed (which other
    processes may then read by byte ranges); None otherwise."""
    if source.path == STDIN or not os.path.isfile(source.path):
        return None
    try:
        with open(source.path, "rb") as handle:
            return None if handle.read(2) == _GZIP_MAGIC else source.path
    except OSError:
        return None


@contextmanager
def open_binary(source: Source, stdin: BinaryIO) -> Iterator[Any]:
    """A buffered binary stream over the source, gunzipped on the fly when it is gzip.

    Gzip is recognised by its magic bytes, not the name, and streamed: a small file that
    inflates a hundredfold is never held in memory whole.
    """
    raw: BinaryIO
    if source.path == STDIN:
        raw = stdin
        owned = False
    else:
        raw = open(source.path, "rb")  # noqa: SIM115 - closed below
        owned = True
    try:
        buffered: Any = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
        if buffered.peek(2)[:2] == _GZIP_MAGIC:
            import gzip  # lazy: start-up time

            with gzip.GzipFile(fileobj=buffered, mode="rb") as gz:
                yield io.BufferedReader(_ChunkReader(gz), buffer_size=1 << 20)
        else:
            yield buffered
    finally:
        if owned:
            raw.close()


def peek_head(stream: io.BufferedReader) -> bytes:
    """Up to 64 KiB from the start of the stream, without consuming it."""
    head = stream.peek(_SNIFF_BYTES)
    return head[:_SNIFF_BYTES]
