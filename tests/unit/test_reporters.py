"""validate's JSON reporter writes each problem exactly as orjson writes its dict, however the
parts of it that do not change are cached."""

from __future__ import annotations

import io

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from lsimport.model import FileProblem, Finding, Record, ValidationSummary
from lsimport.report.reporters import JsonReporter, problem_dict

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ['"record":0,"line":0', '","record":0,"line":0,"x":"', "\\", "é/~1", ""]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(TEXT, st.integers(0, 10**12), st.integers(0, 10**12), TEXT, TEXT, st.booleans()),
        min_size=1,
        max_size=8,
    )
)
def test_every_problem_is_what_orjson_writes(
    problems: list[tuple[str, int, int, str, str, bool]],
) -> None:
    out = io.StringIO()
    reporter = JsonReporter(out)
    expected = []
    for file, number, line, pointer, message, whole_file in problems:
        finding = Finding("error", "config.label", message, pointer)
        kind = FileProblem if whole_file else Record
        rec = kind(file, 0 if whole_file else number, line, None, None, [finding, finding])
        reporter.record(rec)
        expected += [problem_dict(rec, finding)] * 2
    reporter.finish(ValidationSummary())
    assert orjson.loads(out.getvalue())["problems"] == expected
    lines = out.getvalue().split("\n")[1:-2]
    assert [line.rstrip(",") for line in lines] == [orjson.dumps(p).decode() for p in expected]


def test_problems_are_written_in_batches_as_they_come_and_all_of_them_at_the_end() -> None:
    """Streamed: past a batch, problems are on their way before the end (memory stays flat);
    the document is the same whatever the batch boundaries."""
    from lsimport.report import reporters

    out = io.StringIO()
    reporter = JsonReporter(out)
    finding = Finding("error", "config.label", "unknown label", "/predictions/0")
    records = [Record("a.jsonl", n, n, None, None, [finding]) for n in range(1, 1001)]
    for rec in records[: reporters._BATCH - 1]:
        reporter.record(rec)
    assert out.getvalue() == ""  # one batch, not full yet
    for rec in records[reporters._BATCH - 1 :]:
        reporter.record(rec)
    written = out.getvalue()
    assert written.count('"record":') >= 1000 - reporters._BATCH  # all but the last batch
    reporter.finish(ValidationSummary())
    doc = orjson.loads(out.getvalue())
    assert doc["problems"] == [problem_dict(rec, finding) for rec in records]
