"""`predictions --replace`: each matched task keeps one prediction per model version.

A step of its own after the import: the importer tells which predictions are now on their task
(`Replacement.placed`, sent or already there); once the import is over, each of those tasks'
predictions are read back and those of the same model version that this run did not place are
deleted (and copies of one it placed, the newest kept). A prediction that did not get in
replaces nothing: its task keeps what it had. Memory holds one entry per placed prediction
(its task, version and fingerprint).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from lsimport.send.predictions import PER_TASK_READS, fingerprint_of


class PredictionStore(Protocol):
    def list_predictions(
        self, *, project: int | None = ..., task: int | None = ...
    ) -> list[dict[str, Any]]: ...
    def delete_prediction(self, prediction_id: int) -> None: ...


def version_of(prediction: Mapping[str, Any]) -> str:
    """The model version as the server stores it: none is "undefined" (bulk) or ""."""
    version = prediction.get("model_version")
    return "" if version in (None, "", "undefined") else str(version)


class Replacement:
    """What this run placed on which task, and the older predictions it then removes."""

    def __init__(self) -> None:
        self.placed_on: dict[int, dict[str, set[bytes]]] = {}  # task -> version -> prints
        self.removed = 0

    def placed(
        self, file: str, record: int, line: int, task: int, payload: dict[str, Any], fp: bytes
    ) -> None:
        self.placed_on.setdefault(task, {}).setdefault(version_of(payload), set()).add(fp)

    def remove_older(self, client: PredictionStore, project: int) -> int:
        """Delete, on each task, the predictions of a placed version that were not placed."""
        tasks = self.placed_on
        if not tasks:
            return 0
        if len(tasks) <= PER_TASK_READS:
            stored = [p for t in sorted(tasks) for p in client.list_predictions(task=t)]
        else:
            stored = client.list_predictions(project=project)
        kept: set[bytes] = set()  # fingerprints include the task: one copy of each stays
        for p in sorted(stored, key=lambda p: p.get("id") or 0, reverse=True):
            versions = tasks.get(p.get("task"))  # type: ignore[arg-type]
            if versions is None:
                continue
            keep = versions.get(version_of(p))
            pid = p.get("id")
            if keep is None or not isinstance(pid, int):
                continue
            fp = fingerprint_of(p)
            if fp in keep and fp not in kept:
                kept.add(fp)
                continue
            client.delete_prediction(pid)
            self.removed += 1
        return self.removed
