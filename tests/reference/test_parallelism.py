"""The BLAS thread policy's view of the machine: other programs' load, never this process's own."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mlupdate.reference import parallelism


class _Machine:
    """Clocks as OtherLoad reads them: wall time, this process's CPU time (its reaped children's included), the
    machine's busy CPU time, the load average."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.wall, self.cpu, self.busy, self.load = 100.0, 5.0, 1000.0, 0.0
        self.proc_stat = True
        monkeypatch.setattr(parallelism.time, "monotonic", lambda: self.wall)
        monkeypatch.setattr(parallelism, "own_cpu_seconds", lambda: self.cpu)
        monkeypatch.setattr(parallelism, "machine_busy_seconds", lambda: self.busy if self.proc_stat else None)
        monkeypatch.setattr(parallelism.os, "getloadavg", lambda: (self.load, self.load, self.load))

    def run(self, seconds: float, own_threads: float, other_cores: float) -> None:
        self.wall += seconds
        self.cpu += seconds * own_threads
        self.busy += seconds * (own_threads + other_cores)


def test_other_load_is_the_machines_busy_time_less_this_processs_own(monkeypatch: pytest.MonkeyPatch) -> None:
    machine = _Machine(monkeypatch)
    others = parallelism.OtherLoad()
    machine.load = 2.0  # the load average still remembers this process's two threads
    machine.run(10.0, own_threads=1.5, other_cores=0.5)
    assert others() == pytest.approx(0.5)
    machine.run(20.0, own_threads=2.0, other_cores=0.0)  # a benchmark's own contenders: not other programs
    assert others() == pytest.approx(0.0)
    machine.run(5.0, own_threads=0.0, other_cores=1.7)
    assert others() == pytest.approx(1.7)
    machine.run(0.1, own_threads=2.0, other_cores=0.0)  # asked again at once: the same answer
    assert others() == pytest.approx(1.7)


def test_other_load_falls_back_to_the_load_average_less_this_processs_damped_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine = _Machine(monkeypatch)
    others = parallelism.OtherLoad()
    machine.load = 2.0
    machine.run(70.0, own_threads=2.0, other_cores=0.0)  # a window too old to measure: the load average, less
    own = 2 * (1 - np.exp(-70 / 60))  # this process's damped share
    assert others() == pytest.approx(2.0 - own)
    machine.run(0.2, own_threads=2.0, other_cores=0.0)  # too short a window for 10 ms ticks: the load average
    own = own * np.exp(-0.2 / 60) + 2 * (1 - np.exp(-0.2 / 60))
    assert others() == pytest.approx(2.0 - own)
    machine.run(600.0, own_threads=0.0, other_cores=1.0)  # ten quiet minutes: too old to say what runs now
    machine.load = 1.0
    assert others() == pytest.approx(1.0 - own * np.exp(-600.2 / 60), abs=1e-3)
    machine.proc_stat = False  # no /proc/stat (macOS)
    machine.run(10.0, own_threads=1.0, other_cores=0.0)
    assert 0.0 <= others() < 1.0


def test_a_forked_child_starts_its_own_account(monkeypatch: pytest.MonkeyPatch) -> None:
    machine = _Machine(monkeypatch)
    others = parallelism.OtherLoad()
    machine.load = 1.5
    machine.cpu = 0.1  # a forked child's CPU time starts again
    assert others() == pytest.approx(1.5)
    machine.run(5.0, own_threads=1.0, other_cores=0.25)
    assert others() == pytest.approx(0.25)


def test_own_cpu_time_counts_the_children_this_process_reaped() -> None:
    """An ensemble's forked helpers are this process's load: once reaped, their CPU time is its own."""
    before = parallelism.own_cpu_seconds()
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end:\n    pass"
    subprocess.run([sys.executable, "-c", burn], check=True, timeout=60)
    assert parallelism.own_cpu_seconds() - before >= 0.25


def test_idle_cores_on_a_system_without_cpu_sets_count_every_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS has no sched_getaffinity: the Mac that runs parity after a device run counts its cores instead."""
    monkeypatch.delattr(parallelism.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(parallelism.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(parallelism, "_OTHER_LOAD", lambda: 2.2)
    assert parallelism.usable_cores() == 8
    assert parallelism.idle_cores() == 6
