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
from typing import Any, NamedTuple, Protocol

import orjson

from lsimport.errors import LsImportError, OutcomeUnknown, RequestRejected, ServerError
from lsimport.model import Failure, Finding, Record, UploadSummary, failure_from_record
from lsimport.send.batching import Batcher, Flush, item_json, with_flushes
from lsimport.send.digests import DigestSet, KeySet, key_digest
from lsimport.send.journal import KNOWN_PER_LINE, Journal, JournalState
from lsimport.send.keys import Identity, Repeat, base_key, for_report, key_of, stamp
from lsimport.send.sender import (
    FIRST_LOOK,
    LOOK_MAX,
    Look,
    Pace,
    Settled,
    SettlingSender,
    server_finished,
)


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
class BatchResult(Settled[Pending]):
    batch: int = 0
    mark: int = 0  # the highest task id known before the batch was sent (its watermark)
    created: list[tuple[str, int | None]] = field(default_factory=list)  # key, task id
    already: list[tuple[str, int]] = field(default_factory=list)  # found on the server
    predictions: int = 0


_ITEM_ERROR = re.compile(r"Error at item (\d+)")


class TaskIndex(Protocol):
    """The server side the sender needs: import tasks and predictions, list tasks above an id,
    delete a task, and how many answers so far said "slow down" (429, 503)."""

    throttled: int

    def import_tasks(self, pid: int, body: bytes) -> Any: ...
    def import_predictions(self, pid: int, body: bytes) -> int: ...
    def delete_task(self, task: int) -> bool: ...
    def count_tasks(
        self, pid: int, *, query: Mapping[str, Any] | None = ...
    ) -> tuple[int, int | None]: ...
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


class Found(NamedTuple):
    """A task of the project as the sender sees it. `key` is "" for a task without one."""

    key: str
    id: int
    predictions: int | None  # None: the server did not say
    annotations: int | None


def keys_above(client: TaskIndex, project: int, mark: int) -> Iterator[Found]:
    """Every task with an id above `mark` (0: the whole project), in pages, by id.

    Unkeyed tasks come with the key "": they still move the watermark.
    """
    query = _above(mark) if mark > 0 else None
    include = ("id", "meta", "total_predictions", "total_annotations")
    for task in client.iter_tasks(project, fields=None, include=include, query=query):
        tid = task.get("id")
        if not isinstance(tid, int) or tid <= mark:
            continue
        preds, notes = task.get("total_predictions"), task.get("total_annotations")
        yield Found(
            key_of(task) or "",
            tid,
            preds if isinstance(preds, int) else None,
            notes if isinstance(notes, int) else None,
        )


def _above(mark: int) -> dict[str, Any]:
    """The data manager's query for the tasks with an id above `mark`, by id."""
    return {
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


class BatchSender(SettlingSender[Pending, BatchResult]):
    """Sends one batch of tasks and settles it (lsimport.send.sender). Runs in worker
    threads; never touches the journal.

    What is tasks' own: a 400 names the first bad item ("Error at item 3"), which is taken
    out; an unknown outcome is looked up as the batch's keys among the tasks above the
    watermark taken before sending; tasks that landed without their predictions get them.
    """

    def __init__(
        self,
        client: TaskIndex,
        project: int,
        *,
        pace: Pace | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        stop: threading.Event | None = None,
        reconcile_rounds: int = 3,
    ) -> None:
        super().__init__(
            pace or Pace(), clock=clock, sleep=sleep, stop=stop, rounds=reconcile_rounds
        )
        self.client = client
        self.project = project

    def send(self, batch_no: int, items: list[Pending], mark: int) -> BatchResult:
        return self.settle_batch(items, BatchResult(batch=batch_no, mark=mark))

    def _not_settled(self, items: list[Pending], result: BatchResult) -> list[Pending]:
        done = {k for k, _ in result.created} | {p.key for p, _ in result.failed}
        done |= {p.key for p in result.unsettled}
        return [p for p in items if p.key not in done]

    # --- SettlingSender ---

    def _post(self, items: list[Pending]) -> Any:
        body = b"[" + b",".join(p.body for p in items) + b"]"
        return self.client.import_tasks(self.project, body)

    def _accepted(self, items: list[Pending], answer: Any, result: BatchResult) -> None:
        ids = list(answer.task_ids) if answer.task_ids is not None else []
        if len(ids) == len(items):
            result.created.extend((p.key, i) for p, i in zip(items, ids, strict=True))
        else:
            result.created.extend((p.key, None) for p in items)
        result.predictions += answer.prediction_count
        if answer.prediction_count == 0 and len(ids) == len(items):
            self.restore_predictions(items, ids, result)

    def _refused(
        self, items: list[Pending], exc: RequestRejected, result: BatchResult, *, rounds: int
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
            self._send(items[:bad] + items[bad + 1 :], result, rounds=rounds)
            return
        self._halves(items, result, rounds=rounds)

    def _look(self, items: list[Pending], result: BatchResult, *, quick: bool) -> Look[Pending]:
        if quick:
            # One small read first: Label Studio commits a batch's tasks all at once, so
            # while fewer tasks than the batch holds are above its watermark (or fewer
            # predictions), it is not there yet, and reading every key would tell no more.
            tasks, predictions = self.client.count_tasks(self.project, query=_above(result.mark))
            expected = sum(p.predictions for p in items)
            if tasks < len(items):
                return Look([], items, whole=False, seen=tasks + (predictions or 0))
            if predictions is not None and predictions < expected:
                # As many tasks as the batch holds, not all their predictions yet.
                return Look([], [], whole=False, seen=tasks + predictions)
        wanted = {p.key: p for p in items}
        landed = []
        whole = True
        for found in keys_above(self.client, self.project, result.mark):
            p = wanted.pop(found.key, None)
            if p is not None:
                landed.append((p, found))
                # Label Studio saves a batch's tasks, then their predictions: seen between
                # the two, a task is not whole yet (or, after the settle time, it never
                # will be: see restore_predictions).
                whole = whole and not (p.predictions and found.predictions == 0)
        return Look(landed, list(wanted.values()), whole)

    def _landed(self, landed: list[Any], result: BatchResult) -> None:
        bare: list[tuple[Pending, int]] = []  # landed without their predictions
        for p, found in landed:
            result.created.append((p.key, found.id))
            if p.predictions and found.predictions == 0:
                bare.append((p, found.id))
            else:
                result.predictions += p.predictions
        if bare:
            self.restore_predictions([p for p, _ in bare], [t for _, t in bare], result)

    def restore_predictions(
        self, items: list[Pending], ids: list[int], result: BatchResult
    ) -> None:
        """Send again the predictions of tasks that landed without them.

        Label Studio on SQLite retries an import that met "database is locked" (two imports
        at once) after its first attempt had already taken the predictions out of the tasks:
        the tasks land, their predictions do not, and the answer says `prediction_count: 0`.
        The server saves a request's predictions all or none, so 0 means none. Behind a
        gateway that gives up first, they go in batches of the size learned for it.
        """
        limit = self.pace.batch_limit() or len(items) or 1
        for start in range(0, len(items), limit):
            self._restore(items[start : start + limit], ids[start : start + limit], result)

    def _restore(self, items: list[Pending], ids: list[int], result: BatchResult) -> None:
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
        except RequestRejected as exc:
            created, why = 0, exc.message
        except OutcomeUnknown as exc:
            # May still be saving, like any import: look before calling it lost.
            ids_sent = set(ids)
            created = len(body) if self._predictions_landed(ids_sent, result, exc) else 0
            why = exc.message
        result.predictions += created
        if created < len(body):
            for p in sent:
                result.failed.append((p, f"the task was created, but not its predictions ({why})"))

    def _predictions_landed(self, ids: set[int], result: BatchResult, exc: OutcomeUnknown) -> bool:
        """Whether every task of `ids` has predictions now, looking again with backoff for
        the settle time (none when the server itself answered: it is done)."""
        deadline = self.clock() + (0.0 if server_finished(exc) else self._settle_for_count(ids))
        wait = FIRST_LOOK
        while True:
            try:
                bare = {
                    f.id
                    for f in keys_above(self.client, self.project, result.mark)
                    if f.id in ids and not f.predictions
                }
            except LsImportError:
                bare = ids
            if not bare:
                return True
            left = deadline - self.clock()
            if left <= 0 or self.stop.is_set():
                return False
            self.sleep(min(wait, left))
            wait = min(wait * 2, LOOK_MAX)

    def _settle_for_count(self, ids: set[int]) -> float:
        return self.pace.settle_time(len(ids))


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
    # How long a request whose outcome is unknown may still be saving (a gateway gave up, the
    # answer was lost; after a crash, the dead run's last requests): None derives it from how
    # long this server's requests take (lsimport.send.sender.Pace).
    settle_timeout: float | None = None
    # A batch that has waited this long is sent as it is (slow producers on a pipe); None: off.
    flush_interval: float | None = None


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
        self.known = KeySet(base_key if options.dedupe else None)
        self._journaled: set[str] = set()  # keys the journal already holds
        self._skipped: list[str] = []  # keys found in the project, for the journal
        self.pace = Pace(options.settle_timeout)
        # Keys sent again after their first request's outcome stayed unknown for the settle
        # time: a late commit of that request leaves a second copy, which _repair deletes.
        self._resent = DigestSet()
        self._resent_mark: int | None = None  # tasks above this id may be such copies
        self._opened_at: float | None = None  # when the batch being filled got its first task
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
            self.known.update(state.confirmed)
            self._journaled = state.confirmed
            self.max_id = state.max_id
            self._batches = state.batches
            since = state.since
            pending = {k: batch for batch, (keys, _) in state.pending.items() for k in keys}
        # Below its highest id a journal vouches only for the keys of its input once a run
        # has ended (see journal.py); otherwise every key of the project is read.
        vouched = state is not None and state.ended
        self._found = {batch: [] for batch in (state.pending if state else {})}
        above: Iterable[Found]
        if state is None or not pending:
            above = keys_above(self.client, self.opt.project, since if vouched else 0)
        else:
            # A dead run's last requests may still be saving on the server (a big batch takes
            # a while; a gateway may have cut its answer): until then, a batch of it that is
            # missing may yet land. Look again with backoff, up to the settle time of its
            # biggest batch after the journal's last write. All found: none is still running.
            biggest = max(len(keys) for keys, _ in state.pending.values())
            deadline = state.written_at + self.pace.settle_time(biggest)
            wait = FIRST_LOOK
            while True:
                above = list(keys_above(self.client, self.opt.project, since))
                missing = pending.keys() - {f.key for f in above}
                left = deadline - self.wall_clock()
                if not missing or left <= 0:
                    break
                self.sleep(min(wait, left))
                wait = min(wait * 2, LOOK_MAX)
            if missing:
                # Sent again from the input: should the dead request commit after all, its
                # copies are the ones _repair finds.
                self._resent.update(key_digest(k) for k in missing)
                self._resent_mark = since
        for found in above:
            key = found.key
            if key:
                self.known.add(key)
            if key in pending:
                self._found[pending[key]].append((key, found.id))
                if found.predictions == 0:
                    # Label Studio can save a batch without its predictions (see
                    # BatchSender.restore_predictions) after its client died.
                    self._bare[key] = found.id
            self.max_id = max(self.max_id, found.id)
        if pending and not vouched:  # streamed: any size
            self.known.update(f.key for f in keys_above(self.client, self.opt.project, 0) if f.key)

    # --- the pipeline ---

    def run(self, records: Iterable[Record]) -> UploadSummary:
        start = self.clock()
        sender = BatchSender(
            self.client,
            self.opt.project,
            pace=self.pace,
            clock=self.clock,
            sleep=self.sleep,
            stop=self.stop,
        )
        batcher: Batcher[Pending] = Batcher(self.opt.batch_size, self.opt.max_batch_bytes)
        inflight: set[Future[BatchResult]] = set()
        interval = self.opt.flush_interval

        def due() -> float | None:
            if interval is None or self._opened_at is None or not batcher.items:
                return None
            return self._opened_at + interval

        with ThreadPoolExecutor(
            max_workers=max(1, self.opt.workers), thread_name_prefix="send"
        ) as pool:
            interrupted = self._interrupted
            for rec in with_flushes(records, interval, due, clock=self.clock, stopped=interrupted):
                if isinstance(rec, Flush):
                    self._submit(batcher.flush(), sender, pool, inflight)
                else:
                    self._take(rec, batcher, sender, pool, inflight)
                if self.stop.is_set() and self.fatal is None:
                    self.summary.interrupted = True
                    break
            else:
                if self.stop.is_set() and self.fatal is None:
                    self.summary.interrupted = True  # the stop ended the reading
            if not self.summary.interrupted:
                self._submit(batcher.flush(), sender, pool, inflight)
            while inflight:
                self._settle(inflight, block=True)
        if self.fatal is None and not self.opt.dry_run:
            self._finish_found(sender)
            if not self.opt.allow_duplicates:
                self._repair()
        if self.journal is not None and not self.opt.dedupe:
            self.journal.known(self._skipped, ended=not self.summary.interrupted)
            self._skipped = []
        gateway = self.pace.gateway
        if gateway is not None:
            self.summary.gateway_timeout_s = gateway.timeout_s
            self.summary.gateway_batch_size = gateway.batch_size
        self.summary.duration_s = self.clock() - start
        return self.summary

    def _interrupted(self) -> bool:
        """A stop asked for by a signal (the stop a fatal error sets reads on)."""
        return self.stop.is_set() and self.fatal is None

    def _repair(self) -> None:
        """Delete the second copies of keys this run sent twice (see `_resent`).

        Of the copies of a key, the one kept is the one with annotations, else the one with
        the most predictions, else the first saved; a copy with annotations is never deleted.
        """
        if self._resent_mark is None or not self._resent:
            return
        copies: dict[bytes, list[Found]] = {}
        try:
            for found in keys_above(self.client, self.opt.project, self._resent_mark):
                digest = key_digest(found.key) if found.key else b""
                if digest in self._resent:
                    copies.setdefault(digest, []).append(found)
            for found_copies in copies.values():
                if len(found_copies) < 2:
                    continue
                keep = max(
                    found_copies,
                    key=lambda f: ((f.annotations or 0) > 0, f.predictions or 0, -f.id),
                )
                for f in found_copies:
                    if f is keep or (f.annotations or 0) > 0:
                        continue
                    if self.client.delete_task(f.id):
                        self.summary.duplicates_removed += 1
        except ServerError as exc:
            self.fatal = exc  # the copies stay; the next run finds them again (its journal)

    def _finish_found(self, sender: BatchSender) -> None:
        """Give back the predictions the server lost, then close the dead run's batches."""
        if self._restore:
            result = BatchResult(batch=0)
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
        limit = self.pace.batch_limit()
        if limit is not None and limit < batcher.max_count:
            batcher.max_count = limit  # a gateway gives up on bigger batches
        full = batcher.add(self._pending(rec.task, rec, key))
        if len(batcher.items) == 1:
            self._opened_at = self.clock()
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
        return Pending(rec.file, rec.number, rec.line, key, item_json(task), n)

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
        limit = self.pace.batch_limit()  # learned meanwhile, perhaps
        if limit is not None and len(items) > limit:
            for start in range(0, len(items), limit):
                self._submit(items[start : start + limit], sender, pool, inflight)
            return
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
        for p in result.resent:
            self._resent.add(key_digest(p.key))
            self._resent_mark = mark if self._resent_mark is None else min(self._resent_mark, mark)
        for p, message in result.failed:
            self.known.discard(p.key)
            self._fail(p, message)
        for p in result.unsettled:
            s.pending += 1
            self._fail(p, PENDING_MESSAGE, failed=False)

    def _fail(self, p: Pending, message: str, *, failed: bool = True) -> None:
        if failed:
            self.summary.failed += 1
        task = orjson.loads(p.body)
        self.failures.add(Failure(p.file, p.record, p.line, "server", [message], task))


PENDING_MESSAGE = (
    "pending: the server's answer was lost, and what it did could not be checked in time; "
    "run the same command again to settle it (nothing will be duplicated)"
)


def _stamp_model_version(task: dict[str, Any], version: str) -> None:
    preds = task.get("predictions")
    if isinstance(preds, list):
        task["predictions"] = [
            {**p, "model_version": version} if isinstance(p, dict) else p for p in preds
        ]
