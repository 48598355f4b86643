"""`--ids FILE`: which task each input record is, once the run is over.

One JSON line per record now in the project, created by this run or found there (skipped):
`{"file", "record", "line", "key", "task"}`. Pipelines map their own ids to Label Studio's
with it.

For `upload` the task ids come from the server itself, not from the uploader's bookkeeping:
while the records stream past, each valid record's key goes to a spool file (one short line,
so memory stays flat); when the upload is over the project's keys are read once
(`meta.lsimport_key` and `id`, paged) and the spool is joined with them. A record the server
refused has no task with its key and gets no line. With `--allow-duplicates` the n-th record
of a key gets the n-th task of that key. For `predictions` the importer says where each
prediction is (`IdsFile.place`), since the record's task is what it matched.

The file is written beside its final path and renamed into place when complete, and it is
never one of the inputs (`check_ids_path`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from lsimport.errors import UsageError
from lsimport.model import Finding, Record
from lsimport.send.keys import Identity, Repeat
from lsimport.send.tasks import TaskIndex, keys_above


def check_ids_path(ids: str, inputs: Iterable[str]) -> None:
    """Refuse an `--ids` path that is one of the inputs (it would be overwritten)."""
    target = Path(ids)
    if ids == "-" or target.is_dir():
        raise UsageError(f"--ids {ids!r} must be a file path")
    for name in inputs:
        if name == "-":
            continue
        source = Path(name)
        same = target.resolve() == source.resolve()
        if not same and target.exists() and source.exists():
            same = os.path.samefile(target, source)
        if same:
            raise UsageError(
                f"--ids {ids} is one of the inputs: it would be overwritten",
                hint="write the ids to another file, e.g. --ids ids.jsonl",
            )


class IdsFile:
    """Collects (file, record, line, key, task) lines and writes them out when complete."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.written = 0
        self._spool: IO[bytes] | None = None  # upload's keys, made when records come
        self._out: IO[bytes] | None = None
        self._tmp: Path | None = None

    # --- predictions: the importer says where each record is ---

    def place(self, file: str, record: int, line: int, key: str | None, task: int) -> None:
        self._line(file, record, line, key, task)

    # --- upload: keys now, task ids from the server afterwards ---

    def tap(self, records: Iterable[Record], keyer: Identity) -> Iterator[Record]:
        """The records as they are; each valid one's place and key go to the spool.

        `keyer` is an identity of its own (Identity.twin), shown every record the uploader's
        is, invalid ones too, so that occurrences count alike; a repeat is the task of the
        record it repeats."""
        spool = self._spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by finish)
        for rec in records:
            if rec.task is not None and not rec.is_file_problem:
                if rec.has_errors:
                    keyer.of_invalid(rec.task)
                else:
                    key = keyer(rec.task)
                    if isinstance(key, Repeat):
                        key = key.key
                    if not isinstance(key, Finding):
                        spool.write(orjson.dumps([rec.file, rec.number, rec.line, key]) + b"\n")
            yield rec

    def join(self, client: TaskIndex, project: int) -> None:
        """Give each spooled record the id of its task in the project, if it has one."""
        ids: dict[str, list[int]] = {}
        for task in keys_above(client, project, 0):
            if task.key:
                ids.setdefault(task.key, []).append(task.id)
        for tids in ids.values():
            tids.sort()
        seen: dict[str, int] = {}
        if self._spool is None:
            return
        self._spool.seek(0)
        for raw in self._spool:
            file, record, line, key = orjson.loads(raw)
            found = ids.get(key)
            if not found:
                continue
            n = seen.get(key, 0)
            seen[key] = n + 1
            self._line(file, record, line, key, found[min(n, len(found) - 1)])

    # --- the file ---

    def _line(self, file: str, record: int, line: int, key: str | None, task: int) -> None:
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            self._tmp = Path(tmp)
            self._out = os.fdopen(fd, "wb")
        entry: dict[str, Any] = {"file": file, "record": record, "line": line}
        entry["key"] = key
        entry["task"] = task
        self._out.write(orjson.dumps(entry) + b"\n")
        self.written += 1

    def finish(self) -> None:
        """Put the file in place (an empty one when no record is in the project)."""
        self._close_spool()
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(b"")
            return
        self._out.close()
        assert self._tmp is not None
        os.replace(self._tmp, self.path)

    def abandon(self) -> None:
        """Remove what was written (the run failed before the file was complete)."""
        self._close_spool()
        if self._out is not None:
            self._out.close()
            assert self._tmp is not None
            self._tmp.unlink(missing_ok=True)

    def _close_spool(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
