"""Every writer killed with SIGKILL at random points (job bundles, results, the reference trainer's results,
parity reports): its output folder afterwards holds either the previous complete output or a new complete one,
never a mixture or a half, and the next run clears what the killed one left behind.

Each writer runs in a child process (writer.py) that says `go` once it has imported everything; the kill lands
a random time after that, within the time a whole write takes (measured first). The points are drawn from a
seeded generator, so a failure names a point that can be replayed.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlupdate.bundle import read_job, read_results
from mlupdate.output_folder import read_marker
from mlupdate.parity.report import read_report

WRITER = Path(__file__).with_name("writer.py")
CONTRACT = Path(__file__).resolve().parents[1] / "data" / "contract"
JOB_ID = "golden-index-classifier"
KILLS = 3
RUN_TIMEOUT = 300

pytestmark = pytest.mark.xdist_group("sigkill")


def snapshot(folder: Path) -> dict[str, str] | None:
    if not folder.exists():
        return None
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def start(kind: str, out: Path, args: list[str]) -> tuple[subprocess.Popen[str], float]:
    child = subprocess.Popen(
        [sys.executable, str(WRITER), kind, str(out), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.strip() == "go", child.stderr.read() if child.stderr else line
    return child, time.monotonic()


def complete_run(kind: str, out: Path, args: list[str]) -> float:
    child, began = start(kind, out, args)
    _, err = child.communicate(timeout=RUN_TIMEOUT)
    assert child.returncode == 0, err
    return time.monotonic() - began


def check_job(folder: Path) -> None:
    assert read_job(folder).job_id == "kill" and read_marker(folder) == "job"


def check_results(command: str) -> Callable[[Path], None]:
    def check(folder: Path) -> None:
        assert read_results(folder, JOB_ID).job_id == JOB_ID and read_marker(folder) == command

    return check


def check_reports(folder: Path) -> None:
    read_report(folder / "report.json")
    assert {"report.html", "junit.xml", "summary.md"} <= {p.name for p in folder.iterdir()}
    assert read_marker(folder) == "parity"


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    job = tmp_path / "inputs" / JOB_ID
    shutil.copytree(CONTRACT / "jobs" / JOB_ID, job)
    reference = tmp_path / "inputs" / "reference"
    complete_run("reference", reference, [str(job)])
    return {"job": job, "model": next((job / "model").glob("*.mlmodel")), "results": reference / JOB_ID}


WRITERS: dict[str, tuple[Callable[[dict[str, Path], Path, int], list[str]], Callable[[Path], Path], Callable]] = {
    "job": (lambda i, _out, seed: [str(i["model"]), str(seed)], lambda out: out, check_job),
    "results": (
        lambda i, out, _seed: [str(i["job"]), str(out.parent / "device")],
        lambda out: out / JOB_ID,
        check_results("run"),
    ),
    "reference": (lambda i, _out, _seed: [str(i["job"])], lambda out: out / JOB_ID, check_results("reference")),
    "reports": (lambda i, _out, seed: [str(i["results"]), str(i["job"]), str(seed)], lambda out: out, check_reports),
}


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_writer_killed_at_any_point_leaves_the_previous_or_a_new_complete_output(
    kind: str, inputs: dict[str, Path], tmp_path: Path
) -> None:
    arguments, final_of, is_complete = WRITERS[kind]
    out = tmp_path / "work" / "out"
    final = final_of(out)
    seconds = complete_run(kind, out, arguments(inputs, out, 0))
    previous = snapshot(final)
    is_complete(final)
    draw = random.Random(f"i13-sigkill-{kind}")
    for seed in range(1, KILLS + 1):
        delay = draw.uniform(0.0, seconds)
        child, began = start(kind, out, arguments(inputs, out, seed))
        time.sleep(max(0.0, began + delay - time.monotonic()))
        child.kill()
        child.communicate(timeout=RUN_TIMEOUT)
        state = snapshot(final)
        if state != previous:  # the kill came after the swap: the new output, whole
            try:
                is_complete(final)
            except Exception as exc:
                pytest.fail(f"{kind} killed {delay:.3f} s into writing left a broken output: {exc!r}")
            previous = state
    complete_run(kind, out, arguments(inputs, out, KILLS + 1))
    is_complete(final)
    # The killed writers' staging folders and lock files are gone after a complete run.
    assert sorted(p.name for p in final.parent.iterdir() if p.name.startswith(".")) == []
