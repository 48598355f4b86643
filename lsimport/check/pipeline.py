"""`validate`: read -> check -> report, with nothing sent anywhere."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lsimport.check.labelconfig import LabelConfig
from lsimport.check.rules import TaskChecker
from lsimport.model import Finding, Record, ValidationSummary
from lsimport.read.sources import file_size
from lsimport.read.stream import STDIN, Source

if TYPE_CHECKING:
    from lsimport.check.screen import Screen

# Below this, importing msgspec and compiling the screen (~40 ms) costs more than it saves.
MIN_SCREEN_BYTES = 1 << 20


# `--jobs auto` at most this many: past it, one process reading results is the limit.
MAX_AUTO_JOBS = 8


def auto_jobs(usable: int, load: float) -> int:
    """`--jobs auto`: one process per idle core (usable cores less the busy ones, rounded),
    at least one, so that a busy machine gets what `--jobs 1` gives."""
    return max(1, min(round(usable - load), usable, MAX_AUTO_JOBS))


def _promote(findings: list[Finding]) -> list[Finding]:
    return [
        Finding("error", f.code, f.message, f.pointer) if not f.is_error else f for f in findings
    ]


def check_records(
    records: Iterable[Record], checker: TaskChecker, *, strict: bool = False
) -> Iterator[Record]:
    """Attach the checker's findings to every parsed record (`strict`: warnings are errors)."""
    check = checker.check
    for rec in records:
        if rec.task is not None:
            found = check(rec.task)
            if found:
                rec.findings.extend(found)
        if strict and rec.findings:
            rec.findings = _promote(rec.findings)
        yield rec


class Screens:
    """The screen for a config (lsimport/check/screen.py), compiled once, for inputs worth it."""

    def __init__(self, config: LabelConfig | None) -> None:
        self._config = config
        self._compiled = False
        self._screen: Screen | None = None

    def for_source(self, source: Source) -> Screen | None:
        if source.path != STDIN:  # stdin: a pipeline after batch inference, big as a rule
            size = file_size(source)
            if size is None or size < MIN_SCREEN_BYTES:
                return None
        if not self._compiled:
            from lsimport.check.screen import compile_screen  # lazy: msgspec costs start-up time

            self._screen = compile_screen(self._config)
            self._compiled = True
        return self._screen


@dataclass
class Tally:
    """Counts records as they stream past; the reporter's and exit code's source of truth."""

    summary: ValidationSummary = field(default_factory=ValidationSummary)
    _files: set[str] = field(default_factory=set)
    # False: files are not counted (convert reads one label file per task: the set of their
    # names would grow with the dataset, and its summary does not count files)
    count_files: bool = True

    def add(self, rec: Record) -> None:
        s = self.summary
        if self.count_files and rec.file not in self._files:
            self._files.add(rec.file)
            s.files = len(self._files)
        if not rec.findings:  # the common case, kept cheap (a FileProblem always has findings)
            s.records += rec.count
            s.valid += rec.count
            return
        errors = False
        for f in rec.findings:
            if f.is_error:
                errors = True
            else:
                s.warnings += 1
        if rec.is_file_problem:
            if errors:
                s.file_errors += 1
            return
        s.records += 1
        if errors:
            s.invalid += 1
        else:
            s.valid += 1

    def see_file(self, name: str) -> None:
        """Count a file even when it held no records."""
        if name not in self._files:
            self._files.add(name)
            self.summary.files = len(self._files)
