"""The upload pipeline (lsimport.send.tasks + lsimport.send.journal) against an in-memory project.

`FakeProject` implements the `TaskIndex` protocol the pipeline needs (import tasks, import
predictions, list tasks above an id) and can be scripted to fail the way a real server and
network do: the answer lost after the tasks were saved, the request lost before, a 400 naming
the bad item, a 413, a 403, the server gone, and Label Studio's own habit of saving a batch
without its predictions. Every test checks the project's final contents, not just counters.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from lsimport.errors import (
    OutcomeUnknown,
    PayloadTooLarge,
    RequestRejected,
    ServerUnreachable,
)
from lsimport.model import Failure, Record, UploadSummary, error
from lsimport.send.client import ImportOutcome, LabelStudioClient
from lsimport.send.journal import Journal, JournalState
from lsimport.send.keys import Identity, data_hash
from lsimport.send.tasks import (
    Found,
    Uploader,
    UploadOptions,
    keys_above,
    latest_task_id,
)

URL = "http://ls.test"
PID = 7


class FakeProject:
    """One Label Studio project in memory, with a script of faults for the next imports.

    Script entries, consumed one per `import_tasks` call (None: behave):
    ``"lost_answer"`` save, then raise OutcomeUnknown; ``"lost_request"`` raise it without
    saving; ``("partial", n)`` save the first n, then raise it; ``("reject", i)`` 400 naming
    item i; ``"reject"`` 400 naming no item; ``"forbidden"`` 403; ``"gone"`` the server is
    unreachable; ``"no_predictions"`` save the tasks without their predictions and answer
    prediction_count 0 (Label Studio on SQLite after "database is locked"); ``("gateway", n)``
    a gateway answers 504 after `gateway_seconds` while the server goes on saving: the tasks
    land once n more listings were made (None: only when the next import comes).
    """

    def __init__(self, *, max_tasks_per_request: int | None = None) -> None:
        self.tasks: dict[int, dict[str, Any]] = {}
        self.next_id = 1
        self.script: list[Any] = []
        self.imports: list[list[dict[str, Any]]] = []  # bodies received by import_tasks
        self.prediction_imports: list[list[dict[str, Any]]] = []
        self.prediction_limit: int | None = None  # import_predictions creates at most this
        self.reads: list[Mapping[str, Any] | None] = []  # `query` of each listing
        self.read_failures = 0  # the next N listings fail (server unreachable)
        self.max_tasks_per_request = max_tasks_per_request
        self.on_read: list[Any] = []  # one callable run before each listing, in turn
        self.throttled = 0  # answers that said "slow down" (none here; see ThrottlingProject)
        self.deleted: list[int] = []  # task ids given to delete_task
        self.clock: FakeTime | None = None  # advanced by gateway_seconds on a gateway answer
        self.gateway_seconds = 1.0
        self.saving: list[tuple[int | None, list[dict[str, Any]]]] = []  # (listings left, tasks)

    # --- seeding ---

    def add(self, task: dict[str, Any]) -> int:
        tid = self.next_id
        self.next_id += 1
        self.tasks[tid] = {
            "id": tid,
            "data": task.get("data"),
            "meta": task.get("meta") or {},
            "predictions": list(task.get("predictions") or []),
        }
        return tid

    # --- TaskIndex ---

    def import_tasks(self, pid: int, body: bytes) -> ImportOutcome:
        assert pid == PID
        tasks = orjson.loads(body)
        self.imports.append(tasks)
        self._commit(on_import=True)
        action = self.script.pop(0) if self.script else None
        if isinstance(action, tuple) and action[0] == "gateway":
            self.saving.append((action[1], tasks))
            if self.clock is not None:
                self.clock.now += self.gateway_seconds
            raise OutcomeUnknown("504 from the gateway", status=504)
        if self.max_tasks_per_request is not None and len(tasks) > self.max_tasks_per_request:
            raise PayloadTooLarge("too large", status=413)
        if action == "lost_request":
            raise OutcomeUnknown("connection dropped before the server read it")
        if action == "forbidden":
            raise RequestRejected("forbidden", status=403, detail="no permission")
        if action == "gone":
            raise ServerUnreachable("server gone")
        if isinstance(action, tuple) and action[0] == "reject":
            detail = f"Error at item {action[1]}: bad :: {{...}}"
            raise RequestRejected("rejected", status=400, detail=detail)
        if action == "reject":
            raise RequestRejected("rejected", status=400, detail="something is wrong")
        if isinstance(action, tuple) and action[0] == "partial":
            for task in tasks[: action[1]]:
                self.add(task)
            raise OutcomeUnknown("connection dropped after a partial save")
        keep_predictions = action != "no_predictions"
        ids = [
            self.add(task if keep_predictions else {**task, "predictions": []}) for task in tasks
        ]
        if action == "lost_answer":
            raise OutcomeUnknown("connection dropped after the server answered")
        predictions = sum(len(t.get("predictions") or []) for t in tasks)
        return ImportOutcome(
            task_count=len(tasks),
            prediction_count=predictions if keep_predictions else 0,
            task_ids=tuple(ids),
        )

    def import_predictions(self, pid: int, body: bytes) -> int:
        assert pid == PID
        predictions = orjson.loads(body)
        self.prediction_imports.append(predictions)
        created = 0
        for pred in predictions:
            if self.prediction_limit is not None and created >= self.prediction_limit:
                break
            task = self.tasks[pred["task"]]
            task["predictions"].append({k: v for k, v in pred.items() if k != "task"})
            created += 1
        return created

    def iter_tasks(
        self,
        pid: int,
        *,
        page_size: int = 1000,
        fields: str | None = "all",
        include: str | Sequence[str] | None = None,
        resolve_uri: bool = False,
        query: Mapping[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        assert pid == PID
        self._commit(on_import=False)
        if self.on_read:
            self.on_read.pop(0)()
        self.reads.append(query)
        if self.read_failures:
            self.read_failures -= 1
            raise ServerUnreachable("no answer to GET /api/tasks/")
        above = 0
        for item in (query or {}).get("filters", {}).get("items", []):
            assert item == {
                "filter": "filter:tasks:id",
                "operator": "greater",
                "type": "Number",
                "value": item["value"],
            }
            above = item["value"]
        ids = sorted(i for i in self.tasks if i > above)
        if query and query.get("ordering") == ["-tasks:id"]:
            ids.reverse()
        for tid in ids:
            task = self.tasks[tid]
            yield {
                "id": tid,
                "meta": task["meta"],
                "total_predictions": len(task["predictions"]),
            }

    def count_tasks(
        self, pid: int, *, query: Mapping[str, Any] | None = None
    ) -> tuple[int, int | None]:
        tasks = list(self.iter_tasks(pid, query=query))
        return len(tasks), sum(t["total_predictions"] for t in tasks)

    def delete_task(self, task: int) -> bool:
        self.deleted.append(task)
        return self.tasks.pop(task, None) is not None

    def _commit(self, *, on_import: bool) -> None:
        """Land what the server was still saving, when its time has come."""
        still = []
        for left, tasks in self.saving:
            if left is None and not on_import:
                still.append((left, tasks))
            elif left is not None and left > 1:
                still.append((left - (0 if on_import else 1), tasks))
            else:
                for task in tasks:
                    self.add(task)
        self.saving = still

    # --- what landed ---

    def keys(self) -> Counter[str]:
        return Counter(t["meta"].get("lsimport_key") for t in self.tasks.values())

    def by_key(self) -> dict[str, dict[str, Any]]:
        return {t["meta"]["lsimport_key"]: t for t in self.tasks.values()}


class ListSink:
    def __init__(self) -> None:
        self.items: list[Failure] = []

    def add(self, failure: Failure) -> None:
        self.items.append(failure)


class NullProgress:
    def advance(self, records: int) -> None:
        return None

    def created(self, tasks: int) -> None:
        return None


class FakeTime:
    """Wall clock and sleep for the settle wait; starts at the real time (journal mtimes)."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_tasks(n: int, *, start: int = 0, predictions: bool = True) -> list[dict[str, Any]]:
    tasks = []
    for i in range(start, start + n):
        task: dict[str, Any] = {"data": {"text": f"task {i}", "n": i}}
        if predictions:
            task["predictions"] = [
                {
                    "model_version": "m1",
                    "score": 0.5,
                    "result": [
                        {
                            "from_name": "label",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": ["pos" if i % 2 else "neg"]},
                        }
                    ],
                }
            ]
        tasks.append(task)
    return tasks


def records(tasks: Iterable[dict[str, Any]]) -> Iterator[Record]:
    for n, task in enumerate(tasks, 1):
        yield Record("in.jsonl", n, n, task)


class Run:
    """One `lsimport upload`, wired as run_upload wires it, against a FakeProject."""

    def __init__(
        self,
        project: FakeProject,
        tmp_path: Path,
        *,
        journal: bool = True,
        time_source: FakeTime | None = None,
        stop: threading.Event | None = None,
        **options: Any,
    ) -> None:
        self.journal = Journal(tmp_path / "in.jsonl.lsimport-journal", URL, PID, fsync=False)
        self.failures = ListSink()
        clock = time_source or FakeTime(1e12)  # far in the future: no crash is recent
        options.setdefault("workers", 1)
        key = options.pop("key", None)
        self.uploader = Uploader(
            project,
            UploadOptions(project=PID, **options),
            keyer=Identity(
                key,
                dedupe=options.get("dedupe", False),
                repeats=not options.get("allow_duplicates", False),
            ),
            journal=self.journal if journal else None,
            failures=self.failures,
            progress=NullProgress(),
            stop=stop,
            clock=clock,
            sleep=clock.sleep,
            wall_clock=clock,
        )
        self.use_journal = journal

    def __call__(self, recs: Iterable[Record]) -> UploadSummary:
        state = self.journal.load() if self.use_journal else None
        self.uploader.load_known(state)
        if self.use_journal:
            self.journal.start(fresh=state is None)
        try:
            self.summary = self.uploader.run(recs)
            return self.summary
        finally:
            self.journal.close()


def upload(
    project: FakeProject, tmp_path: Path, tasks: list[dict[str, Any]] | list[Record], **kw: Any
) -> Run:
    run = Run(project, tmp_path, **kw)
    recs = [t for t in tasks if isinstance(t, Record)] or list(records(tasks))  # type: ignore[arg-type]
    run(recs)
    return run


def assert_exactly_once(project: FakeProject, tasks: list[dict[str, Any]]) -> None:
    """Every input task is in the project exactly once, with exactly its predictions."""
    expected = {data_hash(t["data"]): t for t in tasks}
    keyed = [t for t in project.tasks.values() if "lsimport_key" in t["meta"]]
    assert sorted(project.keys()[k] for k in expected) == [1] * len(expected)
    assert {t["meta"]["lsimport_key"] for t in keyed} == set(expected)
    for task in keyed:
        source = expected[task["meta"]["lsimport_key"]]
        assert task["data"] == source["data"]
        assert task["predictions"] == source.get("predictions", [])


def sent_keys(body: list[dict[str, Any]]) -> list[str]:
    return [t["meta"]["lsimport_key"] for t in body]


def journal_events(run: Run) -> list[tuple[str, int, int]]:
    """(event, batch, number of keys) per journal line after the header (0: no batch)."""
    lines = run.journal.path.read_bytes().splitlines()[1:]
    return [
        (e["event"], e.get("batch", 0), len(e.get("keys", []))) for e in map(orjson.loads, lines)
    ]


# --- the ordinary path ---


def test_every_task_is_sent_once_in_batches_with_its_key(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(10)

    run = upload(project, tmp_path, tasks, batch_size=4)

    assert [len(body) for body in project.imports] == [4, 4, 2]
    assert sent_keys(project.imports[0]) == [data_hash(t["data"]) for t in tasks[:4]]
    assert run.summary.as_dict() == {
        "records": 10,
        "invalid": 0,
        "skipped": 0,
        "tasks_created": 10,
        "predictions_created": 10,
        "failed": 0,
        "duplicates_removed": 0,
        "duration_s": pytest.approx(0, abs=5),
        "file_errors": 0,
    }
    assert journal_events(run) == [
        ("begin", 1, 4),
        ("done", 1, 4),
        ("begin", 2, 4),
        ("done", 2, 4),
        ("begin", 3, 2),
        ("done", 3, 2),
        ("end", 0, 0),  # the whole input was read: the journal vouches for its keys
    ]
    assert_exactly_once(project, tasks)


def test_the_callers_tasks_are_left_alone(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(2)
    before = orjson.dumps(tasks)

    upload(project, tmp_path, tasks)

    assert orjson.dumps(tasks) == before


def test_rerun_skips_what_the_journal_confirms_and_reads_only_above_it(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(10)
    upload(project, tmp_path, tasks, batch_size=4)
    project.reads.clear()

    again = upload(project, tmp_path, tasks, batch_size=4)

    assert again.summary.skipped == 10
    assert again.summary.tasks_created == 0
    assert len(project.imports) == 3
    assert [q["filters"]["items"][0]["value"] for q in project.reads if q] == [10]
    assert_exactly_once(project, tasks)


def test_rerun_without_a_journal_reads_every_key(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(6)
    upload(project, tmp_path, tasks, journal=False)
    project.reads.clear()

    again = upload(project, tmp_path, tasks, journal=False)

    assert again.summary.skipped == 6
    assert project.reads == [None]  # the whole project, no filter
    assert len(project.imports) == 1
    assert_exactly_once(project, tasks)


def test_keys_added_to_the_project_by_someone_else_are_skipped(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(4)
    upload(project, tmp_path, tasks[:2])
    # another machine imports task 3 (same key: same data) after our journal's watermark
    project.add({**tasks[2], "meta": {"lsimport_key": data_hash(tasks[2]["data"])}})

    again = upload(project, tmp_path, tasks)

    assert again.summary.skipped == 3
    assert sent_keys(project.imports[-1]) == [data_hash(tasks[3]["data"])]
    assert_exactly_once(project, tasks)


def test_a_rerun_with_the_journal_still_sees_what_another_input_made_below_its_ids(
    tmp_path: Path,
) -> None:
    # An overlapping file: task 0 came from another input, before this one's first run.
    project = FakeProject()
    tasks = make_tasks(3)
    project.add({**tasks[0], "meta": {"lsimport_key": data_hash(tasks[0]["data"])}})
    first = upload(project, tmp_path, tasks)
    assert (first.summary.tasks_created, first.summary.skipped) == (2, 1)
    assert ("known", 0, 1) in journal_events(first)

    again = upload(project, tmp_path, tasks)  # the journal knows the key it found, too
    assert (again.summary.tasks_created, again.summary.skipped) == (0, 3)
    assert_exactly_once(project, tasks)


def test_a_journal_whose_run_did_not_end_reads_the_whole_project(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(3)
    project.add({**tasks[0], "meta": {"lsimport_key": data_hash(tasks[0]["data"])}})
    upload(project, tmp_path, tasks[1:])
    journal = tmp_path / "in.jsonl.lsimport-journal"
    # A journal of an earlier version (or of a run killed before its end): no `end`.
    journal.write_bytes(b"".join(line + b"\n" for line in journal.read_bytes().splitlines()[:-1]))

    again = upload(project, tmp_path, tasks)
    assert (again.summary.tasks_created, again.summary.skipped) == (0, 3)
    assert_exactly_once(project, tasks)


def test_allow_duplicates_sends_everything_again(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(3)
    upload(project, tmp_path, tasks)

    again = upload(project, tmp_path, tasks, allow_duplicates=True)

    assert again.summary.tasks_created == 3
    assert again.summary.skipped == 0
    assert sorted(project.keys().values()) == [2, 2, 2]


def test_the_same_data_twice_in_one_input_are_two_tasks_and_a_rerun_sends_none(
    tmp_path: Path,
) -> None:
    project = FakeProject()
    tasks = make_tasks(3)
    twice = [*tasks, tasks[1]]

    run = upload(project, tmp_path, twice)

    assert (run.summary.tasks_created, run.summary.skipped) == (4, 0)
    h = data_hash(tasks[1]["data"])
    assert project.keys()[h] == 1 and project.keys()[f"{h}#2"] == 1
    again = upload(project, tmp_path, twice)
    assert (again.summary.tasks_created, again.summary.skipped) == (0, 4)


def test_dedupe_skips_repeats_and_what_the_project_has(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(3)
    upload(project, tmp_path, [tasks[0], tasks[0]])  # h and h#2 in the project

    run = upload(project, tmp_path, [tasks[0], tasks[1], tasks[1], tasks[2]], dedupe=True)

    assert (run.summary.tasks_created, run.summary.skipped, run.summary.repeated) == (2, 1, 1)
    assert run.summary.as_dict()["repeated"] == 1
    assert sent_keys(project.imports[-1]) == [data_hash(t["data"]) for t in tasks[1:]]


def test_key_from_a_field(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(3)

    run = upload(project, tmp_path, [*tasks, {"data": {"text": "no n"}}], key="data.n")

    assert sorted(project.keys()) == ["0", "1", "2"]
    assert run.summary.invalid == 1
    assert run.failures.items[0].messages == [
        "/data/n: no data.n to use as the task key (--key) [key.missing]"
    ]


def test_invalid_records_are_reported_not_sent(tmp_path: Path) -> None:
    project = FakeProject()
    bad = Record("in.jsonl", 2, 2, None, raw=b"{oops")
    bad.findings.append(error("json.syntax", "not JSON"))
    good = list(records(make_tasks(2)))

    run = upload(project, tmp_path, [good[0], bad, good[1]])

    assert run.summary.invalid == 1
    assert run.failures.items[0].stage == "read"
    assert len(project.tasks) == 2


# --- unknown outcomes: settle by reading, send only what is missing ---


def test_lost_answer_is_settled_by_reading_above_the_watermark(tmp_path: Path) -> None:
    project = FakeProject()
    for i in range(5):  # tasks that were there before: the watermark is 5
        project.add({"data": {"text": f"old {i}"}})
    tasks = make_tasks(6)
    project.script = ["lost_answer"]

    run = upload(project, tmp_path, tasks, batch_size=3)

    assert [len(b) for b in project.imports] == [3, 3]  # nothing sent twice
    reconcile = [q for q in project.reads if q and q.get("ordering") == ["tasks:id"]]
    # a count of the tasks above the watermark, then their keys
    assert [q["filters"]["items"][0]["value"] for q in reconcile] == [5, 5]
    assert run.summary.tasks_created == 6
    assert run.summary.predictions_created == 6
    assert run.summary.failed == 0
    assert_exactly_once(project, tasks)


def test_lost_request_is_sent_again(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(4)
    project.script = ["lost_request"]

    run = upload(project, tmp_path, tasks, batch_size=4)

    assert [sent_keys(b) for b in project.imports] == [sent_keys(project.imports[0])] * 2
    assert run.summary.tasks_created == 4
    assert_exactly_once(project, tasks)


def test_partly_saved_batch_sends_only_the_missing_tasks(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(5)
    project.script = [("partial", 2)]

    run = upload(project, tmp_path, tasks, batch_size=5)

    assert sent_keys(project.imports[1]) == [data_hash(t["data"]) for t in tasks[2:]]
    assert run.summary.tasks_created == 5
    assert_exactly_once(project, tasks)


def test_outcome_that_never_settles_is_left_pending_for_the_next_run(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(4)
    project.script = ["lost_request"] * 4  # the first send and its three re-sends

    first = upload(project, tmp_path, tasks, batch_size=2)

    assert len(project.imports) == 5
    assert (first.summary.failed, first.summary.pending) == (0, 2)  # exit 75: run it again
    assert first.summary.tasks_created == 2
    assert "run the same command again" in first.failures.items[0].messages[0]
    state = first.journal.load()
    assert state is not None
    assert [sorted(keys) for keys, _ in state.pending.values()] == [
        sorted(data_hash(t["data"]) for t in tasks[:2])
    ]

    second = upload(project, tmp_path, tasks, batch_size=2)

    assert second.summary.tasks_created == 2
    assert second.summary.skipped == 2
    assert_exactly_once(project, tasks)
    state = second.journal.load()
    assert state is not None and state.pending == {}


def test_reconcile_read_failing_leaves_the_batch_unsettled(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(2)
    upload(project, tmp_path, [])  # journal with a header: the next run reads above 0
    project.script = ["lost_answer"]
    # the first listing is load_known's; every one after it, reconciling, fails
    project.on_read = [lambda: None, lambda: setattr(project, "read_failures", 10**6)]

    run = upload(project, tmp_path, tasks)

    assert (run.summary.failed, run.summary.pending) == (0, 2)
    assert len(project.imports) == 1

    project.read_failures = 0
    again = upload(project, tmp_path, tasks)  # the landed batch is found, not re-sent

    assert again.summary.skipped == 2
    assert len(project.imports) == 1
    assert_exactly_once(project, tasks)


# --- refusals: isolate the bad task, split what is too large ---


def test_400_naming_an_item_fails_that_task_and_sends_the_rest(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(4)
    project.script = [("reject", 2)]

    run = upload(project, tmp_path, tasks)

    assert [len(b) for b in project.imports] == [4, 3]
    assert run.summary.failed == 1
    assert run.summary.tasks_created == 3
    failure = run.failures.items[0]
    assert (failure.record, failure.stage) == (3, "server")
    assert failure.messages == ["server refused the task: Error at item 2: bad :: {...}"]
    assert failure.task is not None and failure.task["data"] == tasks[2]["data"]
    assert_exactly_once(project, tasks[:2] + tasks[3:])
    again = upload(project, tmp_path, tasks)  # the refused task is not "known": retried
    assert again.summary.tasks_created == 1


def test_400_naming_no_item_is_halved_until_the_bad_task_is_alone(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(4)
    project.script = ["reject", "reject", None, None]  # whole, first half, [0], [1]; then rest

    run = upload(project, tmp_path, tasks)

    assert [len(b) for b in project.imports] == [4, 2, 1, 1, 2]
    assert run.failures.items == []  # [0] and [1] got in after the split
    project2 = FakeProject()
    project2.script = ["reject", None, "reject"]  # whole; first half ok; second half bad
    project2.script += ["reject", None]  # [2] refused alone, [3] fine
    run2 = upload(project2, tmp_path / "b", tasks)
    assert [f.record for f in run2.failures.items] == [3]
    assert_exactly_once(project2, tasks[:2] + tasks[3:])


def test_413_splits_the_batch_until_it_fits(tmp_path: Path) -> None:
    project = FakeProject(max_tasks_per_request=2)
    tasks = make_tasks(5)

    run = upload(project, tmp_path, tasks, batch_size=5)

    assert [len(b) for b in project.imports] == [5, 2, 3, 1, 2]
    assert run.summary.tasks_created == 5
    assert_exactly_once(project, tasks)


def test_a_single_task_too_large_fails_alone(tmp_path: Path) -> None:
    project = FakeProject(max_tasks_per_request=0)

    run = upload(project, tmp_path, make_tasks(1))

    assert run.summary.failed == 1
    assert run.failures.items[0].messages == ["too large for the server: too large"]


def test_403_fails_the_whole_batch_with_the_servers_words(tmp_path: Path) -> None:
    project = FakeProject()
    project.script = ["forbidden"]

    run = upload(project, tmp_path, make_tasks(3))

    assert len(project.imports) == 1
    assert run.summary.failed == 3
    assert {m for f in run.failures.items for m in f.messages} == {
        "server refused the batch: no permission"
    }


def test_server_gone_stops_the_run_and_leaves_the_batch_pending(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(6)
    project.script = [None, "gone"]

    run = upload(project, tmp_path, tasks, batch_size=2)

    assert isinstance(run.uploader.fatal, ServerUnreachable)
    assert len(project.imports) == 2  # the third batch was never sent
    assert run.summary.interrupted is False
    state = run.journal.load()
    assert state is not None and len(state.pending) == 1

    again = upload(project, tmp_path, tasks, batch_size=2)

    assert again.summary.tasks_created == 4
    assert_exactly_once(project, tasks)


# --- Label Studio's lost predictions ---


def test_predictions_the_server_dropped_are_sent_again(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(3) + make_tasks(1, start=3, predictions=False)
    project.script = ["no_predictions"]

    run = upload(project, tmp_path, tasks)

    assert [[p["task"] for p in body] for body in project.prediction_imports] == [[1, 2, 3]]
    assert run.summary.predictions_created == 3
    assert run.summary.failed == 0
    assert_exactly_once(project, tasks)


def test_predictions_refused_again_are_reported(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(2)
    project.script = ["no_predictions"]
    project.prediction_limit = 1

    run = upload(project, tmp_path, tasks)

    assert run.summary.tasks_created == 2
    assert run.summary.predictions_created == 1
    assert [f.messages for f in run.failures.items] == [
        ["the task was created, but not its predictions (the server created 1 of 2)"]
    ] * 2


def test_lost_answer_for_a_batch_saved_without_predictions(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(2)
    original = project.import_tasks

    def save_bare_then_drop(pid: int, body: bytes) -> ImportOutcome:
        project.script = ["no_predictions"]
        original(pid, body)
        raise OutcomeUnknown("answer lost")

    project.import_tasks = save_bare_then_drop  # type: ignore[method-assign]
    run = upload(project, tmp_path, tasks)

    assert run.summary.predictions_created == 2
    assert_exactly_once(project, tasks)


# --- stopping and crashing ---


def test_stop_settles_in_flight_batches_and_the_rerun_completes(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(10)
    stop = threading.Event()

    def stopping() -> Iterator[Record]:
        for rec in records(tasks):
            if rec.number == 6:
                stop.set()  # Ctrl-C while the sixth record is read
            yield rec

    run = Run(project, tmp_path, stop=stop, batch_size=2, workers=2)
    summary = run(stopping())

    assert summary.interrupted is True
    assert summary.as_dict()["interrupted"] is True
    assert summary.records == 6
    assert summary.tasks_created == 4  # two full batches; the half-full third is not sent
    assert [len(b) for b in project.imports] == [2, 2]
    state = run.journal.load()
    assert state is not None and state.pending == {}

    again = upload(project, tmp_path, tasks, batch_size=2)

    assert again.summary.skipped == 4
    assert again.summary.tasks_created == 6
    assert_exactly_once(project, tasks)


def crash_after_begin(
    tmp_path: Path, project: FakeProject, tasks: list[dict[str, Any]], *, mark: int = 0
) -> Journal:
    """A journal as a run killed right after writing `begin` for `tasks` leaves it."""
    journal = Journal(tmp_path / "in.jsonl.lsimport-journal", URL, PID, fsync=False)
    journal.start(fresh=True)
    journal.begin(1, [data_hash(t["data"]) for t in tasks], mark)
    journal.close()
    return journal


def land(project: FakeProject, tasks: list[dict[str, Any]], *, predictions: bool = True) -> None:
    for t in tasks:
        task = {**t, "meta": {"lsimport_key": data_hash(t["data"])}}
        if not predictions:
            task["predictions"] = []
        project.add(task)


def test_rerun_right_after_a_crash_waits_for_the_batch_still_on_its_way(
    tmp_path: Path,
) -> None:
    project = FakeProject()
    tasks = make_tasks(4)
    journal = crash_after_begin(tmp_path, project, tasks[:2])
    written = journal.path.stat().st_mtime
    clock = FakeTime(written + 1.0)  # one second after the crash
    # the dead run's request lands while the rerun waits (before its third look)
    project.on_read = [lambda: None, lambda: None, lambda: land(project, tasks[:2])]

    run = upload(project, tmp_path, tasks, time_source=clock)

    assert clock.sleeps == [0.25, 0.5]  # looks with backoff
    assert [sent_keys(b) for b in project.imports] == [[data_hash(t["data"]) for t in tasks[2:]]]
    assert run.summary.skipped == 2
    assert_exactly_once(project, tasks)
    state = run.journal.load()
    assert state is not None and state.pending == {}  # the dead run's batch is closed


def test_rerun_gives_up_waiting_when_the_settle_timeout_is_over(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(2)
    journal = crash_after_begin(tmp_path, project, tasks)
    clock = FakeTime(journal.path.stat().st_mtime + 12.5)

    run = upload(project, tmp_path, tasks, time_source=clock, settle_timeout=15.0)

    assert clock.sleeps == [0.25, 0.5, 1.0, pytest.approx(0.75)]
    assert run.summary.tasks_created == 2
    assert_exactly_once(project, tasks)


def test_an_old_crash_costs_no_wait(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(2)
    journal = crash_after_begin(tmp_path, project, tasks)
    clock = FakeTime(journal.path.stat().st_mtime + 3600)

    upload(project, tmp_path, tasks, time_source=clock)

    assert clock.sleeps == []
    assert_exactly_once(project, tasks)


def test_crashed_batch_that_landed_costs_no_wait_and_is_not_resent(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(3)
    journal = crash_after_begin(tmp_path, project, tasks)
    land(project, tasks)
    clock = FakeTime(journal.path.stat().st_mtime)

    run = upload(project, tmp_path, tasks, time_source=clock)

    assert clock.sleeps == []
    assert project.imports == []
    assert run.summary.skipped == 3
    assert_exactly_once(project, tasks)


def test_crashed_batch_that_landed_without_predictions_gets_them(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(3)
    journal = crash_after_begin(tmp_path, project, tasks[:2])
    land(project, tasks[:1])  # an older batch, complete
    land(project, tasks[1:2], predictions=False)  # the dead run's: saved without predictions
    clock = FakeTime(journal.path.stat().st_mtime + 3600)

    run = upload(project, tmp_path, tasks, time_source=clock)

    assert [[p["task"] for p in body] for body in project.prediction_imports] == [[2]]
    assert run.summary.predictions_created == 2
    assert run.summary.skipped == 2
    assert_exactly_once(project, tasks)
    again = upload(project, tmp_path, tasks, time_source=clock)
    assert len(project.prediction_imports) == 1  # settled: not sent a second time
    assert again.summary.skipped == 3


def test_dry_run_restores_nothing_and_sends_nothing(tmp_path: Path) -> None:
    project = FakeProject()
    tasks = make_tasks(2)
    journal = crash_after_begin(tmp_path, project, tasks)
    land(project, tasks, predictions=False)
    clock = FakeTime(journal.path.stat().st_mtime + 3600)

    run = Run(project, tmp_path, time_source=clock, dry_run=True)
    run.uploader.journal = None  # as run_upload wires a dry run: the state is read, not written
    run(records(tasks))

    assert project.prediction_imports == []
    assert project.imports == []
    assert run.summary.skipped == 2


# --- the journal ---


def test_journal_round_trip(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", URL, PID, fsync=False)
    journal.start(fresh=True)
    journal.begin(1, ["a", "b"], 10)
    journal.done(1, ["a", "b"], [11, 12])
    journal.begin(2, ["c"], 12)
    journal.close()

    state = journal.load()

    assert state is not None
    assert (state.confirmed, state.pending, state.max_id, state.batches) == (
        {"a", "b"},
        {2: (["c"], 12)},
        12,
        2,
    )
    assert state.since == 12


def test_since_is_the_lowest_watermark_of_pending_batches() -> None:
    state = JournalState(max_id=50, pending={3: (["x"], 20), 4: (["y"], 40)})
    assert state.since == 20
    assert JournalState(max_id=50).since == 50


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", URL, PID, fsync=False)
    journal.start(fresh=True)
    journal.begin(1, ["a"], 0)
    journal.close()
    with journal.path.open("ab") as fh:
        fh.write(b'{"event":"done","batch":1,"keys":["a"],"id')

    state = journal.load()

    assert state is not None and state.pending == {1: (["a"], 0)}


def test_appending_after_a_cut_line_keeps_the_next_entry(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", URL, PID, fsync=False)
    journal.start(fresh=True)
    journal.close()
    with journal.path.open("ab") as fh:
        fh.write(b'{"event":"begin","batch":1,"ma')  # killed mid-write

    journal.start(fresh=False)
    journal.begin(2, ["b"], 5)
    journal.close()

    state = journal.load()
    assert state is not None and state.pending == {2: (["b"], 5)}


def test_a_journal_of_another_project_or_server_is_not_used(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", URL, PID, fsync=False)
    journal.start(fresh=True)
    journal.done(1, ["a"], [1])
    journal.close()

    assert Journal(tmp_path / "j", URL, PID + 1).load() is None
    assert Journal(tmp_path / "j", "http://other", PID).load() is None
    assert Journal(tmp_path / "missing", URL, PID).load() is None


def test_journal_records_the_time_of_its_last_write(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", URL, PID, fsync=False)
    journal.start(fresh=True)
    journal.close()

    state = journal.load()

    assert state is not None
    assert state.written_at == journal.path.stat().st_mtime


# --- the reads, over HTTP: what the server is asked ---


def test_keys_above_asks_the_data_manager_for_ids_above_the_mark() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        tasks = [
            {"id": 8, "meta": {"lsimport_key": "k8"}, "total_predictions": 1},
            {"id": 9, "meta": {}, "total_predictions": 0},
        ]
        return httpx.Response(200, json={"total": 2, "tasks": tasks})

    client = LabelStudioClient(
        URL, "0123456789abcdef0123456789abcdef01234567", transport=httpx.MockTransport(handler)
    )
    with client:
        found = list(keys_above(client, PID, 7))

    assert found == [Found("k8", 8, 1, None), Found("", 9, 0, None)]
    params = seen[0].params
    assert params["include"] == "id,meta,total_predictions,total_annotations"
    assert "fields" not in params
    assert params["resolve_uri"] == "false"
    assert orjson.loads(params["query"]) == {
        "filters": {
            "conjunction": "and",
            "items": [
                {"filter": "filter:tasks:id", "operator": "greater", "type": "Number", "value": 7}
            ],
        },
        "ordering": ["tasks:id"],
    }


def test_latest_task_id_reads_one_task_newest_first() -> None:
    project = FakeProject()
    assert latest_task_id(project, PID) == 0
    for i in range(3):
        project.add({"data": {"i": i}})

    assert latest_task_id(project, PID) == 3
    assert project.reads[-1] == {"ordering": ["-tasks:id"]}


def test_failure_messages_name_the_record(tmp_path: Path) -> None:
    project = FakeProject()
    project.script = [("reject", 0)]

    run = upload(project, tmp_path, make_tasks(1))

    failure = run.failures.items[0]
    assert (failure.file, failure.record, failure.line) == ("in.jsonl", 1, 1)
    assert re.match(r"server refused the task: Error at item 0", failure.messages[0])


def test_workers_are_chosen_from_the_server() -> None:
    from lsimport.run import default_workers

    assert default_workers("WSGIServer/0.2 CPython/3.11.7") == 1  # Label Studio's dev server
    assert default_workers(None) == 1
    assert default_workers("gunicorn") == 2
    assert default_workers("nginx/1.24.0") == 2


def test_batcher_splits_by_count_and_by_bytes() -> None:
    from lsimport.send.batching import Batcher

    @dataclass
    class Item:
        body: bytes

    batcher: Batcher[Item] = Batcher(max_count=3, max_bytes=2 + 3 * 11)  # "[" 10 B "," ... "]"
    out = [batcher.add(Item(b"x" * 10)) for _ in range(4)]
    assert out[:3] == [None, None, None]
    assert out[3] is not None and len(out[3]) == 3  # the fourth would make four
    assert batcher.add(Item(b"y" * 30)) is not None  # the fifth would pass max_bytes
    assert [len(i.body) for i in batcher.flush()] == [30]
    assert batcher.take_full() is None
    for _ in range(3):
        batcher.add(Item(b"z"))
    full = batcher.take_full()
    assert full is not None and len(full) == 3 and batcher.flush() == []


class ThrottlingProject(FakeProject):
    """Answers its first import after a "slow down" (a 429 the client waited out and retried),
    and records how many imports were running when each one began."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.running_at_start: list[int] = []
        self._lock = threading.Lock()

    def import_tasks(self, pid: int, body: bytes) -> ImportOutcome:
        with self._lock:
            self.running += 1
            self.running_at_start.append(self.running)
            if len(self.running_at_start) == 1:
                self.throttled += 1
        time.sleep(0.02)  # long enough for a second batch in flight to overlap this one
        try:
            with self._lock:
                return super().import_tasks(pid, body)
        finally:
            with self._lock:
                self.running -= 1


def test_a_server_saying_slow_down_gets_fewer_batches_at_once(tmp_path: Path) -> None:
    from lsimport.send.tasks import CALM_BATCHES

    project = ThrottlingProject()
    tasks = make_tasks(CALM_BATCHES + 20)
    run = upload(project, tmp_path, tasks, batch_size=1, workers=2)
    assert_exactly_once(project, tasks)
    # The first answer said "slow down": from the third batch on (the second was already in
    # flight), one at a time until CALM_BATCHES batches went by without another.
    assert project.running_at_start[2 : 2 + CALM_BATCHES - 1] == [1] * (CALM_BATCHES - 1)
    assert run.summary.throttled == 1 and run.summary.fewest_workers == 1
    assert run.summary.as_dict()["throttled"] == 1
    assert run.uploader._limit == 2  # and back to `workers` once it stayed calm


def test_the_summary_says_when_the_server_asked_to_slow_down() -> None:
    import io

    from lsimport.report.failures import FailureReport
    from lsimport.report.reporters import render_upload

    summary = UploadSummary(records=4, tasks_created=4, duration_s=1.0, throttled=3)
    summary.fewest_workers = 1
    out, err = io.StringIO(), io.StringIO()
    render_upload(summary, FailureReport(None), "text", out, err)
    assert "asked to slow down 3 time(s) (HTTP 429/503)" in out.getvalue()
    assert "1 batch(es) in flight" in out.getvalue()
    render_upload(UploadSummary(records=1), FailureReport(None), "text", out := io.StringIO(), err)
    assert "slow down" not in out.getvalue()


# --- behind a gateway that gives up before the server has finished ---


def test_a_batch_still_saving_when_the_gateway_gives_up_is_waited_for_not_resent(
    tmp_path: Path,
) -> None:
    project = FakeProject()
    clock = FakeTime(1e12)
    project.clock = clock
    tasks = make_tasks(300)
    project.script = [("gateway", 4)]  # lands at the 4th listing after the 504

    run = upload(project, tmp_path, tasks, batch_size=100, time_source=clock)

    assert [len(b) for b in project.imports][:1] == [100]  # sent once
    assert sum(len(b) for b in project.imports) == 300
    s = run.summary
    assert (s.tasks_created, s.failed, s.pending, s.duplicates_removed) == (300, 0, 0, 0)
    # the gateway gave up after 1 s; the batch landed 1 s + the looks' waits after it was sent
    assert s.gateway_timeout_s == pytest.approx(1.0)
    assert s.gateway_batch_size is not None and s.gateway_batch_size < 100
    assert max(len(b) for b in project.imports[1:]) <= s.gateway_batch_size
    assert clock.sleeps[:3] == [0.25, 0.5, 1.0]  # backoff
    assert run.summary.as_dict()["gateway"] == {
        "timeout_s": 1.0,
        "batch_size": s.gateway_batch_size,
    }
    assert_exactly_once(project, tasks)


def test_a_batch_that_lands_after_the_settle_time_is_resent_and_its_copy_deleted(
    tmp_path: Path,
) -> None:
    project = FakeProject()
    clock = FakeTime(1e12)
    tasks = make_tasks(4)
    project.script = [("gateway", None)]  # commits only when the next request comes in

    run = upload(project, tmp_path, tasks, batch_size=4, time_source=clock, settle_timeout=3.0)

    assert [len(b) for b in project.imports] == [4, 4]  # resent after 3 s of looks
    assert sum(clock.sleeps) == pytest.approx(3.0)
    assert len(project.deleted) == 4  # the resend's copies; the first saved are kept
    s = run.summary
    assert (s.tasks_created, s.duplicates_removed, s.failed, s.pending) == (4, 4, 0, 0)
    assert_exactly_once(project, tasks)


def test_a_copy_with_annotations_is_never_deleted(tmp_path: Path) -> None:
    class Annotated(FakeProject):
        def iter_tasks(self, pid: int, **kw: Any) -> Iterator[dict[str, Any]]:
            for task in super().iter_tasks(pid, **kw):
                yield {**task, "total_annotations": 1 if task["id"] > 4 else 0}

    project = Annotated()
    tasks = make_tasks(4)
    project.script = [("gateway", None)]

    run = upload(project, tmp_path, tasks, batch_size=4, settle_timeout=1.0)

    # every copy of the resend (ids 5-8) "has an annotation": the first copies go instead
    assert sorted(project.deleted) == [1, 2, 3, 4]
    assert run.summary.duplicates_removed == 4
    assert_exactly_once(project, tasks)


def test_a_500_from_the_server_itself_is_looked_at_once(tmp_path: Path) -> None:
    class Failing(FakeProject):
        def import_tasks(self, pid: int, body: bytes) -> ImportOutcome:
            if not self.imports:
                self.imports.append(orjson.loads(body))
                raise OutcomeUnknown("500", status=500)
            return super().import_tasks(pid, body)

    project = Failing()
    clock = FakeTime(1e12)
    tasks = make_tasks(3)

    run = upload(project, tmp_path, tasks, time_source=clock)

    assert clock.sleeps == []  # no settle time: the server was done
    assert [len(b) for b in project.imports] == [3, 3]
    assert (run.summary.tasks_created, run.summary.duplicates_removed) == (3, 0)
    assert_exactly_once(project, tasks)
