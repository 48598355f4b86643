"""`verify`'s output: text, JSON or GitHub annotations. One line per record that is not exact."""

from __future__ import annotations

from typing import TextIO

import orjson

from lsimport.model import OutputFormat
from lsimport.report.reporters import _gh_escape
from lsimport.send.verify import Verdict, VerifySummary

TITLES = {
    "missing": "missing",
    "duplicated": "duplicated",
    "predictions": "predictions differ",
    "invalid": "not verified",
}


class VerifyReporter:
    """Text and GitHub lines as verdicts come (streamed); JSON as one document at the end."""

    def __init__(self, fmt: OutputFormat, out: TextIO, *, project: int, keep: int = 1000) -> None:
        self.fmt = fmt
        self.out = out
        self.project = project
        self.keep = keep
        self.verdicts: list[dict[str, object]] = []
        self.left_off = 0

    def verdict(self, v: Verdict) -> None:
        where = f"record {v.record}: " if v.record else ""
        if self.fmt == "json":
            if len(self.verdicts) >= self.keep:
                self.left_off += 1
                return
            self.verdicts.append(
                {
                    "file": v.file,
                    "record": v.record or None,
                    "line": v.line,
                    "kind": v.kind,
                    "message": v.message,
                    "tasks": v.tasks,
                }
            )
        elif self.fmt == "github":
            title = _gh_escape(f"lsimport verify {TITLES[v.kind]}", prop=True)
            self.out.write(
                f"::error file={_gh_escape(v.file, prop=True)},line={max(v.line, 1)},"
                f"title={title}::{_gh_escape(where + v.message)}\n"
            )
        else:
            self.out.write(f"{v.file}:{v.line}: {where}{TITLES[v.kind]}: {v.message}\n")

    def finish(self, s: VerifySummary) -> None:
        if self.fmt == "json":
            doc = {**s.as_dict(), "problems": self.verdicts}
            if self.left_off:
                doc["problems_left_off"] = self.left_off
            self.out.write(orjson.dumps(doc).decode() + "\n")
            return
        for note in s.project_notes:
            if self.fmt == "github":
                self.out.write(f"::error title=lsimport verify project::{_gh_escape(note)}\n")
            else:
                self.out.write(f"project: {note}\n")
        verdict = "exact" if s.ok else "NOT EXACT"
        extra = f", {s.file_errors} file problem(s)" if s.file_errors else ""
        self.out.write(
            f"{verdict}: {s.records} record(s) in {s.files} file(s) against project "
            f"{self.project} ({s.project_tasks} task(s)): {s.exact} exact, {s.missing} missing, "
            f"{s.duplicated} duplicated, {s.predictions_differ} with other predictions, "
            f"{s.invalid} not verified{extra}\n"
        )
