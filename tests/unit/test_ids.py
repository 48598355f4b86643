"""`--ids FILE` (lsimport.send.ids): where it may go, and the join of records with task ids."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lsimport.errors import UsageError
from lsimport.model import Record, error
from lsimport.send.ids import IdsFile, check_ids_path
from lsimport.send.keys import KEY_FIELD, Identity, data_hash


def test_the_ids_file_is_never_an_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "tasks.jsonl"
    source.write_text("{}\n")
    (tmp_path / "sub").mkdir()
    os.link(source, tmp_path / "hard.jsonl")
    (tmp_path / "soft.jsonl").symlink_to(source)
    monkeypatch.chdir(tmp_path / "sub")
    for ids in (str(source), "../tasks.jsonl", str(tmp_path / "hard.jsonl"), "../soft.jsonl"):
        with pytest.raises(UsageError, match="is one of the inputs"):
            check_ids_path(ids, ["-", str(source)])
    for ids in ("-", str(tmp_path)):
        with pytest.raises(UsageError, match="must be a file path"):
            check_ids_path(ids, [str(source)])
    check_ids_path("ids.jsonl", ["-", str(source)])


class Project:
    """The `iter_tasks` the join reads (id and meta of each task)."""

    def __init__(self, tasks: list[dict[str, Any]]) -> None:
        self.tasks = tasks

    def iter_tasks(self, pid: int, **kwargs: Any) -> Iterator[dict[str, Any]]:
        yield from self.tasks


def rec(number: int, data: dict[str, Any] | None, *findings: Any) -> Record:
    task = {"data": data} if data is not None else None
    return Record("in.jsonl", number, number + 1, task, None, list(findings))


def test_records_get_the_ids_of_their_tasks_and_refused_ones_none(tmp_path: Path) -> None:
    datas = [{"t": "a"}, {"t": "b"}, {"t": "a"}, {"t": "c"}]
    records = [rec(i, d) for i, d in enumerate(datas, 1)]
    records.append(rec(5, None, error("read.json", "bad")))
    records.append(rec(6, {"t": "d"}, error("config.label", "bad")))
    a = data_hash({"t": "a"})
    project = Project(
        [{"id": 8, "meta": {KEY_FIELD: data_hash(d)}} for d in ({"t": "a"}, {"t": "b"})]
        + [{"id": 3, "meta": {KEY_FIELD: a}}, {"id": 9, "meta": {}}]
        + [{"id": 7, "meta": {KEY_FIELD: f"{a}#2"}}]  # record 3: the second record of a
    )
    ids = IdsFile(str(tmp_path / "out" / "ids.jsonl"))
    assert [r.number for r in ids.tap(records, Identity())] == [1, 2, 3, 4, 5, 6]
    ids.join(project, 1)  # type: ignore[arg-type]
    assert not (tmp_path / "out" / "ids.jsonl").exists()  # only once complete
    ids.finish()
    lines = [orjson.loads(x) for x in (tmp_path / "out" / "ids.jsonl").read_bytes().splitlines()]
    # Two tasks hold key a (--allow-duplicates): the first record of it gets the first; the
    # second record of a is a task of its own (a#2); record 4's task was refused by the
    # server: it is not in the project.
    assert [(x["record"], x["line"], x["task"]) for x in lines] == [(1, 2, 3), (2, 3, 8), (3, 4, 7)]
    assert lines[0] == {
        "file": "in.jsonl",
        "record": 1,
        "line": 2,
        "key": data_hash({"t": "a"}),
        "task": 3,
    }


def test_an_abandoned_ids_file_leaves_nothing(tmp_path: Path) -> None:
    ids = IdsFile(str(tmp_path / "ids.jsonl"))
    ids.place("p.jsonl", 1, 1, "k", 5)
    ids.abandon()
    assert list(tmp_path.iterdir()) == []
    empty = IdsFile(str(tmp_path / "none.jsonl"))
    empty.finish()
    assert (tmp_path / "none.jsonl").read_bytes() == b""
