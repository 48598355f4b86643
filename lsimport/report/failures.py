"""The failure report: one JSONL line per record that did not get in, re-uploadable.

Each line holds where the record came from, the stage it stopped at (`read`, `validate`,
`server`), the messages, and the task itself, so that after fixing it
`lsimport upload failures.jsonl` takes the file as input again.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import orjson

from lsimport.model import Failure


class FailureReport:
    """Writes failures to a JSONL file (opened on the first failure) and keeps a few for display."""

    def __init__(self, path: Path | None, *, keep: int = 20) -> None:
        self.path = path
        self.keep = keep
        self.count = 0
        self.first: list[Failure] = []
        self._fh: IO[bytes] | None = None

    def add(self, failure: Failure) -> None:
        self.count += 1
        if len(self.first) < self.keep:
            self.first.append(failure)
        if self.path is None:
            return
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("wb")
        line: dict[str, Any] = {
            "file": failure.file,
            "record": failure.record or None,
            "line": failure.line,
            "stage": failure.stage,
            "messages": failure.messages,
            "task": failure.task,
        }
        if failure.task is None and failure.raw is not None:
            line["raw"] = failure.raw.decode("utf-8", "replace")
        self._fh.write(orjson.dumps(line) + b"\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
