"""Stable task keys: how any later run, from any machine, recognises a task it imported.

The key lives in the task's `meta` under KEY_FIELD. By default it is a hash of the task's
`data` (canonical JSON, sorted keys) plus the record's occurrence among the records of its
input with the same data: the first keeps the bare hash (the key earlier versions gave every
record, so the projects they filled stay idempotent), the second gets `HASH#2`, the third
`HASH#3`. Two records are two tasks, as Label Studio itself makes them, and the same input
run again gives the same keys. With `--key data.FIELD` the key is that field's value (a file
name, an id from the user's system); with `--dedupe` it is the hash alone, and a record that
repeats earlier data of its input is a Repeat.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from lsimport.errors import UsageError
from lsimport.model import Finding, error

KEY_FIELD = "lsimport_key"
OCCURRENCE = "#"  # HASH#2: the second record of an input with these data

_OPTS = orjson.OPT_SORT_KEYS


def _digest(data: Any) -> bytes:
    return hashlib.blake2b(orjson.dumps(data, option=_OPTS), digest_size=16).digest()


def data_hash(data: Any) -> str:
    """32 hex digits of BLAKE2b over the canonical JSON of `data`."""
    return _digest(data).hex()


def base_key(key: str) -> str:
    """The key without its occurrence: `HASH#2` -> `HASH` (what --dedupe compares)."""
    return key.split(OCCURRENCE, 1)[0]


def _compact(digest: bytes) -> int:
    # 60 bits of the digest: a 32-byte int per record where the key as a str takes 81. Two
    # data sharing them (odds about 1e-5 at ten million records) only shift an occurrence
    # number, the same way on every run of the same input.
    return int.from_bytes(digest[:8], "little") >> 4


@dataclass(frozen=True, slots=True)
class Repeat:
    """A record that repeats an earlier record of its input (the same data with --dedupe,
    the same field with --key): not sent, counted as `repeated`."""

    key: str


class Identity:
    """Gives every record of a run its key (`new_input` between inputs).

    Default: hash of `data` plus occurrence, counted within each input, so that a file gives
    the same keys alone, twice, or beside others; a task that already carries a key in
    `meta.lsimport_key` (a line of the failure report, a task exported from a project
    lsimport filled) keeps it. `spec` = "data.FIELD": that field's value. `dedupe`: the hash
    alone. With either, a record whose key an earlier record of the run had is a Repeat,
    unless `repeats=False` (--allow-duplicates).
    """

    def __init__(
        self, spec: str | None = None, *, dedupe: bool = False, repeats: bool = True
    ) -> None:
        if spec is not None and dedupe:
            raise UsageError("give --key or --dedupe, not both")
        self._field = _field_key(spec) if spec is not None else None
        self.dedupe = dedupe
        self.repeats = repeats
        self._counts: dict[int, int] = {}  # compact digest of data -> records of this input
        self._seen: set[int] = set()  # compact digests of the run's keys (--key, --dedupe)

    def twin(self) -> Identity:
        """A fresh identity of the same kind: fed the same records, it gives the same keys."""
        twin = Identity(dedupe=self.dedupe, repeats=self.repeats)
        twin._field = self._field
        return twin

    def new_input(self) -> None:
        """Occurrences count within one input: the next records start again from one."""
        self._counts.clear()

    def __call__(self, task: dict[str, Any]) -> str | Finding | Repeat:
        """The key of a valid record, or why it has none, or that it repeats an earlier one."""
        if self._field is not None:
            key = self._field(task)
            if isinstance(key, Finding) or not self.repeats:
                return key
            seen = self._repeats(hashlib.blake2b(key.encode(), digest_size=8).digest())
            return Repeat(key) if seen else key
        if self.dedupe:
            digest = _digest(task.get("data"))
            seen = self._repeats(digest)
            return Repeat(digest.hex()) if seen and self.repeats else digest.hex()
        carried = carried_key(task)
        return carried if carried is not None else self._occurrence(_digest(task.get("data")))

    def of_invalid(self, task: dict[str, Any]) -> str | None:
        """The key an invalid record takes, for its line of the failure report.

        Only the default key counts invalid records, so that a record fixed later keeps its
        place among the records with its data; --key and --dedupe do not (a valid repeat of
        an invalid record is sent, not skipped).
        """
        if self._field is not None or self.dedupe:
            return None
        carried = carried_key(task)
        return carried if carried is not None else self._occurrence(_digest(task.get("data")))

    def _occurrence(self, digest: bytes) -> str:
        compact = _compact(digest)
        n = self._counts.get(compact, 0) + 1
        self._counts[compact] = n
        return digest.hex() if n == 1 else f"{digest.hex()}{OCCURRENCE}{n}"

    def _repeats(self, digest: bytes) -> bool:
        compact = _compact(digest)
        if compact in self._seen:
            return True
        self._seen.add(compact)
        return False


def key_function(spec: str | None) -> Identity:
    """The default identity (`None`) or the one of `--key data.FIELD`."""
    return Identity(spec)


def _field_key(spec: str) -> Callable[[dict[str, Any]], str | Finding]:
    """`data.FIELD` (dots for nesting) -> that value as a string."""
    parts = spec.split(".")
    if len(parts) < 2 or parts[0] != "data" or not all(parts[1:]):
        raise UsageError(f"--key must look like data.FIELD, got {spec!r}")
    path = parts[1:]
    pointer = "/data/" + "/".join(path)

    def by_field(task: dict[str, Any]) -> str | Finding:
        value: Any = task.get("data")
        for p in path:
            if not isinstance(value, dict) or p not in value:
                return error("key.missing", f"no {spec} to use as the task key (--key)", pointer)
            value = value[p]
        if isinstance(value, (dict, list)) or value is None or value == "":
            return error("key.invalid", f"{spec} must be a non-empty string or number", pointer)
        return str(value)

    return by_field


def carried_key(task: dict[str, Any]) -> str | None:
    """The key a task brings in its own `meta` (as lsimport wrote it), if any."""
    key = key_of(task)
    return key if key else None


def for_report(task: dict[str, Any], key: str | None) -> dict[str, Any]:
    """The task as its failure-report line holds it: with its key when the data alone would
    not give it back (a later occurrence), so the fixed record keeps its identity."""
    if key is None or OCCURRENCE not in key or carried_key(task) == key:
        return task
    return stamp(task, key)


def stamp(task: dict[str, Any], key: str) -> dict[str, Any]:
    """The task with its key in `meta` (a new dict: the caller's task is left alone)."""
    meta = task.get("meta")
    new_meta = dict(meta) if isinstance(meta, dict) else {}
    new_meta[KEY_FIELD] = key
    out = dict(task)
    out["meta"] = new_meta
    return out


def key_of(server_task: dict[str, Any]) -> str | None:
    """The key stored in a task read back from the server, if it has one."""
    meta = server_task.get("meta")
    if isinstance(meta, dict):
        key = meta.get(KEY_FIELD)
        if isinstance(key, str):
            return key
    return None
