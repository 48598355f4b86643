"""Stable task keys: how any later run, from any machine, recognises a task it imported.

The key lives in the task's `meta` under KEY_FIELD. By default it is a hash of the task's
`data` (canonical JSON, sorted keys), so the same data always gets the same key; with
`--key data.FIELD` it is that field's value (a file name, an id from the user's system).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson

from lsimport.errors import UsageError
from lsimport.model import Finding, error

KEY_FIELD = "lsimport_key"
KeyFunction = Callable[[dict[str, Any]], "str | Finding"]

_OPTS = orjson.OPT_SORT_KEYS


def data_hash(data: Any) -> str:
    """32 hex digits of BLAKE2b over the canonical JSON of `data`."""
    return hashlib.blake2b(orjson.dumps(data, option=_OPTS), digest_size=16).hexdigest()


def key_function(spec: str | None) -> KeyFunction:
    """`None` -> hash of data; `data.FIELD` (dots for nesting) -> that value as a string."""
    if spec is None:

        def by_hash(task: dict[str, Any]) -> str | Finding:
            return data_hash(task.get("data"))

        return by_hash
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
