"""Everything the CLI touches in the world, in one object tests can swap (as httpie does)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO


@dataclass
class Environment:
    stdin: BinaryIO = field(default_factory=lambda: sys.stdin.buffer)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    # The HTTP transport under the client (an httpx.BaseTransport); None: the network.
    transport: Any = None
    # (cores this process may use, how many other processes keep busy): how many are idle;
    # None while it is too soon to tell
    cpu_load: Callable[[], tuple[int, float] | None] = field(default_factory=lambda: AT_START)

    @property
    def stderr_is_tty(self) -> bool:
        isatty = getattr(self.stderr, "isatty", None)
        return bool(isatty and isatty())


def usable_cpus() -> set[int]:
    """The CPUs this process may run on (its affinity; every CPU where that is not known)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def _cpu_quota(usable: int) -> int:
    """`usable`, or fewer when a cgroup (v2) caps this process's CPU time."""
    try:  # "max 100000" or "200000 100000" (quota, period)
        with open("/sys/fs/cgroup/cpu.max") as handle:
            quota, period = handle.read().split()[:2]
        if quota != "max":
            return max(1, min(usable, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return usable


class CpuLoad:
    """How many cores are there to use, and how busy other processes keep them.

    Busy is measured over the time since this object was made (at the CLI's start), then
    since its last answer: the CPU time /proc/stat counts on the usable CPUs, less this
    process's own and its reaped children's (the workers of an earlier file). So the run before
    this one (a benchmark, a loop over files) does not count, as it would in the 1-minute
    load average. The processes runnable right now count too, when more (a test suite that
    just started). None until 50 ms have passed (5 clock ticks a CPU: /proc/stat's
    resolution), unless what is runnable right now says it at once (`_at_once`). Without
    /proc: the load average; without that, every core busy. `runnable`: how many other
    processes are runnable now (/proc/loadavg), None when that cannot be told.
    """

    def __init__(self, runnable: Callable[[], float | None] | None = None) -> None:
        self._cpus = usable_cpus()
        self._runnable = runnable or _runnable_others
        self._looked = False  # _at_once has looked in this window
        self._start = self._sample()

    def __call__(self) -> tuple[int, float] | None:
        now = self._sample()
        if self._start is not None and now is not None:
            (busy0, ticks0, own0), (busy1, ticks1, own1) = self._start, now
            elapsed = (ticks1 - ticks0) / len(self._cpus)  # clock ticks per CPU
            if elapsed < 5:  # 50 ms at 100 ticks a second: too soon to tell from /proc/stat
                return self._at_once()
            self._start, self._looked = now, False  # the next answer: over the time from here
            others = (busy1 - busy0 - (own1 - own0)) / elapsed
            return _cpu_quota(len(self._cpus)), max(0.0, others, self._runnable() or 0.0)
        usable = _cpu_quota(len(self._cpus))
        try:
            return usable, max(os.getloadavg()[0], self._runnable() or 0.0)
        except (AttributeError, OSError):
            return usable, float(usable)

    def _at_once(self) -> tuple[int, float] | None:
        """Idle or busy from what is runnable right now, once a window: no other process
        runnable in three looks 1 ms apart is idle (a worker starts with the file, not 10-30
        ms later), every usable core taken in all three is busy (the file is read as --jobs 1
        reads it: checked in ranges beside two busy processes, the 1,000,000 choice tasks took
        1.09-1.13x as long). Anything else, a process that was just ending among them: None,
        and /proc/stat decides once its 50 ms have passed."""
        if self._looked:
            return None
        self._looked = True
        usable = _cpu_quota(len(self._cpus))
        looks: list[float] = []
        for look in range(3):
            running = self._runnable()
            if running is None or 0 < running < usable:
                return None
            looks.append(running)
            if look < 2:
                time.sleep(0.001)
        if max(looks) == 0:
            return usable, 0.0
        return (usable, min(looks)) if min(looks) >= usable else None

    def _sample(self) -> tuple[float, float, float] | None:
        """(busy ticks, all ticks, this process's own CPU ticks) of the usable CPUs."""
        try:
            with open("/proc/stat") as handle:
                lines = handle.read().splitlines()
        except OSError:
            return None
        busy = total = 0
        for line in lines:
            name, _, rest = line.partition(" ")
            if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in self._cpus:
                continue
            ticks = [int(x) for x in rest.split()[:8]]  # user nice system idle iowait ...
            total += sum(ticks)
            busy += sum(ticks) - ticks[3] - ticks[4]
        times = os.times()  # this process and its reaped children: --jobs workers
        own = times.user + times.system + times.children_user + times.children_system
        own *= os.sysconf("SC_CLK_TCK")
        return (busy, total, own) if total else None


def _runnable_others() -> float | None:
    """Processes runnable right now besides this one (/proc/loadavg: "0.62 0.79 0.90 3/412 7");
    None when the file cannot be read or counts none at all, not even this process (gVisor's
    prints "0/0")."""
    try:
        with open("/proc/loadavg") as handle:
            running = int(handle.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return float(running - 1) if running >= 1 else None


# Measured from when lsimport is imported: the CLI's own start-up is the window (~0.1 s).
AT_START: CpuLoad = CpuLoad()
