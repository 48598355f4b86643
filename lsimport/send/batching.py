"""Batching: items (tasks, predictions) grouped into JSON arrays by count and by bytes, and
sent when full or, for slow producers, when they have waited long enough."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, Protocol, TypeVar

import orjson


class Sized(Protocol):
    body: bytes


def item_json(value: Any) -> bytes:
    """One item's JSON, as a batch waiting to be sent holds it.

    orjson's result keeps its whole working buffer: at least 4 KB for a 600-byte task
    (measured with tracemalloc, orjson 3.11). Two batches of 1,000 held that way are 8 MB of
    nothing; an exact copy costs a memcpy.
    """
    return bytes(memoryview(orjson.dumps(value)))


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


class Flush:
    """A batch has waited the flush interval: send it as it is."""


_FLUSH = Flush()
T = TypeVar("T")
# How often a silent input is checked for a stop (Ctrl-C) while waiting for the next record.
_STOP_POLL = 0.5


def with_flushes(
    items: Iterable[T],
    interval: float | None,
    due: Callable[[], float | None],
    *,
    clock: Callable[[], float],
    stopped: Callable[[], bool] | None = None,
) -> Iterator[T | Flush]:
    """The items, with a `Flush` whenever the batch being filled is due (`due()`: the clock
    time it must go, None while it is empty) and the next item has not come yet.

    With an interval, the items are read in a thread of their own, so that a producer that
    writes a task now and then (`infer.py | lsimport upload -`) does not hold a half-full
    batch back. Without one (files), they are read here, as before. `stopped()` true
    (Ctrl-C) ends the items early, even while the input is silent.
    """
    if interval is None:
        yield from items
        return
    inbox: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=1024)
    closed = threading.Event()

    def put(kind: int, value: Any) -> bool:
        while not closed.is_set():
            try:
                inbox.put((kind, value), timeout=_STOP_POLL)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for item in items:
                if not put(_ITEM, item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_ERROR, exc)
            return
        put(_END, None)

    reader = threading.Thread(target=read, name="read", daemon=True)
    reader.start()
    try:
        while True:
            when = due()
            timeout = _STOP_POLL if when is None else max(0.0, min(_STOP_POLL, when - clock()))
            try:
                kind, value = inbox.get(timeout=timeout)
            except queue.Empty:
                if stopped is not None and stopped():
                    return
                when = due()
                if when is not None and clock() >= when:
                    yield _FLUSH
                continue
            if kind == _ITEM:
                yield value
            elif kind == _END:
                return
            else:
                raise value
    finally:
        closed.set()


_ITEM, _END, _ERROR = 0, 1, 2
