"""--preannotated-from-fields, for every control type a flat field can fill (the rows of
lsimport/check/controls.py without geometry): a CSV-like string becomes the value the row
describes, and the prediction passes the full check."""

from __future__ import annotations

from typing import Any

import pytest
from fidelity.controlcases import config_for

from lsimport.check.controls import CONTROL_TYPES, ControlType
from lsimport.check.labelconfig import parse_label_config
from lsimport.check.preannotate import preannotate
from lsimport.check.rules import TaskChecker
from lsimport.model import Record

# What a column of batch inference output holds for each (as read from CSV: strings).
FLAT = {
    "choices": "Alpha",
    "taxonomy": "Alpha",
    "textarea": "a summary",
    "rating": "2",
    "number": "4.5",
    "datetime": "2024-01-02",
    "pairwise": "left",
    "ranker": '{"ctl": ["b", "a"]}',
    "reactcode": '{"a": "1"}',
    "chatmessage": '{"role": "assistant", "content": "hi"}',
}
ROWS = [row for row in CONTROL_TYPES if row.geometry == "none"]


def test_every_row_without_geometry_has_a_flat_example() -> None:
    assert {row.result_type for row in ROWS} == set(FLAT)


@pytest.mark.parametrize("row", ROWS, ids=[row.result_type for row in ROWS])
def test_a_flat_field_becomes_a_valid_prediction(row: ControlType) -> None:
    config_xml, data, name, _ = config_for(row, row.objects[0])
    config = parse_label_config(config_xml)
    task: dict[str, Any] = {"data": {**data, name: FLAT[row.result_type], "score": "0.9"}}
    (rec,) = preannotate([Record("in.csv", 1, 2, task)], config, (name, "score"), None)
    assert rec.findings == []
    (prediction,) = rec.task["predictions"] if rec.task else []
    assert prediction["score"] == 0.9 and prediction["result"][0]["type"] == row.result_type
    found = [
        f for f in TaskChecker(config).check_fully(rec.task or {}) if f.pointer.startswith("/pred")
    ]
    assert found == []
