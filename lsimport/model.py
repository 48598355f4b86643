"""Records (a task plus where it came from) and findings (what is wrong with one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]
# Where a record stopped on its way into the project (the failure report's `stage`).
Stage = Literal["read", "validate", "match", "server"]
# Input formats, and how results are rendered.
Format = Literal["json", "jsonl", "csv", "tsv"]
FORMATS: tuple[Format, ...] = ("json", "jsonl", "csv", "tsv")
OutputFormat = Literal["text", "json", "github"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("text", "json", "github")

Task = dict[str, Any]


@dataclass(slots=True, frozen=True)
class Finding:
    """One problem with one record. `pointer` is a JSON pointer into the normalised task."""

    severity: Severity
    code: str
    message: str
    pointer: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


@dataclass(slots=True)
class Record:
    """A task read from some input, or the reason it could not be read.

    `task` is the normalised Label Studio task (always has a `data` key), or None when the
    record could not be parsed (then `findings` holds the read error) or when it was
    `screened`: in `validate` only, the screen (check/screen.py) passed it clean from its
    bytes without building it. `raw` keeps the original bytes/text so failure reports can
    hand the record back to the user. A problem with a whole file is a `FileProblem`.

    A screened Record may stand for a run of `count` clean records read as one block (JSONL):
    `number` and `line` are those of its first, and it has no `raw`.
    """

    file: str
    number: int  # 1-based within the file
    line: int  # line where the record starts, 1-based
    task: Task | None
    raw: bytes | None = None
    findings: list[Finding] = field(default_factory=list)
    screened: bool = False
    count: int = 1

    @property
    def is_file_problem(self) -> bool:
        return False

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}: record {self.number}"


@dataclass(slots=True)
class FileProblem(Record):
    """A problem with a file as a whole (empty, cut off, unreadable, a bad header), not with
    one record of it: it counts as a file error, never as an invalid record. `number` is 0
    and `task` None; `line` is where the problem is, when known."""

    @property
    def is_file_problem(self) -> bool:
        return True


def json_type_name(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages ("got array")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def error(code: str, message: str, pointer: str = "") -> Finding:
    return Finding("error", code, message, pointer)


def warning(code: str, message: str, pointer: str = "") -> Finding:
    return Finding("warning", code, message, pointer)


def escape_pointer(token: str | int) -> str:
    """Escape one JSON pointer reference token (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def normalise_task(obj: Any) -> Task | None:
    """Label Studio takes an object without `data` as the data itself.

    Returns None when `obj` is not an object at all (the caller reports that).
    """
    if not isinstance(obj, dict):
        return None
    if "data" in obj:
        return obj
    return {"data": obj}


# --- what a run did ---------------------------------------------------------------------


@dataclass
class ValidationSummary:
    files: int = 0
    records: int = 0
    valid: int = 0
    invalid: int = 0
    warnings: int = 0
    file_errors: int = 0  # problems with a file as a whole (empty, cut off, bad header)
    jobs: int = 1  # processes that checked records (more: --jobs spread a big JSONL file)

    @property
    def ok(self) -> bool:
        return self.invalid == 0 and self.file_errors == 0


@dataclass(frozen=True)
class Timing:
    """Where an upload's wall time went: waiting for the server, or in lsimport.

    `server_s` is the time with at least one request waiting for its answer (the server and
    the loopback or network at work); the rest of the wall time, `client_s`, lsimport spent
    with nothing in flight (start of the run, reading, checking, serialising, settling).
    """

    wall_s: float
    server_s: float
    requests: int

    @property
    def client_s(self) -> float:
        return max(0.0, self.wall_s - self.server_s)

    @property
    def server_share(self) -> float:
        return self.server_s / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 3),
            "server_s": round(self.server_s, 3),
            "client_s": round(self.client_s, 3),
            "requests": self.requests,
        }


def settling_keys(
    pending: int, gateway_timeout_s: float | None, gateway_batch_size: int | None
) -> dict[str, Any]:
    """The JSON keys upload's and predictions' summaries share about settling batches:
    `pending` when some outcome is still unknown, `gateway` when one was learned."""
    d: dict[str, Any] = {}
    if pending:
        d["pending"] = pending
    if gateway_timeout_s is not None:
        d["gateway"] = {"timeout_s": round(gateway_timeout_s, 2), "batch_size": gateway_batch_size}
    return d


@dataclass
class UploadSummary:
    records: int = 0
    invalid: int = 0
    skipped: int = 0
    tasks_created: int = 0
    predictions_created: int = 0
    failed: int = 0
    duration_s: float = 0.0
    dry_run: bool = False
    would_create: int = 0
    interrupted: bool = False
    file_errors: int = 0
    throttled: int = 0  # answers that said "slow down" (429, 503)
    fewest_workers: int = 0  # the in-flight limit at its lowest (0: never lowered)
    repeated: int = 0  # records not sent: they repeat an earlier one (--dedupe, --key)
    dedupe: bool = False  # --dedupe was on: `repeated` is always reported
    pending: int = 0  # outcome still unknown at the end: run the same command again
    duplicates_removed: int = 0  # second copies of a late-committed batch, deleted
    gateway_timeout_s: float | None = None  # a gateway in front gave up after this long
    gateway_batch_size: int | None = None  # ... so batches were cut to this many tasks
    timing: Timing | None = None  # where the wall time went (None: no server was asked)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "records": self.records,
            "invalid": self.invalid,
            "skipped": self.skipped,
            "tasks_created": self.tasks_created,
            "predictions_created": self.predictions_created,
            "failed": self.failed,
            "duplicates_removed": self.duplicates_removed,
            "duration_s": round(self.duration_s, 3),
            "file_errors": self.file_errors,
        }
        if self.dedupe or self.repeated:
            d["repeated"] = self.repeated
        d.update(settling_keys(self.pending, self.gateway_timeout_s, self.gateway_batch_size))
        if self.dry_run:
            d["dry_run"] = True
            d["would_create"] = self.would_create
        if self.interrupted:
            d["interrupted"] = True
        if self.throttled:
            d["throttled"] = self.throttled
            d["fewest_workers"] = self.fewest_workers
        if self.timing is not None:
            d["timing"] = self.timing.as_dict()
        return d


@dataclass
class PredictionSummary:
    records: int = 0
    invalid: int = 0
    unmatched: int = 0
    predictions_created: int = 0
    failed: int = 0
    skipped: int = 0
    file_errors: int = 0
    duration_s: float = 0.0
    bulk: bool = True  # False: the server had no bulk endpoint, one request per prediction
    model_version_set: bool | None = None  # None: not asked to
    model_version_note: str | None = None  # why the model version was not selected
    replaced: int | None = None  # --replace: older predictions removed (None: not asked to)
    interrupted: bool = False  # Ctrl-C / SIGTERM: the rest was read and reported, not sent
    pending: int = 0  # outcome still unknown at the end: run the same command again
    duplicates_removed: int = 0  # second copies of a late-committed batch, deleted
    gateway_timeout_s: float | None = None  # a gateway in front gave up after this long
    gateway_batch_size: int | None = None  # ... so batches were cut to this many

    @property
    def ok(self) -> bool:
        return not (
            self.invalid
            or self.unmatched
            or self.failed
            or self.file_errors
            or self.model_version_set is False
        )

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "records": self.records,
            "invalid": self.invalid,
            "unmatched": self.unmatched,
            "predictions_created": self.predictions_created,
            "failed": self.failed,
            "skipped": self.skipped,
            "duplicates_removed": self.duplicates_removed,
            "duration_s": round(self.duration_s, 3),
            "file_errors": self.file_errors,
        }
        if self.model_version_set is not None:
            d["model_version_set"] = self.model_version_set
        if self.replaced is not None:
            d["replaced"] = self.replaced
        if self.interrupted:
            d["interrupted"] = True
        d.update(settling_keys(self.pending, self.gateway_timeout_s, self.gateway_batch_size))
        return d


@dataclass
class Failure:
    """A record that did not get in, the stage where it stopped, and why."""

    file: str
    record: int
    line: int
    stage: Stage
    messages: list[str]
    task: dict[str, Any] | None
    raw: bytes | None = None


def failure_from_record(rec: Record, stage: Stage) -> Failure:
    messages = [finding_text(f) for f in rec.findings if f.is_error]
    return Failure(rec.file, rec.number, rec.line, stage, messages, rec.task, rec.raw)


def finding_text(f: Finding) -> str:
    """A finding as one line of a failure report."""
    return f"{f.pointer}: {f.message} [{f.code}]" if f.pointer else f"{f.message} [{f.code}]"
