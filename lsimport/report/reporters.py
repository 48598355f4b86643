"""Turn results into output: text, JSON or GitHub annotations. Core code never prints."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol, TextIO

import orjson

from lsimport.model import (
    Finding,
    OutputFormat,
    PredictionSummary,
    Record,
    Timing,
    UploadSummary,
    ValidationSummary,
)
from lsimport.settings import MAX_FINDINGS

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
    def flush(self) -> None:
        """Write what is held back, when the run stops before `finish` (an error, Ctrl-C)."""


_FIRST_AT = 3  # locations the table names per code


@dataclass
class CodeTally:
    """One finding code: how often it was seen, where first, and its first message."""

    count: int = 0
    first: list[str] = field(default_factory=list)
    message: str = ""


class FindingGroups:
    """Counts findings per code and says which to print: the first `limit` of each code
    (None: every one). Memory grows with the number of codes, not of findings."""

    def __init__(self, limit: int | None = MAX_FINDINGS) -> None:
        self.limit = limit
        self.codes: dict[str, CodeTally] = {}
        self.held_back = 0

    def add(self, rec: Record, f: Finding, *, shown: bool = False) -> bool:
        """Count one finding; True when it is to be printed (`shown`: it is, elsewhere)."""
        tally = self.codes.get(f.code)
        if tally is None:
            message = f"{f.pointer}: {f.message}" if f.pointer else f.message
            tally = self.codes[f.code] = CodeTally(message=message)
        tally.count += 1
        if len(tally.first) < _FIRST_AT:
            tally.first.append(f"{rec.file}:{rec.line}")
        if shown or self.limit is None or tally.count <= self.limit:
            return True
        self.held_back += 1
        return False

    def write_table(self, out: TextIO) -> None:
        """Per code: count, first locations, first message; only when some were held back."""
        if not self.held_back:
            return
        out.write(
            f"{self.held_back:,} more finding(s) not printed (the first {self.limit} of each "
            "code were; --max-findings N or --all-findings prints more); by code:\n"
        )
        rows = [("code", "count", "first at", "message")]
        for code, t in sorted(self.codes.items(), key=lambda item: -item[1].count):
            message = t.message if len(t.message) <= 100 else t.message[:99] + "…"
            rows.append((code, f"{t.count:,}", ", ".join(t.first), message))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for code, count, first, message in rows:
            out.write(
                f"  {code:<{widths[0]}}  {count:>{widths[1]}}  {first:<{widths[2]}}  {message}\n"
            )


def verdict_line(s: ValidationSummary) -> str:
    verdict = "ok" if s.ok else "FAILED"
    extra = f", {s.file_errors} file problem(s)" if s.file_errors else ""
    return (
        f"{verdict}: {s.records} record(s) in {s.files} file(s): {s.valid} valid, "
        f"{s.invalid} invalid, {s.warnings} warning(s){extra}\n"
    )


class TextReporter:
    """One line per finding, the first `max_findings` of each code; then, when some were
    held back, a table per code; then the verdict (always the last line)."""

    def __init__(
        self, out: TextIO, *, quiet: bool = False, max_findings: int | None = MAX_FINDINGS
    ) -> None:
        self.out = out
        self.quiet = quiet
        self.groups = FindingGroups(max_findings)

    def record(self, rec: Record) -> None:
        for f in rec.findings:
            if self.groups.add(rec, f):
                self.out.write(finding_line(rec, f) + "\n")

    def flush(self) -> None:
        """Nothing is held back: each line is written as it is found."""

    def finish(self, summary: ValidationSummary) -> None:
        if self.quiet and summary.ok:
            return
        self.groups.write_table(self.out)
        self.out.write(verdict_line(summary))


_NUMBERS = '"record":0,"line":0'
_BATCH = 256  # problems a JSON write holds (and one record's findings past that)
_MAX_AROUND = 4096


class JsonReporter:
    """One JSON document, streamed: problems are written as they are found, _BATCH at a time,
    the counts at the end, so memory stays flat whatever the number of problems. A run that
    stops before the end (`flush`) leaves the problems found so far, without the counts."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._started = False  # the document's head and a first problem are written
        # A file's finding, written once: the JSON around its record and line numbers. A
        # systematic mistake is the same finding a million times (check/screen.py).
        self._around: dict[tuple[str, Finding], tuple[str, str]] = {}
        # Problems not written yet: one write per _BATCH of them. A write per problem cost
        # 0.6 us each in the text layer (300,000 problems: 0.17-0.20 s against 0.06 s).
        self._pending: list[str] = []

    def record(self, rec: Record) -> None:
        pending = self._pending
        for f in rec.findings:
            pending.append((",\n" if self._started else '{"problems":[\n') + self._problem(rec, f))
            self._started = True
        if len(pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.out.write("".join(self._pending))
            self._pending.clear()

    def _problem(self, rec: Record, f: Finding) -> str:
        """orjson.dumps(problem_dict(rec, f)), made from the parts that do not change."""
        if rec.is_file_problem:
            return orjson.dumps(problem_dict(rec, f)).decode()
        around = self._around.get((rec.file, f))
        if around is None:
            if len(self._around) >= _MAX_AROUND:
                self._around.clear()
            whole = orjson.dumps(problem_dict(replace(rec, number=0, line=0), f)).decode()
            head, tail = whole.split(_NUMBERS, 1)  # (strings escape their quotes: no clash)
            around = self._around[rec.file, f] = (head + '"record":', tail)
        head, tail = around
        return f'{head}{rec.number},"line":{rec.line}{tail}'

    def finish(self, summary: ValidationSummary) -> None:
        counts = {
            "files": summary.files,
            "records": summary.records,
            "valid": summary.valid,
            "invalid": summary.invalid,
            "warnings": summary.warnings,
            "file_errors": summary.file_errors,
            "jobs": summary.jobs,
        }
        head = "" if self._started else '{"problems":['
        self._pending.append(head + "\n]," + orjson.dumps(counts).decode()[1:] + "\n")
        self.flush()


def _gh_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


# GitHub shows 10 error, 10 warning and 10 notice annotations per step (50 per job) and drops
# the rest without a word (actions/toolkit, docs/problem-matchers.md, "Limitations").
GITHUB_ANNOTATIONS_PER_STEP = 10


class GithubReporter:
    """GitHub Actions workflow commands: the first 10 errors and 10 warnings become
    annotations on the PR; the rest are log lines, grouped as in the text output; the totals
    end it, as a notice (an annotation of its own budget) and as the verdict line."""

    def __init__(self, out: TextIO, *, max_findings: int | None = MAX_FINDINGS) -> None:
        self.out = out
        self.annotated = {"error": 0, "warning": 0}
        self.errors = 0
        self.groups = FindingGroups(max_findings)

    def record(self, rec: Record) -> None:
        for f in rec.findings:
            level = "error" if f.is_error else "warning"
            self.errors += f.is_error
            if self.annotated[level] < GITHUB_ANNOTATIONS_PER_STEP:
                self.annotated[level] += 1
                self.groups.add(rec, f, shown=True)
                self._annotate(level, rec, f)
            elif self.groups.add(rec, f):
                self.out.write(finding_line(rec, f) + "\n")

    def flush(self) -> None:
        """Nothing is held back: each line is written as it is found."""

    def _annotate(self, level: str, rec: Record, f: Finding) -> None:
        title = f"lsimport {f.code}"
        where = "" if rec.is_file_problem else f"record {rec.number}: "
        ptr = f"{f.pointer}: " if f.pointer else ""
        self.out.write(
            f"::{level} file={_gh_escape(rec.file, prop=True)},line={max(rec.line, 1)},"
            f"title={_gh_escape(title, prop=True)}::{_gh_escape(where + ptr + f.message)}\n"
        )

    def finish(self, summary: ValidationSummary) -> None:
        self.groups.write_table(self.out)
        total = sum(t.count for t in self.groups.codes.values())
        if total:
            shown = sum(self.annotated.values())
            rest = (
                f"; {total - shown:,} not annotated (GitHub shows "
                f"{GITHUB_ANNOTATIONS_PER_STEP} errors and {GITHUB_ANNOTATIONS_PER_STEP} "
                "warnings per step): this step's log has them, by code"
                if shown < total
                else ""
            )
            text = (
                f"{total:,} finding(s) ({self.errors:,} error(s), {total - self.errors:,} "
                f"warning(s)) in {summary.records:,} record(s); {summary.invalid:,} invalid{rest}"
            )
            self.out.write(f"::notice title=lsimport totals::{_gh_escape(text)}\n")
        self.out.write(verdict_line(summary))


def validation_reporter(
    fmt: OutputFormat,
    out: TextIO,
    *,
    quiet: bool = False,
    max_findings: int | None = MAX_FINDINGS,
) -> ValidationReporter:
    """`max_findings`: findings printed per code (None: all); JSON always has every one."""
    if fmt == "json":
        return JsonReporter(out)
    if fmt == "github":
        return GithubReporter(out, max_findings=max_findings)
    return TextReporter(out, quiet=quiet, max_findings=max_findings)


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
            f" in {s.duration_s:.1f} s ({rate:,.0f}/s{waiting(s.timing)})"
        )
    repeats = f", {s.repeated} repeats of earlier data" if s.dedupe or s.repeated else ""
    out.write(
        f"{head}; {s.records} record(s) read, {s.skipped} skipped (already in the project)"
        f"{repeats}, {s.invalid} invalid, {s.failed} failed by the server\n"
    )
    if failures.count and failures.path is not None:
        out.write(
            f"failure report: {failures.path} ({failures.count} line(s)); fix and re-run it "
            f"with `lsimport upload {failures.path}"
            + (f" --project {project}`\n" if project is not None else "`\n")
        )
    write_report_fate(failures, out)
    if s.throttled:
        out.write(
            f"the server asked to slow down {s.throttled} time(s) (HTTP 429/503): lsimport waited "
            f"as asked and went down to {s.fewest_workers} batch(es) in flight\n"
        )
    if s.interrupted:
        out.write("interrupted: in-flight batches were settled; run the same command to resume\n")


def waiting(timing: Timing | None) -> str:
    """How much of the time went waiting for the server: how close the run came to the
    server's own limit (the rest is lsimport's)."""
    if timing is None:
        return ""
    return f", {timing.server_share:.0%} of the time waiting for the server"


def write_report_fate(failures: FailureReport, out: TextIO) -> None:
    """What became of an old failure report that this run had nothing left for."""
    if failures.cleared:
        out.write(f"no failures: removed the old report {failures.path}\n")
    elif failures.kept_input:
        out.write(
            f"the failure report {failures.path} is also an input and the run stopped before "
            "reading all of it: it was left as it was (run the same command again)\n"
        )


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
    write_report_fate(failures, out)
