"""`predictions`: attach model predictions to tasks already in a project, each one once.

    read -> parse -> check -> match to a task -> skip known -> batch -> send -> verify -> report

A prediction record holds `result`, optional `score` and `model_version`, and names its task by
`task` (the Label Studio task id) or by a data field (`--match-on data.image`), either under
`data` or as a flat key. The project's existing predictions are read once, up front, so that
re-running the same command is harmless (a prediction equal to one already there, same task,
model version and result, is skipped). With --match-on the project's tasks are read up front
too; task ids are checked by the server, and read only once it names one the project lacks.

Batches go through the bulk endpoint, which skips predictions it dislikes and only answers how
many it created: when that number falls short, the predictions of the batch's tasks are read
back and the missing ones reported. A server without the bulk endpoint gets one request per
prediction.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson

from lsimport.check.rules import TaskChecker
from lsimport.errors import (
    BadResponse,
    LsImportError,
    NotFoundError,
    OutcomeUnknown,
    RequestRejected,
    ServerError,
)
from lsimport.model import (
    Failure,
    Finding,
    PredictionSummary,
    Record,
    Stage,
    error,
    failure_from_record,
    finding_text,
    json_type_name,
)
from lsimport.send.batching import Batcher, Flush, item_json, with_flushes
from lsimport.send.client import GATEWAY_STATUSES
from lsimport.send.digests import DigestSet, IdSet
from lsimport.send.sender import Look, Pace, Settled, SettlingSender
from lsimport.send.tasks import FailureSink, ProgressSink

if TYPE_CHECKING:
    pass

__all__ = [
    "KnownPredictions",
    "PendingPrediction",
    "PredictionImporter",
    "PredictionSender",
    "ProjectTasks",
    "check_prediction",
    "fingerprint",
    "iter_prediction_records",
    "parse_prediction",
]

PREDICTION_KEYS = ("task", "result", "score", "model_version")
# The bulk endpoint stores a missing model_version as "undefined", the single one as "".
_NO_VERSION = ("", "undefined")
# Reading back a few tasks' predictions one by one beats reading the whole project's.
PER_TASK_READS = 20
_MISSING: Any = object()


# --- parse and check one record ---------------------------------------------------------------


@dataclass(slots=True)
class ParsedPrediction:
    """One record taken apart: the prediction to check and send, and how it names its task."""

    prediction: dict[str, Any]  # result, and score / model_version when given
    task: int | None  # the task id, when the record names one
    data: dict[str, Any]  # the record's data fields (what --match-on looks in)
    findings: list[Finding] = field(default_factory=list)


def parse_prediction(obj: dict[str, Any], *, model_version: str | None = None) -> ParsedPrediction:
    """Take a record (as the readers normalise it) apart into a prediction and its task's name.

    `{"task": 5, "result": [...]}` and `{"image": ..., "result": [...]}` arrive wrapped in
    `data` (an object without `data` is taken as the data itself); `{"data": {...},
    "result": [...]}` arrives as written. CSV cells are strings: `result` is parsed as JSON,
    `score` as a number, `task` as an integer. `model_version`, when given, replaces the
    record's own.
    """
    data_field = obj.get("data")
    if any(k in obj for k in ("result", "task")):
        fields: Mapping[str, Any] = obj
        data = data_field if isinstance(data_field, dict) else {}
    else:
        fields = data_field if isinstance(data_field, dict) else {}
        data = {k: v for k, v in fields.items() if k not in PREDICTION_KEYS}
    findings: list[Finding] = []
    prediction: dict[str, Any] = {}

    result = fields.get("result", _MISSING)
    if isinstance(result, str):
        try:
            result = orjson.loads(result)
        except orjson.JSONDecodeError as exc:
            findings.append(error("read.json", f"`result` must hold JSON: {exc}", "/result"))
            result = _MISSING
    if result is not _MISSING:
        prediction["result"] = result

    score = fields.get("score")
    if isinstance(score, str):
        text = score.strip()
        try:
            score = float(text) if text else None
        except ValueError:
            findings.append(
                error("schema.score", f"`score` must be a number, got {text!r}", "/score")
            )
            score = None
    if score is not None:
        prediction["score"] = score

    version = model_version if model_version is not None else fields.get("model_version")
    if version is not None and version != "":
        prediction["model_version"] = version

    task_id: int | None = None
    task = fields.get("task")
    if isinstance(task, str) and task.strip().isdigit():
        task_id = int(task.strip())
    elif isinstance(task, int) and not isinstance(task, bool):
        task_id = task
    elif task is not None and task != "":
        findings.append(
            error(
                "predict.task",
                f"`task` must be a task id (an integer), got {json_type_name(task)} {task!r}",
                "/task",
            )
        )
    return ParsedPrediction(prediction, task_id, data, findings)


def check_prediction(checker: TaskChecker, prediction: dict[str, Any]) -> list[Finding]:
    """Findings for one prediction whose task data is not at hand.

    The checker sees the prediction inside a task with empty data; findings about that data
    are dropped, the rest are pointed at the prediction itself (`/result/0/from_name`).
    """
    found = checker.check({"data": {}, "predictions": [prediction]})
    out = []
    for f in found:
        if f.pointer == "/data" or f.pointer.startswith("/data/"):
            continue
        out.append(replace(f, pointer=f.pointer.removeprefix("/predictions/0")))
    return out


def _promote(findings: list[Finding]) -> list[Finding]:
    return [f if f.is_error else Finding("error", f.code, f.message, f.pointer) for f in findings]


def as_written(obj: dict[str, Any]) -> dict[str, Any]:
    """The record as the user wrote it: a flat record comes back out of its `data` wrapper."""
    data = obj.get("data")
    if len(obj) == 1 and isinstance(data, dict):
        return data
    return obj


# --- the project: its tasks and the predictions they have -------------------------------------


def _walk(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def match_key(value: Any) -> str | None:
    """A hashable form of a key value. Numbers match their text, so CSV's "17" finds 17."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return orjson.dumps(value).decode()
    return "\x00" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class TaskSource(Protocol):
    def iter_tasks(
        self,
        pid: int,
        *,
        page_size: int = ...,
        fields: str | None = ...,
        include: str | tuple[str, ...] | None = ...,
        resolve_uri: bool = ...,
    ) -> Iterator[dict[str, Any]]: ...


@dataclass(frozen=True)
class Miss:
    """Why a record could not be given a task: `invalid` (names none) or `unmatched`."""

    kind: Literal["invalid", "unmatched"]
    message: str


class ProjectTasks:
    """The project's task ids and, for --match-on, each task's key.

    With --match-on, ids and keys are read once, in pages, before anything is sent. Without
    it the ids are not read up front (reading them costs about as much as sending the
    predictions): the first time the server refuses a batch for naming a task it does not
    have, `task_ids()` reads them once, and from then on records are checked here.
    """

    def __init__(
        self,
        project: int,
        ids: IdSet | set[int] | None,
        by_key: dict[str, int | list[int]] | None = None,
        match_path: tuple[str, ...] | None = None,
        *,
        client: TaskSource | None = None,
    ) -> None:
        self.project = project
        self.ids = ids
        self.by_key = by_key or {}
        self.match_path = match_path
        self._client = client

    @classmethod
    def load(
        cls, client: TaskSource, project: int, match_path: tuple[str, ...] | None
    ) -> ProjectTasks:
        if match_path is None:
            return cls(project, None, client=client)
        ids = IdSet()
        by_key: dict[str, int | list[int]] = {}
        for task in client.iter_tasks(
            project, fields=None, include=("id", "data"), resolve_uri=False
        ):
            tid = task.get("id")
            if not isinstance(tid, int):
                continue
            ids.add(tid)
            value = _walk(task.get("data"), match_path)
            key = None if value is _MISSING else match_key(value)  # a task without the field
            if key is None:
                continue
            seen = by_key.get(key)
            if seen is None:
                by_key[key] = tid
            elif isinstance(seen, list):
                seen.append(tid)
            else:
                by_key[key] = [seen, tid]
        return cls(project, ids, by_key, match_path, client=client)

    def task_ids(self) -> IdSet | set[int]:
        """Every task id of the project (read on first use when not read yet)."""
        if self.ids is None:
            if self._client is None:
                raise RuntimeError("no client to read the project's task ids with")
            tasks = self._client.iter_tasks(
                self.project, fields=None, include=("id",), resolve_uri=False
            )
            self.ids = IdSet(t["id"] for t in tasks if isinstance(t.get("id"), int))
        return self.ids

    def locate(self, parsed: ParsedPrediction) -> int | Miss:
        """The id of the one task the record names, or why there is none."""
        path = self.match_path
        value = _walk(parsed.data, path) if path is not None else _MISSING
        if path is not None and value is not _MISSING and value is not None:
            name = "data." + ".".join(path)
            found = self.by_key.get(match_key(value) or "")
            if found is None:
                return Miss(
                    "unmatched", f"no task of project {self.project} has {name} = {value!r}"
                )
            if isinstance(found, list):
                shown = ", ".join(map(str, found[:10])) + (", ..." if len(found) > 10 else "")
                return Miss(
                    "unmatched",
                    f"{name} = {value!r} matches {len(found)} tasks (ids {shown}): "
                    "match on a field that is unique, or name the task by `task`",
                )
            return found
        if parsed.task is not None:
            if self.ids is not None and parsed.task not in self.ids:
                return Miss("unmatched", not_in_project(parsed.task, self.project))
            return parsed.task
        if path is not None:
            name = "data." + ".".join(path)
            return Miss(
                "invalid",
                f"record has no {name} to match on (and no `task` id): give it "
                f"`{'.'.join(path)}`, flat or under `data`",
            )
        return Miss(
            "invalid",
            "record names no task: give `task` (the task id), or match on a data field "
            "with --match-on data.FIELD",
        )


def not_in_project(task: int, project: int) -> str:
    return f"task {task} is not in project {project}"


def _canonical(value: Any) -> Any:
    """Numbers as the server gives them back: 10.0 may come back as 10 (Postgres)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def fingerprint(task: Any, model_version: Any, result: Any) -> bytes:
    """What makes two predictions the same: task, model version and result (not the score)."""
    version = "" if model_version is None or model_version in _NO_VERSION else model_version
    try:
        raw = orjson.dumps([task, version, _canonical(result)], option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson's encode error; only possible for dicts built in Python
        raw = repr((task, version, result)).encode()
    return hashlib.blake2b(raw, digest_size=16).digest()


def fingerprint_of(stored: Mapping[str, Any]) -> bytes:
    return fingerprint(stored.get("task"), stored.get("model_version"), stored.get("result"))


class PredictionReader(Protocol):
    def iter_predictions(
        self, *, project: int | None = ..., task: int | None = ..., retry_gateway: bool = ...
    ) -> Iterator[dict[str, Any]]: ...


class KnownPredictions:
    """Fingerprints of the predictions in the project, and of those sent during this run:
    16-byte digests in one table (lsimport.send.digests), 32 MB for a million."""

    def __init__(self, fingerprints: Iterable[bytes] = (), *, max_id: int = 0) -> None:
        self._seen = DigestSet(fingerprints)
        self.max_id = max_id  # the highest prediction id before this run: ours are above

    @classmethod
    def load(cls, client: PredictionReader, project: int, *, expected: int = 0) -> KnownPredictions:
        # One GET, streamed: the server does not page this list, and reading predictions
        # through /api/tasks?fields=all costs it 10-20 times as much. `expected` (the
        # project's prediction count) sizes the table once.
        known = cls()
        if expected:
            known._seen = DigestSet(capacity=expected + 1000)
        for stored in client.iter_predictions(project=project):
            known.add(fingerprint_of(stored))
            pid = stored.get("id")
            if isinstance(pid, int) and pid > known.max_id:
                known.max_id = pid
        return known

    def __contains__(self, fp: bytes) -> bool:
        return fp in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, fp: bytes) -> bool:
        """Add a fingerprint; True when it was not there yet."""
        return self._seen.add(fp)

    def discard(self, fp: bytes) -> None:
        self._seen.discard(fp)


# --- sending ----------------------------------------------------------------------------------


@dataclass(slots=True)
class PendingPrediction:
    """One valid prediction matched to its task, on its way."""

    file: str
    record: int
    line: int
    task: int
    payload: dict[str, Any]  # task, result, score, model_version: what is sent
    body: bytes
    fingerprint: bytes


@dataclass
class SendResult(Settled[PendingPrediction]):
    created: list[PendingPrediction] = field(default_factory=list)
    unmatched: list[tuple[PendingPrediction, str]] = field(default_factory=list)  # no such task


class PredictionClient(PredictionReader, Protocol):
    def import_predictions(self, pid: int, body: bytes) -> int: ...
    def create_prediction(self, payload: Mapping[str, Any]) -> dict[str, Any]: ...
    def delete_prediction(self, prediction_id: int) -> None: ...


def _dropped_message(created: int, sent: int) -> str:
    return (
        f"the bulk endpoint created {created} of the {sent} predictions sent and skipped this "
        "one without saying why (its own check against the labeling config refused it; the "
        "server's log has the reason)"
    )


# How Label Studio words a bulk import that names a task the project does not have.
_UNKNOWN_TASK = 'contains invalid "task" field'
# Label Studio saves a bulk import in chunks of this many, in order (its
# PREDICTION_IMPORT_BATCH_SIZE): a quick look checks the last prediction of each chunk.
SERVER_CHUNK = 500
# One read per task beats reading the project's predictions while the tasks are fewer than
# the project's predictions over this (a read costs about as much as this many predictions).
PER_TASK_COST = 30

_PENDING = (
    "pending: the server's answer was lost, and what it did could not be checked in time; "
    "run the same command again to settle it (nothing will be attached twice)"
)
_LOST = (
    "the server's answer was lost and the prediction is not there; run the same command again "
    "(nothing will be attached twice)"
)


class PredictionSender(SettlingSender[PendingPrediction, SendResult]):
    """Sends one batch of predictions and settles it (lsimport.send.sender).

    What is predictions' own: a 400 naming a task the project lacks takes out every
    prediction for a task not in `task_ids()`; any other 400 splits the batch. The bulk
    endpoint answers only how many it created: a count short of what was sent is settled by
    reading back the predictions of the batch's tasks. An unknown outcome is looked up the
    same way, after quick looks at the last prediction of each chunk the server saves. The
    first 404/405 from the bulk endpoint switches to one POST per prediction.
    """

    def __init__(
        self,
        client: PredictionClient,
        project: int,
        *,
        task_ids: Callable[[], IdSet | set[int]],
        pace: Pace | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        stop: threading.Event | None = None,
        project_predictions: int = 0,
        reconcile_rounds: int = 2,
    ):
        super().__init__(
            pace or Pace(), clock=clock, sleep=sleep, stop=stop, rounds=reconcile_rounds
        )
        self.client = client
        self.project = project
        self.task_ids = task_ids
        self.project_predictions = project_predictions  # about how many the project holds
        self.bulk = True
        self._bulk_worked = False
        self._whole_list_fails = False  # a gateway gave up on the project's whole list

    def send(self, items: list[PendingPrediction]) -> SendResult:
        result = self.settle_batch(items, SendResult())
        if result.fatal is not None:
            # Reported as failed (not pending): predictions keep no journal.
            result.failed.extend(
                (p, f"not confirmed, the server stopped answering: {result.fatal.message}")
                for p in result.unsettled
            )
            result.unsettled.clear()
        return result

    def _not_settled(
        self, items: list[PendingPrediction], result: SendResult
    ) -> list[PendingPrediction]:
        done = {id(p) for p in result.created} | {id(p) for p in result.unsettled}
        done |= {id(p) for p, _ in result.failed + result.unmatched}
        return [p for p in items if id(p) not in done]

    def _send(self, items: list[PendingPrediction], result: SendResult, *, rounds: int) -> None:
        if not items:
            return
        if not self.bulk:
            self._send_singly(items, result)
            return
        try:
            super()._send(items, result, rounds=rounds)
        except NotFoundError:
            if self._bulk_worked:
                raise  # it was there a moment ago: the project itself is gone
            self.bulk = False
            self._send_singly(items, result)

    # --- SettlingSender ---

    def _post(self, items: list[PendingPrediction]) -> Any:
        body = b"[" + b",".join(p.body for p in items) + b"]"
        return self.client.import_predictions(self.project, body)

    def _accepted(self, items: list[PendingPrediction], answer: Any, result: SendResult) -> None:
        self._bulk_worked = True
        if answer >= len(items):
            result.created.extend(items)
            return
        present = self._present(items)
        message = _dropped_message(answer, len(items))
        for p in items:
            if p.fingerprint in present:
                result.created.append(p)
            else:
                result.failed.append((p, message))

    def _refused(
        self,
        items: list[PendingPrediction],
        exc: RequestRejected,
        result: SendResult,
        *,
        rounds: int,
    ) -> None:
        if exc.status in (404, 405) and not self._bulk_worked:
            self.bulk = False
            self._send_singly(items, result)
            return
        detail = exc.detail or exc.message
        unknown_task = exc.status == 400 and _UNKNOWN_TASK in detail.replace("\\", "")
        if unknown_task and self._drop_unknown_tasks(items, result, rounds=rounds):
            return
        if len(items) == 1:
            result.failed.append((items[0], f"the server refused it: {detail}"))
        elif exc.status in (400, 422):
            self._halves(items, result, rounds=rounds)
        else:
            result.failed.extend((p, f"the server refused the batch: {detail}") for p in items)

    def _look(
        self, items: list[PendingPrediction], result: SendResult, *, quick: bool
    ) -> Look[PendingPrediction]:
        chunks = [items[i : i + SERVER_CHUNK] for i in range(0, len(items), SERVER_CHUNK)]
        ends: set[bytes] = set()
        if len({p.task for p in items}) > PER_TASK_READS:
            # The server saves chunk after chunk, each at once: while the last prediction of
            # a chunk is missing, that chunk (and what follows) is not saved yet.
            ends = self._present([c[-1] for c in chunks])
            if quick and len(ends) < len(chunks):
                return Look([], items, whole=False, seen=len(ends))
        try:
            present = self._present(items, whole_list=not ends)
        except LsImportError:
            if not ends:
                raise
            # The whole list is too much for a gateway in front: a chunk whose last
            # prediction is there is there (but for what the server's own check dropped).
            present = {p.fingerprint for c in chunks if c[-1].fingerprint in ends for p in c}
        landed = [p for p in items if p.fingerprint in present]
        missing = [p for p in items if p.fingerprint not in present]
        return Look(landed, missing, seen=len(landed))

    def _landed(self, landed: list[Any], result: SendResult) -> None:
        result.created.extend(landed)

    # --- predictions' own ---

    def _drop_unknown_tasks(
        self, items: list[PendingPrediction], result: SendResult, *, rounds: int
    ) -> bool:
        """Take out the predictions for tasks the project lacks; settle and send the rest.

        False when every task of the batch is in the project after all (then split instead).
        """
        ids = self.task_ids()
        known = [p for p in items if p.task in ids]
        if len(known) == len(items):
            return False
        result.unmatched.extend(
            (p, not_in_project(p.task, self.project)) for p in items if p.task not in ids
        )
        # Label Studio's memory-efficient import path saves the chunks before the one that
        # names the unknown task, then refuses: check what landed before sending again.
        present = self._present(known)
        result.created.extend(p for p in known if p.fingerprint in present)
        missing = [p for p in known if p.fingerprint not in present]
        if rounds <= 0:
            result.failed.extend((p, f"{_LOST} (refused for an unknown task)") for p in missing)
        else:
            self._send(missing, result, rounds=rounds - 1)
        return True

    def _send_singly(self, items: list[PendingPrediction], result: SendResult) -> None:
        for p in items:
            try:
                self.client.create_prediction(p.payload)
            except RequestRejected as exc:
                if exc.status == 400 and p.task not in self.task_ids():
                    result.unmatched.append((p, not_in_project(p.task, self.project)))
                else:
                    result.failed.append((p, f"the server refused it: {exc.detail or exc.message}"))
            except OutcomeUnknown as exc:
                if p.fingerprint in self._present([p]):
                    result.created.append(p)
                else:
                    result.failed.append((p, f"{_LOST} ({exc.message})"))
            else:
                result.created.append(p)

    def stored(self, tasks: set[int], *, whole_list: bool = True) -> Iterator[dict[str, Any]]:
        """The predictions the server holds for these tasks (and maybe others): one read per
        task while that is cheaper, else the project's predictions, streamed. When a
        gateway has given up on the whole list, it is not asked for again: `whole_list`
        False then raises at once (the caller has a cheaper way), True reads task by task."""
        few = len(tasks) <= max(PER_TASK_READS, self.project_predictions // PER_TASK_COST)
        if not few and not self._whole_list_fails:
            try:
                yield from self.client.iter_predictions(project=self.project, retry_gateway=False)
                return
            except BadResponse as exc:
                if exc.status not in GATEWAY_STATUSES:
                    raise
                self._whole_list_fails = True
        if not few and not whole_list:
            raise BadResponse("a gateway gives up on the list of the project's predictions")
        for t in sorted(tasks):
            yield from self.client.iter_predictions(task=t)

    def _present(self, items: list[PendingPrediction], *, whole_list: bool = True) -> set[bytes]:
        """Fingerprints of the predictions the server now holds for these items' tasks."""
        tasks = {p.task for p in items}
        wanted = {p.fingerprint for p in items}
        found = set()
        for s in self.stored(tasks, whole_list=whole_list):
            if s.get("task") in tasks:
                fp = fingerprint_of(s)
                if fp in wanted:
                    found.add(fp)
        return found

    def repair(self, resent: list[PendingPrediction], above: int) -> int:
        """Delete second copies of predictions sent twice (a late commit of a batch whose
        answer was lost): copies with ids above `above` (made by this run), the first kept."""
        if not resent:
            return 0
        wanted = {p.fingerprint for p in resent}
        copies: dict[bytes, list[int]] = {}
        tasks = {p.task for p in resent}
        for s in self.stored(tasks):
            pid = s.get("id")
            if s.get("task") in tasks and isinstance(pid, int):
                fp = fingerprint_of(s)
                if fp in wanted:
                    copies.setdefault(fp, []).append(pid)
        removed = 0
        for ids in copies.values():
            for pid in sorted(ids)[1:]:
                if pid > above:
                    self.client.delete_prediction(pid)  # one already gone counts as deleted
                    removed += 1
        return removed


# --- the pipeline -----------------------------------------------------------------------------


class PlacedSink(Protocol):
    """Told of each prediction now on its task (--ids, --replace): file, record, line, task,
    what was sent, its fingerprint."""

    def __call__(
        self, file: str, record: int, line: int, task: int, payload: dict[str, Any], fp: bytes
    ) -> None: ...


class PredictionImporter:
    """Runs the pipeline for one project; everything that touches the world is passed in."""

    def __init__(
        self,
        sender: PredictionSender,
        tasks: ProjectTasks,
        known: KnownPredictions,
        checker: TaskChecker,
        *,
        failures: FailureSink,
        progress: ProgressSink,
        model_version: str | None = None,
        batch_size: int = 1000,
        max_batch_bytes: int = 8 * 1024 * 1024,
        strict: bool = False,
        clock: Callable[[], float] = time.monotonic,
        on_placed: PlacedSink | None = None,
        stop: threading.Event | None = None,
        flush_interval: float | None = None,
    ) -> None:
        self.on_placed = on_placed  # told of each prediction now on its task: sent or known
        self.sender = sender
        self.tasks = tasks
        self.known = known
        self.checker = checker
        self.failures = failures
        self.progress = progress
        self.model_version = model_version
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.strict = strict
        self.clock = clock
        self.stop = stop or sender.stop
        self.flush_interval = flush_interval
        self.summary = PredictionSummary()
        self.fatal: ServerError | None = None
        self._resent: list[PendingPrediction] = []
        self._opened_at: float | None = None

    def run(self, records: Iterable[Record]) -> PredictionSummary:
        """Send every prediction of `records` once. After a fatal error, or a stop (Ctrl-C),
        the rest is still read, and reported as not sent, so the failure report is whole."""
        start = self.clock()
        batcher: Batcher[PendingPrediction] = Batcher(self.batch_size, self.max_batch_bytes)
        interval = self.flush_interval

        def due() -> float | None:
            if interval is None or self._opened_at is None or not batcher.items:
                return None
            return self._opened_at + interval

        stop = self.stop
        for rec in with_flushes(records, interval, due, clock=self.clock, stopped=stop.is_set):
            if stop.is_set() and self.fatal is None:
                self.summary.interrupted = True
                break
            if isinstance(rec, Flush):
                self._send(batcher.flush())
                continue
            item = self._prepare(rec)
            if item is None:
                continue
            if self.fatal is not None:
                self._abandon([item])
                continue
            limit = self.sender.pace.batch_limit()
            if limit is not None and limit < batcher.max_count:
                batcher.max_count = limit  # a gateway gives up on bigger batches
            if (before := batcher.add(item)) is not None:  # the item would overflow the bytes
                self._send(before)
            if len(batcher.items) == 1:
                self._opened_at = self.clock()
            # Sent before the next record is matched: what this batch teaches (a task the
            # project lacks) already applies to it.
            if (full := batcher.take_full()) is not None:
                self._send(full)
        else:
            if stop.is_set() and self.fatal is None:
                self.summary.interrupted = True
        if self.summary.interrupted:
            self._abandon(batcher.flush(), "not sent: the run was interrupted")
        else:
            self._send(batcher.flush())
        if self.fatal is None and self._resent:
            try:
                removed = self.sender.repair(self._resent, self.known.max_id)
            except ServerError as exc:
                self.fatal = exc
            else:
                self.summary.duplicates_removed += removed
        gateway = self.sender.pace.gateway
        if gateway is not None:
            self.summary.gateway_timeout_s = gateway.timeout_s
            self.summary.gateway_batch_size = gateway.batch_size
        self.summary.bulk = self.sender.bulk
        self.summary.duration_s = self.clock() - start
        return self.summary

    def _prepare(self, rec: Record) -> PendingPrediction | None:
        s = self.summary
        if rec.is_file_problem:
            if rec.has_errors:
                s.file_errors += 1
                self.failures.add(failure_from_record(rec, "read"))
            return None
        s.records += 1
        self.progress.advance(1)
        if rec.task is None or rec.has_errors:
            s.invalid += 1
            self.failures.add(failure_from_record(rec, "read" if rec.task is None else "validate"))
            return None
        parsed = parse_prediction(rec.task, model_version=self.model_version)
        findings = parsed.findings + check_prediction(self.checker, parsed.prediction)
        if self.strict:
            findings = _promote(findings)
        if any(f.is_error for f in findings):
            s.invalid += 1
            self._fail(rec, "validate", [finding_text(f) for f in findings if f.is_error])
            return None
        where = self.tasks.locate(parsed)
        if isinstance(where, Miss):
            if where.kind == "invalid":
                s.invalid += 1
                self._fail(rec, "validate", [f"{where.message} [predict.no-task]"])
            else:
                s.unmatched += 1
                self._fail(rec, "match", [where.message])
            return None
        payload = {"task": where, **parsed.prediction}
        fp = fingerprint(where, payload.get("model_version"), payload["result"])
        if fp in self.known:
            s.skipped += 1
            if self.on_placed is not None:
                self.on_placed(rec.file, rec.number, rec.line, where, payload, fp)
            return None
        self.known.add(fp)
        return PendingPrediction(
            rec.file, rec.number, rec.line, where, payload, item_json(payload), fp
        )

    def _fail(self, rec: Record, stage: Stage, messages: list[str]) -> None:
        task = as_written(rec.task) if rec.task is not None else None
        self.failures.add(Failure(rec.file, rec.number, rec.line, stage, messages, task, rec.raw))

    def _send(self, batch: list[PendingPrediction]) -> None:
        if not batch:
            return
        if self.fatal is not None:
            self._abandon(batch)
            return
        limit = self.sender.pace.batch_limit()  # learned from the batch before, perhaps
        if limit is not None and len(batch) > limit:
            for start in range(0, len(batch), limit):
                self._send(batch[start : start + limit])
            return
        result = self.sender.send(batch)
        if self.on_placed is not None:
            for p in result.created:
                self.on_placed(p.file, p.record, p.line, p.task, p.payload, p.fingerprint)
        self._resent.extend(result.resent)
        self.summary.predictions_created += len(result.created)
        self.progress.created(len(result.created))
        for p, message in result.failed:
            self.known.discard(p.fingerprint)
            self.summary.failed += 1
            self.failures.add(Failure(p.file, p.record, p.line, "server", [message], p.payload))
        for p, message in result.unmatched:
            self.known.discard(p.fingerprint)
            self.summary.unmatched += 1
            self.failures.add(Failure(p.file, p.record, p.line, "match", [message], p.payload))
        for p in result.unsettled:
            self.summary.pending += 1
            self.failures.add(Failure(p.file, p.record, p.line, "server", [_PENDING], p.payload))
        if result.fatal is not None and self.fatal is None:
            self.fatal = result.fatal

    def _abandon(self, items: list[PendingPrediction], why: str | None = None) -> None:
        if why is None:
            why = "not sent: the run stopped" + (f" ({self.fatal.message})" if self.fatal else "")
        for p in items:
            self.known.discard(p.fingerprint)
            self.summary.failed += 1
            self.failures.add(Failure(p.file, p.record, p.line, "server", [why], p.payload))


def iter_prediction_records(
    items: Iterable[Mapping[str, Any]], *, name: str = "<predictions>"
) -> Iterator[Record]:
    """Records from prediction dicts in memory (a notebook right after inference)."""
    from lsimport.read.common import record_from_value

    for number, item in enumerate(items, 1):
        yield record_from_value(name, number, number, dict(item), None)
