"""Records (a task plus where it came from) and findings (what is wrong with one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]

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

    `task` is the normalised Label Studio task (always has a `data` key) or None when the
    record could not be parsed; then `findings` holds the read error. In `validate` only,
    `task` is also None, with no findings, for a record the screen (screen.py) passed from
    its bytes without building it. `raw` keeps the original bytes/text so failure reports
    can hand the record back to the user.
    """

    file: str
    number: int  # 1-based within the file
    line: int  # line where the record starts, 1-based
    task: Task | None
    raw: bytes | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}: record {self.number}"


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
