"""The failure report: one JSONL line per record that did not get in, re-uploadable.

Each line holds where the record came from, the stage it stopped at (`read`, `validate`,
`server`), the messages, and the task itself, so that after fixing it
`lsimport upload failures.jsonl` takes the file as input again.

The report is written atomically: into a temporary file beside it, which replaces the old
report only when the run is over. So the report may be the very file the run reads
(`lsimport upload failed.jsonl --failures failed.jsonl`): the input is never opened for
writing, and is replaced only once it was read to its end. A run with nothing to report
removes the old report, so what is on disk is never a stale list.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Any

import orjson

from lsimport.model import Failure


class FailureReport:
    """Writes failures to a JSONL file, atomically, and keeps a few for display.

    `replaces_input`: the report is also one of the run's inputs; it is then replaced only
    when the input was read to its end (`close(complete=True)`), since a run that stopped
    early has not yet seen the rest of it.
    """

    def __init__(self, path: Path | None, *, keep: int = 20, replaces_input: bool = False):
        self.path = path
        self.keep = keep
        self.replaces_input = replaces_input
        self.count = 0
        self.first: list[Failure] = []
        self.cleared = False  # an old report was removed: nothing was left to report
        self.kept_input = False  # the report is an input the run did not read to its end
        self._fh: IO[bytes] | None = None
        self._tmp: Path | None = None

    def add(self, failure: Failure) -> None:
        self.count += 1
        if len(self.first) < self.keep:
            self.first.append(failure)
        if self.path is None:
            return
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
            )
            self._tmp = Path(tmp)
            self._fh = os.fdopen(fd, "wb")
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

    def close(self, *, complete: bool = True) -> None:
        """Put the report in place. `complete`: every input was read to its end (not
        interrupted); otherwise an old report is not removed, nor an input replaced."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
        if self.path is None:
            return
        if not complete and self.replaces_input:
            self._discard()
            self.kept_input = self.path.exists()
            return
        if self._tmp is not None:
            os.chmod(self._tmp, 0o666 & ~_umask())  # mkstemp's 0600 is not what `>` gives
            os.replace(self._tmp, self.path)
            self._tmp = None
        elif complete and self.path.exists():
            self.path.unlink()
            self.cleared = True

    def _discard(self) -> None:
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
            self._tmp = None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
