"""`validate --jobs N` must report exactly what one process reports, at the same place.

The reference is the one-process path of `lsimport validate`: check_records over iter_source
(which reads a JSONL file with iter_jsonl), without the screen. iter_checked_jsonl splits the
file into chunks in this process, screens and checks them in worker processes, and renumbers
what comes back; every test compares both on the same bytes: which records are flagged, their
record numbers, lines and findings, and how many records there were in all.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from lsimport.check import parallel
from lsimport.check.labelconfig import LabelConfig, parse_label_config
from lsimport.check.parallel import iter_checked_jsonl
from lsimport.check.pipeline import check_records
from lsimport.check.rules import TaskChecker
from lsimport.model import Finding, Record
from lsimport.read.stream import Source, iter_source

from .taskgen import CONFIG, VALID

Seen = tuple[str, int, int, bool, tuple[Finding, ...]]


def _line(task: Any, ending: bytes = b"\n") -> bytes:
    return json.dumps(task).encode() + ending


def _with(change: dict[str, Any]) -> dict[str, Any]:
    """VALID with its rectangle's value updated."""
    task = copy.deepcopy(VALID)
    box = next(r for r in task["predictions"][0]["result"] if r["from_name"] == "box")
    box["value"].update(change)
    return task


WRONG_LABEL = _with({"rectanglelabels": ["Truck"]})  # error: not a label of the config
PAST_EDGE = _with({"x": 90, "width": 30})  # warning only; an error with strict
NO_TEXT = {"data": {"image": "http://x/2.png"}}  # error: the config reads $text

# One of each kind of line the reader and the checker tell apart.
KINDS: list[bytes] = [
    _line(VALID),
    _line(VALID, b"\r\n"),
    _line({"text": "bare data", "image": "http://x/3.png"}),  # a task without `data`
    _line(WRONG_LABEL),
    _line(PAST_EDGE, b"\r\n"),
    _line(NO_TEXT),
    b"\n",
    b"\r\n",
    b"   \t\r\n",
    b'{"data": {"text": "cut short\n',  # a writer that crashed mid-line
    b'{"data": {"text": NaN}}\n',
    b"[1, 2]\r\n",  # JSON, but not an object
    b'{"data": {"text": "caf\xe9"}}\n',  # Latin-1, not UTF-8
]
# Not in KINDS: a BOM that is not at the start of the file (`cat a.jsonl b.jsonl` where b has
# one). One process reports it; see test_a_bom_starting_a_chunk_is_reported_as_in_one_process.
MID_FILE_BOM = b"\xef\xbb\xbf" + _line(VALID)


def mixed_lines(count: int) -> list[bytes]:
    """`count` lines cycling through KINDS with a stride, so every kind meets every other
    and lands on every residue of small chunk sizes; the file starts with a UTF-8 BOM."""
    lines = [KINDS[(i * 5) % len(KINDS)] for i in range(count)]
    lines[0] = b"\xef\xbb\xbf" + _line(WRONG_LABEL, b"\r\n")
    return lines


def one_process(
    path: Path, *, strict: bool, config: LabelConfig = CONFIG
) -> tuple[int, list[Seen]]:
    records = list(
        check_records(
            iter_source(Source(str(path), path.name), fmt="jsonl"),
            TaskChecker(config),
            strict=strict,
        )
    )
    return len(records), [_seen(r) for r in records if r.findings]


@pytest.fixture(params=[False, True], ids=["stream", "ranges"])
def ranges(request: pytest.FixtureRequest) -> bool:
    """Both ways of handing out chunks: this process reads the stream (stdin, gzip), or the
    workers read byte ranges of the file themselves."""
    return bool(request.param)


def in_parallel(
    path: Path, *, strict: bool, jobs: int = 2, ranges: bool = False, config: LabelConfig = CONFIG
) -> tuple[int, list[Seen], int]:
    """(records, flagged records, chunks) from iter_checked_jsonl."""
    total = 0
    flagged: list[Seen] = []
    chunks = 0
    with path.open("rb") as stream:
        for count, recs in iter_checked_jsonl(
            stream, path.name, config.xml, strict=strict, jobs=jobs,
            path=str(path) if ranges else None,
        ):  # fmt: skip
            chunks += 1
            total += count
            assert all(r.findings for r in recs), "only records with findings come back"
            flagged.extend(_seen(r) for r in recs)
    return total, flagged, chunks


def _chunks_of(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """Chunks (this process reads the stream) and byte ranges (workers read them) of `size`
    bytes: module constants read by the splitting, in this process, on each call."""
    monkeypatch.setattr(parallel, "CHUNK_BYTES", size)
    monkeypatch.setattr(parallel, "RANGE_BYTES", size)
    monkeypatch.setattr(parallel, "TAIL_BYTES", size)


def _default_chunk(ranges: bool) -> int:
    return parallel.RANGE_BYTES if ranges else parallel.CHUNK_BYTES


def _seen(rec: Record) -> Seen:
    return (rec.file, rec.number, rec.line, rec.is_file_problem, tuple(rec.findings))


def test_the_mixed_file_has_every_kind_of_finding(tmp_path: Path) -> None:
    """Guards the other tests: the comparison is only worth something if there is a lot to
    compare (read errors, check errors, warnings) on both sides of every boundary."""
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(b"".join(mixed_lines(60)))
    total, flagged = one_process(path, strict=False)
    codes = {f.code for *_, findings in flagged for f in findings}
    severities = {f.severity for *_, findings in flagged for f in findings}
    assert {"read.json", "read.not-an-object", "read.encoding", "config.label"} <= codes
    assert "config.outside-image" in codes and severities == {"error", "warning"}
    blank = sum(1 for line in mixed_lines(60) if not line.strip())
    assert total == 60 - blank
    assert flagged[0][1:3] == (1, 1), "the first line, after its BOM, is record 1"


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@pytest.mark.parametrize("chunk_bytes", [1, 7, 50, 400, 700, 1 << 30])
def test_jobs_2_reports_what_one_process_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int, strict: bool, ranges: bool
) -> None:
    # The chunk size is a module constant read by the splitting (this process) on each
    # call; small ones put many boundaries (and lines longer than a read) in a small file.
    # Workers never read it.
    _chunks_of(monkeypatch, chunk_bytes)
    lines = mixed_lines(97)
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(b"".join(lines))
    total, flagged, chunks = in_parallel(path, strict=strict, ranges=ranges)
    assert (total, flagged) == one_process(path, strict=strict)
    if chunk_bytes < 1 << 30:
        longest = max(map(len, lines))  # a chunk ends at the last line ending of a read
        assert chunks >= sum(map(len, lines)) // (chunk_bytes + longest), "the file was split"


# Data read from a nested key ($item.text): beyond the screen (screen.task_type), so workers
# read their chunks a line at a time.
DOTTED = parse_label_config(
    '<View><Text name="text" value="$item.text"/>'
    '<Choices name="c" toName="text"><Choice value="A"/></Choices></View>'
)


@pytest.mark.parametrize("chunk_bytes", [1, 50, 400, 1 << 30])
def test_a_config_beyond_the_screen_is_checked_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int, ranges: bool
) -> None:
    from lsimport.check.screen import compile_screen

    assert compile_screen(DOTTED) is None
    _chunks_of(monkeypatch, chunk_bytes)
    choice = {"from_name": "c", "to_name": "text", "type": "choices"}
    good: dict[str, Any] = {"data": {"item": {"text": "t"}}, "predictions": [{"result": [
        {**choice, "value": {"choices": ["A"]}}]}]}  # fmt: skip
    bad = copy.deepcopy(good)
    bad["predictions"][0]["result"][0]["value"]["choices"] = ["B"]
    lines = [_line(good), _line(bad, b"\r\n"), b"\n", _line({"data": {"item": {}}}), b"[1]\n"]
    path = tmp_path / "nested.jsonl"
    path.write_bytes(b"".join(lines * 7) + json.dumps(bad).encode())  # no last line ending
    total, flagged, _ = in_parallel(path, strict=False, ranges=ranges, config=DOTTED)
    assert (total, flagged) == one_process(path, strict=False, config=DOTTED)
    assert total == 4 * 7 + 1 and len(flagged) == 3 * 7 + 1


def _padded(line: bytes, width: int) -> bytes:
    """The line with spaces before its line ending (JSON whitespace), `width` bytes long."""
    body = line.rstrip(b"\r\n")
    return body + b" " * (width - len(line)) + line[len(body) :]


def test_chunk_boundaries_at_the_default_sizes(tmp_path: Path, ranges: bool) -> None:
    """No patched constants: enough lines for three chunks, with problems and blank lines
    just before, on and just after each boundary. Every line has the same length, so a chunk
    ends on the line that ends at or before a multiple of the chunk size (byte ranges: both
    boundaries are ends of ranges or pieces, whoever checks them; the file is long enough for
    a worker's big range)."""
    width = len(_line(WRONG_LABEL)) + 10
    size = _default_chunk(ranges) // width  # lines in the first chunk
    lines = [_padded(_line(VALID), width)] * ((3 if ranges else 2) * size + 500)
    for boundary in (size, 2 * size):
        kinds = [b"[1]\n", _line(WRONG_LABEL), b"\n", b'{"data":\n', _line(PAST_EDGE)]
        for offset, kind in zip(range(-2, 3), kinds, strict=True):
            lines[boundary + offset - 1] = _padded(kind, width)  # line numbers are 1-based
    lines[0] = b"\xef\xbb\xbf" + _padded(_line(NO_TEXT, b"\r\n"), width - 3)
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"".join(lines))
    total, flagged, chunks = in_parallel(path, strict=False, ranges=ranges)
    if ranges:  # a range to the worker, or its 1 MB pieces to this process
        cut = {big: len(_cut(path.stat().st_size, big=big)) for big in (True, False)}
        assert cut[True] <= chunks < cut[False], "the worker's first range is a big one"
    else:
        assert chunks == 3
    assert (total, flagged) == one_process(path, strict=False)
    assert [(number, line) for _, number, line, *_ in flagged][:6] == [
        (1, 1),
        (size - 2, size - 2),
        (size - 1, size - 1),
        # line `size` is blank: no record, and the numbering carries on across the boundary
        (size, size + 1),
        (size + 1, size + 2),
        (2 * size - 3, 2 * size - 2),
    ]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_file_is_one_file_problem(tmp_path: Path, encoding: str) -> None:
    text = "".join(json.dumps(VALID) + "\r\n" for _ in range(50))
    raw = text.encode(encoding)
    if encoding == "utf-16-be":
        raw = b"\xfe\xff" + raw  # the codec writes no BOM when the byte order is named
    path = tmp_path / "windows.jsonl"
    path.write_bytes(raw)
    with path.open("rb") as stream:
        chunks = list(iter_checked_jsonl(stream, path.name, CONFIG.xml, strict=False, jobs=2))
    assert len(chunks) == 1
    count, recs = chunks[0]
    assert count == 1 and len(recs) == 1
    (problem,) = recs
    assert problem.is_file_problem and problem.line == 1
    assert "UTF-16" in problem.findings[0].message and "iconv" in problem.findings[0].message
    assert [_seen(problem)] == one_process(path, strict=False)[1]


@pytest.mark.parametrize(
    "content", [b"", b"\n\r\n  \n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n\r\n"],
    ids=["empty", "blank-lines", "bom-only", "bom-and-blank-lines"],
)  # fmt: skip
def test_files_without_records(tmp_path: Path, content: bytes, ranges: bool) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    total, flagged, _ = in_parallel(path, strict=False, ranges=ranges)
    assert (total, flagged) == one_process(path, strict=False) == (0, [])


def test_last_line_without_a_newline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ranges: bool
) -> None:
    _chunks_of(monkeypatch, len(_line(VALID)) * 2)
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(_line(VALID) + _line(VALID) + json.dumps(WRONG_LABEL).encode())
    total, flagged, _ = in_parallel(path, strict=False, ranges=ranges)
    assert (total, flagged) == one_process(path, strict=False)
    assert [(number, line) for _, number, line, *_ in flagged] == [(3, 3)]


def test_a_bom_starting_a_chunk_is_reported_as_in_one_process(tmp_path: Path, ranges: bool) -> None:
    width = len(_line(VALID))
    size = _default_chunk(ranges) // width  # the real sizes: nothing patched
    lines = [_line(VALID)] * (size + 10)
    lines[size] = MID_FILE_BOM  # line size + 1, the first of the second chunk
    lines[5] = MID_FILE_BOM  # inside the first chunk: both paths report it
    path = tmp_path / "concatenated.jsonl"
    path.write_bytes(b"".join(lines))
    expected = one_process(path, strict=False)
    assert [(line, f[0].code) for *_, line, _, f in expected[1]] == [
        (6, "read.json"),
        (size + 1, "read.json"),
    ]
    total, flagged, _ = in_parallel(path, strict=False, ranges=ranges)
    assert (total, flagged) == expected


@pytest.mark.parametrize(
    ("usable", "load", "jobs"),
    [(2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.5, 1), (2, 7.0, 1), (1, 0.0, 1),
     (4, 1.0, 3), (64, 0.0, 8)],
)  # fmt: skip
def test_auto_jobs_are_the_idle_cores(usable: int, load: float, jobs: int) -> None:
    from lsimport.check.pipeline import auto_jobs

    assert auto_jobs(usable, load) == jobs


def test_the_machine_says_how_many_cores_and_how_busy() -> None:
    import time

    from lsimport.environment import CpuLoad

    load = CpuLoad(runnable=lambda: None)  # not known now: /proc/stat says, in 50 ms
    assert load() is None  # too soon to tell from /proc/stat
    time.sleep(0.1)
    known = load()  # others' CPU time since, this process's own left out
    assert known is not None
    usable, busy = known
    assert 1 <= usable <= (os.cpu_count() or 1) and 0 <= busy <= os.cpu_count()  # type: ignore[operator]


def test_what_is_runnable_right_now_says_busy_or_idle_without_waiting() -> None:
    """Too soon for /proc/stat, but what is runnable right now, in three looks, says it: as
    many others as there are usable cores in every look, busy at once (auto: one process);
    none in every look, idle at once (auto: a worker per core but this one). A look in
    between, a transient, or no count at all: too soon. It looks once a window."""
    from lsimport.check.pipeline import auto_jobs
    from lsimport.environment import CpuLoad, usable_cpus

    cores = len(usable_cpus())
    busy = CpuLoad(runnable=lambda: float(cores))()
    assert busy is not None
    usable, running = busy  # usable: fewer than `cores` under a cgroup's CPU quota
    assert running == cores and 1 <= usable <= cores and auto_jobs(*busy) == 1
    idle = CpuLoad(runnable=lambda: 0.0)()
    assert idle == (usable, 0.0) and auto_jobs(*idle) == usable
    for looks in (
        [float(usable), usable - 1.0, float(usable)],  # a process that was ending
        [0.0, 0.0, 1.0],  # one that was starting
        [float(usable), 0.0, 0.0],
    ):
        seen = iter(looks)
        assert CpuLoad(runnable=lambda seen=seen: next(seen))() is None, looks
    assert CpuLoad(runnable=lambda: None)() is None  # /proc/loadavg unreadable, or "0/0"
    if usable > 1:
        assert CpuLoad(runnable=lambda: usable - 1.0)() is None  # some busy, not all
    once = CpuLoad(runnable=lambda: 0.0)
    assert once() == (usable, 0.0)
    assert once() is None  # looked already: /proc/stat decides when its window has passed


def _forks_recorded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The workers each _fork call starts, in order."""
    started: list[int] = []
    real = parallel._fork

    def recorded(count: int, config_xml: str | None, strict: bool) -> list[Any]:
        started.append(count)
        return real(count, config_xml, strict)

    monkeypatch.setattr(parallel, "_fork", recorded)
    return started


@pytest.mark.parametrize("content", [b"", b"".join(mixed_lines(20))], ids=["empty", "small"])
def test_no_worker_is_started_once_every_chunk_is_given_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, ranges: bool
) -> None:
    """--jobs 2 on an empty file starts no worker; --jobs auto that says a core is idle only
    after the last chunk has been given out starts none either (this process did it all)."""
    started = _forks_recorded(monkeypatch)
    _chunks_of(monkeypatch, 300)
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(content)
    chunks = in_parallel(path, strict=False, jobs=1, ranges=ranges)[2]  # this process's
    asked: list[int] = []

    def auto() -> int | None:
        asked.append(1)
        return 2 if len(asked) > chunks else None  # too soon to tell, until past the last

    for jobs in (auto,) if content else (2, auto):
        with path.open("rb") as stream:
            found = iter_checked_jsonl(
                stream, path.name, CONFIG.xml, strict=False, jobs=jobs,
                path=str(path) if ranges else None,
            )  # fmt: skip
            assert sum(count for count, _ in found) == one_process(path, strict=False)[0]
    assert started == [], "no worker for what is left: nothing"


@pytest.mark.parametrize("flagged", [False, True], ids=["clean", "flagged"])
def test_this_process_checks_on_past_a_late_worker_while_it_holds_no_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ranges: bool, flagged: bool
) -> None:
    """A worker late with its first result (a slower core): this process checks on, up to
    CLEAN_AHEAD pieces past the window while they hold no findings; pieces with findings stop
    it at the window, as before. The results are the same, in order."""
    import time

    from lsimport.check.workers import Worker

    _chunks_of(monkeypatch, 3000)  # 2-3 records a piece
    monkeypatch.setattr(parallel, "CLEAN_AHEAD", 20)
    here = os.getpid()
    checked_here: list[int] = []
    slept: list[int] = []  # in the worker (its own copy after the fork)

    def late(real: Any, name: str) -> Any:
        def check(*args: Any) -> Any:
            if os.getpid() == here:
                checked_here.append(1)
            elif not slept:
                slept.append(1)
                time.sleep(0.5)
            return real(*args)

        check.__module__, check.__qualname__ = parallel.__name__, name  # pickled by name
        return check

    for name in ("_check_range", "_check_chunk"):
        monkeypatch.setattr(parallel, name, late(getattr(parallel, name), name))
    at_first_take: list[int] = []
    take = Worker.take

    def recorded(worker: Worker) -> Any:
        at_first_take.append(len(checked_here))
        return take(worker)

    monkeypatch.setattr(Worker, "take", recorded)
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(_line(WRONG_LABEL if flagged else VALID) * 200)  # 68 pieces
    total, found, _ = in_parallel(path, strict=False, ranges=ranges)
    assert (total, found) == one_process(path, strict=False)
    window = 5  # 2 waiting and 2 (ranges: 2 x 1 range's pieces) of this process's, + 1
    if flagged:
        assert at_first_take[0] <= window
    else:
        assert 20 <= at_first_take[0] <= 20 + window


def test_a_worker_starts_with_the_checker_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checker is made in this process before the fork, not again in the worker."""
    made = tmp_path / "made"
    real = parallel.parse_label_config

    def recorded(xml: str) -> LabelConfig:
        with made.open("a") as log:
            log.write(f"{os.getpid()}\n")
        return real(xml)

    monkeypatch.setattr(parallel, "parse_label_config", recorded)
    monkeypatch.setattr(parallel, "_inited", None)
    _chunks_of(monkeypatch, 300)
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(b"".join(mixed_lines(40)))
    total, flagged, chunks = in_parallel(path, strict=False, ranges=True)
    assert chunks > 2 and (total, flagged) == one_process(path, strict=False)
    assert made.read_text().split() == [str(os.getpid())]


@pytest.mark.parametrize(
    ("loads", "pools"),
    [([None, None, 0.0], [1, 1]), ([1.8], []), ([None, 1.8, 0.0], [1, 1])],
    ids=["idle", "busy", "busy-then-idle"],
)
def test_jobs_auto_starts_workers_only_on_idle_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loads: list[float | None], pools: list[int]
) -> None:
    """The default (auto) asks the environment at each file worth it: busy, and the file is
    read as --jobs 1 reads it; too soon to tell, and it is asked again before each chunk
    until it says a core is idle. This process checks chunks too, so an idle 2-core machine
    gets one worker. Every way reports the same."""
    import io

    from lsimport import run
    from lsimport.environment import Environment
    from lsimport.settings import ValidateSettings

    monkeypatch.setattr(run, "MIN_PARALLEL_BYTES", 1000)
    monkeypatch.setattr(parallel, "RANGE_BYTES", 500)  # several chunks in a small file
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 500)
    started = _forks_recorded(monkeypatch)
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(b"".join(mixed_lines(60)))
    config = tmp_path / "config.xml"
    config.write_text(CONFIG.xml)
    out = io.StringIO()
    asked = []

    def cpu_load() -> tuple[int, float] | None:
        """The loads in turn (None: too soon to tell), then the last one again."""
        load = loads[min(len(asked), len(loads) - 1)]
        asked.append(load)
        return None if load is None else (2, load)

    env = Environment(stdout=out, stderr=io.StringIO(), cpu_load=cpu_load)
    settings = ValidateSettings(
        paths=(str(path), str(path)), label_config=str(config), output="json"
    )
    run.run_validate(settings, env)
    assert started == pools
    # idle: at the third ask (the file's, its first chunk's, its second's), then at once for
    # the second file (its own ask and its first chunk's); busy: once a file
    assert len(asked) == (5 if pools else 2)
    one = io.StringIO()
    single = ValidateSettings(
        paths=(str(path), str(path)), label_config=str(config), output="json", jobs=1
    )
    run.run_validate(single, Environment(stdout=one, stderr=io.StringIO()))
    doc, reference = json.loads(out.getvalue()), json.loads(one.getvalue())
    assert (doc.pop("jobs"), reference.pop("jobs")) == (2 if pools else 1, 1)
    assert doc == reference


def test_a_range_is_read_a_block_a_read(tmp_path: Path) -> None:
    """After the line that ends in the range before, each block of a range is one read of the
    file (not the buffer's rest, then the file), and the range's lines come back whole."""
    import io

    lines = [b'{"data": {"text": "%d"}}\n' % i for i in range(20_000)]
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(b"".join(lines))
    reads: list[int] = []
    real_read = io.FileIO.read

    class Counted(io.FileIO):
        def readinto(self, buffer: Any) -> int | None:
            reads.append(len(buffer))
            return super().readinto(buffer)

        def read(self, size: int = -1) -> bytes | None:
            reads.append(size)
            return real_read(self, size)

    start, end = 1000, 300_000  # mid-line, to mid-line
    with io.BufferedReader(Counted(path), buffer_size=8192) as stream:
        got = parallel._range_lines(stream, start, end)
        reads.clear()
        blocks = list(iter(lambda: got.read(65536), b""))
    assert len(reads) <= len(blocks) + 1  # + the readline that ends the last line
    data = b"".join(lines)
    first = data.index(b"\n", start - 1) + 1
    assert b"".join(blocks) == data[first : data.index(b"\n", end - 1) + 1]


def _cut(size: int, *, big: bool) -> list[tuple[int, int]]:
    """The byte ranges of a file of `size` bytes when each goes to a worker (`big`), or each
    to this process."""
    ranges = parallel._Ranges("tasks.jsonl", "tasks.jsonl", size)
    bounds = []
    while ranges.more():
        _, (_, _, start, end) = ranges.next(big)
        bounds.append((start, end))
    return bounds


@pytest.mark.parametrize("big", [True, False], ids=["to a worker", "to this process"])
@pytest.mark.parametrize("size", [0, 1, 5, 11, 12, 13, 29, 1000])
def test_byte_ranges_cover_the_file_once_and_end_small(
    monkeypatch: pytest.MonkeyPatch, size: int, big: bool
) -> None:
    monkeypatch.setattr(parallel, "RANGE_BYTES", 4)
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 2)
    monkeypatch.setattr(parallel, "TAIL_BYTES", 1)
    bounds = _cut(size, big=big)
    covered = [offset for start, end in bounds for offset in range(start, end)]
    assert covered == list(range(size)), "every byte once, in order"
    # a worker: 4-byte ranges while 12 bytes or more are left (the two it may have waiting
    # behind each, in smaller pieces); this process: 2-byte pieces, back soon to hand out
    # more; the last 2 bytes or 3 (the last piece but one, and what is left) 1 byte at a time
    whole = max(0, size // 4 - 2) if big else 0
    pieces = max(0, (size - 4 * whole) // 2 - 1)
    tail = size - 4 * whole - 2 * pieces
    assert [end - start for start, end in bounds] == [4] * whole + [2] * pieces + [1] * tail


def test_a_truncated_gzip_keeps_the_findings_read_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A damaged stream ends the file with a read.gzip problem; every record read before it
    is reported, with --jobs as in one process."""
    import gzip
    import io

    from lsimport import run
    from lsimport.environment import Environment
    from lsimport.settings import ValidateSettings

    monkeypatch.setattr(run, "MIN_PARALLEL_BYTES", 100)  # the gzip file is 0.9 KB
    _chunks_of(monkeypatch, 600)
    whole = gzip.compress(b"".join(mixed_lines(400)))
    path = tmp_path / "tasks.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    config = tmp_path / "config.xml"
    config.write_text(CONFIG.xml)
    reports = []
    for jobs in (1, 2):
        out = io.StringIO()
        settings = ValidateSettings(
            paths=(str(path),), label_config=str(config), output="json", jobs=jobs
        )
        run.run_validate(settings, Environment(stdout=out, stderr=io.StringIO()))
        reports.append(json.loads(out.getvalue()))
    one, two = reports
    assert (one.pop("jobs"), two.pop("jobs")) == (1, 2)
    assert one == two
    assert one["problems"][-1]["code"] == "read.gzip" and len(one["problems"]) > 50


def _killed_in_a_worker(name: str, path: str, start: int, end: int) -> parallel.Checked:
    """_check_range, but a worker checking the second range is killed (as out of memory)."""
    import signal

    if start and os.getpid() != MAIN_PID:
        os.kill(os.getpid(), signal.SIGKILL)
    return REAL_CHECK_RANGE(name, path, start, end)


MAIN_PID = os.getpid()
REAL_CHECK_RANGE = parallel._check_range


def test_a_worker_killed_mid_file_stops_the_run_with_status_71(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its findings would be missing: the run stops, saying what happened and what to do."""
    from lsimport.errors import ExitStatus, WorkerError

    _chunks_of(monkeypatch, 700)
    monkeypatch.setattr(parallel, "_check_range", _killed_in_a_worker)
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(b"".join(mixed_lines(200)))
    with pytest.raises(WorkerError) as raised:
        in_parallel(path, strict=False, ranges=True)
    assert raised.value.exit_status == ExitStatus.WORKER == 71
    assert "killed by signal 9" in str(raised.value) and "--jobs 1" in str(raised.value)


def test_json_output_keeps_the_problems_found_before_a_run_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed mid-file (exit 71): the problems already found are on stdout, though
    the JSON reporter writes them in batches (the document has no counts: it never ended)."""
    import io

    from lsimport import run
    from lsimport.environment import Environment
    from lsimport.errors import WorkerError
    from lsimport.settings import ValidateSettings

    line = _line(WRONG_LABEL, b"\n")
    monkeypatch.setattr(run, "MIN_PARALLEL_BYTES", 1000)
    _chunks_of(monkeypatch, len(line) * 100)  # 100 records with a finding a range
    monkeypatch.setattr(parallel, "_check_range", _killed_in_a_worker)
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(line * 400)
    config = tmp_path / "config.xml"
    config.write_text(CONFIG.xml)
    out = io.StringIO()
    settings = ValidateSettings(paths=(str(path),), label_config=str(config), output="json", jobs=2)
    with pytest.raises(WorkerError):
        run.run_validate(settings, Environment(stdout=out, stderr=io.StringIO()))
    assert out.getvalue().count('"record":') == 100  # the first range's, checked here
