"""Nothing on disk is ever lost: the failure report, the journal's path, outputs vs inputs."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from lsimport.model import Failure
from lsimport.read.sources import is_input
from lsimport.report.failures import FailureReport
from lsimport.send.journal import Journal, default_journal_path, find_journal

URL = "http://ls.example:8080"


def failure(n: int) -> Failure:
    return Failure("in.jsonl", n, n, "validate", ["bad"], {"data": {"n": n}})


def test_the_report_replaces_the_old_one_only_when_closed(tmp_path: Path) -> None:
    path = tmp_path / "failed.jsonl"
    path.write_text("old report\n")
    report = FailureReport(path)
    report.add(failure(1))
    assert path.read_text() == "old report\n"  # still whole while the run goes on
    report.close()
    assert [orjson.loads(line)["record"] for line in path.read_bytes().splitlines()] == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["failed.jsonl"]  # no temporary file left


def test_a_run_with_nothing_to_report_removes_the_old_report(tmp_path: Path) -> None:
    path = tmp_path / "failed.jsonl"
    path.write_text("old report\n")
    report = FailureReport(path)
    report.close()
    assert not path.exists() and report.cleared


def test_a_report_that_is_an_input_is_kept_when_the_input_was_not_read_to_the_end(
    tmp_path: Path,
) -> None:
    path = tmp_path / "failed.jsonl"
    path.write_text("the input\n")
    report = FailureReport(path, replaces_input=True)
    report.add(failure(1))
    report.close(complete=False)
    assert path.read_text() == "the input\n" and report.kept_input
    assert [p.name for p in tmp_path.iterdir()] == ["failed.jsonl"]
    # Read to its end, it is replaced (and with nothing left, removed).
    done = FailureReport(path, replaces_input=True)
    done.close(complete=True)
    assert not path.exists() and done.cleared


def test_an_interrupted_run_leaves_an_old_report_in_place(tmp_path: Path) -> None:
    path = tmp_path / "failed.jsonl"
    path.write_text("old report\n")
    report = FailureReport(path)
    report.close(complete=False)
    assert path.read_text() == "old report\n" and not report.cleared


def test_is_input_sees_the_same_file_under_another_name(tmp_path: Path) -> None:
    data = tmp_path / "tasks.jsonl"
    data.write_text("{}\n")
    os.link(data, tmp_path / "hardlink.jsonl")
    inputs = [str(data), "-"]
    assert is_input(str(tmp_path / "." / "tasks.jsonl"), inputs)
    assert is_input(str(tmp_path / "hardlink.jsonl"), inputs)
    assert not is_input(str(tmp_path / "other.jsonl"), inputs)


def test_the_default_journal_depends_on_server_and_project(tmp_path: Path) -> None:
    data = tmp_path / "tasks.jsonl"
    data.write_text("{}\n")
    state = tmp_path / "state"
    one = default_journal_path(str(data), URL, 1, state)
    two = default_journal_path(str(data), URL, 2, state)
    other = default_journal_path(str(data), "http://elsewhere", 1, state)
    assert len({one, two, other}) == 3
    assert one.parent == tmp_path and one.name.startswith("tasks.jsonl.")
    assert default_journal_path("-", URL, 1, state).parent == state


def _old_journal(path: Path, project: int) -> None:
    path.write_bytes(orjson.dumps({"v": 1, "url": URL, "project": project}) + b"\n")


def test_an_old_journal_beside_the_input_is_still_found_for_its_project(tmp_path: Path) -> None:
    data = tmp_path / "tasks.jsonl"
    data.write_text("{}\n")
    old = tmp_path / "tasks.jsonl.lsimport-journal"
    _old_journal(old, 1)
    state = tmp_path / "state"
    assert find_journal(str(data), URL, 1, state) == old
    # Another project gets a journal of its own; the old one is left alone.
    assert find_journal(str(data), URL, 2, state) == default_journal_path(str(data), URL, 2, state)
    assert old.read_bytes() == orjson.dumps({"v": 1, "url": URL, "project": 1}) + b"\n"


def test_the_journal_header_holds_no_credentials(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal(path, "http://me:secret@ls.example:8080", 1, fsync=False)
    journal.start(fresh=True)
    journal.close()
    assert b"secret" not in path.read_bytes()
    assert Journal(path, "http://me:secret@ls.example:8080", 1).load() is not None


@pytest.mark.parametrize("content", [b'{"v": 1, "url": "http://x", "project": 9}\n', b"hello\n"])
def test_a_file_that_is_not_this_projects_journal_is_told_apart(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "j"
    path.write_bytes(content)
    journal = Journal(path, URL, 1)
    assert journal.load() is None and journal.belongs_elsewhere()
    assert not Journal(tmp_path / "none", URL, 1).belongs_elsewhere()
