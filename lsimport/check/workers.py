"""Worker processes forked from this one, each fed through a pipe of its own.

What `validate --jobs` needs of a process pool, and no more: hand a worker a function and its
arguments (pickled), get its results back in the order given. concurrent.futures'
ProcessPoolExecutor did this too, but importing it (multiprocessing, sockets, subprocess) took
25 ms of a 0.6 s run, which one process alone never spends; os.fork and two pipes cost
nothing to import. Workers are forked, so they start with what this process has made; what
it has not made yet, `prepare` makes in the worker, while this process goes on. Nothing but
a task and its result is pickled. Where os.fork does not exist, there are no workers
(`available`).

A thread per worker reads its results as they come, so the worker never waits for this process
to be ready. A small task (a byte range, a few hundred bytes), while few are owed, is written
by the caller: a pipe takes it at once. From the first other one on (a chunk of a gzip stream
is a megabyte, which a pipe takes only as the worker reads it), a second thread writes them.
Such a thread needs the GIL for each write, which for byte ranges had cost thread switches
for nothing. How many tasks are given out, and so how much is buffered, is the caller's to
bound (check/parallel.py: WAITING_PER_WORKER). Threads are started with `_thread`, which does
not wait for a thread to run: threading.Thread.start does, and just after a fork, with the
new worker busy on the other core, that took 3-8 ms (0.3 ms without it).
"""

from __future__ import annotations

import _thread
import contextlib
import os
import pickle
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from queue import SimpleQueue
from typing import Any, BinaryIO

from lsimport.errors import WorkerError

available = hasattr(os, "fork")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, kill: a worker just ends


class Worker:
    """One forked worker process; its results come back in the order of `submit`.

    `prepare` runs first in the worker (while this process goes on); if it raises, so does
    every task's result."""

    def __init__(
        self, prepare: Callable[[], object] = lambda: None, siblings: Iterable[Worker] = ()
    ) -> None:
        tasks_in, tasks_out = os.pipe()
        results_in, results_out = os.pipe()
        # No signal between the fork and the worker's own handlers: a Ctrl-C there would run
        # this process's handlers, finally blocks and atexit in the worker.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            self.pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            for fd in (tasks_in, tasks_out, results_in, results_out):
                os.close(fd)
            raise
        if self.pid == 0:  # the worker: never returns
            try:
                for sig in _SIGNALS:
                    if signal.getsignal(sig) is not signal.SIG_IGN:  # ignored stays ignored
                        signal.signal(sig, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                os.close(tasks_out)
                os.close(results_in)
                for sibling in siblings:  # else a sibling's end would never see this one's close
                    sibling.close_in_child()
                _serve(prepare, tasks_in, results_out)
            finally:
                os._exit(1)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(tasks_in)
        os.close(results_out)
        self._tasks: BinaryIO = os.fdopen(tasks_out, "wb")
        self._results: BinaryIO = os.fdopen(results_in, "rb")
        self._outbox: SimpleQueue[bytes | None] = SimpleQueue()  # pickled tasks, when _writing
        self._writing = False  # a thread writes the tasks
        self._done: deque[tuple[bool, Any]] = deque()  # (ok, result or exception)
        self._ended: WorkerError | None = None  # the worker's results pipe closed
        self._reaped = False  # waited for, by the reader (its pid may be another's now)
        self._arrived = threading.Condition()
        self._running: list[_thread.LockType] = []  # held by each thread until it ends
        self.owed = 0  # tasks given whose result has not been taken

    def start(self) -> None:
        """Start taking results: after every worker is forked (a fork copies no thread, and a
        thread's locks could be held at the fork)."""
        self._thread(self._read)

    def _thread(self, target: Callable[[], None]) -> None:
        running = _thread.allocate_lock()
        running.acquire()
        _thread.start_new_thread(_until_done, (target, running))
        self._running.append(running)

    def submit(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Give the worker a task (pickled here: one that cannot be is the caller's error)."""
        task = pickle.dumps((function, args), pickle.HIGHEST_PROTOCOL)
        self.owed += 1
        if not self._writing and len(task) <= _SMALL and self.owed <= _DIRECT:
            self._send(task)
            return
        if not self._writing:  # every task from here on goes through it, in order
            self._writing = True
            self._thread(self._write)
        self._outbox.put(task)

    def _send(self, data: bytes) -> bool:
        """Write to the worker's tasks pipe; False when the worker has gone (the reader says
        so)."""
        if self._tasks.closed:  # it had gone already
            return False
        try:
            self._tasks.write(data)
            self._tasks.flush()
            return True
        except OSError:
            with contextlib.suppress(OSError):
                self._tasks.close()
            return False

    def ready(self) -> bool:
        """Whether the oldest result owed is here (or the worker has ended without it)."""
        return bool(self._done) or self._ended is not None

    def busy(self) -> int:
        """Tasks given whose result has not come back yet."""
        return self.owed - len(self._done)

    def take(self) -> Any:
        """The oldest result owed (waiting for it); the worker's exception, raised here, and a
        WorkerError when the worker ended before giving it."""
        with self._arrived:
            self._arrived.wait_for(lambda: self._done or self._ended is not None)
            if not self._done:
                assert self._ended is not None
                raise self._ended
            ok, value = self._done.popleft()
        self.owed -= 1
        if not ok:
            raise value
        return value

    def _write(self) -> None:
        while (task := self._outbox.get()) is not None:
            if not self._send(task):
                return
        self._stop()

    def _stop(self) -> None:
        """Tell the worker there are no more tasks."""
        if self._send(pickle.dumps(None)):
            self._tasks.close()

    def _read(self) -> None:
        while True:
            try:
                item = pickle.load(self._results)
            except Exception as exc:  # told to stop, gone, or out of step: nothing more comes
                message, self._reaped = _ended_early(self.pid, exc)
                with self._arrived:  # a result still owed is an error
                    self._ended = WorkerError(message)
                    self._arrived.notify()
                return
            with self._arrived:
                self._done.append(item)
                self._arrived.notify()

    def close(self, *, kill: bool = False) -> None:
        """Tell the worker to stop (or kill it), and wait until it has."""
        if kill:
            with contextlib.suppress(OSError):  # it has gone already
                os.kill(self.pid, signal.SIGKILL)  # (a SIGTERM handler may be inherited)
        if self._writing:
            self._outbox.put(None)
        else:
            self._stop()  # (nothing, when its pipe has closed already)
        while self._running:  # the reader ends as the worker does, and may reap it
            self._running.pop().acquire()
        if not self._reaped:
            with contextlib.suppress(ChildProcessError):  # reaped already: SIGCHLD is ignored
                os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            self._tasks.close()
        self._results.close()

    def close_in_child(self) -> None:
        """In a worker forked later: let go of this worker's pipes, without flushing (and
        taking the lock of) a buffer copied from this process."""
        for handle in (self._tasks, self._results):
            with contextlib.suppress(OSError):
                os.close(handle.fileno())


def _until_done(target: Callable[[], None], running: _thread.LockType) -> None:
    """Run a thread's target, then say it has ended."""
    try:
        target()
    finally:
        running.release()


# A pickled task written by the caller: at most PIPE_BUF, which POSIX has at least 512 bytes,
# and with at most _DIRECT owed, so that the pipe takes it at once (4 KB in all; a pipe holds
# 64 KB on Linux, 16 KB and more on macOS). Past either, the writer thread takes the tasks.
_SMALL = 512
_DIRECT = 8

# How long a worker whose pipe closed is given to end, before it is said to have ended anyway.
_EXIT_WAIT = 1.0


def _ended_early(pid: int, exc: Exception) -> tuple[str, bool]:
    """What became of a worker whose results stopped coming, and whether it was reaped."""
    how = f"{type(exc).__name__}: {exc}" if not isinstance(exc, EOFError) else "its pipe closed"
    done = status = 0
    pause, waited = 0.0001, 0.0
    while waited < _EXIT_WAIT:  # its pipe closes as it ends: a moment, for the kernel to say how
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped already (SIGCHLD ignored)
            break
        if done:
            break
        time.sleep(pause)  # short at first: this is the end of every --jobs run
        waited += pause
        pause = min(pause * 2, 0.01)
    if done and os.WIFSIGNALED(status):
        how = f"killed by signal {os.WTERMSIG(status)}; out of memory?"
    return f"a worker process of --jobs ended before giving all its results ({how})", bool(done)


def _serve(prepare: Callable[[], object], tasks_fd: int, results_fd: int) -> None:
    """The worker: run each task it is given, send its result back, until told to stop."""
    code = 0
    try:
        try:
            prepare()
            unprepared: Exception | None = None
        except Exception as exc:  # every task's result
            unprepared = exc
        with os.fdopen(tasks_fd, "rb") as tasks, os.fdopen(results_fd, "wb") as results:
            while (task := pickle.load(tasks)) is not None:
                function, args = task
                try:
                    if unprepared is not None:
                        raise unprepared
                    reply: tuple[bool, Any] = (True, function(*args))
                except Exception as exc:  # handed to this process's caller
                    reply = (False, exc)
                results.write(_pickled(reply))
                results.flush()
    except BaseException:  # the parent sees the pipe close and says so
        code = 1
    finally:
        os._exit(code)  # no atexit, no flushing of buffers copied from the parent


def _pickled(reply: tuple[bool, Any]) -> bytes:
    """The reply as the parent can read it: an exception that does not pickle, or does not
    unpickle (a constructor with other arguments), goes as a RuntimeError with its text."""
    try:
        data = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
        if not reply[0]:
            pickle.loads(data)
        return data
    except Exception:
        exc = reply[1]
        return pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
