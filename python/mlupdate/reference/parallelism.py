"""How many BLAS threads a training run may use, and setting them: the machine's idle cores as this process sees
them, and OpenBLAS's thread count through threadpoolctl.

OpenBLAS's threads wait for each other spinning, so a threaded product on cores other programs keep busy runs
5 to 400 times slower than on one thread (measured at a load of 10 on 2 cores): a run takes a second thread only
on a core nobody else uses (`idle_cores`), and never counts its own recent work as somebody else's.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from pathlib import Path
from typing import Any

from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]


@functools.cache
def _blas_controller() -> Any:
    # Built once: every ThreadpoolController() scans the process's loaded libraries (milliseconds per job).
    return ThreadpoolController()


def blas_limit(threads: int) -> contextlib.AbstractContextManager[Any]:
    """BLAS on `threads` threads inside the block, as before after it. Nothing is set when every BLAS library already
    runs on that many: after a fork, setting OpenBLAS's count restarts its thread pool, whose new thread then spins
    ~0.1 s waiting for work (measured: a forked ensemble helper's first run took 1.5x as long on two cores)."""
    controller = _blas_controller()
    if all(info["num_threads"] == threads for info in controller.info() if info["user_api"] == "blas"):
        return contextlib.nullcontext()
    limited: contextlib.AbstractContextManager[Any] = controller.limit(limits=threads, user_api="blas")
    return limited


def blas_threads_available() -> int:
    """The BLAS threads this process may use (OpenBLAS's own default: the cores it may run on)."""
    blas = [info["num_threads"] for info in _blas_controller().info() if info["user_api"] == "blas"]
    return max(blas, default=1)


def machine_busy_seconds() -> float | None:
    """CPU seconds the machine's cores have spent on anything but idling since boot (/proc/stat: stolen time
    counts, a hypervisor's neighbours took it), or None where there is no /proc/stat."""
    try:
        with Path("/proc/stat").open(encoding="ascii") as stat:
            fields = stat.readline().split()
        ticks = [int(value) for value in fields[1:9]]  # user nice system idle iowait irq softirq steal
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def own_cpu_seconds() -> float:
    """CPU seconds of this process's threads and of the children it has reaped (an ensemble's forked helpers
    are this run's own load, not another program's)."""
    used = os.times()
    return used.user + used.system + used.children_user + used.children_system


class OtherLoad:
    """How many cores other programs keep busy, seen from this process at each call.

    Where the last call (or the import) was 1 to 60 s ago: the machine's busy CPU time since then less this
    process's own (`own_cpu_seconds`), per wall second, measured (and kept for calls within the next second).
    Otherwise (a window too short for /proc/stat's 10 ms ticks, too old to say anything about now, or no
    /proc/stat) the 1-minute load average less this process's own share of it: its CPU time damped as the
    kernel damps the load average (by exp(-t / 60 s)).
    Either way a run is not kept off a core by what this process itself did a moment ago (training on two
    threads, or a benchmark's other contenders)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.pid, self.wall, self.cpu = os.getpid(), time.monotonic(), own_cpu_seconds()
        self.busy, self.own = machine_busy_seconds(), 0.0
        self.measured: float | None = None

    def __call__(self) -> float:
        pid, wall, cpu, busy = os.getpid(), time.monotonic(), own_cpu_seconds(), machine_busy_seconds()
        if pid != self.pid or cpu < self.cpu:  # a forked child: its CPU time starts again
            self._reset()
            return max(0.0, os.getloadavg()[0])
        elapsed, used = wall - self.wall, cpu - self.cpu
        decay = math.exp(-elapsed / 60)
        own = self.own * decay + (used / elapsed if elapsed > 0 else 0.0) * (1 - decay)
        if elapsed < 1.0 and self.measured is not None:
            return self.measured  # asked again within a second: the last measurement still holds
        self.measured = None
        if busy is not None and self.busy is not None and 1.0 <= elapsed <= 60.0:
            self.measured = max(0.0, (busy - self.busy - used) / elapsed)
        if elapsed >= 1.0 or busy is None:
            self.wall, self.cpu, self.busy, self.own = wall, cpu, busy, own
        return self.measured if self.measured is not None else max(0.0, os.getloadavg()[0] - own)


_OTHER_LOAD = OtherLoad()


def idle_cores() -> int:
    """The cores of this process's CPU set that other programs leave idle (`OtherLoad`), at least 1; half a
    core's load is rounded away."""
    cores = usable_cores()
    return max(1, min(cores, math.floor(cores - _OTHER_LOAD() + 0.5)))


def usable_cores() -> int:
    """The cores this process may run on: its CPU set on Linux, every core where there is none (macOS)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
