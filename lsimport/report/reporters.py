"""Turn results into output: text, JSON or GitHub annotations. Core code never prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol, TextIO

import orjson

from lsimport.model import (
    Finding,
    OutputFormat,
    PredictionSummary,
    Record,
    UploadSummary,
    ValidationSummary,
)

if TYPE_CHECKING:
    from lsimport.report.failures import FailureReport


def problem_dict(rec: Record, f: Finding) -> dict[str, Any]:
    return {
        "file": rec.file,
        "record": None if rec.is_file_problem else rec.number,
        "line": rec.line,
        "pointer": f.pointer,
        "severity": f.severity,
        "code": f.code,
        "message": f.message,
    }


def finding_line(rec: Record, f: Finding) -> str:
    """`file:line: record N: /pointer: severity: message [code]`"""
    parts = [f"{rec.file}:{rec.line}:"]
    if not rec.is_file_problem:
        parts.append(f" record {rec.number}:")
    if f.pointer:
        parts.append(f" {f.pointer}:")
    parts.append(f" {f.severity}: {f.message} [{f.code}]")
    return "".join(parts)


class ValidationReporter(Protocol):
    def record(self, rec: Record) -> None: ...
    def finish(self, summary: ValidationSummary) -> None: ...


class TextReporter:
    def __init__(self, out: TextIO, *, quiet: bool = False) -> None:
        self.out = out
        self.quiet = quiet

    def record(self, rec: Record) -> None:
        for f in rec.findings:
            self.out.write(finding_line(rec, f) + "\n")

    def finish(self, summary: ValidationSummary) -> None:
        if self.quiet and summary.ok:
            return
        s = summary
        verdict = "ok" if s.ok else "FAILED"
        extra = f", {s.file_errors} file problem(s)" if s.file_errors else ""
        self.out.write(
            f"{verdict}: {s.records} record(s) in {s.files} file(s): {s.valid} valid, "
            f"{s.invalid} invalid, {s.warnings} warning(s){extra}\n"
        )


class JsonReporter:
    """One JSON document on stdout at the end (problems are kept until then)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.problems: list[dict[str, Any]] = []

    def record(self, rec: Record) -> None:
        for f in rec.findings:
            self.problems.append(problem_dict(rec, f))

    def finish(self, summary: ValidationSummary) -> None:
        doc = {
            "files": summary.files,
            "records": summary.records,
            "valid": summary.valid,
            "invalid": summary.invalid,
            "warnings": summary.warnings,
            "problems": self.problems,
        }
        self.out.write(orjson.dumps(doc).decode() + "\n")


def _gh_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


class GithubReporter:
    """GitHub Actions workflow commands: findings show up as annotations on the PR."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def record(self, rec: Record) -> None:
        for f in rec.findings:
            level = "error" if f.is_error else "warning"
            title = f"lsimport {f.code}"
            where = "" if rec.is_file_problem else f"record {rec.number}: "
            ptr = f"{f.pointer}: " if f.pointer else ""
            self.out.write(
                f"::{level} file={_gh_escape(rec.file, prop=True)},line={max(rec.line, 1)},"
                f"title={_gh_escape(title, prop=True)}::{_gh_escape(where + ptr + f.message)}\n"
            )

    def finish(self, summary: ValidationSummary) -> None:
        TextReporter(self.out).finish(summary)


def validation_reporter(
    fmt: OutputFormat, out: TextIO, *, quiet: bool = False
) -> ValidationReporter:
    if fmt == "json":
        return JsonReporter(out)
    if fmt == "github":
        return GithubReporter(out)
    return TextReporter(out, quiet=quiet)


def convert_summary_line(summary: ValidationSummary, written: int, regions: int, dest: str) -> str:
    """`convert`'s last line on stderr: what was written where, what was not."""
    s = summary
    verdict = "ok" if s.ok else "FAILED"
    extra = f", {s.file_errors} file problem(s)" if s.file_errors else ""
    return (
        f"{verdict}: {written} task(s) with {regions} region(s) written to {dest}; "
        f"{s.invalid} not converted, {s.warnings} warning(s){extra}"
    )


def write_failures(failures: FailureReport, err: TextIO) -> None:
    """The first failures, one line per message (`file:line: record N: stage: message`)."""
    for f in failures.first:
        where = f"{f.file}:{f.line}: record {f.record}: " if f.record else f"{f.file}:{f.line}: "
        for m in f.messages or ["failed"]:
            err.write(f"{where}{f.stage}: {m}\n")
    if failures.count > len(failures.first):
        err.write(f"... and {failures.count - len(failures.first)} more\n")


def render_upload(
    summary: UploadSummary,
    failures: FailureReport,
    fmt: OutputFormat,
    out: TextIO,
    err: TextIO,
    *,
    noun: str = "task",
    project: int | None = None,
) -> None:
    """The upload summary: one JSON document, or a few lines of text (failures on stderr)."""
    if fmt == "json":
        out.write(orjson.dumps(summary.as_dict()).decode() + "\n")
        return
    write_failures(failures, err)
    s = summary
    rate = s.tasks_created / s.duration_s if s.duration_s > 0 else 0.0
    if s.dry_run:
        head = f"dry run: {s.would_create} {noun}(s) would be created"
    else:
        head = (
            f"{s.tasks_created} {noun}(s) created with {s.predictions_created} prediction(s)"
            f" in {s.duration_s:.1f} s ({rate:,.0f}/s)"
        )
    out.write(
        f"{head}; {s.records} record(s) read, {s.skipped} skipped (already in the project), "
        f"{s.invalid} invalid, {s.failed} failed by the server\n"
    )
    if failures.count and failures.path is not None:
        out.write(
            f"failure report: {failures.path} ({failures.count} line(s)); fix and re-run it "
            f"with `lsimport upload {failures.path}"
            + (f" --project {project}`\n" if project is not None else "`\n")
        )
    if s.throttled:
        out.write(
            f"the server asked to slow down {s.throttled} time(s) (HTTP 429/503): lsimport waited "
            f"as asked and went down to {s.fewest_workers} batch(es) in flight\n"
        )
    if s.interrupted:
        out.write("interrupted: in-flight batches were settled; run the same command to resume\n")


def render_predictions(
    summary: PredictionSummary,
    failures: FailureReport,
    fmt: Literal["text", "json"],
    out: TextIO,
    err: TextIO,
    *,
    project: int,
    model_version: str | None = None,
) -> None:
    """One JSON document, or a few lines of text (the failures themselves on stderr)."""
    if summary.model_version_note:
        err.write(f"lsimport: {summary.model_version_note}\n")
    if fmt == "json":
        out.write(orjson.dumps(summary.as_dict()).decode() + "\n")
        return
    write_failures(failures, err)
    s = summary
    rate = s.predictions_created / s.duration_s if s.duration_s > 0 else 0.0
    how = "" if s.bulk else ", one request each (the server has no bulk endpoint)"
    out.write(
        f"{s.predictions_created} prediction(s) attached in {s.duration_s:.1f} s "
        f"({rate:,.0f}/s{how}); {s.records} record(s) read, {s.skipped} skipped (already "
        f"attached), {s.invalid} invalid, {s.unmatched} unmatched, {s.failed} failed by the "
        "server\n"
    )
    if s.replaced is not None:
        out.write(f"{s.replaced} older prediction(s) of the same model version removed\n")
    if s.model_version_set:
        out.write(f"project {project} now shows model version {model_version!r}\n")
    elif s.model_version_set is False:
        out.write(f"project {project}'s model version was not changed\n")
    if failures.count and failures.path is not None:
        out.write(
            f"failure report: {failures.path} ({failures.count} line(s)); fix and re-run it "
            f"with `lsimport predictions {failures.path} --project {project}`\n"
        )
