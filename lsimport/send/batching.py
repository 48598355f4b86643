"""Batching: items (tasks, predictions) grouped into JSON arrays by count and by bytes."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar


class Sized(Protocol):
    body: bytes


ItemT = TypeVar("ItemT", bound=Sized)


class Batcher(Generic[ItemT]):
    """Groups items (tasks, predictions) into JSON arrays by count and by bytes (proxies cap
    request size, often at 1 MB)."""

    def __init__(self, max_count: int, max_bytes: int) -> None:
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.items: list[ItemT] = []
        self.size = 2  # "[]"

    def add(self, item: ItemT) -> list[ItemT] | None:
        """Add one item; returns the batch before it when adding it would overflow."""
        out = None
        extra = len(item.body) + 1
        if self.items and (len(self.items) >= self.max_count or self.size + extra > self.max_bytes):
            out = self.flush()
        self.items.append(item)
        self.size += extra
        return out

    def take_full(self) -> list[ItemT] | None:
        """The batch once it holds max_count items: for callers that send without waiting
        for the next item."""
        return self.flush() if len(self.items) >= self.max_count else None

    def flush(self) -> list[ItemT]:
        items, self.items, self.size = self.items, [], 2
        return items
