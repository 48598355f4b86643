"""Property tests: random and mutated tasks and files through the readers and validators.

Whatever goes in, nothing raises; every record that comes out is valid or carries at least
one finding with a location (file, line, record number); and the records counted out, valid
plus invalid, are the records that went in. Inputs arrive as a pipe that hands over a few
bytes at a time, so the readers' buffer boundaries fall everywhere. Bounded in time
(max_examples, no deadline) to run in CI with the rest of the suite.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lsimport.check.labelconfig import load_label_config
from lsimport.check.pipeline import Tally, check_records
from lsimport.check.rules import TaskChecker
from lsimport.model import Record
from lsimport.read.stream import STDIN, Format, Source, iter_source

CONFIG = load_label_config(Path(__file__).parent / "corpus" / "config-text.xml")
CHECKER = TaskChecker(CONFIG)
NAME = "<stdin>"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Pipe(io.RawIOBase):
    """stdin as a pipe: each read hands over at most the next of `sizes` bytes."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data = io.BytesIO(data)
        self._sizes = sizes or [len(data) or 1]
        self._reads = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = self._sizes[self._reads % len(self._sizes)]
        self._reads += 1
        return self._data.readinto(memoryview(buffer)[:size])


def read_and_check(data: bytes, fmt: Format | None, sizes: list[int]) -> tuple[list[Record], Any]:
    """The validate pipeline on `data` as stdin: records with their findings, and the tally."""
    source = Source(STDIN, NAME)
    records = iter_source(source, fmt=fmt, stdin=io.BufferedReader(Pipe(data, sizes)))
    tally = Tally()
    out = []
    for rec in check_records(records, CHECKER):
        tally.add(rec)
        out.append(rec)
    return out, tally.summary


def assert_accounted(records: list[Record], summary: Any) -> list[Record]:
    """Every record valid or located-and-explained; returns the records proper (number >= 1)."""
    proper = [r for r in records if r.number]
    for rec in records:
        assert rec.file == NAME
        assert rec.line >= (1 if rec.number else 0)
        for f in rec.findings:
            assert f.code and f.message
            assert f.pointer == "" or f.pointer.startswith("/")
        if rec.number == 0:  # a problem with the file itself: always an error
            assert rec.task is None and rec.has_errors
        elif rec.task is None:  # could not be read: the finding says why
            assert rec.has_errors
    assert [r.number for r in proper] == list(range(1, len(proper) + 1))
    assert summary.records == len(proper) == summary.valid + summary.invalid
    assert summary.valid == sum(1 for r in proper if not r.has_errors)
    return proper


# --- strategies: tasks, from right to wildly wrong ---

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
anything = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def either(right: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right shape, sometimes anything at all."""
    return st.one_of(right, right, right, anything)


region = st.fixed_dictionaries(
    {
        "from_name": either(st.sampled_from(["label", "nope"])),
        "to_name": either(st.just("text")),
        "type": either(st.sampled_from(["choices", "labels"])),
        "value": either(st.fixed_dictionaries({"choices": st.lists(st.sampled_from("abz"))})),
    },
    optional={"id": either(st.text(min_size=1, max_size=4)), "score": either(st.floats(0, 1))},
)
prediction = st.fixed_dictionaries(
    {"result": either(st.lists(either(region), max_size=3))},
    optional={"score": either(st.floats(0, 1)), "model_version": either(st.text(max_size=5))},
)
task = either(
    st.fixed_dictionaries(
        {"data": either(st.fixed_dictionaries({"text": either(st.text(max_size=20))}))},
        optional={
            "predictions": either(st.lists(either(prediction), max_size=2)),
            "annotations": either(st.lists(either(prediction), max_size=1)),
            "meta": either(st.dictionaries(st.text(max_size=5), scalars, max_size=2)),
        },
    )
)
pipe_sizes = st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=5)


@st.composite
def mangled(draw: st.DrawFn, line: bytes) -> bytes:
    """A serialised record, sometimes cut, with a byte changed, or replaced by junk."""
    how = draw(st.sampled_from(["keep", "keep", "cut", "byte", "junk"]))
    if how == "cut" and line:
        return line[: draw(st.integers(0, len(line) - 1))]
    if how == "byte" and line:
        at = draw(st.integers(0, len(line) - 1))
        byte = draw(st.integers(0, 255).filter(lambda b: b not in b"\r\n"))
        return line[:at] + bytes([byte]) + line[at + 1 :]
    if how == "junk":
        return draw(st.binary(max_size=30)).replace(b"\n", b" ").replace(b"\r", b" ")
    return line


# --- records in == valid + invalid out ---


@FUZZ
@given(st.data(), st.lists(task, max_size=8), pipe_sizes)
def test_jsonl_every_line_is_one_record(
    data: st.DataObject, tasks: list[Any], sizes: list[int]
) -> None:
    lines = [data.draw(mangled(orjson.dumps(t))) for t in tasks]
    if lines and lines[0][:2] in (b"\xff\xfe", b"\xfe\xff", b"\x1f\x8b"):
        # A UTF-16 BOM (rightly) makes it one file problem; gzip's magic bytes make it read
        # as gzip (by design: compression is recognised by content, not name).
        lines[0] = b"{}" + lines[0]
    ending = data.draw(st.sampled_from([b"\n", b"\r\n"]))
    content = b"".join(line + ending for line in lines)

    records, summary = read_and_check(content, "jsonl", sizes)

    proper = assert_accounted(records, summary)
    assert len(proper) == sum(1 for line in lines if line.strip())


@FUZZ
@given(st.lists(task, max_size=8), st.sampled_from([b",", b", ", b",\n  "]), pipe_sizes)
def test_json_array_every_element_is_one_record(
    tasks: list[Any], separator: bytes, sizes: list[int]
) -> None:
    content = b"[\n" + separator.join(orjson.dumps(t) for t in tasks) + b"\n]\n"

    records, summary = read_and_check(content, "json", sizes)

    proper = assert_accounted(records, summary)
    assert [r for r in records if not r.number] == []
    assert len(proper) == len(tasks)
    for rec, t in zip(proper, tasks, strict=True):
        if isinstance(t, dict):
            assert rec.task == (t if "data" in t else {"data": t})
        else:
            assert [f.code for f in rec.findings] == ["read.not-an-object"]


cell = st.text(max_size=12) | st.binary(max_size=6).map(
    lambda b: b.decode("utf-8", "surrogateescape")
)
HEADER = ["text", "label", "predictions"]


@FUZZ
@given(
    st.lists(
        st.lists(cell | anything.map(lambda v: orjson.dumps(v).decode()), min_size=1, max_size=4),
        max_size=8,
    ),
    st.sampled_from([",", "\t"]),
    pipe_sizes,
)
def test_delimited_every_row_is_one_record(
    rows: list[list[str]], delimiter: str, sizes: list[int]
) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(HEADER)
    writer.writerows(rows)
    content = out.getvalue().encode("utf-8", "surrogateescape")
    fmt: Format = "csv" if delimiter == "," else "tsv"

    records, summary = read_and_check(content, fmt, sizes)

    proper = assert_accounted(records, summary)
    blank = sum(1 for row in rows if len(row) == 1 and not row[0].strip())  # a blank line
    assert len(proper) == len(rows) - blank


# --- raw bytes: anything at all, in every format, gzipped too ---

valid_files = st.sampled_from(
    [
        b'[{"data": {"text": "a"}}, {"data": {"text": "b"}, "predictions": []}]',
        b'{"data": {"text": "a"}}\n{"data": {"text": "b"}}\n',
        b'text,label\n"a\nb",x\nc,y\n',
        b'{"text": "a"}\n{"text": "b"}',
    ]
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    content = bytearray(draw(valid_files))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(content)))
        what = draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = draw(st.integers(0, 255))
        if what == "insert":
            content[at:at] = bytes([byte])
        elif at < len(content):
            if what == "delete":
                del content[at]
            else:
                content[at] = byte
    return bytes(content)


raw_bytes = st.binary(max_size=300) | mutated()


@st.composite
def maybe_gzipped(draw: st.DrawFn) -> bytes:
    content = draw(raw_bytes)
    if draw(st.booleans()):
        return content
    packed = gzip.compress(content)
    if draw(st.booleans()):  # cut off, or a byte of the compressed stream changed
        at = draw(st.integers(2, len(packed) - 1))
        packed = packed[:at] if draw(st.booleans()) else packed[:at] + b"\x00" + packed[at + 1 :]
    return packed


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(maybe_gzipped(), st.sampled_from([None, "json", "jsonl", "csv", "tsv"]), pipe_sizes)
def test_any_bytes_in_any_format(content: bytes, fmt: Format | None, sizes: list[int]) -> None:
    records, summary = read_and_check(content, fmt, sizes)

    assert_accounted(records, summary)
