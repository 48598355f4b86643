"""Label Studio's own exports as input: recognised by their shape, turned into import tasks.

Label Studio 1.23.2 writes four shapes (measured, `/api/projects/ID/export?exportType=...`
and the snapshots of `/api/projects/ID/exports`):

- JSON: each task with its `id`, read-only counters (`inner_id`, `total_annotations`,
  `created_at`, ...), `drafts`, `annotations` with their own ids and bookkeeping, and
  `predictions` as a list of ids. Posted back as it is, the server answers 500 and saves the
  tasks without predictions. Here the ids and read-only fields are dropped, drafts are left
  out, and predictions given as ids are dropped with a warning saying how to carry them.
- snapshot JSON (serialization options `predictions: {only_id: false}`): the same, with every
  prediction in full, kept (`result`, `score`, `model_version`).
- JSON_MIN, CSV and TSV: one flat row per task, its data fields beside `id`, `annotator`,
  `annotation_id`, `created_at`, `updated_at`, `lead_time` and one column per control
  (the annotation, flattened). They are read as plain tasks: the export's own columns and the
  controls' columns are dropped.

An annotation's `completed_by` is left as the export gives it when it names a user by email
(a snapshot with `annotations__completed_by: {only_id: false}`): mapping it to a user of the
target needs the server (lsimport.send.annotators). A bare user id (the JSON export) names a
user of the exporting server, not of the target: it is dropped with a warning (the server then
credits the annotation to the importing user).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from lsimport.model import Finding, Record, Task, warning

# Fields the JSON export adds to a task that an import does not take (tasks/serializers.py
# and data_export/serializers.py of Label Studio 1.23.2); any one of them marks an export.
EXPORT_TASK_FIELDS = frozenset(
    {
        "inner_id",
        "total_annotations",
        "cancelled_annotations",
        "total_predictions",
        "comment_count",
        "unresolved_comment_count",
        "last_comment_updated_at",
        "comment_authors",
        "drafts",
        "file_upload",
        "updated_by",
        "created_at",
        "updated_at",
        "project",
        "state",
    }
)
# What an import keeps of a task, an annotation and a prediction (the rest is read-only).
TASK_FIELDS = ("data", "meta", "annotations", "predictions", "allow_skip")
ANNOTATION_FIELDS = ("result", "completed_by", "was_cancelled", "ground_truth", "lead_time")
PREDICTION_FIELDS = ("result", "score", "model_version")
# The columns JSON_MIN and CSV/TSV exports add beside the task's data fields.
MIN_EXPORT_COLUMNS = frozenset(
    {"annotator", "annotation_id", "created_at", "updated_at", "lead_time"}
)
MIN_EXPORT_DROPPED = MIN_EXPORT_COLUMNS | {"id", "agreement"}

HOW_TO_CARRY_PREDICTIONS = (
    "export a snapshot with full predictions instead (POST /api/projects/ID/exports with "
    '"serialization_options": {"predictions": {"only_id": false}}), or copy the project '
    "with `lsimport copy --from-project ID`"
)

# Bytes that only an export's record holds: validate's screen must not pass such a record
# unbuilt, since this module's findings come from the built task.
# has_export_marks(raw) is truthy when a record's bytes may be an export's. One compiled
# search, not a loop of `in` tests: it runs on every record validate screens (a generator
# of three `in` tests cost 0.34 s per 100,000 records, a third of validate's time).
has_export_marks: Callable[[bytes], object] = re.compile(
    rb'"(?:inner_id|annotation_id|completed_by)"'
).search


def is_export_task(task: Task) -> bool:
    """A task as Label Studio's JSON (or snapshot) export writes it."""
    return isinstance(task.get("data"), dict) and not EXPORT_TASK_FIELDS.isdisjoint(task)


def is_min_export_row(task: Task) -> bool:
    """A JSON_MIN, CSV or TSV export's row, as the readers give it (flat, under `data`)."""
    data = task.get("data")
    return len(task) == 1 and isinstance(data, dict) and data.keys() >= MIN_EXPORT_COLUMNS


def import_task(
    task: Task, *, control_names: frozenset[str] = frozenset(), keep_id: bool = False
) -> tuple[Task, list[Finding]]:
    """An export's task as an import task, and what was left out that the user should know.

    Any other task comes back as it is. `control_names` (the labeling config's controls)
    names the columns of a JSON_MIN/CSV row that hold its annotation. `keep_id` keeps the
    task's `id` (`lsimport predictions` matches tasks by it).
    """
    if is_export_task(task):
        return _from_json_export(task, keep_id)
    if is_min_export_row(task):
        return _from_min_export(task, control_names, keep_id)
    return task, []


def _from_json_export(task: Task, keep_id: bool) -> tuple[Task, list[Finding]]:
    findings: list[Finding] = []
    out: Task = {k: task[k] for k in TASK_FIELDS if k in task}
    if keep_id and "id" in task:
        out["id"] = task["id"]
    predictions = out.get("predictions")
    if isinstance(predictions, list):
        if predictions and all(_is_id(p) for p in predictions):
            del out["predictions"]
            findings.append(
                warning(
                    "export.prediction-ids",
                    f"the export lists this task's {len(predictions)} prediction(s) by id only, "
                    f"so they are not carried: {HOW_TO_CARRY_PREDICTIONS}",
                    "/predictions",
                )
            )
        else:
            out["predictions"] = [_only(p, PREDICTION_FIELDS) for p in predictions]
    annotations = out.get("annotations")
    if isinstance(annotations, list):
        kept = []
        for i, annotation in enumerate(annotations):
            annotation = _only(annotation, ANNOTATION_FIELDS)
            if isinstance(annotation, dict) and _is_id(annotation.get("completed_by")):
                user = annotation.pop("completed_by")
                findings.append(
                    warning(
                        "export.annotator-id",
                        f"completed_by is user {user} of the exporting server, not an email: "
                        "the annotation will be credited to the importing user (a snapshot "
                        'export with "annotations__completed_by": {"only_id": false} names '
                        "annotators by email, and they are then matched)",
                        f"/annotations/{i}/completed_by",
                    )
                )
            kept.append(annotation)
        out["annotations"] = kept
    return out, findings


def _from_min_export(
    task: Task, control_names: frozenset[str], keep_id: bool
) -> tuple[Task, list[Finding]]:
    row: dict[str, Any] = task["data"]
    dropped = MIN_EXPORT_DROPPED | control_names
    out: Task = {"data": {k: v for k, v in row.items() if k not in dropped}}
    if keep_id and row.get("id") not in (None, ""):
        out["id"] = row["id"]
    findings = []
    if row.get("annotation_id") not in (None, ""):
        findings.append(
            warning(
                "export.flat-annotation",
                "a JSON_MIN/CSV/TSV export flattens the annotation into columns: it is read "
                "as a plain task, without it (the JSON export carries annotations)",
            )
        )
    return out, findings


def _only(item: Any, fields: tuple[str, ...]) -> Any:
    """An object with only the fields an import takes; anything else as it is (the checks
    report it)."""
    if not isinstance(item, dict):
        return item
    return {k: item[k] for k in fields if k in item}


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# What a command that does not print warnings says once, after its summary, per code.
NOTES = {
    "export.prediction-ids": "{n} task(s) of a Label Studio export list their predictions by "
    "id only: the predictions were not carried; " + HOW_TO_CARRY_PREDICTIONS,
    "export.annotator-id": "{n} annotation(s) of a Label Studio export name their annotator by "
    "the exporting server's user id: they were credited to the importing user",
    "export.flat-annotation": "{n} row(s) of a JSON_MIN/CSV/TSV export were read as plain "
    "tasks, without the annotation flattened into them (the JSON export carries annotations)",
}


class ExportNotes:
    """Counts what was left out of exports, for commands that do not print warnings."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def lines(self) -> list[str]:
        return [NOTES[code].replace("{n}", str(n)) for code, n in self.counts.items()]

    def see(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            if f.code in NOTES:
                self.counts[f.code] = self.counts.get(f.code, 0) + 1


def iter_import_records(
    records: Iterable[Record],
    *,
    control_names: frozenset[str] = frozenset(),
    keep_id: bool = False,
    notes: ExportNotes | None = None,
) -> Iterator[Record]:
    """Records whose tasks come from a Label Studio export, made import tasks (the rest pass
    as they are). `notes` counts what was left out."""
    for rec in records:
        task = rec.task
        if task is not None and (is_export_task(task) or is_min_export_row(task)):
            rec.task, found = import_task(task, control_names=control_names, keep_id=keep_id)
            rec.findings.extend(found)
            if notes is not None:
                notes.see(found)
        yield rec
