"""The library API: what the CLI does, called from Python on iterables of dicts.

    import lsimport
    result = lsimport.validate(tasks, label_config=xml)
    result = lsimport.upload(tasks, project=3, url=..., api_key=...)
    result = lsimport.attach_predictions(predictions, project=3, match_on="data.image")

Each streams its input (any iterable, a generator included), prints nothing, installs no
signal handlers, and keeps only a bounded number of problems or failures in memory (the
counts are always complete; `on_problem` sees every problem of `validate`). Each is safe to
call from several threads or worker processes at once: nothing is shared between calls.
The guarantees are the CLI's, since the CLI's commands come to the same functions
(`run.upload_records`, `run.attach_records`, `check.pipeline.check_records`): keys make a
rerun create nothing, batches are settled exactly once. Errors that stop a run raise
`lsimport.errors.LsImportError` subclasses: `UsageError` (bad arguments or config) and
`ServerError` (the server cannot be used).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from lsimport.check.labelconfig import LabelConfig, parse_label_config
from lsimport.check.pipeline import Tally, check_records
from lsimport.check.rules import TaskChecker
from lsimport.environment import Environment
from lsimport.errors import ServerError
from lsimport.model import Failure, Record, Severity
from lsimport.read.common import record_from_value
from lsimport.read.exports import iter_import_records
from lsimport.settings import (
    PREDICTION_BATCH_SIZE,
    PredictionSettings,
    UploadSettings,
    resolve_connection,
)

__all__ = [
    "PredictionResult",
    "Problem",
    "UploadResult",
    "ValidationResult",
    "attach_predictions",
    "upload",
    "validate",
]

# How many problems / failures a result keeps in memory; the counts are always complete.
DEFAULT_KEEP = 1000


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding on one record, with the keys of `lsimport validate --output json`."""

    file: str
    record: int | None  # None: a problem with the input as a whole
    line: int
    pointer: str
    severity: Severity
    code: str
    message: str


@dataclass(frozen=True)
class ValidationResult:
    records: int
    valid: int
    invalid: int
    warnings: int
    file_errors: int
    problems: tuple[Problem, ...]  # the first `keep` problems

    @property
    def ok(self) -> bool:
        return self.invalid == 0 and self.file_errors == 0


@dataclass(frozen=True)
class UploadResult:
    records: int
    tasks_created: int
    predictions_created: int
    skipped: int
    invalid: int
    failed: int
    file_errors: int
    duration_s: float
    dry_run: bool
    would_create: int
    failures: tuple[Failure, ...]  # the first `keep` records that did not get in, and why
    repeated: int = 0  # not sent: they repeat an earlier record (`dedupe`, `key`)

    @property
    def ok(self) -> bool:
        return not (self.invalid or self.failed or self.file_errors)


@dataclass(frozen=True)
class PredictionResult:
    records: int
    predictions_created: int
    skipped: int
    invalid: int
    unmatched: int
    failed: int
    file_errors: int
    duration_s: float
    failures: tuple[Failure, ...]
    replaced: int | None = None  # with replace=True: older predictions removed

    @property
    def ok(self) -> bool:
        return not (self.invalid or self.unmatched or self.failed or self.file_errors)


def _records(items: Iterable[Any], name: str) -> Iterator[Record]:
    for number, item in enumerate(items, 1):
        value = dict(item) if isinstance(item, Mapping) else item
        yield record_from_value(name, number, number, value, None)


def _quiet_env(transport: Any) -> Environment:
    """Streams that go nowhere: the library prints nothing."""
    return Environment(
        stdin=io.BytesIO(),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        environ=os.environ,
        transport=transport,
    )


def _config(label_config: str | LabelConfig | None) -> LabelConfig | None:
    if label_config is None or isinstance(label_config, LabelConfig):
        return label_config
    return parse_label_config(label_config, source="label_config")


def _control_names(config: LabelConfig | None) -> frozenset[str]:
    return frozenset(config.controls) if config is not None else frozenset()


def validate(
    tasks: Iterable[Any],
    *,
    label_config: str | LabelConfig | None = None,
    strict: bool = False,
    name: str = "<tasks>",
    keep: int = DEFAULT_KEEP,
    on_problem: Callable[[Problem], None] | None = None,
) -> ValidationResult:
    """Check tasks (dicts in Label Studio's JSON task format) against the task format and,
    when given, a labeling config (its XML). `record` in each problem is the 1-based
    position in `tasks`. Nothing is sent anywhere."""
    config = _config(label_config)
    checker = TaskChecker(config)
    tally = Tally()
    tally.see_file(name)
    kept: list[Problem] = []
    records = iter_import_records(_records(tasks, name), control_names=_control_names(config))
    for rec in check_records(records, checker, strict=strict):
        tally.add(rec)
        for f in rec.findings:
            problem = Problem(
                rec.file,
                None if rec.is_file_problem else rec.number,
                rec.line,
                f.pointer,
                f.severity,
                f.code,
                f.message,
            )
            if on_problem is not None:
                on_problem(problem)
            if len(kept) < keep:
                kept.append(problem)
    s = tally.summary
    return ValidationResult(s.records, s.valid, s.invalid, s.warnings, s.file_errors, tuple(kept))


def upload(
    tasks: Iterable[Any],
    *,
    project: int,
    url: str | None = None,
    api_key: str | None = None,
    batch_size: int | None = None,
    max_batch_bytes: int = 8 * 1024 * 1024,
    workers: int | None = None,
    key: str | None = None,
    allow_duplicates: bool = False,
    dedupe: bool = False,
    model_version: str | None = None,
    preannotated_from_fields: tuple[str, ...] = (),
    config_check: bool = True,
    journal: str | None = None,
    failures: str | None = None,
    ids: str | None = None,
    dry_run: bool = False,
    strict: bool = False,
    ca_bundle: str | None = None,
    timeout: float | None = None,
    name: str = "<tasks>",
    keep: int = DEFAULT_KEEP,
    transport: Any = None,
) -> UploadResult:
    """Validate tasks against the project's labeling config and import the valid ones, each
    once (two tasks with the same data are two tasks; `dedupe` skips data already there or
    earlier in `tasks`): running it again on the same tasks creates nothing. `url` and
    `api_key` default to LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY. With `journal` (a
    path), a crashed run's last batches are settled from it; without, from the project
    itself. `failures` (a path) gets the failure report, as `--failures` does, and `ids` (a
    path) which task each task became, as `--ids` does. Label Studio's own exports are taken
    as `upload` takes them."""
    from lsimport.run import upload_records

    env = _quiet_env(transport)
    settings = UploadSettings(
        paths=(name,),
        project=project,
        connection=resolve_connection(
            url, api_key, env.environ, ca_bundle=ca_bundle, timeout=timeout
        ),
        config_check=config_check,
        batch_size=batch_size,
        max_batch_bytes=max_batch_bytes,
        workers=workers,
        preannotated_from_fields=preannotated_from_fields,
        model_version=model_version,
        dry_run=dry_run,
        key=key,
        allow_duplicates=allow_duplicates,
        dedupe=dedupe,
        journal=journal,
        failures=failures,
        quiet=True,
        strict=strict,
        ids=ids,
    )

    def records_for(config: LabelConfig | None) -> Iterable[Record]:
        records = _records(tasks, name)
        if preannotated_from_fields and config is not None:
            from lsimport.check.preannotate import preannotate

            return preannotate(records, config, preannotated_from_fields, model_version)
        return records

    outcome = upload_records(
        records_for, settings, env, journal_anchor=None, handle_signals=False, keep=keep
    )
    _raise_fatal(outcome.fatal)
    return _result(UploadResult, outcome.summary, outcome.failures.first)


def attach_predictions(
    records: Iterable[Any],
    *,
    project: int,
    match_on: str | None = None,
    url: str | None = None,
    api_key: str | None = None,
    model_version: str | None = None,
    config_check: bool = True,
    batch_size: int = PREDICTION_BATCH_SIZE,
    max_batch_bytes: int = 8 * 1024 * 1024,
    failures: str | None = None,
    replace: bool = False,
    ids: str | None = None,
    strict: bool = False,
    ca_bundle: str | None = None,
    timeout: float | None = None,
    name: str = "<predictions>",
    keep: int = DEFAULT_KEEP,
    transport: Any = None,
) -> PredictionResult:
    """Attach predictions (dicts with `result`, optional `score` and `model_version`) to
    tasks already in the project, each once. A record names its task by `task` (the id) or,
    with `match_on="data.image"`, by that data field; a task holding `predictions` has each
    of them attached to the task its `match_on` field or `id` names. `replace` removes the
    older predictions of the same model version, as `--replace` does."""
    from lsimport.run import attach_records

    env = _quiet_env(transport)
    settings = PredictionSettings(
        paths=(name,),
        project=project,
        connection=resolve_connection(
            url, api_key, env.environ, ca_bundle=ca_bundle, timeout=timeout
        ),
        match_on=match_on,
        model_version=model_version,
        config_check=config_check,
        batch_size=batch_size,
        max_batch_bytes=max_batch_bytes,
        failures=failures,
        quiet=True,
        strict=strict,
        replace=replace,
        ids=ids,
    )
    outcome = attach_records(
        _records(records, name), settings, env, keep=keep, handle_signals=False
    )
    _raise_fatal(outcome.fatal)
    return _result(PredictionResult, outcome.summary, outcome.failures.first)


ResultT = TypeVar("ResultT", UploadResult, PredictionResult)


def _result(cls: type[ResultT], summary: object, failures: Iterable[Failure]) -> ResultT:
    """A result from a run's summary: each of its count fields read from the field of that
    name, so the names of the API and of the JSON output cannot drift apart."""
    counts = {f.name: getattr(summary, f.name) for f in fields(cls) if f.name != "failures"}
    return cls(**counts, failures=tuple(failures))


def _raise_fatal(fatal: ServerError | None) -> None:
    """A run that the server stopped half-way raises, as the CLI exits 3; what got in is in."""
    if fatal is not None:
        raise fatal
