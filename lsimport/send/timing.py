"""How long a client's requests waited for the server: the time at least one was in flight.

With several requests in flight at once, their latencies overlap; summing them would count
the same second twice. What tells how close a run is to the server's limit is the wall time
during which some request was waiting for its answer (the server, or the network, at work)
against the rest (lsimport reading, checking and serialising with nothing in flight).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class RequestTimer:
    """Counts requests and the time with at least one of them in flight. Thread-safe."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._inflight = 0
        self._since = 0.0  # when the current stretch with requests in flight began
        self._busy = 0.0  # closed stretches, in seconds
        self.requests = 0

    @contextmanager
    def request(self) -> Iterator[None]:
        """Time one request, from sending it until its answer's headers came."""
        with self._lock:
            if self._inflight == 0:
                self._since = self._clock()
            self._inflight += 1
            self.requests += 1
        try:
            yield
        finally:
            with self._lock:
                self._inflight -= 1
                if self._inflight == 0:
                    self._busy += self._clock() - self._since

    def busy_s(self) -> float:
        """Seconds so far with at least one request in flight (an open stretch included)."""
        with self._lock:
            open_stretch = self._clock() - self._since if self._inflight else 0.0
            return self._busy + open_stretch
