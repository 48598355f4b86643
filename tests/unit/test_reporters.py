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
