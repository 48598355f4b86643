"""What every reader shares: turning parsed values and parse errors into Records."""

from __future__ import annotations

from typing import Any

import orjson

from lsimport.model import FileProblem, Finding, Record, error, json_type_name, normalise_task

_FAILURE_KEYS = frozenset({"stage", "messages", "task", "file"})
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
UTF8_BOM = b"\xef\xbb\xbf"


def record_from_value(file: str, number: int, line: int, value: Any, raw: bytes | None) -> Record:
    if isinstance(value, dict) and _is_failure_line(value):
        # A line of lsimport's own failure report, fed back in after fixing: take its task.
        value = value["task"]
        if value is None:
            return Record(
                file,
                number,
                line,
                None,
                raw,
                [
                    error(
                        "read.unfixed",
                        "failure-report line whose record could not be read: replace its "
                        "`task: null` with the fixed task",
                    )
                ],
            )
    task = normalise_task(value)
    if task is None:
        return Record(
            file,
            number,
            line,
            None,
            raw,
            [
                error(
                    "read.not-an-object",
                    f"a task must be a JSON object, got {json_type_name(value)}",
                )
            ],
        )
    return Record(file, number, line, task, raw)


def parse_error_finding(exc: orjson.JSONDecodeError, raw: bytes) -> Finding:
    """A read finding for bytes orjson refused, with a hint where one helps."""
    msg = str(exc.msg) if hasattr(exc, "msg") else str(exc)
    if "not valid UTF-8" in msg:
        return error(
            "read.encoding",
            "not valid UTF-8 text",
            "",
        )
    if "recursion limit" in msg or "depth limit" in msg:  # orjson's words vary by version
        return error("read.too-deep", "JSON nested too deeply (over 1024 levels)")
    if "infinity" in msg:
        return error("read.number", "number too large for a double (e.g. 1e999)")
    if b"\x00" in raw:
        return error("read.nul", "contains NUL bytes: is this a binary file?")
    if ("unexpected character" in msg or "no digit after sign" in msg) and (
        b"NaN" in raw or b"Infinity" in raw
    ):  # -Infinity fails on the sign
        return error(
            "read.json", f"invalid JSON: {msg} (NaN and Infinity are not JSON; write null)"
        )
    return error("read.json", f"invalid JSON: {msg}")


def file_problem(file: str, line: int, finding: Finding) -> FileProblem:
    """A problem with the file itself, not with one record of it."""
    return FileProblem(file, 0, line, None, None, [finding])


def encoding_problem(head: bytes) -> Finding | None:
    """UTF-16/32 files are common from Windows tools; say how to convert them."""
    if head.startswith(_UTF16_BOMS):
        return error(
            "read.encoding",
            f"file is UTF-16 encoded; lsimport reads UTF-8: {ENCODING_HINT}",
            "",
        )
    return None


ENCODING_HINT = "re-save the file as UTF-8, e.g. `iconv -f UTF-16 -t UTF-8 in.json > out.json`"


def _is_failure_line(obj: dict[str, Any]) -> bool:
    return obj.keys() >= _FAILURE_KEYS and "data" not in obj
