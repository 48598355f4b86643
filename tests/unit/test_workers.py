"""check/workers.py: forked workers hand back results in order, and say when they fail."""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
from collections.abc import Callable, Iterator

import pytest

from lsimport.check.workers import Worker
from lsimport.errors import WorkerError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="workers are forked")


def _square(x: int) -> int:
    return x * x


def _fail(message: str) -> None:
    raise ValueError(message)


def _pid() -> int:
    return os.getpid()


def _exit() -> None:
    os._exit(3)


PREPARED: list[str] = []


def _prepared() -> list[str]:
    return PREPARED


@contextlib.contextmanager
def running(prepare: Callable[[], object] = lambda: None) -> Iterator[Worker]:
    """A started worker, told to stop and reaped at the end."""
    worker = Worker(prepare)
    worker.start()
    try:
        yield worker
    finally:
        worker.close()


def test_results_come_back_in_the_order_given() -> None:
    with running() as worker:
        for x in range(50):
            worker.submit(_square, (x,))
        assert [worker.take() for _ in range(50)] == [x * x for x in range(50)]
        worker.submit(_pid, ())
        assert worker.take() != os.getpid(), "the work is done in another process"
        assert worker.busy() == 0 and not worker.ready()


def test_a_task_s_exception_is_raised_here_and_the_worker_goes_on() -> None:
    with running() as worker:
        worker.submit(_fail, ("bad record",))
        worker.submit(_square, (3,))
        with pytest.raises(ValueError, match="bad record"):
            worker.take()
        assert worker.take() == 9


def test_what_prepare_makes_is_there_for_every_task_and_its_failure_too() -> None:
    with running(lambda: PREPARED.append("prepared")) as worker:  # in the worker's copy of it
        worker.submit(_prepared, ())
        assert worker.take() == ["prepared"] and PREPARED == []
    with running(lambda: _fail("no config")) as broken:
        broken.submit(_square, (2,))
        with pytest.raises(ValueError, match="no config"):
            broken.take()


@pytest.mark.parametrize("how", ["exits", "is-killed", "is-killed-while-idle"])
def test_a_worker_that_ends_early_is_an_error_not_a_hang(how: str) -> None:
    import threading
    import time

    with running() as worker:
        if how == "exits":
            worker.submit(_exit, ())
        else:
            os.kill(worker.pid, signal.SIGKILL)
            if how == "is-killed-while-idle":
                time.sleep(0.3)  # its end is seen before any task is given
            worker.submit(_square, (2,))
        raised: list[BaseException] = []

        def take() -> None:
            try:
                worker.take()
            except WorkerError as exc:
                raised.append(exc)

        taker = threading.Thread(target=take, daemon=True)
        taker.start()
        taker.join(timeout=10)
        assert not taker.is_alive(), "take() hung"
        assert raised and "ended before giving all its results" in str(raised[0])
        assert worker.ready()


def test_closing_with_work_owed_kills_the_worker_and_reaps_it() -> None:
    worker = Worker()
    worker.start()
    worker.submit(_square, (2,))
    worker.close(kill=True)
    with pytest.raises(ChildProcessError):
        os.waitpid(worker.pid, os.WNOHANG)  # reaped: no zombie left behind


def _length(data: bytes) -> int:
    return len(data)


def test_big_tasks_are_handed_over_without_waiting_for_the_worker() -> None:
    """A gzip stream's chunks are a megabyte: submit returns at once, the worker reads them
    as it gets to them (a pipe holds 64 KB)."""
    import time

    with running() as worker:
        start = time.monotonic()
        for _ in range(4):
            worker.submit(_length, (b"x" * (8 << 20),))
        assert time.monotonic() - start < 5  # was given, not sent: the writer thread sends
        assert [worker.take() for _ in range(4)] == [8 << 20] * 4


def test_small_tasks_are_written_here_and_keep_their_order_with_big_ones() -> None:
    """A byte range is written by the caller, no thread; once a big task has gone to the
    writer thread, every task after it goes that way too, and results keep their order."""
    with running() as worker:
        worker.submit(_square, (3,))
        assert not worker._writing, "a small task needs no writer thread"
        worker.submit(_length, (b"x" * (1 << 20),))
        worker.submit(_square, (4,))
        assert worker._writing
        assert [worker.take() for _ in range(3)] == [9, 1 << 20, 16]


def _open_pipes() -> set[int]:
    """The inodes of the pipes this process holds an end of."""
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own, closed by now
            held.add(os.fstat(int(fd)).st_ino)
    return held


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="lists open files with /proc")
def test_a_worker_holds_no_end_of_a_sibling_s_pipes() -> None:
    """Else a sibling would not see this process go away: its tasks pipe would stay open
    in the second worker, and it would wait for tasks for as long as that one lives."""
    first = Worker()
    second = Worker(siblings=[first])
    for worker in (first, second):
        worker.start()
    try:
        second.submit(_open_pipes, ())
        held = second.take()
        pipes = {os.fstat(end.fileno()).st_ino for end in (first._tasks, first._results)}
        assert not pipes & held
        os.kill(first.pid, signal.SIGKILL)
        first.submit(_square, (2,))
        with pytest.raises(WorkerError):
            first.take()
        second.submit(_square, (3,))
        assert second.take() == 9
    finally:
        first.close()
        second.close()


class PairError(Exception):
    """Pickles, but does not unpickle: its constructor wants two arguments."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} {b}")


def _raise_pair() -> None:
    raise PairError("left", "right")


def test_an_exception_that_does_not_unpickle_comes_back_as_its_text() -> None:
    with running() as worker:
        worker.submit(_raise_pair, ())
        worker.submit(_square, (4,))
        with pytest.raises(RuntimeError, match="PairError: left right"):
            worker.take()
        assert worker.take() == 16, "the worker goes on"


def test_a_task_that_does_not_pickle_is_the_caller_s_error() -> None:
    with running() as worker:
        with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
            worker.submit(len, (lambda: 0,))
        assert worker.owed == 0
        worker.submit(_square, (5,))
        assert worker.take() == 25


def test_closing_when_sigchld_is_ignored() -> None:
    """Started by a parent that ignores SIGCHLD (it survives exec): the kernel reaps the
    worker itself, and waitpid finds no child."""
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        worker = Worker()
        worker.start()
        worker.submit(_square, (6,))
        assert worker.take() == 36
        worker.close()
    finally:
        signal.signal(signal.SIGCHLD, previous)


def test_closing_twice_returns_at_once() -> None:
    worker = Worker()
    worker.start()
    worker.submit(_square, (2,))
    assert worker.take() == 4
    worker.close()
    worker.close()  # its threads have ended: nothing left to wait for


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def test_many_small_tasks_are_handed_over_without_waiting_for_the_worker() -> None:
    """A few small tasks are written by the caller; past that, the writer thread takes them,
    so a caller giving many ahead does not wait on a full pipe while the worker is busy."""
    import time

    with running() as worker:
        worker.submit(_sleep, (1.0,))
        start = time.monotonic()
        for x in range(3000):
            worker.submit(_square, (x,))
        assert time.monotonic() - start < 0.5  # the worker has read none of them yet
        assert worker.take() is None
        assert [worker.take() for _ in range(3000)] == [x * x for x in range(3000)]
