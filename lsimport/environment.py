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
    # (cores this process may use, the 1-minute load average): how many are idle
    cpu_load: Callable[[], tuple[int, float]] = field(default=lambda: cpu_load())

    @property
    def stderr_is_tty(self) -> bool:
        isatty = getattr(self.stderr, "isatty", None)
        return bool(isatty and isatty())


def cpu_load() -> tuple[int, float]:
    """The cores this process may use (its CPU affinity, and a cgroup's CPU quota when it
    sets one) and how busy the machine is: the 1-minute load average (as `make -l` reads it),
    or the processes runnable right now besides this one when more (the average lags a
    minute behind a test suite that just started). The number of cores when the system does
    not say, so that nothing counts as idle."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        usable = os.cpu_count() or 1
    try:  # cgroup v2: "max 100000" or "200000 100000" (quota, period)
        with open("/sys/fs/cgroup/cpu.max") as handle:
            quota, period = handle.read().split()[:2]
        if quota != "max":
            usable = max(1, min(usable, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    try:  # "0.62 0.79 0.90 3/412 12345": averages, runnable/all, last pid
        with open("/proc/loadavg") as handle:
            fields = handle.read().split()
        return usable, max(float(fields[0]), int(fields[3].split("/")[0]) - 1.0)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return usable, os.getloadavg()[0]
    except (AttributeError, OSError):
        return usable, float(usable)
