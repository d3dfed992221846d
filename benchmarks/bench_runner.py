"""Runner overhead per job: the state machine against a bare copy-launch-poll-copy loop, on the in-process fake.

Both sides move the same real job bundle (tests/data/recorded/jobs/tictactoe-0001) through a FakeTarget whose
app writes a results bundle at the first poll. The bare loop copies, runs the app and copies back with no
checks; the runner adds job validation, a thread per step for deadlines, progress parsing, results
verification (DONE, job id, every hash) and cleanup. No Simulator or device is involved: simctl/devicectl and
USB latency are not in these figures, which bound only what the harness itself adds.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from mlharness.runner import Deadlines, run_job
from mlharness.targets.base import inbox_path, outbox_path
from mlharness.targets.fake import FakeTarget, canned_app

JOB = Path(__file__).resolve().parents[1] / "tests" / "data" / "recorded" / "jobs" / "tictactoe-0001"
ROUNDS = 40


def _runner_job(root: Path, index: int) -> float:
    started = time.perf_counter()
    run_job(
        FakeTarget(root / f"device-{index}", polls_to_finish=1),
        JOB,
        root / f"out-{index}",
        deadlines=Deadlines(poll_interval=0.0),
    )
    return time.perf_counter() - started


def _bare_job(root: Path, index: int) -> float:
    started = time.perf_counter()
    device = root / f"bare-{index}"
    inbox = device / inbox_path(JOB.name)
    shutil.copytree(JOB, inbox)
    canned_app(inbox, device / "Documents" / "outbox", JOB.name)
    shutil.copytree(device / outbox_path(JOB.name), root / f"bare-out-{index}")
    return time.perf_counter() - started


def run() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-runner-") as scratch:
        root = Path(scratch)
        runner = statistics.median(_runner_job(root, i) for i in range(ROUNDS))
        bare = statistics.median(_bare_job(root, i) for i in range(ROUNDS))
    print(f"   fake target, {ROUNDS} jobs each (no device; tool latency excluded):")
    print(f"   runner (validate, deadlines, verify, cleanup): {runner * 1000:8.1f} ms/job (median)")
    print(f"   bare copy-run-copy loop, no checks:            {bare * 1000:8.1f} ms/job (median)")
    print(f"   harness overhead: {(runner - bare) * 1000:.1f} ms/job ({runner / bare:.1f}x the bare loop)")
