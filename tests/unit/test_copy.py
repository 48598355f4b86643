"""`copy`'s pieces: the source's connection, the settings' rules, annotators by email."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lsimport.errors import UsageError
from lsimport.read.exports import iter_import_records
from lsimport.send.annotators import Annotators
from lsimport.send.copy import iter_project_records, with_emails
from lsimport.settings import Connection, CopySettings, resolve_source

TARGET = Connection("http://new.example.com", "target-token")


def test_the_source_is_the_target_server_unless_named_and_its_token_is_its_own() -> None:
    same = resolve_source(None, None, TARGET, {})
    assert (same.url, same.api_key) == (TARGET.url, "target-token")
    other = resolve_source(
        "http://old.example.com/", None, TARGET, {"LABEL_STUDIO_FROM_API_KEY": "old-token"}
    )
    assert (other.url, other.api_key) == ("http://old.example.com", "old-token")
    assert resolve_source("http://old.example.com", "given", TARGET, {}).api_key == "given"
    # The target's token is never sent to another server.
    with pytest.raises(UsageError, match="its token is needed"):
        resolve_source("http://old.example.com", None, TARGET, {})
    with pytest.raises(UsageError, match="must start with http"):
        resolve_source("old.example.com", "k", TARGET, {})
    assert "old-token" not in repr(other)


def test_copy_needs_one_target() -> None:
    with pytest.raises(UsageError, match="give the target"):
        CopySettings(from_project=1, source=TARGET, connection=TARGET)
    with pytest.raises(UsageError, match="give the target"):
        CopySettings(
            from_project=1, source=TARGET, connection=TARGET, project=2, create_project="abc"
        )
    with pytest.raises(UsageError, match="3 to 50"):
        CopySettings(from_project=1, source=TARGET, connection=TARGET, create_project="ab")
    with pytest.raises(UsageError, match="source project itself"):
        CopySettings(from_project=1, source=TARGET, connection=TARGET, project=1)
    other = Connection("http://old.example.com", "k")
    assert CopySettings(from_project=1, source=other, connection=TARGET, project=1).project == 1


class Source:
    """A source project as `/api/tasks?fields=all` and `/api/users/` give it."""

    def __init__(self, tasks: list[dict[str, Any]]) -> None:
        self.tasks = tasks

    def iter_tasks(self, pid: int, **kwargs: Any) -> Iterator[dict[str, Any]]:
        assert kwargs["fields"] == "all"
        yield from self.tasks

    def list_users(self) -> list[dict[str, Any]]:
        return [{"id": 1, "email": "admin@old"}, {"id": 2, "email": "ann@old"}]


def test_annotators_go_by_email_from_source_ids_to_target_ids() -> None:
    task = {
        "id": 40,
        "inner_id": 1,
        "data": {"t": "a"},
        "drafts": [{"id": 1}],
        "annotations": [
            {"id": 5, "completed_by": 2, "result": [], "task": 40},
            {"id": 6, "completed_by": 9, "result": []},  # a user the source no longer has
        ],
        "predictions": [{"id": 3, "result": [], "model_version": "m", "task": 40}],
    }
    records = list(iter_project_records(Source([task]), 4, "project 4"))
    assert [(r.file, r.number, r.line) for r in records] == [("project 4", 1, 40)]
    assert records[0].task["annotations"][0]["completed_by"] == {"email": "ann@old"}  # type: ignore[index]
    target_users = [{"id": 70, "email": "ann@old"}]
    [rec] = Annotators(lambda: target_users).assign(iter_import_records(records))
    assert rec.task == {
        "data": {"t": "a"},
        "annotations": [{"completed_by": 70, "result": []}, {"result": []}],
        "predictions": [{"result": [], "model_version": "m"}],
    }
    assert [f.code for f in rec.findings] == ["export.annotator-id"]
    assert with_emails({"data": {}}, {}) == {"data": {}}
