"""The upload pipeline: records -> keyed tasks -> batches -> server, exactly once.

    read -> check -> key/skip -> batch -> send (workers) -> settle -> journal -> report

The main thread reads, checks and batches; worker threads send batches and settle their
outcome with the server (split on 400/413, reconcile on unknown outcomes); only the main
thread writes the journal and the failure report, so each batch is recorded once, in order
of settlement.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from lsimport.errors import OutcomeUnknown, PayloadTooLarge, RequestRejected, ServerError
from lsimport.model import Failure, Finding, Record, UploadSummary, failure_from_record
from lsimport.send.batching import Batcher
from lsimport.send.journal import KNOWN_PER_LINE, Journal, JournalState
from lsimport.send.keys import Identity, Repeat, base_key, for_report, key_of, stamp


class FailureSink(Protocol):
    def add(self, failure: Failure) -> None: ...


class ProgressSink(Protocol):
    def advance(self, records: int) -> None: ...
    def created(self, tasks: int) -> None: ...


@dataclass(slots=True)
class Pending:
    """One valid task on its way: its key, its bytes, and where it came from."""

    file: str
    record: int
    line: int
    key: str
    body: bytes
    predictions: int


@dataclass
class BatchResult:
    batch: int
    created: list[tuple[str, int | None]] = field(default_factory=list)  # key, task id
    already: list[tuple[str, int]] = field(default_factory=list)  # found on the server
    predictions: int = 0
    failed: list[tuple[Pending, str]] = field(default_factory=list)  # server said no
    unsettled: list[Pending] = field(default_factory=list)  # outcome still unknown
    fatal: ServerError | None = None  # the server cannot be used any more: stop the run


_ITEM_ERROR = re.compile(r"Error at item (\d+)")


class TaskIndex(Protocol):
    """The server side the sender needs: import tasks and predictions, list tasks above an id,
    and how many answers so far said "slow down" (429, 503)."""

    throttled: int

    def import_tasks(self, pid: int, body: bytes) -> Any: ...
    def import_predictions(self, pid: int, body: bytes) -> int: ...
    def iter_tasks(
        self,
        pid: int,
        *,
        page_size: int = ...,
        fields: str | None = ...,
        include: str | Sequence[str] | None = ...,
        resolve_uri: bool = ...,
        query: Mapping[str, Any] | None = ...,
    ) -> Iterator[dict[str, Any]]: ...


def latest_task_id(client: TaskIndex, project: int) -> int:
    """The highest task id in the project (0 when empty): the first watermark."""
    tasks = client.iter_tasks(
        project, fields=None, include=("id",), query={"ordering": ["-tasks:id"]}, page_size=1
    )
    try:
        first = next(tasks, None)
    finally:
        close = getattr(tasks, "close", None)
        if close:
            close()
    tid = first.get("id") if first else None
    return tid if isinstance(tid, int) else 0


def keys_above(client: TaskIndex, project: int, mark: int) -> Iterator[tuple[str, int, int | None]]:
    """(key, id, predictions) of every task with an id above `mark` (0: the whole project).

    Unkeyed tasks come with the key "": they still move the watermark.
    """
    query = None
    if mark > 0:
        query = {
            "filters": {
                "conjunction": "and",
                "items": [
                    {
                        "filter": "filter:tasks:id",
                        "operator": "greater",
                        "type": "Number",
                        "value": mark,
                    }
                ],
            },
            "ordering": ["tasks:id"],
        }
    include = ("id", "meta", "total_predictions")
    for task in client.iter_tasks(project, fields=None, include=include, query=query):
        key = key_of(task)
        tid = task.get("id")
        preds = task.get("total_predictions")
        npreds = preds if isinstance(preds, int) else None
        if key is not None and isinstance(tid, int) and tid > mark:
            yield key, tid, npreds
        elif isinstance(tid, int) and key is None:
            yield "", tid, npreds


class BatchSender:
    """Sends one batch and settles it. Runs in worker threads; never touches the journal.

    Settling: a 400 or 413 splits the batch to isolate the tasks the server refuses (the
    server names the first bad item; otherwise halves); an unknown outcome (connection lost
    after sending, a 500, a timeout) asks the server which of the batch's keys are above the
    watermark taken before sending, and sends only the missing ones.
    """

    def __init__(self, client: TaskIndex, project: int, *, reconcile_rounds: int = 3) -> None:
        self.client = client
        self.project = project
        self.reconcile_rounds = reconcile_rounds

    def send(self, batch_no: int, items: list[Pending], mark: int) -> BatchResult:
        result = BatchResult(batch_no)
        try:
            self._send(items, mark, result, rounds=self.reconcile_rounds)
        except ServerError as exc:
            # Auth refused after a refresh, server gone: what this batch did is unknown.
            result.fatal = exc
            settled = {k for k, _ in result.created} | {p.key for p, _ in result.failed}
            result.unsettled.extend(p for p in items if p.key not in settled)
        return result

    def _send(self, items: list[Pending], mark: int, result: BatchResult, *, rounds: int) -> None:
        if not items:
            return
        body = b"[" + b",".join(p.body for p in items) + b"]"
        try:
            outcome = self.client.import_tasks(self.project, body)
        except PayloadTooLarge as exc:
            if len(items) == 1:
                result.failed.append((items[0], f"too large for the server: {exc.message}"))
                return
            half = len(items) // 2
            self._send(items[:half], mark, result, rounds=rounds)
            self._send(items[half:], mark, result, rounds=rounds)
            return
        except RequestRejected as exc:
            self._split_rejected(items, mark, result, exc, rounds=rounds)
            return
        except OutcomeUnknown as exc:
            self._reconcile(items, mark, result, exc, rounds=rounds)
            return
        ids = list(outcome.task_ids) if outcome.task_ids is not None else []
        if len(ids) == len(items):
            result.created.extend((p.key, i) for p, i in zip(items, ids, strict=True))
        else:
            result.created.extend((p.key, None) for p in items)
        result.predictions += outcome.prediction_count
        if outcome.prediction_count == 0 and len(ids) == len(items):
            self.restore_predictions(items, ids, result)

    def restore_predictions(
        self, items: list[Pending], ids: list[int], result: BatchResult
    ) -> None:
        """Send again the predictions of tasks that landed without them.

        Label Studio on SQLite retries an import that met "database is locked" (two imports
        at once) after its first attempt had already taken the predictions out of the tasks:
        the tasks land, their predictions do not, and the answer says `prediction_count: 0`.
        The server saves a request's predictions all or none, so 0 means none.
        """
        sent: list[Pending] = []
        body: list[dict[str, Any]] = []
        for p, tid in zip(items, ids, strict=True):
            if not p.predictions:
                continue
            preds = orjson.loads(p.body).get("predictions") or []
            body.extend({**pred, "task": tid} for pred in preds if isinstance(pred, dict))
            sent.append(p)
        if not body:
            return
        try:
            created = self.client.import_predictions(self.project, orjson.dumps(body))
            why = f"the server created {created} of {len(body)}"
        except (RequestRejected, OutcomeUnknown) as exc:
            created, why = 0, exc.message
        result.predictions += created
        if created < len(body):
            for p in sent:
                result.failed.append((p, f"the task was created, but not its predictions ({why})"))

    def _split_rejected(
        self,
        items: list[Pending],
        mark: int,
        result: BatchResult,
        exc: RequestRejected,
        *,
        rounds: int,
    ) -> None:
        detail = exc.detail or exc.message
        if len(items) == 1:
            result.failed.append((items[0], f"server refused the task: {detail}"))
            return
        if exc.status is not None and exc.status not in (400, 422):
            # Not about one task (403, 404...): the whole batch fails with the server's words.
            result.failed.extend((p, f"server refused the batch: {detail}") for p in items)
            return
        m = _ITEM_ERROR.search(detail)
        if m and int(m.group(1)) < len(items):
            bad = int(m.group(1))
            result.failed.append((items[bad], f"server refused the task: {detail}"))
            self._send(items[:bad] + items[bad + 1 :], mark, result, rounds=rounds)
            return
        half = len(items) // 2
        self._send(items[:half], mark, result, rounds=rounds)
        self._send(items[half:], mark, result, rounds=rounds)

    def _reconcile(
        self,
        items: list[Pending],
        mark: int,
        result: BatchResult,
        exc: OutcomeUnknown,
        *,
        rounds: int,
    ) -> None:
        wanted = {p.key: p for p in items}
        try:
            arrived = {
                k: (tid, n)
                for k, tid, n in keys_above(self.client, self.project, mark)
                if k in wanted
            }
        except (ServerError, OutcomeUnknown, RequestRejected):
            result.unsettled.extend(items)
            return
        bare: list[tuple[Pending, int]] = []  # landed without their predictions
        for key, (tid, n) in arrived.items():
            p = wanted.pop(key)
            result.created.append((key, tid))
            if p.predictions and n == 0:
                bare.append((p, tid))
            else:
                result.predictions += p.predictions
        if bare:
            self.restore_predictions([p for p, _ in bare], [t for _, t in bare], result)
        missing = list(wanted.values())
        if not missing:
            return
        if rounds <= 0:
            result.unsettled.extend(missing)
            return
        self._send(missing, mark, result, rounds=rounds - 1)


# After a 429/503, this many batches without one before another batch may be in flight.
CALM_BATCHES = 10


@dataclass
class UploadOptions:
    project: int
    batch_size: int = 1000
    max_batch_bytes: int = 8 * 1024 * 1024
    workers: int = 2
    allow_duplicates: bool = False
    dedupe: bool = False  # the data already there or earlier in the input: skip the record
    dry_run: bool = False
    model_version: str | None = None
    # After a crash the server may still be saving the dead run's last batches: a rerun
    # waits for them, at most until this long after the journal's last write.
    settle_wait: float = 15.0


class Uploader:
    """Runs the pipeline for one project. Everything that touches the world is passed in."""

    def __init__(
        self,
        client: TaskIndex,
        options: UploadOptions,
        *,
        keyer: Identity,
        journal: Journal | None,
        failures: FailureSink,
        progress: ProgressSink,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.opt = options
        self.keyer = keyer
        self.journal = journal
        self.failures = failures
        self.progress = progress
        self.stop = stop or threading.Event()
        self.clock = clock
        self.sleep = sleep
        self.wall_clock = wall_clock
        self.summary = UploadSummary(dry_run=options.dry_run, dedupe=options.dedupe)
        self.fatal: ServerError | None = None
        self.known: set[str] = set()
        self._journaled: set[str] = set()  # keys the journal already holds
        self._skipped: list[str] = []  # keys found in the project, for the journal
        self.max_id = 0
        self._batches = 0
        self._items: dict[int, tuple[list[Pending], int]] = {}  # batch -> items, watermark
        # Batches a dead run left unsettled, as found on the server: closed once this run ends.
        self._found: dict[int, list[tuple[str, int]]] = {}
        self._bare: dict[str, int] = {}  # their tasks that landed without predictions: id
        self._restore: list[tuple[Pending, int]] = []
        # Batches allowed in flight: `workers`, halved while the server answers 429/503.
        self._limit = max(1, options.workers)
        self._throttled_seen = 0
        self._calm = 0  # batches settled since the last 429/503

    # --- before sending: what is in the project already ---

    def load_known(self, state: JournalState | None) -> None:
        """Keys already in the project: from the journal plus what the server has above it,
        or (no journal) from one read of the project's keys."""
        if self.opt.allow_duplicates:
            self.max_id = latest_task_id(self.client, self.opt.project)
            return
        since = 0
        pending: dict[str, int] = {}  # key -> batch, for batches a dead run left unsettled
        if state is not None:
            self.known |= state.confirmed
            self._journaled = state.confirmed
            self.max_id = state.max_id
            self._batches = state.batches
            since = state.since
            pending = {k: batch for batch, (keys, _) in state.pending.items() for k in keys}
        # Below its highest id a journal vouches only for the keys of its input once a run
        # has ended (see journal.py); otherwise every key of the project is read.
        vouched = state is not None and state.ended
        self._found = {batch: [] for batch in (state.pending if state else {})}
        above: Iterable[tuple[str, int, int | None]]
        if state is None or not pending:
            above = keys_above(self.client, self.opt.project, since if vouched else 0)
        else:
            while True:
                above = list(keys_above(self.client, self.opt.project, since))
                # A dead run's last requests may still be running on the server: until they
                # are over, a batch of it that is missing may yet land. All found: none runs.
                missing = pending.keys() - {key for key, _, _ in above}
                wait = state.written_at + self.opt.settle_wait - self.wall_clock()
                if not missing or wait <= 0:
                    break
                self.sleep(min(wait, 1.0))
        for key, tid, npreds in above:
            if key:
                self.known.add(key)
            if key in pending:
                self._found[pending[key]].append((key, tid))
                if npreds == 0:
                    # Label Studio can save a batch without its predictions (see
                    # BatchSender.restore_predictions) after its client died.
                    self._bare[key] = tid
            self.max_id = max(self.max_id, tid)
        if pending and not vouched:  # streamed: any size
            self.known.update(k for k, _, _ in keys_above(self.client, self.opt.project, 0) if k)
        if self.opt.dedupe:  # content: the data are there whatever their occurrence
            self.known = {base_key(k) for k in self.known}

    # --- the pipeline ---

    def run(self, records: Iterable[Record]) -> UploadSummary:
        start = self.clock()
        sender = BatchSender(self.client, self.opt.project)
        batcher: Batcher[Pending] = Batcher(self.opt.batch_size, self.opt.max_batch_bytes)
        inflight: set[Future[BatchResult]] = set()
        with ThreadPoolExecutor(
            max_workers=max(1, self.opt.workers), thread_name_prefix="send"
        ) as pool:
            for rec in records:
                self._take(rec, batcher, sender, pool, inflight)
                if self.stop.is_set() and self.fatal is None:
                    self.summary.interrupted = True
                    break
            if not self.summary.interrupted:
                self._submit(batcher.flush(), sender, pool, inflight)
            while inflight:
                self._settle(inflight, block=True)
        if self.fatal is None and not self.opt.dry_run:
            self._finish_found(sender)
        if self.journal is not None and not self.opt.dedupe:
            self.journal.known(self._skipped, ended=not self.summary.interrupted)
            self._skipped = []
        self.summary.duration_s = self.clock() - start
        return self.summary

    def _finish_found(self, sender: BatchSender) -> None:
        """Give back the predictions the server lost, then close the dead run's batches."""
        if self._restore:
            result = BatchResult(0)
            sender.restore_predictions(
                [p for p, _ in self._restore], [t for _, t in self._restore], result
            )
            self.summary.predictions_created += result.predictions
            for p, message in result.failed:
                self._fail(p, message)
            self._restore.clear()
        if self.journal:
            for batch, found in self._found.items():
                self.journal.done(batch, [k for k, _ in found], [i for _, i in found])
        self._found.clear()

    def _take(
        self,
        rec: Record,
        batcher: Batcher[Pending],
        sender: BatchSender,
        pool: ThreadPoolExecutor,
        inflight: set[Future[BatchResult]],
    ) -> None:
        s = self.summary
        if rec.is_file_problem:
            if rec.has_errors:
                s.file_errors += 1
                self.failures.add(failure_from_record(rec, "read"))
            return
        s.records += 1
        self.progress.advance(1)
        if rec.task is None or rec.has_errors:
            s.invalid += 1
            failure = failure_from_record(rec, "read" if rec.task is None else "validate")
            if rec.task is not None:  # it keeps its place among the records with its data
                failure.task = for_report(rec.task, self.keyer.of_invalid(rec.task))
            self.failures.add(failure)
            return
        key = self.keyer(rec.task)
        if isinstance(key, Finding):
            s.invalid += 1
            rec.findings.append(key)
            self.failures.add(failure_from_record(rec, "validate"))
            return
        if isinstance(key, Repeat):
            s.repeated += 1
            return
        if not self.opt.allow_duplicates:
            if key in self.known:
                s.skipped += 1
                self._note_skipped(key)
                bare = self._bare.pop(key, None)
                if bare is not None:
                    self._restore.append((self._pending(rec.task, rec, key), bare))
                return
            self.known.add(key)
        full = batcher.add(self._pending(rec.task, rec, key))
        if full:
            self._submit(full, sender, pool, inflight)

    def _note_skipped(self, key: str) -> None:
        """A key found in the project: for the journal, which will vouch for it (written as
        they come, a line per KNOWN_PER_LINE keys, so memory stays flat)."""
        # --dedupe skips by data, not by key: what it skipped is no key to vouch for.
        if self.journal is None or self.opt.dedupe or key in self._journaled:
            return
        self._skipped.append(key)
        if len(self._skipped) >= KNOWN_PER_LINE:
            self.journal.known(self._skipped, ended=False)
            self._skipped = []

    def _pending(self, task: dict[str, Any], rec: Record, key: str) -> Pending:
        task = stamp(task, key)
        if self.opt.model_version is not None:
            _stamp_model_version(task, self.opt.model_version)
        preds = task.get("predictions")
        n = len(preds) if isinstance(preds, list) else 0
        return Pending(rec.file, rec.number, rec.line, key, orjson.dumps(task), n)

    def _submit(
        self,
        items: list[Pending],
        sender: BatchSender,
        pool: ThreadPoolExecutor,
        inflight: set[Future[BatchResult]],
    ) -> None:
        if not items:
            return
        if self.opt.dry_run:
            self.summary.would_create += len(items)
            return
        while len(inflight) >= self._limit:
            self._settle(inflight, block=True)
        if self.stop.is_set():
            if self.fatal is not None:
                # The rest of the input is still read and every record reported: a failures
                # file fed back in must hold all that did not get in.
                for p in items:
                    self._fail(p, f"not sent: the run stopped ({self.fatal.message})")
            return  # stopped, or the server failed, while waiting: the next run sends these
        self._batches += 1
        batch_no = self._batches
        if self.journal:
            self.journal.begin(batch_no, [p.key for p in items], self.max_id)
        self._items[batch_no] = (items, self.max_id)
        inflight.add(pool.submit(sender.send, batch_no, items, self.max_id))

    def _settle(self, inflight: set[Future[BatchResult]], *, block: bool) -> None:
        done, _ = wait(inflight, timeout=0.5 if block else 0, return_when=FIRST_COMPLETED)
        for fut in done:
            inflight.discard(fut)
            self._record(fut.result())

    def _adapt(self) -> None:
        """Fewer batches in flight while the server says "slow down" (429, 503; each request
        also waits as the answer asks), then one more per CALM_BATCHES quiet batches, up to
        `workers`. Retrying at full concurrency would keep a rate limit tripped."""
        throttled = self.client.throttled
        if throttled > self._throttled_seen:
            self._throttled_seen = self.summary.throttled = throttled
            self._limit = max(1, self._limit // 2)
            lowest = self.summary.fewest_workers or self._limit
            self.summary.fewest_workers = min(lowest, self._limit)
            self._calm = 0
        elif self._limit < self.opt.workers:
            self._calm += 1
            if self._calm >= CALM_BATCHES:
                self._limit += 1
                self._calm = 0

    def _record(self, result: BatchResult) -> None:
        s = self.summary
        _, mark = self._items.pop(result.batch)
        landed = result.created + [(k, i) for k, i in result.already]
        ids = [i for _, i in landed if i is not None]
        if ids:
            self.max_id = max(self.max_id, *ids)
        if self.journal:
            self.journal.done(result.batch, [k for k, _ in landed], ids)
            if result.unsettled:
                # Still unknown: keep these keys pending so the next run settles them.
                self._batches += 1
                self.journal.begin(self._batches, [p.key for p in result.unsettled], mark)
        if result.fatal is not None and self.fatal is None:
            self.fatal = result.fatal
            self.stop.set()
        self._adapt()
        s.tasks_created += len(result.created)
        s.predictions_created += result.predictions
        self.progress.created(len(result.created))
        for p, message in result.failed:
            self.known.discard(p.key)
            self._fail(p, message)
        for p in result.unsettled:
            self._fail(
                p,
                "the server's answer was lost and it could not be checked; run the same "
                "command again to settle it (nothing will be duplicated)",
            )

    def _fail(self, p: Pending, message: str) -> None:
        self.summary.failed += 1
        task = orjson.loads(p.body)
        self.failures.add(Failure(p.file, p.record, p.line, "server", [message], task))


def _stamp_model_version(task: dict[str, Any], version: str) -> None:
    preds = task.get("predictions")
    if isinstance(preds, list):
        task["predictions"] = [
            {**p, "model_version": version} if isinstance(p, dict) else p for p in preds
        ]
