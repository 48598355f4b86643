"""Task-format records as input for `lsimport predictions`: one record per prediction.

Label Studio's own JSON format holds predictions inside their task, `{"data": {...},
"predictions": [{"result": [...], "model_version": "v3"}, ...]}` (and its exports add the
task's `id`). `lsimport predictions` attaches predictions one by one, each naming its task:
here each prediction of such a record becomes a record of its own, `{"data": <the task's
data>, "result": ..., "score": ..., "model_version": ...}`, with `"task": <id>` when the task
has an integer `id` (a CSV export's text id too). `--match-on data.FIELD` then finds the task
by its data, or else the id does. Each keeps the file, record number and line of its task. A
task without predictions holds nothing to attach and yields nothing; any other record passes
as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from lsimport.model import Record

PREDICTION_FIELDS = ("result", "score", "model_version")


def is_task_format(task: dict[str, Any]) -> bool:
    """A task holding its predictions (rather than a prediction naming its task)."""
    return isinstance(task.get("predictions"), list) and "result" not in task


def iter_prediction_items(records: Iterable[Record]) -> Iterator[Record]:
    """Each prediction of a task-format record as a record of its own."""
    for rec in records:
        task = rec.task
        if task is None or rec.has_errors or not is_task_format(task):
            yield rec
            continue
        tid = task.get("id")
        for prediction in task["predictions"]:
            item: dict[str, Any] = {"data": task.get("data")}
            if (isinstance(tid, int) and not isinstance(tid, bool)) or (
                isinstance(tid, str) and tid.strip().isdigit()
            ):
                item["task"] = tid
            if isinstance(prediction, dict):
                item.update((k, prediction[k]) for k in PREDICTION_FIELDS if k in prediction)
            else:
                item["result"] = prediction  # the checks say what is wrong with it
            yield Record(rec.file, rec.number, rec.line, item, rec.raw, list(rec.findings))
