"""Validate big JSONL inputs on every core.

Screening and checking are pure CPU. A large JSONL file on disk is cut into byte ranges (the
lines that start in each); for gzip this process reads the stream and cuts it into chunks of
whole lines. Each is screened, parsed and checked by a worker process (check/workers.py), or
by this process when every worker has WAITING_PER_WORKER waiting, and only the records with
findings come back, numbered within their chunk; this process renumbers them. Chunks are
handed out in a bounded window, so memory stays flat, and results come back in input order.
"""

from __future__ import annotations

import io
import os
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from typing import BinaryIO

from lsimport.check import workers
from lsimport.check.labelconfig import parse_label_config
from lsimport.check.rules import TaskChecker
from lsimport.check.workers import Worker
from lsimport.errors import WorkerError
from lsimport.model import Finding, Record
from lsimport.read.common import encoding_problem, file_problem
from lsimport.read.jsonl import LineCount, iter_jsonl

# Bytes of whole lines per chunk: small enough to keep every worker busy and the window
# light, big enough that handing a chunk over costs little beside checking it.
CHUNK_BYTES = 1024 * 1024
# Bytes per byte range a worker reads itself: nothing of it passes through this process, so
# it can be bigger (1,000,000 choice tasks, 2 workers: 4 MB took 3-4% less time than 1 MB;
# 16 MB, only 14 ranges, left a worker idle at the end). This process checks CHUNK_BYTES of
# a file at a time (_Ranges), and the file's last 1-2 CHUNK_BYTES in TAIL_BYTES.
RANGE_BYTES = 4 * 1024 * 1024
TAIL_BYTES = 256 * 1024
# Chunks a worker is given ahead: one to check and one to start on the moment it is done;
# beyond that, this process checks the chunk itself.
WAITING_PER_WORKER = 2
# Results without findings (three numbers each) this process may hold beyond the window,
# checking on while the worker at the head of it is late: on a shared machine one core can run
# far slower than the other for a while (1,000,000 choice tasks: once 14 waits, 139 ms in all,
# this process idle while the worker's next result was due; most runs 1-3 waits, 3-10 ms).
CLEAN_AHEAD = 64

# What checks chunks: set by _init, in this process before it forks a worker, which so
# starts with them made (made again after the fork, they took the worker 10-13 ms, most of it
# importing the screen and msgspec); _inited says for which (config, strict).
_checker: TaskChecker | None = None
_screen: Callable[[bytes], bool] | None = None
_strict = False
_inited: tuple[str | None, bool] | None = None
# A record with findings as a worker hands it back: (number, line, findings), within its chunk.
# Tuples, not Records: pickling a Record dataclass cost more than checking it; and findings
# made once (check/screen.py) are pickled once per chunk (pickle's memo).
Flagged = tuple[int, int, list[Finding]]
# (lines in the chunk, records in it, the records with findings)
Checked = tuple[int, int, list[Flagged]]


def _init(config_xml: str | None, strict: bool) -> None:
    global _checker, _screen, _strict, _inited
    if _inited == (config_xml, strict):
        return  # made already: here, or in this process before it forked the worker
    from lsimport.check.screen import compile_screen

    config = parse_label_config(config_xml) if config_xml else None
    _checker = TaskChecker(config)
    _screen = compile_screen(config)
    _strict = strict
    _inited = (config_xml, strict)


def _check_chunk(name: str, first: bool, block: bytes) -> Checked:
    """Check a chunk of whole lines; `first`: it starts the file (where a BOM may be)."""
    return _check_stream(name, first, _Lines(io.BytesIO(block), len(block)))


def _check_range(name: str, path: str, start: int, end: int) -> Checked:
    """Check the lines of the file at `path` that start at a byte in [start, end)."""
    with open(path, "rb") as stream:
        return _check_stream(name, start == 0, _range_lines(stream, start, end))


def _range_lines(stream: BinaryIO, start: int, end: int) -> _Lines:
    """The lines of a buffered file that start at a byte in [start, end)."""
    if start:
        stream.seek(start - 1)
        if stream.read(1) != b"\n":
            stream.readline()  # the end of a line that starts in an earlier range
    return _Lines(stream, end - stream.tell())


def _check_stream(name: str, first: bool, stream: _Lines) -> Checked:
    from lsimport.check.pipeline import check_records

    assert _checker is not None
    first_line = 1 if first else 2  # only the file's line 1 may start with a BOM
    count = 0
    flagged: list[Flagged] = []
    lines = LineCount()
    records = iter_jsonl(stream, name, _screen, first_line=first_line, counted=lines)  # type: ignore[arg-type]
    for rec in check_records(records, _checker, strict=_strict):
        count += rec.count
        if rec.findings:
            flagged.append((rec.number, rec.line - first_line, rec.findings))  # line from 0
    return lines.lines, count, flagged


class _Lines:
    """What iter_jsonl reads of a stream: the lines that start in its next `size` bytes,
    read a block at a time (a fresh 1 MB buffer per chunk cost a page fault per 4 KB), or a
    line at a time (without a block screen)."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream = stream
        self._left = max(size, 0)
        # What a buffered file holds already (the rest of the block the first line was found
        # in) is read alone first: then each read is one read of the file. Else every read took
        # two, the buffer's rest and then the file (1,000,000 choice tasks: 3,300 more).
        peek = getattr(stream, "peek", None)
        self._buffered = len(peek(1)) if peek is not None and self._left else 0

    def read(self, size: int) -> bytes:
        if self._left <= 0:
            return b""
        if self._buffered:
            size, self._buffered = min(size, self._buffered), 0
        data = self._stream.read(min(size, self._left))
        self._left = self._left - len(data) if data else 0
        if self._left == 0 and data and not data.endswith(b"\n"):
            data += self._stream.readline()  # the line that starts here ends past the range
        return data

    def __iter__(self) -> Iterator[bytes]:
        while self._left > 0 and (line := self._stream.readline()):
            self._left -= len(line)
            yield line


def iter_checked_jsonl(
    stream: BinaryIO,
    name: str,
    config_xml: str | None,
    *,
    strict: bool,
    jobs: int | Callable[[], int | None],
    path: str | None = None,
) -> Iterator[tuple[int, list[Record]]]:
    """Yield (records, flagged records with final numbers and lines) per chunk, in order.

    `jobs`: processes in all, this one included; or a function asked before each chunk until
    it says more than one (None: it cannot tell yet; `--jobs auto` watches how busy the
    machine is), this process checking alone until then. `path`: the stream is this regular,
    uncompressed file, read by byte ranges.
    """
    decide: Callable[[], int | None] = jobs if callable(jobs) else lambda: jobs
    head = stream.read(CHUNK_BYTES if path is None else 4)  # (ranges: workers read the rest)
    if problem := encoding_problem(head[:4]):  # UTF-16: nothing parses
        yield 1, [file_problem(name, 1, problem)]
        return
    work: _Ranges | _Chunks
    if path is not None:
        work = _Ranges(name, path, os.path.getsize(path))
    else:
        work = _Chunks(name, stream, head)
    # results held in order, at most: each worker's waiting, and what this process checked
    # meanwhile (a range's worth of its pieces a range; a chunk a chunk); besides those, up to
    # CLEAN_AHEAD of this process's that hold no findings
    window = WAITING_PER_WORKER * (1 + (-(-RANGE_BYTES // CHUNK_BYTES) if path else 1))
    pending: deque[Worker | Checked] = deque()  # a Worker: the next result it gives
    clean = 0  # results in `pending` checked here that hold no findings
    number_base = 0
    line_base = 0

    def drain(keep: int) -> Iterator[tuple[int, list[Record]]]:
        """Yield the results at the head that are done, and wait for more past `keep`."""
        nonlocal number_base, line_base, clean
        while pending and (
            len(pending) - min(clean, CLEAN_AHEAD) > keep
            or not isinstance(pending[0], Worker)
            or pending[0].ready()
        ):
            item = pending.popleft()
            if isinstance(item, Worker):
                lines, count, flagged = item.take()
            else:
                lines, count, flagged = item
                clean -= not flagged
            yield (
                count,
                [
                    Record(name, number_base + number, line_base + line + 1, None, None, found)
                    for number, line, found in flagged
                ],
            )
            number_base += count
            line_base += lines

    _init(config_xml, strict)  # before any fork: a worker starts with it made
    team: list[Worker] = []
    stopped = True  # by an exception or the caller: the workers are killed
    try:
        try:
            while work.more():  # (a stream: the next chunk is read here, before anything)
                if not team and workers.available and (total := decide() or 1) > 1:
                    team = _fork(total - 1, config_xml, strict)
                least = min(team, key=Worker.busy, default=None)
                give = least is not None and least.busy() < WAITING_PER_WORKER
                check, args = work.next(give)
                if least is not None and give:
                    least.submit(check, args)
                    pending.append(least)
                else:  # every worker has its chunks waiting (or there are none): check it here
                    pending.append(checked := check(*args))
                    clean += not checked[2]
                yield from drain(window * len(team) + 1)
        except (EOFError, zlib.error, OSError):
            yield from drain(0)  # a damaged stream: what was read before it is reported
            raise
        yield from drain(0)
        stopped = False
    finally:
        for worker in team:
            worker.close(kill=stopped)


def _fork(count: int, config_xml: str | None, strict: bool) -> list[Worker]:
    """`count` workers, each preparing its checker as this process goes on."""
    team: list[Worker] = []
    try:
        for _ in range(count):
            team.append(Worker(lambda: _init(config_xml, strict), siblings=team))
    except OSError as exc:  # no more processes or files: none of them, and say why
        for worker in team:
            worker.close(kill=True)
        raise WorkerError(f"cannot start a worker process for --jobs: {exc}") from exc
    for worker in team:
        worker.start()
    return team


Task = tuple[Callable[..., Checked], tuple[object, ...]]


class _Ranges:
    """A file's byte ranges, cut as they are handed out: `next(big)`, for a worker (True) or
    for this process, while there are `more`."""

    def __init__(self, name: str, path: str, size: int) -> None:
        self._name, self._path, self._size = name, path, size
        self._start = 0

    def more(self) -> bool:
        return self._start < self._size

    def next(self, big: bool) -> Task:
        start = self._start
        self._start = _range_end(start, self._size, big)
        return _check_range, (self._name, self._path, start, self._start)


def _range_end(start: int, size: int, big: bool) -> int:
    """Where the range from `start` ends: RANGE_BYTES on for a worker (`big`), CHUNK_BYTES on
    for this process, which so comes back sooner to hand out more (4 MB here had left the
    worker idle 2-8 ms at a time, its next range waiting on this process). A worker's last
    big range leaves at least the two it may have waiting behind it, in CHUNK_BYTES, so that
    every process finishes within a small range of the others (1,000,000 choice tasks: one
    process waited 20 ms for the other's last 4 MB). Once less than 2 CHUNK_BYTES are left,
    they go in TAIL_BYTES: a worker's last piece waiting behind its last but one had kept
    this process idle 3-4 ms at the end."""
    if big and start + (WAITING_PER_WORKER + 1) * RANGE_BYTES <= size:
        return start + RANGE_BYTES
    if start + 2 * CHUNK_BYTES <= size:
        return start + CHUNK_BYTES
    return min(start + TAIL_BYTES, size)


class _Chunks:
    """A stream's chunks of whole lines, CHUNK_BYTES each whoever checks them; `more` reads
    the next one (where a damaged stream says so)."""

    def __init__(self, name: str, stream: BinaryIO, head: bytes) -> None:
        self._chunks = _chunks(name, stream, head)
        self._next: Task | None = None

    def more(self) -> bool:
        if self._next is None:
            self._next = next(self._chunks, None)
        return self._next is not None

    def next(self, big: bool) -> Task:
        task, self._next = self._next, None
        assert task is not None, "more() said there is one"
        return task


def _chunks(name: str, stream: BinaryIO, head: bytes) -> Iterator[Task]:
    """Chunks of whole lines of the stream, whose first bytes were `head`."""
    first = True
    parts = [head]  # bytes read and not handed out: the start of the next chunk
    while parts[-1]:
        chunk = parts[-1]
        cut = chunk.rfind(b"\n") + 1
        if cut:
            block = b"".join([*parts[:-1], chunk[:cut]])
            parts = [chunk[cut:]]
            yield _check_chunk, (name, first, block)
            first = False
        parts.append(stream.read(CHUNK_BYTES))
    rest = b"".join(parts)
    if rest:  # the last line, without a line ending
        yield _check_chunk, (name, first, rest)
