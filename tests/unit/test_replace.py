"""`predictions` on task-format records (lsimport.read.predictions) and `--replace`
(lsimport.send.replace)."""

from __future__ import annotations

from typing import Any

from lsimport.model import Record, error
from lsimport.read.predictions import iter_prediction_items
from lsimport.send.predictions import fingerprint, parse_prediction
from lsimport.send.replace import Replacement


def result(choice: str) -> list[dict[str, Any]]:
    return [{"from_name": "s", "to_name": "t", "type": "choices", "value": {"choices": [choice]}}]


def test_each_prediction_of_a_task_becomes_a_record_naming_the_task() -> None:
    task = {
        "id": 12,
        "data": {"image": "a.jpg"},
        "predictions": [
            {"result": result("x"), "score": 0.5, "model_version": "v1", "id": 3, "task": 99},
            {"result": result("y")},
        ],
    }
    records = [
        Record("f.json", 1, 2, task),
        Record("f.json", 2, 3, {"data": {"image": "b.jpg"}, "predictions": []}),
        Record("f.json", 3, 4, {"task": 5, "result": result("z")}),
        Record("f.json", 4, 5, None, None, [error("read.json", "bad")]),
        Record("f.csv", 5, 6, {"id": "7", "data": {}, "predictions": [{"result": []}]}),
    ]
    out = list(iter_prediction_items(records))
    assert [(r.file, r.number, r.line) for r in out] == [
        ("f.json", 1, 2),
        ("f.json", 1, 2),
        ("f.json", 3, 4),
        ("f.json", 4, 5),
        ("f.csv", 5, 6),
    ]
    assert out[0].task == {
        "data": {"image": "a.jpg"},
        "task": 12,
        "result": result("x"),
        "score": 0.5,
        "model_version": "v1",
    }
    parsed = parse_prediction(out[1].task)  # type: ignore[arg-type]
    assert (parsed.task, parsed.data, parsed.prediction) == (
        12,
        {"image": "a.jpg"},
        {"result": result("y")},
    )
    assert out[2].task == {"task": 5, "result": result("z")}
    assert parse_prediction(out[4].task).task == 7  # type: ignore[arg-type]


class Store:
    """The predictions of a project, as `list_predictions` gives them, and what is deleted."""

    def __init__(self, predictions: list[dict[str, Any]]) -> None:
        self.predictions = predictions
        self.deleted: list[int] = []
        self.reads: list[dict[str, Any]] = []

    def list_predictions(self, **where: Any) -> list[dict[str, Any]]:
        self.reads.append(where)
        keep = [p for p in self.predictions if p["id"] not in self.deleted]
        if "task" in where:
            return [p for p in keep if p["task"] == where["task"]]
        return keep

    def delete_prediction(self, prediction_id: int) -> None:
        self.deleted.append(prediction_id)


def stored(pid: int, task: int, choice: str, version: str | None) -> dict[str, Any]:
    return {"id": pid, "task": task, "result": result(choice), "model_version": version}


def placed(r: Replacement, task: int, choice: str, version: str | None) -> None:
    payload: dict[str, Any] = {"task": task, "result": result(choice)}
    if version is not None:
        payload["model_version"] = version
    r.placed("f", 1, 1, task, payload, fingerprint(task, version, result(choice)))


def test_replace_removes_older_predictions_of_the_placed_versions_only() -> None:
    store = Store(
        [
            stored(1, 10, "old", "v1"),
            stored(2, 10, "other", "v2"),
            stored(3, 10, "new", "v1"),
            stored(4, 11, "old", "undefined"),  # the bulk endpoint's "no version"
            stored(5, 11, "new", "undefined"),
            stored(6, 11, "new", "undefined"),  # a copy of the placed one
            stored(7, 12, "old", "v1"),  # a task this run placed nothing on
        ]
    )
    r = Replacement()
    placed(r, 10, "new", "v1")
    placed(r, 11, "new", None)
    assert r.remove_older(store, 3) == 3
    assert sorted(store.deleted) == [1, 4, 5]  # the newest copy of the placed one stays
    assert store.reads == [{"task": 10}, {"task": 11}]
    assert Replacement().remove_older(store, 3) == 0
