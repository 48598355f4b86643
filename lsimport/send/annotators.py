"""Annotations' `completed_by` mapped to users of the target server, by email.

An export names an annotation's author as `{"id": 3, "email": "ann@example.com", ...}` (a
snapshot) with the exporting server's ids. Label Studio resolves the email itself on import,
but an email it does not know rejects the whole request (`Unknown annotator's email`): here
each annotation gets the target's user id for its email, or the record an error that names the
user, before anything is sent. The target's users are read once, on the first annotation that
needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from lsimport.model import Record, error


class Annotators:
    """The target's users by email; `assign` maps the annotations of a stream of records."""

    def __init__(self, read_users: Callable[[], Iterable[Mapping[str, Any]]]) -> None:
        self._read_users = read_users
        self._by_email: dict[str, int] | None = None

    def user_id(self, email: str) -> int | None:
        if self._by_email is None:
            self._by_email = {}
            for user in self._read_users():
                uid, mail = user.get("id"), user.get("email")
                if isinstance(uid, int) and isinstance(mail, str) and mail:
                    self._by_email.setdefault(mail.casefold(), uid)
        return self._by_email.get(email.casefold())

    def assign(self, records: Iterable[Record]) -> Iterator[Record]:
        for rec in records:
            task = rec.task
            if task is not None and isinstance(task.get("annotations"), list):
                self._map(rec, task)
            yield rec

    def _map(self, rec: Record, task: dict[str, Any]) -> None:
        annotations = task["annotations"]
        mapped = None
        for i, annotation in enumerate(annotations):
            if not isinstance(annotation, dict):
                continue
            author = annotation.get("completed_by")
            email = author.get("email") if isinstance(author, dict) else author
            if not isinstance(email, str) or "@" not in email:
                continue
            uid = self.user_id(email)
            if uid is None:
                rec.findings.append(
                    error(
                        "export.annotator",
                        f"no user of the target server has the email {email!r} (completed_by): "
                        "add them to the organization and run again, or remove completed_by "
                        "to credit the annotation to the importing user",
                        f"/annotations/{i}/completed_by",
                    )
                )
                continue
            if mapped is None:
                mapped = list(annotations)
            mapped[i] = {**annotation, "completed_by": uid}
        if mapped is not None:
            rec.task = {**task, "annotations": mapped}
