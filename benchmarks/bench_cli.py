"""CLI start-up: each `mlharness` command as a user starts it (a fresh process), next to a bare `python -c pass`.

The peer is the interpreter itself: no command can start faster than Python does, so the figure that matters
is what each command adds to it. Goals (DESIGN.md): `--help` within 0.3 s of a bare start, `validate` of a
small model under 0.5 s. `import coremltools` is shown for scale: every command paid it before start-up was
made lazy. Minimum and median of several runs; the minimum is the least disturbed by other processes.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "contract" / "jobs" / "golden-regressor" / "model" / "TinyRegressor.mlmodel"
MNIST = REPO.parent / "shared" / "fixtures" / "real-models" / "mnist-classifier" / "MNISTClassifier.mlmodel"
RUNS = 7


def _mlharness() -> list[str]:
    script = Path(sys.executable).parent / "mlharness"
    found = str(script) if script.is_file() else shutil.which("mlharness")
    return [found] if found else [sys.executable, "-m", "mlharness"]


def _seconds(argv: list[str]) -> list[float]:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300, check=False)
        if done.returncode not in (0, 1):  # 1: the command ran and its answer is no (an invalid model)
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')}")
        times.append(time.perf_counter() - started)
    return times


def run() -> None:
    cli = _mlharness()
    cases: list[tuple[str, list[str], str]] = [
        ("python -c pass", [sys.executable, "-c", "pass"], ""),
        ("mlharness --version", [*cli, "--version"], ""),
        ("mlharness --help", [*cli, "--help"], "goal: within 0.3 s of python"),
        (f"mlharness validate {TINY.name}", [*cli, "validate", str(TINY)], "goal: under 0.5 s"),
        (f"mlharness inspect {TINY.name}", [*cli, "inspect", str(TINY)], ""),
    ]
    if MNIST.is_file():
        cases.append((f"mlharness validate {MNIST.name}", [*cli, "validate", str(MNIST)], ""))
    quiet = "import logging; logging.disable(); import coremltools"
    cases.append(("python -c 'import coremltools'", [sys.executable, "-c", quiet], "for scale: not paid any more"))
    bare: float | None = None
    print(f"   {'command':42s} {'min s':>7s} {'median s':>9s} {'over python':>12s}")
    for label, argv, note in cases:
        times = _seconds(argv)
        fastest, median = min(times), statistics.median(times)
        bare = fastest if bare is None else bare
        extra = f"{fastest - bare:+.3f} s" if label != "python -c pass" else "-"
        print(f"   {label:42s} {fastest:7.3f} {median:9.3f} {extra:>12s}   {note}".rstrip(), flush=True)
