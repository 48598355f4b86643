"""`verify`'s verdicts (lsimport.send.verify) and their rendering (lsimport.report.verify)."""

from __future__ import annotations

import io
import json
from typing import Any

from lsimport.model import Record, error
from lsimport.report.verify import VerifyReporter
from lsimport.send.verify import ProjectIndex, Verifier


def region(choice: str) -> list[dict[str, Any]]:
    return [{"from_name": "s", "to_name": "t", "type": "choices", "value": {"choices": [choice]}}]


def pred(choice: str, version: str | None = "m1", score: float = 0.5) -> dict[str, Any]:
    p: dict[str, Any] = {"result": region(choice), "score": score}
    if version is not None:
        p["model_version"] = version
    return p


def index(*tasks: dict[str, Any], match_path: tuple[str, ...] | None = None) -> ProjectIndex:
    idx = ProjectIndex(match_path)
    for tid, task in enumerate(tasks, 1):
        idx.add({"id": tid, **task})
    return idx


def rec(number: int, task: dict[str, Any] | None, *findings: Any) -> Record:
    return Record("in.jsonl", number, number, task, None, list(findings))


def verdicts(idx: ProjectIndex, records: list[Record]) -> list[tuple[int, str, str]]:
    v = Verifier(idx, 7)
    return [(x.record, x.kind, x.message) for x in v.run(records)]


def test_exact_missing_duplicated_and_other_predictions() -> None:
    idx = index(
        {"data": {"t": "a"}, "predictions": [pred("x"), pred("y", "m2")]},
        {"data": {"t": "b"}},
        {"data": {"t": "b"}},
        {"data": {"t": "c"}, "predictions": [pred("x")]},
    )
    records = [
        # Order and scores do not matter; model version and result do.
        rec(1, {"data": {"t": "a"}, "predictions": [pred("y", "m2", 0.1), pred("x")]}),
        rec(2, {"data": {"t": "b"}}),
        rec(3, {"data": {"t": "c"}, "predictions": [pred("x", "m9"), pred("z")]}),
        rec(4, {"data": {"t": "d"}}),
        rec(5, {"data": {"t": "c"}}),  # claims nothing about predictions
        rec(6, None, error("read.json", "invalid JSON")),
    ]
    v = Verifier(idx, 7)
    got = [(x.record, x.kind, x.message, x.tasks) for x in v.run(records)]
    assert got == [
        (2, "duplicated", "in project 7 2 times (tasks 2, 3)", [2, 3]),
        (
            3,
            "predictions",
            "task 4 lacks 2 of the input's 2 prediction(s) (model version 'm1', 'm9') and has "
            "1 prediction(s) the input does not (model version 'm1')",
            [4],
        ),
        (4, "missing", "no task of project 7 has this data", []),
        (6, "invalid", "not verified: invalid JSON [read.json]", []),
    ]
    s = v.finish({"model_version": "m1"})
    assert (s.records, s.exact, s.missing, s.duplicated, s.predictions_differ, s.invalid) == (
        6,
        2,
        1,
        1,
        1,
        1,
    )
    assert not s.ok and s.project_notes == []


def test_no_model_version_and_the_bulk_endpoints_undefined_are_the_same() -> None:
    idx = index({"data": {"t": "a"}, "predictions": [pred("x", "undefined")]})
    assert verdicts(idx, [rec(1, {"data": {"t": "a"}, "predictions": [pred("x", None)]})]) == []


def test_match_on_a_field() -> None:
    idx = index(
        {"data": {"image": "a.jpg", "other": 1}},
        {"data": {"image": 17}},
        {"data": {"nothing": 1}},
        match_path=("image",),
    )
    assert idx.unkeyed == 1
    records = [
        rec(1, {"data": {"image": "a.jpg"}}),
        rec(2, {"data": {"image": "17"}}),  # CSV's text finds the number
        rec(3, {"data": {"image": "b.jpg"}}),
        rec(4, {"data": {}}),
    ]
    assert verdicts(idx, records) == [
        (3, "missing", "no task of project 7 has data.image = 'b.jpg'"),
        (4, "invalid", "record has no data.image to match on"),
    ]


def test_a_selected_model_version_none_of_the_predictions_carry_is_a_project_problem() -> None:
    idx = index({"data": {"t": "a"}, "predictions": [pred("x")]})
    v = Verifier(idx, 7)
    assert list(v.run([rec(1, {"data": {"t": "a"}, "predictions": [pred("x")]})])) == []
    s = v.finish({"model_version": "old", "show_collab_predictions": False})
    assert not s.ok and len(s.project_notes) == 2
    assert "does not show predictions at all" in s.project_notes[0]
    assert (
        "shows model version 'old', which none of the input's 1 prediction(s) carry"
        in (s.project_notes[1])
    )
    # Without predictions in the input, nothing is hidden.
    v = Verifier(index({"data": {"t": "a"}}), 7)
    list(v.run([rec(1, {"data": {"t": "a"}})]))
    assert v.finish({"model_version": "old"}).ok


def test_the_three_outputs() -> None:
    idx = index({"data": {"t": "a"}})
    records = [rec(1, {"data": {"t": "a"}}), rec(2, {"data": {"t": "b"}})]
    outs = {}
    for fmt in ("text", "json", "github"):
        out = io.StringIO()
        v = Verifier(idx, 7)
        reporter = VerifyReporter(fmt, out, project=7)  # type: ignore[arg-type]
        for verdict in v.run(records):
            reporter.verdict(verdict)
        reporter.finish(v.finish({}))
        outs[fmt] = out.getvalue()
    assert outs["text"].splitlines() == [
        "in.jsonl:2: record 2: missing: no task of project 7 has this data",
        "NOT EXACT: 2 record(s) in 1 file(s) against project 7 (1 task(s)): 1 exact, 1 missing, "
        "0 duplicated, 0 with other predictions, 0 not verified",
    ]
    doc = json.loads(outs["json"])
    assert (doc["records"], doc["exact"], doc["missing"], doc["project"]) == (2, 1, 1, [])
    assert doc["problems"] == [
        {
            "file": "in.jsonl",
            "record": 2,
            "line": 2,
            "kind": "missing",
            "message": "no task of project 7 has this data",
            "tasks": [],
        }
    ]
    assert outs["github"].splitlines()[0] == (
        "::error file=in.jsonl,line=2,title=lsimport verify missing::record 2: no task of "
        "project 7 has this data"
    )


def test_numbers_match_as_postgres_gives_them_back() -> None:
    idx = index({"data": {"t": "a", "n": 10}})
    assert verdicts(idx, [rec(1, {"data": {"t": "a", "n": 10.0}})]) == []
