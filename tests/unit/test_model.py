"""The model names its states: a FileProblem is not a record, a screened record is clean."""

from __future__ import annotations

import io

from lsimport.check.pipeline import Tally
from lsimport.model import FileProblem, Record, error
from lsimport.read.common import file_problem
from lsimport.read.jsonl import iter_jsonl


def test_a_file_problem_counts_as_a_file_error_not_as_a_record() -> None:
    tally = Tally()
    tally.add(file_problem("a.json", 1, error("read.empty", "file is empty")))
    tally.add(Record("a.json", 1, 1, {"data": {}}))
    s = tally.summary
    assert (s.file_errors, s.records, s.invalid, s.valid) == (1, 1, 0, 1)


def test_file_problem_is_its_own_type() -> None:
    problem = file_problem("a.json", 3, error("read.truncated", "cut off"))
    assert isinstance(problem, FileProblem) and problem.is_file_problem
    assert not Record("a.json", 1, 1, None).is_file_problem


def test_the_screen_marks_what_it_passed() -> None:
    stream = io.BytesIO(b'{"data": {"text": "a"}}\n{"data": {"text": "b"}}\n')
    records = list(iter_jsonl(stream, "t.jsonl", screen=lambda raw: b'"a"' in raw))
    assert [(r.screened, r.task is None) for r in records] == [(True, True), (False, False)]
