"""Label Studio's exports as input (lsimport.read.exports, lsimport.send.annotators).

The files in tests/data/exports/ are real exports of one project of a Label Studio 1.23.2
(`/api/projects/1/export?exportType=JSON|JSON_MIN|CSV|TSV` and a snapshot of
`/api/projects/1/exports` with full predictions and annotators): 4 tasks, 3 annotations (one
by admin@example.com, two by ann@example.com), 1 prediction, 1 draft.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from lsimport.model import Record
from lsimport.read.exports import (
    has_export_marks,
    import_task,
    is_export_task,
    is_min_export_row,
    iter_import_records,
)
from lsimport.read.stream import iter_records
from lsimport.send.annotators import Annotators

EXPORTS = Path(__file__).resolve().parents[1] / "data" / "exports"
CONTROLS = frozenset({"sentiment"})
DATA = [{"text": t} for t in "abcd"]


def _read(name: str, **kwargs: Any) -> list[Record]:
    records = iter_records([str(EXPORTS / name)])
    return list(iter_import_records(records, control_names=CONTROLS, **kwargs))


def _codes(rec: Record) -> list[str]:
    return [f.code for f in rec.findings]


def test_json_export_keeps_data_meta_and_annotations_and_warns_about_prediction_ids() -> None:
    records = _read("export.json")
    tasks = [r.task for r in records]
    assert [t["data"] for t in tasks if t] == DATA
    first = tasks[0]
    assert first is not None
    assert set(first) == {"data", "meta", "annotations", "allow_skip"}
    assert first["meta"] == {"m": 1}
    # Only what an import takes; the exporting server's user id is not an email: dropped.
    assert first["annotations"] == [
        {
            "result": [
                {
                    "from_name": "sentiment",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": ["pos"]},
                }
            ],
            "was_cancelled": False,
            "ground_truth": True,
            "lead_time": None,
        }
    ]
    assert _codes(records[0]) == ["export.prediction-ids", "export.annotator-id"]
    assert "lsimport copy" in records[0].findings[0].message
    assert all(not f.is_error for r in records for f in r.findings)
    # The draft on task 2 is left out, and so are its ids and counters.
    assert tasks[1] == {
        "data": {"text": "b"},
        "meta": {},
        "annotations": [],
        "predictions": [],
        "allow_skip": True,
    }


def test_snapshot_export_is_taken_whole_with_the_annotators_emails() -> None:
    records = _read("snap.json")
    first = records[0].task
    assert first is not None and _codes(records[0]) == []
    assert first["predictions"] == [
        {
            "result": [
                {
                    "from_name": "sentiment",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": ["neg"]},
                }
            ],
            "model_version": "v1",
            "score": 0.5,
        }
    ]
    authors = [a["completed_by"]["email"] for r in records for a in r.task["annotations"]]  # type: ignore[index]
    assert authors == ["admin@example.com", "ann@example.com", "ann@example.com"]


def test_min_exports_are_read_as_plain_tasks() -> None:
    for name in ("export-min.json", "export.csv", "export.tsv"):
        records = _read(name)
        assert [r.task for r in records] == [{"data": d} for d in DATA], name
        assert [_codes(r) for r in records] == [
            ["export.flat-annotation"],
            [],
            *2 * [["export.flat-annotation"]],
        ], name


def test_the_task_id_is_kept_when_asked_for() -> None:
    assert [r.task["id"] for r in _read("export.json", keep_id=True)] == [1, 2, 3, 4]  # type: ignore[index]
    assert [r.task["id"] for r in _read("export.csv", keep_id=True)] == ["1", "2", "3", "4"]  # type: ignore[index]


def test_tasks_that_are_not_exports_pass_as_they_are() -> None:
    plain = [
        {"data": {"text": "a"}, "id": 7, "predictions": [{"result": []}]},
        {"data": {"text": "a", "annotator": "x"}},
        {"data": {"text": "a"}, "annotations": [{"result": [], "completed_by": 3}]},
    ]
    for task in plain:
        assert not is_export_task(task) and not is_min_export_row(task)
        assert import_task(task) == (task, [])


def test_export_marks_catch_every_export_record_in_bytes() -> None:
    for name in ("export.json", "snap.json"):
        for task in orjson.loads((EXPORTS / name).read_bytes()):
            if task["annotations"] or is_export_task(task):
                assert has_export_marks(orjson.dumps(task)), task
    assert not has_export_marks(b'{"data": {"text": "a"}}')


def test_validate_screen_does_not_pass_an_export_unbuilt(tmp_path: Path) -> None:
    """A big export (screened) reports what a small one does."""
    import io

    from lsimport.environment import Environment
    from lsimport.run import run_validate
    from lsimport.settings import ValidateSettings

    tasks = orjson.loads((EXPORTS / "export.json").read_bytes())
    big = tmp_path / "big.json"
    big.write_bytes(orjson.dumps(tasks * 3000))  # over the screen's 1 MB
    assert big.stat().st_size > 1 << 20
    out = io.StringIO()
    env = Environment(stdout=out, stderr=io.StringIO())
    settings = ValidateSettings(paths=(str(big),), label_config=str(EXPORTS / "config.xml"))
    run_validate(settings, env)
    assert out.getvalue().splitlines()[-1] == (
        "ok: 12000 record(s) in 1 file(s): 12000 valid, 0 invalid, 12000 warning(s)"
    )


# --- annotators --------------------------------------------------------------------------


def test_annotators_are_matched_by_email_and_an_unknown_one_is_an_error() -> None:
    reads = []

    def users() -> list[dict[str, Any]]:
        reads.append(1)
        return [{"id": 5, "email": "Admin@Example.com"}, {"id": 9, "email": "other@example.com"}]

    records = list(Annotators(users).assign(_read("snap.json")))
    assert len(reads) == 1
    first = records[0].task
    assert first is not None and first["annotations"][0]["completed_by"] == 5
    assert _codes(records[0]) == []
    for rec in records[2:]:
        assert _codes(rec) == ["export.annotator"]
        assert rec.findings[0].pointer == "/annotations/0/completed_by"
        assert "'ann@example.com'" in rec.findings[0].message and rec.has_errors


def test_annotators_are_not_read_when_no_annotation_names_one() -> None:
    def users() -> list[dict[str, Any]]:
        raise AssertionError("read")

    assert len(list(Annotators(users).assign(_read("export.json")))) == 4


def test_validate_keeps_an_export_in_one_process(tmp_path: Path) -> None:
    """--jobs workers check records as they are: an export's are made import tasks first."""
    from lsimport.read.stream import check_sources
    from lsimport.run import MIN_PARALLEL_BYTES, _worth_parallel
    from lsimport.settings import ValidateSettings

    export_line = orjson.dumps(orjson.loads((EXPORTS / "export.json").read_bytes())[0])
    for name, head, parallel in (
        ("export.jsonl", export_line, False),
        ("plain.jsonl", b'{"data": {"text": "a"}}', True),
    ):
        path = tmp_path / name
        path.write_bytes(head + b"\n")
        os.truncate(path, MIN_PARALLEL_BYTES + 1)  # big, cheaply (the rest is never read)
        [source] = check_sources([str(path)])
        settings = ValidateSettings(paths=(str(path),), jobs=2)
        assert _worth_parallel(source, settings) is parallel, name
