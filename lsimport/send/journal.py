"""The upload journal: what was sent, what was confirmed, so a rerun resumes safely.

An append-only JSONL file. Before a batch is sent its keys are written as `begin` with
the highest task id known at that moment (the watermark); once the server has answered,
`done` lists the keys that are in the project and their ids. After a crash, a batch with
`begin` but no `done` is settled by asking the server which tasks above its watermark
carry its keys: nothing is sent twice, nothing is lost.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

VERSION = 1


def default_journal_path(first_input: str, url: str, project: int, state_dir: Path) -> Path:
    """Beside the input (`tasks.jsonl.lsimport-journal`); stdin's in the state dir."""
    if first_input != "-":
        p = Path(first_input)
        candidate = p.with_name(p.name + ".lsimport-journal")
        if os.access(p.parent or Path("."), os.W_OK):
            return candidate
        name = hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:16]
    else:
        name = "stdin"
    tag = hashlib.sha256(f"{url}|{project}".encode()).hexdigest()[:8]
    return state_dir / f"{name}-{tag}.lsimport-journal"


@dataclass
class JournalState:
    """What a journal says, read back."""

    confirmed: set[str] = field(default_factory=set)
    pending: dict[int, tuple[list[str], int]] = field(default_factory=dict)  # batch -> keys, mark
    max_id: int = 0
    batches: int = 0
    written_at: float = 0.0  # wall-clock time of the last write (the file's mtime)

    @property
    def since(self) -> int:
        """Tasks above this id may be ours without the journal knowing: ask the server."""
        marks = [mark for _, mark in self.pending.values()]
        return min([self.max_id, *marks])


class Journal:
    """Append-only record of batches for one (server, project) pair."""

    def __init__(self, path: Path, url: str, project: int, *, fsync: bool = True) -> None:
        self.path = path
        self.url = url
        self.project = project
        self.fsync = fsync
        self._fh: IO[bytes] | None = None

    def load(self) -> JournalState | None:
        """The state recorded for this server and project, or None (no or other journal)."""
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return None
        state = JournalState(written_at=os.fstat(fh.fileno()).st_mtime)
        with fh:
            header = True
            for line in fh:
                try:
                    entry: dict[str, Any] = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a line cut short by a crash: the batch stays pending
                if header:
                    header = False
                    if entry.get("url") != self.url or entry.get("project") != self.project:
                        return None
                    continue
                batch = entry.get("batch")
                if not isinstance(batch, int):
                    continue
                state.batches = max(state.batches, batch)
                if entry.get("event") == "begin":
                    state.pending[batch] = (list(entry.get("keys", [])), int(entry.get("mark", 0)))
                elif entry.get("event") == "done":
                    state.pending.pop(batch, None)
                    state.confirmed.update(entry.get("keys", []))
                    ids = entry.get("ids") or []
                    if ids:
                        state.max_id = max(state.max_id, max(ids))
        return state

    def start(self, *, fresh: bool) -> None:
        """Open for appending; `fresh` truncates and writes a new header."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fresh or not self.path.exists():
            self._fh = self.path.open("wb")
            self._write({"v": VERSION, "url": self.url, "project": self.project})
        else:
            self._fh = self.path.open("ab")
            if not self._ends_with_newline():
                # A crash cut the last line short; end it, or the next entry is glued to it
                # and lost too (a lost `begin` can hide a batch that landed: duplicates).
                self._fh.write(b"\n")

    def begin(self, batch: int, keys: list[str], mark: int) -> None:
        self._write({"event": "begin", "batch": batch, "mark": mark, "keys": keys})

    def done(self, batch: int, keys: list[str], ids: list[int]) -> None:
        self._write({"event": "done", "batch": batch, "keys": keys, "ids": ids})

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as fh:
            if fh.seek(0, os.SEEK_END) == 0:
                return True
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    def _write(self, entry: dict[str, Any]) -> None:
        assert self._fh is not None, "journal not started"
        self._fh.write(orjson.dumps(entry) + b"\n")
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())
