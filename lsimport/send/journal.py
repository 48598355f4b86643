"""The upload journal: what was sent, what was confirmed, so a rerun resumes safely.

An append-only JSONL file. Before a batch is sent its keys are written as `begin` with
the highest task id known at that moment (the watermark); once the server has answered,
`done` lists the keys that are in the project and their ids. After a crash, a batch with
`begin` but no `done` is settled by asking the server which tasks above its watermark
carry its keys: nothing is sent twice, nothing is lost.

A journal knows the keys it sent, and, once a run has read its whole input, the keys of
that input it found in the project already (`known`), followed by `end`. Only then may the
next run read just the tasks above the journal's highest id: before, tasks another input
made below it (an overlapping file's) would go unseen and be sent again.

Its default path depends on the server and the project (`tasks.jsonl.<tag>.lsimport-journal`
beside the input), so one input can go to several projects, each with its journal. The
path earlier versions used for every project (`tasks.jsonl.lsimport-journal`) is still
found, and used, for the project it belongs to. The header names the server without the
user-info of its URL: a password in `--url` is never written.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from lsimport.settings import redact_url

VERSION = 1
KNOWN_PER_LINE = 10_000
SUFFIX = ".lsimport-journal"


def _tag(url: str, project: int) -> str:
    return hashlib.sha256(f"{url}|{project}".encode()).hexdigest()[:8]


def default_journal_path(first_input: str, url: str, project: int, state_dir: Path) -> Path:
    """Beside the input (`tasks.jsonl.<server+project>.lsimport-journal`); stdin's, and an
    input's in a folder lsimport may not write to, in the state dir."""
    tag = _tag(url, project)
    if first_input != "-":
        p = Path(first_input)
        if os.access(p.parent or Path("."), os.W_OK):
            return p.with_name(f"{p.name}.{tag}{SUFFIX}")
        name = hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:16]
    else:
        name = "stdin"
    return state_dir / f"{name}-{tag}{SUFFIX}"


def find_journal(first_input: str, url: str, project: int, state_dir: Path) -> Path:
    """The default journal, or the one an earlier version left beside the input for this
    server and project (one path for every project then: another project's is left alone)."""
    path = default_journal_path(first_input, url, project, state_dir)
    if first_input == "-" or path.exists():
        return path
    legacy = Path(first_input).with_name(Path(first_input).name + SUFFIX)
    if legacy.is_file() and Journal(legacy, url, project).load() is not None:
        return legacy
    return path


@dataclass
class JournalState:
    """What a journal says, read back."""

    confirmed: set[str] = field(default_factory=set)
    pending: dict[int, tuple[list[str], int]] = field(default_factory=dict)  # batch -> keys, mark
    max_id: int = 0
    batches: int = 0
    written_at: float = 0.0  # wall-clock time of the last write (the file's mtime)
    # The last run read its whole input and recorded the keys it found in the project: the
    # journal vouches for every key of its input below max_id.
    ended: bool = False

    @property
    def since(self) -> int:
        """Tasks above this id may be ours without the journal knowing: ask the server."""
        marks = [mark for _, mark in self.pending.values()]
        return min([self.max_id, *marks])


class Journal:
    """Append-only record of batches for one (server, project) pair."""

    def __init__(self, path: Path, url: str, project: int, *, fsync: bool = True) -> None:
        self.path = path
        self.url = redact_url(url).rstrip("/")  # what the header says: no user-info
        self._urls = {self.url, url}  # journals of earlier versions hold the URL as given
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
                    entry: Any = orjson.loads(line)
                except orjson.JSONDecodeError:
                    entry = None  # a line cut short by a crash: the batch stays pending
                if header:  # the first line says whose journal this is, or it is none
                    header = False
                    if (
                        not isinstance(entry, dict)
                        or entry.get("url") not in self._urls
                        or entry.get("project") != self.project
                    ):
                        return None
                    continue
                if not isinstance(entry, dict):
                    continue
                event = entry.get("event")
                if event == "known":
                    state.confirmed.update(entry.get("keys", []))
                    continue
                if event == "end":
                    state.ended = True
                    continue
                batch = entry.get("batch")
                if not isinstance(batch, int):
                    continue
                state.batches = max(state.batches, batch)
                state.ended = False  # a run went on after the last end
                if entry.get("event") == "begin":
                    state.pending[batch] = (list(entry.get("keys", [])), int(entry.get("mark", 0)))
                elif entry.get("event") == "done":
                    state.pending.pop(batch, None)
                    state.confirmed.update(entry.get("keys", []))
                    ids = entry.get("ids") or []
                    if ids:
                        state.max_id = max(state.max_id, max(ids))
        return state

    def belongs_elsewhere(self) -> bool:
        """The file is there and not empty, but is not this server and project's journal
        (another project's, or no journal at all): it must not be truncated."""
        try:
            if self.path.stat().st_size == 0:
                return False
        except FileNotFoundError:
            return False
        return self.load() is None

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

    def known(self, keys: list[str], *, ended: bool) -> None:
        """Keys of the input found in the project (not sent by this journal); `ended`: the
        run read its whole input, so every key of it in the project is now recorded."""
        for i in range(0, len(keys), KNOWN_PER_LINE):
            self._write({"event": "known", "keys": keys[i : i + KNOWN_PER_LINE]})
        if ended:
            self._write({"event": "end"})

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
