"""Readers: every format becomes Records with exact record numbers and start lines."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from pathlib import Path
from typing import Any

import pytest

from lsimport.errors import UsageError
from lsimport.read.sources import format_from_name, sniff_format
from lsimport.read.stream import STDIN, Source, iter_records, iter_source

Row = tuple[int, int, Any, list[str]]  # (record number, start line, data or None, finding codes)


def rows(records: Any) -> list[Row]:
    return [
        (r.number, r.line, r.task["data"] if r.task is not None else None,
         [f.code for f in r.findings])
        for r in records
    ]  # fmt: skip


def read(tmp_path: Path, name: str, content: bytes, fmt: Any = None) -> list[Row]:
    path = tmp_path / name
    path.write_bytes(content)
    records = list(iter_records([str(path)], fmt=fmt))
    assert {r.file for r in records} <= {str(path)}
    return rows(records)


def read_stdin(content: bytes, fmt: Any = None) -> list[Row]:
    records = list(iter_source(Source(STDIN, "<stdin>"), fmt=fmt, stdin=io.BytesIO(content)))
    assert {r.file for r in records} <= {"<stdin>"}
    return rows(records)


# --- JSON: arrays, single objects, objects back to back --------------------------------------


def test_json_array_on_one_line(tmp_path: Path) -> None:
    assert read(tmp_path, "t.json", b'[{"text": "a"}, {"text": "b"}]') == [
        (1, 1, {"text": "a"}, []),
        (2, 1, {"text": "b"}, []),
    ]


def test_json_array_pretty_printed(tmp_path: Path) -> None:
    tasks = [{"data": {"text": "a"}}, {"text": "b", "n": [1, 2]}, {"data": {"t": "c"}, "meta": {}}]
    content = json.dumps(tasks, indent=2).encode()
    # json.dumps(indent=2): "[" then each task starts on its own line
    starts = [i for i, line in enumerate(content.decode().splitlines(), 1) if line == "  {"]
    assert read(tmp_path, "t.json", content) == [
        (1, starts[0], {"text": "a"}, []),
        (2, starts[1], {"text": "b", "n": [1, 2]}, []),
        (3, starts[2], {"t": "c"}, []),
    ]


def test_json_array_multi_line_records_and_crlf(tmp_path: Path) -> None:
    content = b'[\r\n  {\r\n    "text": "a"\r\n  },\r\n\r\n  {"text":\r\n "b"}\r\n]\r\n'
    assert read(tmp_path, "t.json", content) == [
        (1, 2, {"text": "a"}, []),
        (2, 6, {"text": "b"}, []),
    ]


def test_json_strings_with_brackets_commas_and_escapes(tmp_path: Path) -> None:
    content = b'[{"t": "]}[{,"}, {"t": "a \\" ] \\\\"},\n{"t": "\\u005d"}]'
    assert read(tmp_path, "t.json", content) == [
        (1, 1, {"t": "]}[{,"}, []),
        (2, 1, {"t": 'a " ] \\'}, []),
        (3, 2, {"t": "]"}, []),
    ]


def test_json_truncated_mid_record_names_the_record(tmp_path: Path) -> None:
    content = b'[\n{"text": "a"},\n{"text": "b"},\n{"text": "c", "meta": {\n'
    result = read(tmp_path, "t.json", content)
    assert result == [
        (1, 2, {"text": "a"}, []),
        (2, 3, {"text": "b"}, []),
        (3, 4, None, ["read.truncated"]),
    ]


def test_json_truncated_record_message(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(b'[{"a": 1}, {"b": ')
    last = list(iter_records([str(path)]))[-1]
    assert "record 2" in last.findings[0].message


def test_json_truncated_between_records(tmp_path: Path) -> None:
    # cut right after a comma (`head -n`): only the cut is reported, not a trailing comma
    assert read(tmp_path, "t.json", b'[\n{"a": 1},\n{"b": 2},\n') == [
        (1, 2, {"a": 1}, []),
        (2, 3, {"b": 2}, []),
        (0, 4, None, ["read.truncated"]),
    ]
    assert read(tmp_path, "u.json", b'[{"a": 1}, "abc') == [
        (1, 1, {"a": 1}, []),
        (0, 1, None, ["read.truncated"]),
    ]


def test_json_trailing_comma(tmp_path: Path) -> None:
    assert read(tmp_path, "t.json", b'[\n{"a": 1},\n{"b": 2},\n]\n') == [
        (1, 2, {"a": 1}, []),
        (2, 3, {"b": 2}, []),
        (0, 3, None, ["read.trailing-comma"]),
    ]


def test_json_missing_comma_still_reads_both_records(tmp_path: Path) -> None:
    assert read(tmp_path, "t.json", b'[\n{"a": 1}\n{"b": 2},\n{"c": 3}\n]') == [
        (1, 2, {"a": 1}, []),
        (0, 2, None, ["read.json"]),
        (2, 3, {"b": 2}, []),
        (3, 4, {"c": 3}, []),
    ]


def test_json_extra_comma(tmp_path: Path) -> None:
    assert read(tmp_path, "t.json", b'[{"a": 1},, {"b": 2}]') == [
        (1, 1, {"a": 1}, []),
        (0, 1, None, ["read.json"]),
        (2, 1, {"b": 2}, []),
    ]


def test_json_scalars_in_the_array_are_records_of_their_own(tmp_path: Path) -> None:
    content = b'[\n{"a": 1},\n  3,\n"x, y",\nnull, true,\n["list"],\n{"b": 2}\n]\n'
    assert read(tmp_path, "t.json", content) == [
        (1, 2, {"a": 1}, []),
        (2, 3, None, ["read.not-an-object"]),
        (3, 4, None, ["read.not-an-object"]),
        (4, 5, None, ["read.not-an-object"]),
        (5, 5, None, ["read.not-an-object"]),
        (6, 6, None, ["read.not-an-object"]),
        (7, 7, {"b": 2}, []),
    ]


def test_json_broken_element_in_the_middle(tmp_path: Path) -> None:
    content = b'[\n{"a": 1},\n{"b": },\n{"c": NaN},\n{"d": 4}\n]'
    result = read(tmp_path, "t.json", content)
    assert result == [
        (1, 2, {"a": 1}, []),
        (2, 3, None, ["read.json"]),
        (3, 4, None, ["read.json"]),
        (4, 5, {"d": 4}, []),
    ]


def test_json_nan_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(b'[{"score": NaN}]')
    (rec,) = iter_records([str(path)])
    assert "write null" in rec.findings[0].message


def test_json_text_after_the_array(tmp_path: Path) -> None:
    assert read(tmp_path, "t.json", b'[{"a": 1}]\n\nextra\n') == [
        (1, 1, {"a": 1}, []),
        (0, 1, None, ["read.trailing-content"]),
    ]
    assert read(tmp_path, "u.json", b'[{"a": 1}]\n\n  \n') == [(1, 1, {"a": 1}, [])]


def test_json_unbalanced_close(tmp_path: Path) -> None:
    assert read(tmp_path, "t.json", b'{"a": 1}\n}\n{"b": 2}') == [
        (1, 1, {"a": 1}, []),
        (0, 2, None, ["read.json"]),
    ]


@pytest.mark.parametrize("content", [b"", b"  \n\n\t"])
def test_json_empty_file(tmp_path: Path, content: bytes) -> None:
    assert read(tmp_path, "t.json", content) == [(0, 1, None, ["read.empty"])]


def test_json_empty_array_has_no_records(tmp_path: Path) -> None:
    assert read(tmp_path, "t.json", b"[ ]\n") == []


def test_json_single_object(tmp_path: Path) -> None:
    content = b'\n{\n  "data": {"text": "x"},\n  "predictions": []\n}\n'
    assert read(tmp_path, "t.json", content) == [(1, 2, {"text": "x"}, [])]


def test_json_single_object_without_data_is_the_data(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(b'{"text": "x", "meta": 1}')
    (rec,) = iter_records([str(path)])
    assert rec.task == {"data": {"text": "x", "meta": 1}}


def test_json_concatenated_objects(tmp_path: Path) -> None:
    content = b'{"a": 1}\n{"b": 2}{"c": 3}\n\n{\n"d": 4\n}\n  7\n'
    assert read(tmp_path, "t.json", content) == [
        (1, 1, {"a": 1}, []),
        (2, 2, {"b": 2}, []),
        (3, 2, {"c": 3}, []),
        (4, 4, {"d": 4}, []),
        (5, 7, None, ["read.not-an-object"]),
    ]


def test_json_bom_and_utf16(tmp_path: Path) -> None:
    assert read(tmp_path, "t.json", b'\xef\xbb\xbf[\n{"a": 1}]') == [(1, 2, {"a": 1}, [])]
    assert read(tmp_path, "u.json", '[{"a": 1}]'.encode("utf-16")) == [
        (0, 1, None, ["read.encoding"])
    ]


def test_json_invalid_utf8_in_one_record(tmp_path: Path) -> None:
    assert read(tmp_path, "t.json", b'[{"a": "\xff"},\n{"b": 2}]') == [
        (1, 1, None, ["read.encoding"]),
        (2, 2, {"b": 2}, []),
    ]


def test_json_big_array_across_read_chunks_keeps_exact_lines(tmp_path: Path) -> None:
    # ~2.5 MB: several of the reader's 1 MiB chunks; records of varied size and line count
    tasks = [{"text": f"t{i} " + "z" * (i % 900), "n": i} for i in range(5000)]
    content = json.dumps(tasks, indent=1).encode()
    assert len(content) > 2 * (1 << 20)
    result = read(tmp_path, "t.json", content)
    # indent=1: each task is "{", two keys, "}" -> four lines, the first on line 2
    assert result == [(i + 1, 2 + 4 * i, t, []) for i, t in enumerate(tasks)]


def test_json_is_streamed(tmp_path: Path) -> None:
    """The first record comes out before the reader has seen the whole input."""
    tasks = [{"text": "x" * 1000, "n": i} for i in range(4000)]  # ~4 MB
    stream = _CountingStream(json.dumps(tasks).encode())
    first = next(iter_source(Source(STDIN, "<stdin>"), fmt="json", stdin=stream))
    assert first.number == 1
    assert stream.consumed < 2 * (1 << 20) < stream.size


class _CountingStream(io.RawIOBase):
    """A pipe-like input that counts what has been read from it."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.size = len(data)
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._data.readinto(memoryview(buffer)[: 64 * 1024])
        self.consumed += n
        return n


# --- JSONL ----------------------------------------------------------------------------------


def test_jsonl_blank_lines_crlf_and_no_final_newline(tmp_path: Path) -> None:
    content = b'{"a": 1}\r\n\r\n{"b": 2}\n   \n\t\n{"c": 3}'
    assert read(tmp_path, "t.jsonl", content) == [
        (1, 1, {"a": 1}, []),
        (2, 3, {"b": 2}, []),
        (3, 6, {"c": 3}, []),
    ]


def test_jsonl_broken_line_in_the_middle(tmp_path: Path) -> None:
    content = b'{"a": 1}\n{"b": \n[1]\n"s"\n{"c": 3}\n'
    assert read(tmp_path, "t.jsonl", content) == [
        (1, 1, {"a": 1}, []),
        (2, 2, None, ["read.json"]),
        (3, 3, None, ["read.not-an-object"]),
        (4, 4, None, ["read.not-an-object"]),
        (5, 5, {"c": 3}, []),
    ]


def test_jsonl_bom(tmp_path: Path) -> None:
    assert read(tmp_path, "t.jsonl", b'\xef\xbb\xbf{"a": 1}\n{"b": 2}\n') == [
        (1, 1, {"a": 1}, []),
        (2, 2, {"b": 2}, []),
    ]


def test_jsonl_invalid_utf8_line(tmp_path: Path) -> None:
    content = b'{"a": 1}\n{"b": "caf\xe9"}\n{"c": 3}\n'
    assert read(tmp_path, "t.jsonl", content) == [
        (1, 1, {"a": 1}, []),
        (2, 2, None, ["read.encoding"]),
        (3, 3, {"c": 3}, []),
    ]


def test_jsonl_task_with_data_is_kept_whole(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"data": {"t": 1}, "predictions": [{"result": []}]}\n{"t": 2}\n')
    assert [r.task for r in iter_records([str(path)])] == [
        {"data": {"t": 1}, "predictions": [{"result": []}]},
        {"data": {"t": 2}},
    ]


def test_jsonl_empty_file_has_no_records(tmp_path: Path) -> None:
    assert read(tmp_path, "t.jsonl", b"") == []


# --- CSV and TSV ----------------------------------------------------------------------------


def test_csv_bom_crlf_and_values_stay_strings(tmp_path: Path) -> None:
    content = b"\xef\xbb\xbftext,n,flag\r\nhello,1,true\r\n,2.50,\r\n"
    assert read(tmp_path, "t.csv", content) == [
        (1, 2, {"text": "hello", "n": "1", "flag": "true"}, []),
        (2, 3, {"text": "", "n": "2.50", "flag": ""}, []),
    ]


def test_csv_quoted_newlines_give_the_start_line(tmp_path: Path) -> None:
    content = b'text,n\nfirst,1\n"two\nline ""quoted""",2\n"three\n\nlines",3\nlast,4\n'
    assert read(tmp_path, "t.csv", content) == [
        (1, 2, {"text": "first", "n": "1"}, []),
        (2, 3, {"text": 'two\nline "quoted"', "n": "2"}, []),
        (3, 5, {"text": "three\n\nlines", "n": "3"}, []),
        (4, 8, {"text": "last", "n": "4"}, []),
    ]


def test_csv_ragged_rows_are_errors_for_that_row_only(tmp_path: Path) -> None:
    content = b"text,n\na,1\nb,2,extra\nc\n\nd,4\n"
    assert read(tmp_path, "t.csv", content) == [
        (1, 2, {"text": "a", "n": "1"}, []),
        (2, 3, None, ["read.csv-shape"]),
        (3, 4, None, ["read.csv-shape"]),
        (4, 6, {"text": "d", "n": "4"}, []),
    ]


def test_csv_json_columns(tmp_path: Path) -> None:
    predictions = [{"result": [{"from_name": "c", "to_name": "t", "type": "choices",
                                "value": {"choices": ["A"]}}], "score": 0.5}]  # fmt: skip
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["text", "predictions", "annotations", "meta"])
    writer.writerow(["hi", json.dumps(predictions), "", json.dumps({"source": "x"})])
    writer.writerow(["bye", "", "", ""])
    path = tmp_path / "t.csv"
    path.write_text(buf.getvalue())
    first, second = iter_records([str(path)])
    assert first.task == {"data": {"text": "hi"}, "predictions": predictions,
                          "meta": {"source": "x"}}  # fmt: skip
    assert second.task == {"data": {"text": "bye"}}
    assert (first.line, second.line) == (2, 3)


def test_csv_bad_json_in_a_json_column(tmp_path: Path) -> None:
    content = (
        b'text,predictions,meta\na,"[{""result"": [",\nb,,{"x": 1, "y": 2}\n'
        b'c,,"{""k"": 1}"\nd,,{oops}\n'
    )
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    records = list(iter_records([str(path)]))
    assert rows(records) == [
        (1, 2, None, ["read.json"]),
        (2, 3, None, ["read.csv-shape"]),  # the unquoted comma inside the JSON
        (3, 4, {"text": "c"}, []),
        (4, 5, None, ["read.json"]),
    ]
    assert records[0].findings[0].pointer == "/predictions"
    assert records[3].findings[0].pointer == "/meta"
    assert records[2].task is not None and records[2].task["meta"] == {"k": 1}


@pytest.mark.parametrize(
    ("header", "message"),
    [(b"text,text", "appears twice"), (b"text,,n", "column 2"), (b"text, ,n", "column 2")],
)
def test_csv_duplicate_and_empty_header_names(tmp_path: Path, header: bytes, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(header + b"\na,b,c\n")
    (rec,) = iter_records([str(path)])
    assert (rec.number, rec.line, [f.code for f in rec.findings]) == (0, 1, ["read.header"])
    assert message in rec.findings[0].message


def test_csv_semicolon_delimiter(tmp_path: Path) -> None:
    content = b'text;n\n"a, with comma";1\nb;2\n'
    assert read(tmp_path, "t.csv", content) == [
        (1, 2, {"text": "a, with comma", "n": "1"}, []),
        (2, 3, {"text": "b", "n": "2"}, []),
    ]


def test_csv_field_larger_than_the_default_limit(tmp_path: Path) -> None:
    default = 131072  # Python's csv.field_size_limit() out of the box
    big = "x" * (default * 2)
    old = csv.field_size_limit(default)
    try:
        result = read(tmp_path, "t.csv", f'text,n\n"{big}",1\n{big},2\nsmall,3\n'.encode())
    finally:
        csv.field_size_limit(old)
    assert result == [
        (1, 2, {"text": big, "n": "1"}, []),
        (2, 3, {"text": big, "n": "2"}, []),
        (3, 4, {"text": "small", "n": "3"}, []),
    ]


def test_csv_invalid_utf8_row(tmp_path: Path) -> None:
    assert read(tmp_path, "t.csv", b"text,n\ncaf\xe9,1\nok,2\n") == [
        (1, 2, None, ["read.encoding"]),
        (2, 3, {"text": "ok", "n": "2"}, []),
    ]


def test_csv_single_column_blank_lines_are_skipped(tmp_path: Path) -> None:
    assert read(tmp_path, "t.csv", b"text\na\n\nb\n") == [
        (1, 2, {"text": "a"}, []),
        (2, 4, {"text": "b"}, []),
    ]


def test_csv_header_only_and_empty(tmp_path: Path) -> None:
    assert read(tmp_path, "t.csv", b"text,n\n") == []
    assert read(tmp_path, "u.csv", b"") == [(0, 1, None, ["read.empty"])]
    assert read(tmp_path, "v.csv", "text".encode("utf-16")) == [(0, 1, None, ["read.encoding"])]


def test_tsv(tmp_path: Path) -> None:
    content = b'\xef\xbb\xbftext\tn\na, b; c\t1\n"multi\nline"\t2\nragged\n'
    assert read(tmp_path, "t.tsv", content) == [
        (1, 2, {"text": "a, b; c", "n": "1"}, []),
        (2, 3, {"text": "multi\nline", "n": "2"}, []),
        (3, 5, None, ["read.csv-shape"]),
    ]


# --- gzip -----------------------------------------------------------------------------------

SAMPLES = {
    "t.json": b'[\n{"text": "a"},\n{"text": "b"}\n]\n',
    "t.jsonl": b'{"text": "a"}\n\n{"text": "b"}\n',
    "t.csv": b'text,n\na,1\n"b\nb",2\n',
    "t.tsv": b"text\tn\na\t1\nb\t2\n",
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_gzip_of_each_format_reads_like_the_plain_file(tmp_path: Path, name: str) -> None:
    plain = read(tmp_path, name, SAMPLES[name])
    assert len(plain) == 2 and all(codes == [] for *_, codes in plain)
    assert read(tmp_path, name + ".gz", gzip.compress(SAMPLES[name])) == plain
    # gzip is known by its magic bytes, not the name
    assert read(tmp_path, "renamed-" + name, gzip.compress(SAMPLES[name])) == plain


def _jsonl_body(n: int) -> bytes:
    return b"".join(b'{"text": "record %d %s"}\n' % (i, b"y" * (i % 97)) for i in range(1, n + 1))


def _complete_lines_before_cut(compressed: bytes) -> int:
    prefix = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(compressed)
    return prefix.count(b"\n")


@pytest.mark.parametrize("name", ["t.jsonl.gz", "t.csv.gz", "t.json.gz"])
def test_truncated_gzip_keeps_the_records_before_the_cut(tmp_path: Path, name: str) -> None:
    n = 3000
    if name == "t.csv.gz":
        body = b"text,n\n" + b"".join(b"record %d,%d\n" % (i, i) for i in range(1, n + 1))
        header = 1
    elif name == "t.json.gz":
        body = b"[\n" + _jsonl_body(n).replace(b"}\n", b"},\n")[:-2] + b"\n]\n"
        header = 1
    else:
        body = _jsonl_body(n)
        header = 0
    compressed = gzip.compress(body)
    cut = compressed[: len(compressed) // 2]
    complete = _complete_lines_before_cut(cut) - header
    assert 0 < complete < n

    result = read(tmp_path, name, cut)
    *records, problem = result
    assert problem == (0, 0, None, ["read.gzip"])
    # every complete record before the cut, and none made up from the cut one
    assert [r[:2] for r in records] == [(i, i + header) for i in range(1, complete + 1)]
    assert all(codes == [] for *_, codes in records)


def test_corrupt_gzip(tmp_path: Path) -> None:
    compressed = bytearray(gzip.compress(_jsonl_body(2000)))
    compressed[200:260] = bytes(60)
    *records, problem = read(tmp_path, "t.jsonl.gz", bytes(compressed))
    assert problem[3] == ["read.gzip"]
    assert all(codes == [] for *_, codes in records)


# --- formats: extension, --format, sniffing --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.json", "json"), ("a.JSON", "json"), ("a.jsonl", "jsonl"), ("a.ndjson", "jsonl"),
        ("a.jsonl.gz", "jsonl"), ("a.csv", "csv"), ("a.csv.gz", "csv"), ("a.tsv", "tsv"),
        ("a.tab", "tsv"), ("a.txt", None), ("a.gz", None), ("-", None),
    ],
)  # fmt: skip
def test_format_from_name(name: str, fmt: str | None) -> None:
    assert format_from_name(name) == fmt


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b'[{"a": 1}]', "json"),
        (b'  \n[\n{"a": 1}', "json"),
        (b'{"a": 1}\n{"b": 2}\n', "jsonl"),
        (b'\xef\xbb\xbf{"a": 1}\n', "jsonl"),
        (b'{\n  "a": 1\n}\n', "json"),
        (b"text,n\na,1\n", "csv"),
        (b"text;n\na;1\n", "csv"),
        (b"text\tn\na,b\t1\n", "tsv"),
    ],
)
def test_sniff_format(head: bytes, fmt: str) -> None:
    assert sniff_format(head) == fmt


@pytest.mark.parametrize(
    "content",
    [
        b'[{"text": "a"},\n{"text": "b"}]',
        b'{"text": "a"}\n{"text": "b"}\n',
        b"text\na\nb\n",
        b"text\tn\na\t1\nb\t2\n",
        b'{\n"text": "a"}\n{"text": "b"}',
        gzip.compress(b'{"text": "a"}\n{"text": "b"}\n'),
        gzip.compress(b"\xef\xbb\xbftext,n\na,1\nb,2\n"),
    ],
)
def test_stdin_format_is_sniffed(content: bytes) -> None:
    result = read_stdin(content)
    assert [(n, data["text"], codes) for n, _, data, codes in result] == [
        (1, "a", []),
        (2, "b", []),
    ]


def test_stdin_sniffed_lines(tmp_path: Path) -> None:
    assert read_stdin(b'{\n"text": "a"}\n\n{"text": "b"}') == [
        (1, 1, {"text": "a"}, []),
        (2, 4, {"text": "b"}, []),
    ]


def test_format_option_wins_over_extension_and_sniffing(tmp_path: Path) -> None:
    # an array in a .jsonl file: read as JSON when told so
    content = b'[{"a": 1},\n{"b": 2}]'
    assert read(tmp_path, "t.jsonl", content, fmt="json") == [
        (1, 1, {"a": 1}, []),
        (2, 2, {"b": 2}, []),
    ]
    assert read(tmp_path, "t.jsonl", content) == [
        (1, 1, None, ["read.json"]),
        (2, 2, None, ["read.json"]),
    ]
    assert read_stdin(b"a\tb\n1\t2\n", fmt="csv") == [(1, 2, {"a\tb": "1\t2"}, [])]
    assert read(tmp_path, "t.txt", b'{"a": 1}\n') == [(1, 1, {"a": 1}, [])]


# --- several inputs -------------------------------------------------------------------------


def test_records_of_several_files_in_order(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b'{"x": 1}\n{"x": 2}\n')
    (tmp_path / "b.csv").write_bytes(b"x\n3\n")
    records = list(iter_records([str(tmp_path / "a.jsonl"), str(tmp_path / "b.csv")]))
    assert [(Path(r.file).name, r.number, r.line) for r in records] == [
        ("a.jsonl", 1, 1),
        ("a.jsonl", 2, 2),
        ("b.csv", 1, 2),
    ]


def test_missing_inputs_fail_before_anything_is_read(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b'{"x": 1}\n')
    with pytest.raises(UsageError, match="no such file"):
        list(iter_records([str(tmp_path / "a.jsonl"), str(tmp_path / "missing.jsonl")]))
    with pytest.raises(UsageError, match="is a directory"):
        list(iter_records([str(tmp_path)]))
    with pytest.raises(UsageError, match="no input files"):
        list(iter_records([]))


# --- JSON arrays laid out one task per line (the per-line try) ---------------------------------


def _task(i: int) -> dict[str, Any]:
    return {"data": {"text": f"t{i}", "n": i}, "meta": {"k": [i, {"x": "}"}]}}


def _lines(fmt: bytes = b"%s", n: int = 50) -> list[bytes]:
    return [fmt % json.dumps(_task(i)).encode() for i in range(n)]


SPLIT = b'{"data": {"text": "t%d", "n": %d}\n, "meta": {"k": [%d, {"x": "}"}]}}'
PAIRS = [a + b", " + b for a, b in zip(_lines()[::2], _lines()[1::2], strict=True)]


@pytest.mark.parametrize(
    ("layout", "content"),
    [
        ("a line each", b"[\n" + b",\n".join(_lines()) + b"\n]\n"),
        ("CRLF, spaces", b"[\r\n" + b" ,\r\n".join(_lines(b"  %s  ")) + b"\r\n]"),
        ("comma first", b"[" + b"\n,".join(_lines()) + b"]"),
        ("two a line", b"[\n" + b",\n".join(PAIRS) + b"\n]"),
        ("one line", json.dumps([_task(i) for i in range(50)]).encode()),
        ("indented", json.dumps([_task(i) for i in range(50)], indent=2).encode()),
        (
            "a line ends in } mid-task",
            b"[" + b",\n".join(SPLIT % (i, i, i) for i in range(50)) + b"]",
        ),
    ],
)
def test_json_array_layouts(tmp_path: Path, layout: str, content: bytes) -> None:
    got = read(tmp_path, "tasks.json", content)
    assert [data for _, _, data, _ in got] == [_task(i)["data"] for i in range(50)], layout
    assert all(codes == [] for *_, codes in got)
    lines = content.split(b"\n")
    for number, line, *_ in got:  # each record starts where its text does
        assert lines[line - 1].strip(b" ,[\r").startswith(b"{"), (layout, number)
        assert b'"t%d"' % (number - 1) in b"\n".join(lines[line - 1 : line + 3])


def test_json_array_with_a_broken_line_keeps_the_rest(tmp_path: Path) -> None:
    tasks = _lines(n=20)
    tasks[7] = tasks[7][:-1]  # a `}` short: the array's brackets no longer balance
    got = read(tmp_path, "tasks.json", b"[\n" + b",\n".join(tasks) + b"\n]\n")
    assert [n for n, _, data, _ in got if data is not None] == list(range(1, 8))
    assert got[-1][3] and got[-1][2] is None  # then a finding where it stopped making sense
