"""The one settling sender that tasks and predictions share, and how it learns this server.

A batch is sent as one request, and whatever comes back is settled before the batch is done:

- 413: the batch is halved until it fits (one item that never fits fails alone);
- 400: narrowed down to what the server refuses (each sender knows how its server says it);
- 429/503: retried by the client (backoff, Retry-After, bounded);
- an unknown outcome (a timeout, a 502 or 504, a dropped connection, an unreadable answer):
  the batch **may still be saving**. A gateway (nginx, a load balancer) whose timeout is
  shorter than the request answers 504 or 502 while Label Studio goes on and commits the
  batch, and nothing of it is visible until then. So the sender looks at what landed, then
  again with backoff, for a settle time (`Pace.settle_time`) before anything is sent again.
  Only a 500 from the server itself means that the server is done: one look decides.
  What is still missing after the settle time is sent again and marked *resent*: the run
  repairs (deletes) any second copy before it ends. What cannot even be looked at stays
  *unsettled*: the run ends "pending", and the next run settles it from the journal.
- A batch found missing at the first look and landed later was still being saved when the
  gateway gave up: the gateway's timeout is learned from it, and later batches are made small
  enough to finish in half of it (`Pace.batch_limit`).

A subclass says how to post a batch, how to read what landed, and what a refusal means.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lsimport.errors import (
    AuthError,
    LsImportError,
    NotFoundError,
    OutcomeUnknown,
    PayloadTooLarge,
    RequestRejected,
    ServerError,
)
from lsimport.send.client import GATEWAY_STATUSES  # answers from a gateway, not Label Studio

# Before any request of this server is timed: a slow server (SQLite under contention imports
# ~200 tasks/s; one request of 12,000 tasks took 24 s on the 2-core test machine).
PRIOR_SECONDS_PER_ITEM = 0.005
# The settle time is this many times a request's expected duration, within these bounds.
SETTLE_FACTOR = 3.0
SETTLE_MIN = 5.0
SETTLE_MAX = 900.0
# Later batches aim at this share of a learned gateway timeout.
GATEWAY_SHARE = 0.5
# Looks after an unknown outcome: after 0.25 s, then twice as long each time, at most this.
FIRST_LOOK = 0.25
LOOK_MAX = 5.0
# A gateway's timeout is learned only from answers after at least this long: a 502 at once
# is a connection refused or cut behind the gateway, not a timeout.
GATEWAY_MIN_TIMEOUT = 0.5


def server_finished(exc: OutcomeUnknown) -> bool:
    """True when the server itself answered with an error: it is not saving any more.

    Label Studio answers 500 after its own failure (and may have saved part of the request
    before it); 502/504 come from a gateway, and no status means the answer was lost or
    unreadable: the server may still be at work.
    """
    return exc.status is not None and exc.status >= 500 and exc.status not in GATEWAY_STATUSES


@dataclass(frozen=True)
class GatewayLimit:
    """What was learned about a gateway that gives up before the server has finished."""

    timeout_s: float  # it gave up after about this long
    batch_size: int  # later batches hold at most this many items


class Pace:
    """How long this server's requests take, per item, and what a gateway in front allows.

    Worker threads report to it; reading it is lock-free (a float and a frozen object).
    """

    def __init__(self, settle_timeout: float | None = None) -> None:
        self.settle_timeout = settle_timeout
        self.per_item: float | None = None  # the slowest seconds per item measured so far
        self.gateway: GatewayLimit | None = None
        self._lock = threading.Lock()

    def took(self, items: int, seconds: float) -> None:
        """A request of `items` items was answered, or found landed, after `seconds`."""
        if items <= 0 or seconds <= 0:
            return
        with self._lock:
            per = seconds / items
            self.per_item = per if self.per_item is None else max(self.per_item, per)

    def expected(self, items: int) -> float:
        """Seconds a request of `items` items may take on this server."""
        per = self.per_item if self.per_item is not None else PRIOR_SECONDS_PER_ITEM
        return 1.0 + per * items

    def settle_time(self, items: int) -> float:
        """How long a request of `items` items whose outcome is unknown may still be saving:
        --settle-timeout when given, else a few times what such a request takes here."""
        if self.settle_timeout is not None:
            return self.settle_timeout
        return min(SETTLE_MAX, max(SETTLE_MIN, SETTLE_FACTOR * self.expected(items)))

    def gave_up(self, items: int, after: float, landed_after: float) -> GatewayLimit:
        """A gateway gave up after `after` s while the server was still saving a batch of
        `items`, which landed `landed_after` s after it was sent.

        The first time, batches are cut to what this one's pace finishes in GATEWAY_SHARE of
        the timeout. Later (a busy moment), the limit is at most half the batch that timed
        out: the limit shrinks step by step instead of from the slowest moment seen.
        """
        self.took(items, landed_after)
        with self._lock:
            if self.gateway is None:
                size = max(1, math.floor(GATEWAY_SHARE * after * items / landed_after))
                self.gateway = GatewayLimit(after, min(size, max(1, items // 2)))
            else:
                size = min(self.gateway.batch_size, max(1, items // 2))
                self.gateway = GatewayLimit(min(self.gateway.timeout_s, after), size)
            return self.gateway

    def batch_limit(self) -> int | None:
        """At most this many items per request (None: no gateway learned)."""
        gateway = self.gateway
        return gateway.batch_size if gateway is not None else None


ItemT = TypeVar("ItemT")


@dataclass
class Settled(Generic[ItemT]):
    """How one batch ended, item by item; what the subclasses' results share."""

    failed: list[tuple[ItemT, str]] = field(default_factory=list)  # the server said no
    unsettled: list[ItemT] = field(default_factory=list)  # outcome still unknown: pending
    resent: list[ItemT] = field(default_factory=list)  # sent again after the settle time
    fatal: ServerError | None = None  # the server cannot be used any more: stop the run


ResultT = TypeVar("ResultT", bound=Settled[Any])


@dataclass
class Look(Generic[ItemT]):
    """What one look at the server found of a batch."""

    landed: list[Any]  # what landed, in the subclass's terms
    missing: list[ItemT]  # items not there (a quick look may just say: not all there)
    whole: bool = True  # False: some landed only in part so far (tasks without predictions)
    seen: int = 0  # how much of the server's side there is: it grows while the server saves

    @property
    def settled(self) -> bool:
        return not self.missing and self.whole


class SettlingSender(ABC, Generic[ItemT, ResultT]):
    """Sends one batch and settles it (see the module's docstring). Runs in worker threads."""

    def __init__(
        self,
        pace: Pace,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        stop: threading.Event | None = None,
        rounds: int = 3,
    ) -> None:
        self.pace = pace
        self.clock = clock
        self.sleep = sleep
        self.stop = stop or threading.Event()
        self.rounds = rounds

    # --- what a subclass provides ---

    @abstractmethod
    def _post(self, items: list[ItemT]) -> Any:
        """Send the batch as one request; the parsed answer (raises the client's errors)."""

    @abstractmethod
    def _accepted(self, items: list[ItemT], answer: Any, result: ResultT) -> None:
        """The server answered the request: record what it created."""

    @abstractmethod
    def _refused(
        self, items: list[ItemT], exc: RequestRejected, result: ResultT, *, rounds: int
    ) -> None:
        """The server refused the request (nothing of it saved): narrow it down."""

    @abstractmethod
    def _look(self, items: list[ItemT], result: ResultT, *, quick: bool) -> Look[ItemT]:
        """Ask the server which items of the batch landed. `quick`: a cheap answer that it
        is not all there yet will do (the look after the settle time is never quick)."""

    @abstractmethod
    def _landed(self, landed: list[Any], result: ResultT) -> None:
        """Record what `_look` found landed."""

    @abstractmethod
    def _not_settled(self, items: list[ItemT], result: ResultT) -> list[ItemT]:
        """The items of the batch that `result` has not settled yet."""

    # --- the shared part ---

    def settle_batch(self, items: list[ItemT], result: ResultT) -> ResultT:
        """Send and settle `items` into `result`. A fatal server error (auth refused after a
        refresh, server gone) ends it: what the batch did is then unknown for every item
        not settled yet, and those are left unsettled."""
        try:
            self._send(items, result, rounds=self.rounds)
        except ServerError as exc:
            result.fatal = exc
            result.unsettled.extend(self._not_settled(items, result))
        return result

    def _send(self, items: list[ItemT], result: ResultT, *, rounds: int) -> None:
        if not items:
            return
        started = self.clock()
        try:
            answer = self._post(items)
        except PayloadTooLarge as exc:
            if len(items) == 1:
                result.failed.append((items[0], f"too large for the server: {exc.message}"))
                return
            self._halves(items, result, rounds=rounds)
            return
        except RequestRejected as exc:
            self._refused(items, exc, result, rounds=rounds)
            return
        except OutcomeUnknown as exc:
            self._unknown(items, exc, started, result, rounds=rounds)
            return
        self.pace.took(len(items), self.clock() - started)
        self._accepted(items, answer, result)

    def _settle_for(self, items: list[ItemT]) -> float:
        return self.pace.settle_time(len(items))

    def _halves(self, items: list[ItemT], result: ResultT, *, rounds: int) -> None:
        half = len(items) // 2
        self._send(items[:half], result, rounds=rounds)
        self._send(items[half:], result, rounds=rounds)

    def _unknown(
        self,
        items: list[ItemT],
        exc: OutcomeUnknown,
        started: float,
        result: ResultT,
        *,
        rounds: int,
    ) -> None:
        """Look, with backoff, until every item landed or the settle time is over."""
        answered_after = self.clock() - started
        finished = server_finished(exc)
        deadline = self.clock() + (0.0 if finished else self._settle_for(items))
        limit = started + SETTLE_MAX
        wait = FIRST_LOOK
        looks = 0
        progress: tuple[int, int, bool] | None = None
        waited_for_whole = False
        while True:
            look: Look[ItemT] | None
            try:
                look = self._look(items, result, quick=not finished)
            except (AuthError, NotFoundError):
                raise  # no waiting makes these go away
            except LsImportError:
                look = None  # a gateway may time reads out too while the server saves
            looks += 1
            if look is not None:
                now = (look.seen, len(look.landed), look.whole)
                if progress is not None and now != progress:
                    # More of it landed since the last look: the server is at it still.
                    deadline = min(limit, max(deadline, self.clock() + self._settle_for(items)))
                elif not look.missing and not look.whole and not waited_for_whole:
                    # All there but in part (tasks before their predictions): one more
                    # settle time for the rest, not more (it may never come: see tasks).
                    waited_for_whole = True
                    deadline = min(limit, max(deadline, self.clock() + self._settle_for(items)))
                progress = now
            left = deadline - self.clock()
            if (look is not None and look.settled) or left <= 0 or self.stop.is_set():
                break
            self.sleep(min(wait, left))
            wait = min(wait * 2, LOOK_MAX)
        if look is not None and not look.settled and not finished:
            try:  # the quick looks only said "not all there": which items are?
                look = self._look(items, result, quick=False)
            except LsImportError:
                look = None
        if look is None:
            # Cannot be asked: left to the next run (the journal keeps it pending).
            result.unsettled.extend(items)
            return
        self._landed(look.landed, result)
        missing = look.missing
        if not missing:
            if looks > 1 and not finished and answered_after >= GATEWAY_MIN_TIMEOUT:
                # Missing at first, there later: the server was still saving when the
                # answer came. What came was a gateway (or the client) giving up.
                self.pace.gave_up(len(items), answered_after, self.clock() - started)
            return
        if rounds <= 0 or self.stop.is_set():
            result.unsettled.extend(missing)
            return
        if not finished:
            result.resent.extend(missing)
        limit = self.pace.batch_limit() or len(missing)
        for start in range(0, len(missing), limit):
            self._send(missing[start : start + limit], result, rounds=rounds - 1)
