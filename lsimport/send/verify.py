"""`verify`: is every input record in the project exactly once, with its predictions?

    project, read back once (paged) -> index by key -> input records streamed past it

The project is read page by page (`id`, `data`, `meta`, `predictions` only) into an index of
each task's key and the fingerprints of its predictions; nothing else of it is kept. A task
upload keyed by its data has that key (`HASH`, `HASH#2` for the second record of an input with
the same data: send/keys.py), and an input record is looked up by the key upload gives it, so
two records with the same data are matched to their two tasks. Other tasks are indexed by a
hash of their `data`; with `--match-on data.FIELD`, by that field's value. Each input record
then gets a verdict: exact, missing, present more than once, or present with other
predictions (a prediction is its model version and result, as `lsimport predictions`
compares them; the score is not compared). A record without a `predictions` list claims
nothing about them, and they are not compared.

What hides predictions in the whole project is looked at once: a selected model version that
none of the input's predictions carry, and a project that does not show predictions at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lsimport.model import Record, finding_text
from lsimport.send.keys import OCCURRENCE, Identity, data_hash, key_of
from lsimport.send.predictions import (
    _NO_VERSION,
    TaskSource,
    _canonical,
    fingerprint,
    match_key,
)

Kind = Literal["missing", "duplicated", "predictions", "invalid"]
_MISSING: Any = object()
_DATA_KEY = re.compile(r"[0-9a-f]{32}(?:#\d+)?")  # upload's default key: the data's hash


TaskReader = TaskSource  # what verify reads the project with


def _walk(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def task_key(data: Any, match_path: tuple[str, ...] | None) -> str | None:
    """The key a task is matched by: a hash of its data, or its `match_path` field."""
    if match_path is None:
        # Numbers as PostgreSQL gives them back (10.0 as 10), on both sides.
        return data_hash(_canonical(data))
    value = _walk(data, match_path)
    return None if value is _MISSING else match_key(value)


def _version(prediction: Mapping[str, Any]) -> str:
    version = prediction.get("model_version")
    return "" if version is None or version in _NO_VERSION else str(version)


def prediction_prints(predictions: Any) -> list[tuple[bytes, str]]:
    """(fingerprint, model version) of each prediction, sorted: a multiset to compare."""
    if not isinstance(predictions, list):
        return []
    out = [
        (fingerprint(None, p.get("model_version"), p.get("result")), _version(p))
        for p in predictions
        if isinstance(p, dict)
    ]
    return sorted(out)


@dataclass(slots=True)
class IndexedTask:
    id: int
    predictions: list[tuple[bytes, str]]


class ProjectIndex:
    """Every task of a project by key, with its predictions' fingerprints."""

    def __init__(self, match_path: tuple[str, ...] | None = None) -> None:
        self.match_path = match_path
        self.by_key: dict[str, IndexedTask | list[IndexedTask]] = {}
        self.by_upload_key: dict[str, IndexedTask | list[IndexedTask]] = {}
        self.tasks = 0
        self.unkeyed = 0  # tasks without the --match-on field

    @classmethod
    def load(
        cls, client: TaskReader, project: int, match_path: tuple[str, ...] | None
    ) -> ProjectIndex:
        index = cls(match_path)
        pages = client.iter_tasks(
            project, fields="all", include=("id", "data", "meta", "predictions"), resolve_uri=False
        )
        for task in pages:
            index.add(task)
        return index

    def add(self, task: Mapping[str, Any]) -> None:
        tid = task.get("id")
        if not isinstance(tid, int):
            return
        self.tasks += 1
        item = IndexedTask(tid, prediction_prints(task.get("predictions")))
        upload_key = key_of(dict(task)) if self.match_path is None else None
        if upload_key is not None and _DATA_KEY.fullmatch(upload_key):
            _put(self.by_upload_key, upload_key, item)
            return
        key = task_key(task.get("data"), self.match_path)
        if key is None:
            self.unkeyed += 1
            return
        _put(self.by_key, key, item)

    def find(self, key: str, upload_key: str | None = None) -> list[IndexedTask]:
        """The tasks with upload's key for the record, and those with its data (or field)
        that upload did not key: for the first record of its data (a copy made by another
        tool is one too many), and for a later one that has no task of its own key (tasks
        made by another tool, which cannot tell the records apart)."""
        found = _listed(self.by_upload_key.get(upload_key)) if upload_key is not None else []
        if upload_key is None or OCCURRENCE not in upload_key or not found:
            found += _listed(self.by_key.get(key))
        return found


def _listed(found: IndexedTask | list[IndexedTask] | None) -> list[IndexedTask]:
    if found is None:
        return []
    return list(found) if isinstance(found, list) else [found]


def _put(index: dict[str, IndexedTask | list[IndexedTask]], key: str, item: IndexedTask) -> None:
    seen = index.get(key)
    if seen is None:
        index[key] = item
    elif isinstance(seen, list):
        seen.append(item)
    else:
        index[key] = [seen, item]


@dataclass
class Verdict:
    """One input record that is not exactly in the project, and why."""

    file: str
    record: int
    line: int
    kind: Kind
    message: str
    tasks: list[int] = field(default_factory=list)


@dataclass
class VerifySummary:
    files: int = 0
    records: int = 0
    exact: int = 0
    missing: int = 0
    duplicated: int = 0
    predictions_differ: int = 0
    invalid: int = 0
    file_errors: int = 0
    project_tasks: int = 0
    project_notes: list[str] = field(default_factory=list)  # what hides predictions

    @property
    def ok(self) -> bool:
        return not (
            self.missing
            or self.duplicated
            or self.predictions_differ
            or self.invalid
            or self.file_errors
            or self.project_notes
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "exact": self.exact,
            "missing": self.missing,
            "duplicated": self.duplicated,
            "predictions_differ": self.predictions_differ,
            "invalid": self.invalid,
            "file_errors": self.file_errors,
            "project_tasks": self.project_tasks,
            "project": list(self.project_notes),
        }


def _counted(prints: list[tuple[bytes, str]]) -> dict[bytes, int]:
    counts: dict[bytes, int] = {}
    for fp, _ in prints:
        counts[fp] = counts.get(fp, 0) + 1
    return counts


def _versions(prints: Iterable[tuple[bytes, str]], wanted: Mapping[bytes, int]) -> str:
    names = sorted({v or "(none)" for fp, v in prints if fp in wanted})
    return ", ".join(repr(n) if n != "(none)" else n for n in names)


def compare_predictions(
    expected: list[tuple[bytes, str]], stored: list[tuple[bytes, str]], tid: int
) -> str | None:
    """Why the task's predictions are not the input's (None when they are the same)."""
    if [fp for fp, _ in expected] == [fp for fp, _ in stored]:  # both sorted
        return None
    want, have = _counted(expected), _counted(stored)
    lacking = {fp: n - have.get(fp, 0) for fp, n in want.items() if n > have.get(fp, 0)}
    extra = {fp: n - want.get(fp, 0) for fp, n in have.items() if n > want.get(fp, 0)}
    parts = []
    if lacking:
        parts.append(
            f"lacks {sum(lacking.values())} of the input's {len(expected)} prediction(s) "
            f"(model version {_versions(expected, lacking)})"
        )
    if extra:
        parts.append(
            f"has {sum(extra.values())} prediction(s) the input does not "
            f"(model version {_versions(stored, extra)})"
        )
    return f"task {tid} " + " and ".join(parts)


class Verifier:
    """Gives each input record its verdict against the index; counts everything."""

    def __init__(self, index: ProjectIndex, project: int) -> None:
        self.index = index
        self.project = project
        self.summary = VerifySummary(project_tasks=index.tasks)
        self.versions: dict[str, int] = {}  # the input's predictions by model version
        self._files: set[str] = set()
        # The key upload gives each record (occurrences count per input, as upload's do).
        self.identity = Identity()
        self._last: tuple[str, int] = ("", 0)

    def see_file(self, name: str) -> None:
        self._files.add(name)
        self.summary.files = len(self._files)

    def run(self, records: Iterable[Record]) -> Iterator[Verdict]:
        for rec in records:
            self.see_file(rec.file)
            verdict = self.check(rec)
            if verdict is not None:
                yield verdict

    def check(self, rec: Record) -> Verdict | None:
        s = self.summary
        if rec.is_file_problem:
            if rec.has_errors:
                s.file_errors += 1
                text = "; ".join(finding_text(f) for f in rec.findings if f.is_error)
                return Verdict(rec.file, 0, rec.line, "invalid", text)
            return None
        s.records += 1
        task = rec.task
        if rec.file != self._last[0] or rec.number <= self._last[1]:
            self.identity.new_input()  # a new input (or a file named twice)
        self._last = (rec.file, rec.number)
        if task is not None and rec.has_errors:
            self.identity.of_invalid(task)
        if task is None or rec.has_errors:
            s.invalid += 1
            text = "; ".join(finding_text(f) for f in rec.findings if f.is_error)
            return Verdict(rec.file, rec.number, rec.line, "invalid", f"not verified: {text}")
        path = self.index.match_path
        key = task_key(task.get("data"), path)
        if key is None:
            s.invalid += 1
            name = "data." + ".".join(path or ())
            return Verdict(
                rec.file, rec.number, rec.line, "invalid", f"record has no {name} to match on"
            )
        expected = prediction_prints(task.get("predictions"))
        for _, version in expected:
            self.versions[version] = self.versions.get(version, 0) + 1
        upload_key = self.identity(task) if path is None else None
        found = self.index.find(key, upload_key if isinstance(upload_key, str) else None)
        where = (rec.file, rec.number, rec.line)
        if not found:
            s.missing += 1
            what = "this data" if path is None else f"data.{'.'.join(path)} = {key!r}"
            return Verdict(*where, "missing", f"no task of project {self.project} has {what}")
        if len(found) > 1:
            s.duplicated += 1
            ids = [t.id for t in found]
            shown = ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
            return Verdict(
                *where,
                "duplicated",
                f"in project {self.project} {len(ids)} times (tasks {shown})",
                ids,
            )
        # A record without `predictions` (or with a JSON export's ids) says nothing of them.
        differ = None
        if isinstance(task.get("predictions"), list):
            differ = compare_predictions(expected, found[0].predictions, found[0].id)
        if differ is not None:
            s.predictions_differ += 1
            return Verdict(*where, "predictions", differ, [found[0].id])
        s.exact += 1
        return None

    def finish(self, project: Mapping[str, Any]) -> VerifySummary:
        """Look at what hides predictions in the whole project, once the input is read."""
        s = self.summary
        total = sum(self.versions.values())
        if total:
            if project.get("show_collab_predictions") is False:
                s.project_notes.append(
                    f"project {self.project} does not show predictions at all "
                    "(Settings -> Annotation -> 'Use predictions to prelabel tasks' is off)"
                )
            selected = project.get("model_version")
            if selected and selected not in self.versions:
                named = ", ".join(repr(v) if v else "(none)" for v in sorted(self.versions))
                s.project_notes.append(
                    f"project {self.project} shows model version {selected!r}, which none of "
                    f"the input's {total} prediction(s) carry (model version {named}): they "
                    "are not shown in the labeling view; select one with `lsimport predictions "
                    "--model-version V --set-project-model-version` or in the project's settings"
                )
        return s
