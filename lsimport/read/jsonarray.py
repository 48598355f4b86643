"""JSON documents, streamed: an array of tasks, one task object, or objects back to back.

The file is never parsed whole. A small tokenizer finds where each top-level element
starts and ends (skipping strings, counting brackets), and each element is parsed on its
own with orjson. Memory is bounded by the largest single task, and a broken element is a
finding for that record while the rest of the array is still read.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from typing import BinaryIO

import orjson

from lsimport.model import Record, error, json_type_name
from lsimport.read.common import (
    UTF8_BOM,
    encoding_problem,
    file_problem,
    parse_error_finding,
    record_from_value,
)

CHUNK = 1 << 20
# A complete string, a bracket, or a lone quote (a string not yet complete in the buffer).
# Possessive (3.11+): a string cut off by the buffer's end then fails in one forward pass;
# backtracking through it cost 170 ms per MB, for every long string crossing a chunk end.
_STRING = (
    rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"' if sys.version_info >= (3, 11) else rb'"[^"\\]*(?:\\.[^"\\]*)*"'
)
_TOKEN = re.compile(_STRING + rb'|[\[\]{}]|"')
_GAP_COMMA = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|,')
_COMMA = 0x2C
# Where an array element may end: `}` before `, {` (the next element) or `]`.
_CANDIDATE = re.compile(rb"\}(?=[ \t\r\n]*(?:,[ \t\r\n]*\{|\]))")
_QUOTE, _LBRACKET, _RBRACKET, _LBRACE = 0x22, 0x5B, 0x5D, 0x7B
# The rest of a string: never fails, so never backtracks; stops at its closing quote.
_STRING_REST = re.compile(rb"[^\"\\]*(?:\\.[^\"\\]*)*", re.DOTALL)
_WS = b" \t\r\n"
_RBRACE = 0x7D
# One task per line is the common layout (`[`, then `{...},` lines): an element is first
# tried as the rest of its line, within this many bytes, while that keeps working.
_LINE_LIMIT = 1 << 16
_LINE_CREDIT = 8


class _Buffer:
    """A window on the stream with line counting; forgets what has been consumed."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        # read1: one chunk as soon as it is there. read() would wait for CHUNK bytes and,
        # if the input then fails (truncated gzip), lose the good records it already had.
        self.read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)
        self.data = bytearray()
        self.eof = False
        self._line = 1  # line number at offset _line_pos
        self._line_pos = 0

    def fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.read(CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.data += chunk
        return True

    def line_at(self, pos: int) -> int:
        """Line of offset `pos`; offsets must be asked for in increasing order."""
        if pos > self._line_pos:
            self._line += self.data.count(b"\n", self._line_pos, pos)
            self._line_pos = pos
        return self._line

    def drop(self, upto: int) -> None:
        """Forget data[:upto]; every offset held by the caller shifts left by `upto`."""
        if upto <= 0:
            return
        self.line_at(upto)
        del self.data[:upto]
        self._line_pos -= upto


def iter_json(
    stream: BinaryIO, name: str, screen: Callable[[bytes], bool] | None = None
) -> Iterator[Record]:
    """Yield a Record per task of a JSON array, a single JSON object, or concatenated objects.

    With a `screen` (validate only), an element it passes becomes a clean Record without a
    task: counted, never parsed."""
    buf = _Buffer(stream)
    while len(buf.data) < 4 and buf.fill():
        pass
    problem = encoding_problem(bytes(buf.data[:4]))
    if problem:
        yield file_problem(name, 1, problem)
        return
    if buf.data.startswith(UTF8_BOM):
        del buf.data[:3]
    pos = 0
    while True:
        while pos < len(buf.data) and buf.data[pos] in _WS:
            pos += 1
        if pos < len(buf.data) or not buf.fill():
            break
    if pos >= len(buf.data):
        yield file_problem(name, 1, error("read.empty", "file is empty: no tasks found"))
        return
    if buf.data[pos] == _LBRACKET:
        yield from _Splitter(buf, name, screen, in_array=True).run(pos + 1)
    else:
        yield from _Splitter(buf, name, screen, in_array=False).run(pos)


def _split_on_commas(data: bytearray, begin: int, end: int) -> list[tuple[int, bytes]]:
    """The pieces of data[begin:end] between commas (commas inside strings do not count)."""
    pieces = []
    start = begin
    for m in _GAP_COMMA.finditer(data, begin, end):
        if m.end() - m.start() == 1 and data[m.start()] == _COMMA:
            pieces.append((start, bytes(data[start : m.start()])))
            start = m.end()
    pieces.append((start, bytes(data[start:end])))
    return pieces


class _Splitter:
    """Finds the elements at depth 0 (inside the outer array, or at top level)."""

    def __init__(
        self,
        buf: _Buffer,
        name: str,
        screen: Callable[[bytes], bool] | None,
        *,
        in_array: bool,
    ) -> None:
        self.buf = buf
        self.name = name
        self.screen = screen
        self.line_credit = _LINE_CREDIT  # failures left before the per-line try stops
        self.in_array = in_array
        self.number = 0

    def run(self, pos: int) -> Iterator[Record]:
        buf = self.buf
        depth = 0
        start = -1  # offset where the current element began; -1 between elements
        gap = pos  # offset where the text between elements began
        scan = pos
        finditer = _TOKEN.finditer
        in_string = -1  # >= 0: in a string opened at `scan`, read up to scan + in_string
        while True:
            data = buf.data
            restart = False
            if in_string >= 0:
                # Read on from where the string was left, in one forward pass: rescanning it
                # from its start after every fill made one 50 MB string take minutes.
                rest = _STRING_REST.match(data, scan + in_string)  # matches, maybe empty
                end = rest.end() if rest else scan + in_string
                if end < len(data) and data[end] == _QUOTE:
                    scan, in_string = end + 1, -1
                else:
                    in_string = end - scan  # the end of the buffer, or a backslash last in it
            for m in finditer(data, scan) if in_string < 0 else ():
                s = m.start()
                tok = data[s]
                if tok == _QUOTE:
                    if m.end() - s == 1:  # a string that continues past the buffer
                        scan = s
                        in_string = 1
                        break
                    continue
                if tok in (_LBRACKET, _LBRACE):
                    if depth == 0:
                        yield from self._gap(gap, s, at_end=False)
                        fast = self._fast_element(s) if tok == _LBRACE and self.in_array else None
                        if fast is not None:
                            yield fast[0]
                            gap = scan = fast[1]
                            restart = True
                            break
                        start = s
                    depth += 1
                    continue
                if depth > 0:
                    depth -= 1
                    if depth == 0:
                        yield self._element(start, m.end())
                        start = -1
                        gap = m.end()
                    continue
                # A closing bracket at depth 0: the end of the outer array, or garbage.
                if self.in_array and tok == _RBRACKET:
                    yield from self._gap(gap, s, at_end=True)
                    yield from self._after_array(m.end())
                    return
                yield file_problem(
                    self.name,
                    buf.line_at(s),
                    error("read.json", f"unbalanced {chr(tok)!r} after record {self.number}"),
                )
                return
            else:
                if in_string < 0:
                    scan = len(data)
            if restart:
                continue
            keep = start if start >= 0 else min(gap, scan)
            buf.drop(keep)
            scan -= keep
            gap -= keep
            if start >= 0:
                start = 0
            if not buf.fill():
                break
        yield from self._at_eof(depth, start, gap, scan)

    def _fast_element(self, start: int) -> tuple[Record, int] | None:
        """Find the element's end without tokenizing it: C-speed, for the common case.

        Candidate ends are a `}` followed by `,` or `]`; a brace count (which ignores
        strings, so it is only an estimate) picks the first candidate that balances, and
        orjson confirms it: an object that parses from `start` to there is exactly this
        element. Anything unexpected returns None and the exact tokenizer takes over.
        """
        data = self.buf.data
        if self.line_credit > 0:
            found = self._line_element(data, start)
            if found is not None:
                self.line_credit = _LINE_CREDIT
                return found
            self.line_credit -= 1
        balance = 0
        last = start
        for m in _CANDIDATE.finditer(data, start):
            end = m.end()
            balance += data.count(b"{", last, end) - data.count(b"}", last, end)
            last = end
            if balance > 0:
                continue
            if balance < 0:
                return None
            return self._confirmed(start, end)
        return None

    def _line_element(self, data: bytearray, start: int) -> tuple[Record, int] | None:
        """The element as the rest of its line (a trailing comma and spaces aside), if the
        line ends it: a complete object that parses from `start` is exactly this element."""
        newline = data.find(b"\n", start, start + _LINE_LIMIT)
        if newline < 0:
            return None
        end = newline
        while end > start and data[end - 1] in _WS:
            end -= 1
        if end > start and data[end - 1] == _COMMA:
            end -= 1
            while end > start and data[end - 1] in _WS:
                end -= 1
        if end <= start or data[end - 1] != _RBRACE:
            return None
        return self._confirmed(start, end)

    def _confirmed(self, start: int, end: int) -> tuple[Record, int] | None:
        """The record if data[start:end] is one whole element (the screen or orjson reads it
        to the end), else None: the guess was wrong, and nothing is counted."""
        raw = bytes(self.buf.data[start:end])
        if self.screen is not None and self.screen(raw):
            self.number += 1
            line = self.buf.line_at(start)
            return Record(self.name, self.number, line, None, raw, screened=True), end
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        self.number += 1
        line = self.buf.line_at(start)
        return record_from_value(self.name, self.number, line, value, raw), end

    def _element(self, start: int, end: int) -> Record:
        self.number += 1
        raw = bytes(self.buf.data[start:end])
        line = self.buf.line_at(start)
        if self.screen is not None and self.screen(raw):
            return Record(self.name, self.number, line, None, raw, screened=True)
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return Record(self.name, self.number, line, None, raw, [parse_error_finding(exc, raw)])
        return record_from_value(self.name, self.number, line, value, raw)

    def _gap(
        self, begin: int, end: int, *, at_end: bool, count_commas: bool = True
    ) -> Iterator[Record]:
        """Check the text between elements: one comma in arrays; anything else is reported.

        A scalar between elements (`3`, `"x"`, `null`) is a record of its own, numbered and
        placed on its own line like any other element.
        """
        data = self.buf.data
        usual = end - begin < 64 and self.in_array and not at_end and self.number
        if usual and bytes(data[begin:end]).strip(_WS) == b",":
            return  # the usual separator between two elements: nothing to report
        if not bytes(data[begin:end]).strip(_WS):
            pieces: list[tuple[int, bytes]] = []
        elif not self.in_array:
            pieces = [(begin, bytes(data[begin:end]))]
        else:
            pieces = _split_on_commas(data, begin, end)
        first = self.number == 0
        line = self.buf.line_at(begin)  # asked before the scalars: offsets only go forward
        for pos, piece in pieces:
            if piece.strip(_WS):
                yield self._scalar(pos, piece)
        if not self.in_array or not count_commas:
            return
        commas = max(len(pieces) - 1, 0)
        scalars = sum(1 for _, piece in pieces if piece.strip(_WS))
        items = scalars + (0 if first else 1) + (0 if at_end else 1)
        expected = max(items - 1, 0)
        if commas < expected:
            yield file_problem(
                self.name, line, error("read.json", f"missing comma after record {self.number}")
            )
        elif commas > expected:
            if at_end and pieces and not pieces[-1][1].strip(_WS):
                yield file_problem(
                    self.name,
                    line,
                    error(
                        "read.trailing-comma",
                        f"trailing comma after record {self.number}: not valid JSON, remove it",
                    ),
                )
            else:
                yield file_problem(
                    self.name,
                    line,
                    error("read.json", f"empty element (extra comma) after record {self.number}"),
                )

    def _scalar(self, pos: int, text: bytes) -> Record:
        self.number += 1
        stripped = text.lstrip(_WS)
        line = self.buf.line_at(pos + len(text) - len(stripped))
        text = stripped.rstrip(_WS)
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return Record(
                self.name, self.number, line, None, text, [parse_error_finding(exc, text)]
            )
        kind = json_type_name(value)
        return Record(
            self.name,
            self.number,
            line,
            None,
            text,
            [error("read.not-an-object", f"a task must be a JSON object, got {kind}")],
        )

    def _after_array(self, pos: int) -> Iterator[Record]:
        """Only whitespace may follow the closing bracket (read on without buffering)."""
        rest = bytes(self.buf.data[pos:])
        while True:
            if rest.strip(_WS):
                yield file_problem(
                    self.name,
                    self.buf.line_at(pos),
                    error("read.trailing-content", "unexpected content after the end of the array"),
                )
                return
            rest = self.buf.read(CHUNK)
            if not rest:
                return

    def _at_eof(self, depth: int, start: int, gap: int, scan: int) -> Iterator[Record]:
        data = self.buf.data
        if start >= 0 or depth > 0:
            self.number += 1
            begin = max(start, 0)
            yield Record(
                self.name,
                self.number,
                self.buf.line_at(begin),
                None,
                bytes(data[begin:]),
                [
                    error(
                        "read.truncated",
                        f"file ends in the middle of record {self.number}: cut off? "
                        "records before it were read",
                    )
                ],
            )
            return
        if scan < len(data) and data[scan] == _QUOTE:
            yield file_problem(
                self.name,
                self.buf.line_at(scan),
                error("read.truncated", "file ends inside a string: cut off?"),
            )
            return
        if not self.in_array:
            yield from self._gap(gap, len(data), at_end=True)
            return
        # Cut off: whether a comma was last says nothing, so only the scalars are reported.
        yield from self._gap(gap, len(data), at_end=True, count_commas=False)
        yield file_problem(
            self.name,
            self.buf.line_at(len(data)),
            error(
                "read.truncated",
                f"file ends before the array is closed (after record {self.number}): cut off?",
            ),
        )
