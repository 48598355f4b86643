"""`copy`: one project's tasks, with annotations and predictions, streamed into another.

    source project (paged) -> tasks as an export gives them -> the upload pipeline

The source is read page by page through `/api/tasks?fields=all`, which gives each task as the
JSON export does (ids, counters, drafts, annotations, full predictions). Each annotation's
author, a user id of the source server, is replaced by that user's email (the source's users
are read once), so that the upload matches it to a user of the target by email
(lsimport.send.annotators). The rest is the upload: lsimport.read.exports makes each task an
import task, keys make a rerun copy nothing, the journal, Ctrl-C and the failure report work
as they do for files.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from lsimport.model import Record
from lsimport.send.predictions import TaskSource

# Tasks per page: with annotations and predictions a task is a few kB, often more.
PAGE_SIZE = 100


class SourceProject(TaskSource, Protocol):
    def list_users(self) -> list[dict[str, Any]]: ...


def emails_by_id(users: list[dict[str, Any]]) -> dict[int, str]:
    return {
        u["id"]: u["email"]
        for u in users
        if isinstance(u.get("id"), int) and isinstance(u.get("email"), str) and u["email"]
    }


def with_emails(task: dict[str, Any], emails: Mapping[int, str]) -> dict[str, Any]:
    """The task with each annotation's `completed_by` (a source user id) as that user's email;
    an id the source has no user for is left as it is (the upload then credits the importer
    and says so)."""
    annotations = task.get("annotations")
    if not isinstance(annotations, list):
        return task
    named = []
    for annotation in annotations:
        if isinstance(annotation, dict):
            author = annotation.get("completed_by")
            if isinstance(author, int) and author in emails:
                annotation = {**annotation, "completed_by": {"email": emails[author]}}
        named.append(annotation)
    return {**task, "annotations": named}


def iter_project_records(client: SourceProject, project: int, name: str) -> Iterator[Record]:
    """The source project's tasks as records: `name` is the file, the task id the line."""
    emails = emails_by_id(client.list_users())
    tasks = client.iter_tasks(project, page_size=PAGE_SIZE, fields="all", resolve_uri=False)
    for number, task in enumerate(tasks, 1):
        tid = task.get("id")
        line = tid if isinstance(tid, int) else number
        yield Record(name, number, line, with_emails(task, emails))
