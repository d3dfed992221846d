"""Timing and memory of a results bundle: phases per task (median and spread over repeats), per-epoch and
per-mini-batch durations from the event clock, the updated model's reload per compute-unit setting, and memory
footprint growth across repeated tasks as a series with a leak verdict.

These figures describe the producer of the results: a reference dry run measures the host, never a device.
Timing informs, it does not gate parity; a suspected leak is a warning. A task the app marked `contaminated`
(an earlier task may still have been running) is left out of the spreads and of the memory verdict.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlupdate.contract import TIMED_PHASES, EventKind, ProgressEvent, ReloadTiming, TaskRecord
from mlupdate.parity.events import task_events
from mlupdate.parity.tolerances import Tolerances
from mlupdate.parity.verdict import Check

PHASES = TIMED_PHASES


@dataclass(frozen=True)
class Spread:
    median: float
    minimum: float
    maximum: float
    q1: float
    q3: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread | None:
        if not values:
            return None
        array = np.asarray(values, dtype=np.float64)
        q1, median, q3 = (float(v) for v in np.percentile(array, [25, 50, 75]))
        return cls(median, float(array.min()), float(array.max()), q1, q3, len(values))

    def to_dict(self) -> dict[str, float | int]:
        return {
            "median": self.median,
            "min": self.minimum,
            "max": self.maximum,
            "q1": self.q1,
            "q3": self.q3,
            "count": self.count,
        }


def epoch_durations(events: Sequence[ProgressEvent]) -> list[float]:
    """Seconds per epoch of one task: differences of successive epochEnd times, the first from t = 0."""
    ends = [event.t for event in events if event.event is EventKind.EPOCH_END]
    return [end - start for start, end in itertools.pairwise([0.0, *ends])]


def mini_batch_intervals(events: Sequence[ProgressEvent]) -> list[float]:
    times = [event.t for event in events if event.event is EventKind.MINI_BATCH_END]
    return [b - a for a, b in itertools.pairwise(times)]


def memory_growth_per_task(after: Sequence[float]) -> float | None:
    """Least-squares slope of the footprint after each task, in bytes per task (None with fewer than 2)."""
    if len(after) < 2:
        return None
    slope, _ = np.polyfit(np.arange(len(after), dtype=np.float64), np.asarray(after, dtype=np.float64), 1)
    return float(slope)


# A leak verdict needs this many uncontaminated tasks with a footprint (two points always fit a line).
LEAK_MIN_TASKS = 3


@dataclass(frozen=True)
class MemoryVerdict:
    """Footprint after each task, its growth per task, and whether it looks like a leak.

    `verdict` is `leak` (the footprint rises by more than the warning threshold per task, and rises between
    most successive tasks), `no-leak` (the fitted growth stays under the threshold), or `undetermined` (too few
    uncontaminated tasks, or growth above the threshold that does not rise steadily)."""

    verdict: str
    reason: str
    growth_per_task_bytes: float | None
    series: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "growth_per_task_bytes": self.growth_per_task_bytes,
            "series": list(self.series),
        }


def memory_verdict(tasks: Sequence[TaskRecord], warn_bytes_per_task: float) -> MemoryVerdict:
    series = tuple(
        {
            "index": t.index,
            "before_bytes": t.memory_before_bytes,
            "after_bytes": t.memory_after_bytes,
            "growth_bytes": _growth(t),
            "contaminated": t.contaminated,
        }
        for t in tasks
    )
    usable = [
        (t.index, float(t.memory_after_bytes)) for t in tasks if t.memory_after_bytes is not None and not t.contaminated
    ]
    if len(usable) < LEAK_MIN_TASKS:
        why = f"{len(usable)} uncontaminated task(s) with a footprint; a verdict needs {LEAK_MIN_TASKS}"
        return MemoryVerdict("undetermined", why + " (raise the job's repeat)", None, series)
    indices = np.asarray([i for i, _ in usable], dtype=np.float64)
    after = np.asarray([v for _, v in usable], dtype=np.float64)
    slope = float(np.polyfit(indices, after, 1)[0])
    rises = int(np.sum(np.diff(after) > 0))
    steps = len(usable) - 1
    per_task = f"{slope / 1e6:+.1f} MB per task"
    threshold = f"{warn_bytes_per_task / 1e6:.0f} MB per task"
    if slope <= warn_bytes_per_task:
        return MemoryVerdict("no-leak", f"{per_task}, within {threshold}", slope, series)
    if rises * 3 >= steps * 2:
        why = f"{per_task} over {len(usable)} tasks, rising {rises} of {steps} times (threshold {threshold})"
        return MemoryVerdict("leak", why, slope, series)
    why = f"{per_task} but rising only {rises} of {steps} times: noisy, not a steady leak"
    return MemoryVerdict("undetermined", why, slope, series)


def _growth(task: TaskRecord) -> int | None:
    before, after = task.memory_before_bytes, task.memory_after_bytes
    return after - before if before is not None and after is not None else None


def summarize_timing(
    tasks: Sequence[TaskRecord],
    events: Sequence[ProgressEvent],
    tolerances: Tolerances,
    *,
    reloads: Sequence[ReloadTiming] = (),
) -> Check:
    contaminated = [t.index for t in tasks if t.contaminated]
    all_tasks, tasks = tasks, [t for t in tasks if not t.contaminated]
    phases = {phase: Spread.of([s for t in tasks if (s := t.seconds(phase)) is not None]) for phase in PHASES}
    per_task = [task_events(events, task.index) for task in tasks]
    epochs = [epoch_durations(task) for task in per_task]
    by_epoch = [
        Spread.of([e[i] for e in epochs if i < len(e)]) for i in range(max((len(e) for e in epochs), default=0))
    ]
    intervals = Spread.of([v for task in per_task for v in mini_batch_intervals(task)])
    before = [t.memory_before_bytes for t in tasks]
    after = [float(v) for v in (t.memory_after_bytes for t in tasks) if v is not None]
    growth = memory_growth_per_task(after)
    memory = memory_verdict(all_tasks, tolerances.memory_growth_warn_bytes_per_task)
    details: dict[str, Any] = {
        "phases": {name: spread.to_dict() if spread else None for name, spread in phases.items()},
        "per_task": [
            {"index": t.index, **{p: t.seconds(p) for p in PHASES}, "epochs": epochs[i]} for i, t in enumerate(tasks)
        ],
        "per_epoch": [spread.to_dict() if spread else None for spread in by_epoch],
        "mini_batch_interval": intervals.to_dict() if intervals else None,
        "memory": {
            "before": before,
            "after": [t.memory_after_bytes for t in tasks],
            "growth_per_task_bytes": growth,
            "warn_above_bytes_per_task": tolerances.memory_growth_warn_bytes_per_task,
            **memory.to_dict(),
        },
        "reloads": [reload.to_json() for reload in reloads],
        "contaminated_tasks": contaminated,
    }
    if not any(phases.values()) and not any(epochs) and intervals is None and not after:
        return Check.not_recorded("timing", "the results hold no phase timings, event times or memory figures", details)
    parts = [_phase_text(name, spread) for name, spread in phases.items() if spread is not None]
    message = "timing: " + (", ".join(parts) if parts else "no phase timings recorded")
    if reloads:
        message += "; reload " + ", ".join(_reload_text(reload) for reload in reloads)
    if contaminated:
        message += f"; task(s) {contaminated} left out: an earlier task may still have been running"
    if growth is not None:
        message += f"; memory {growth / 1e6:+.1f} MB per task over {len(after)} tasks"
    message += f"; leak verdict: {memory.verdict} ({memory.reason})"
    if memory.verdict == "leak" or (growth is not None and growth > tolerances.memory_growth_warn_bytes_per_task):
        return Check("timing", "warn", message + " - the footprint grows with every task", details)
    return Check("timing", "pass", message, details)


def _reload_text(reload: ReloadTiming) -> str:
    if reload.error is not None:
        return f"{reload.compute_units} failed ({reload.error.message})"
    load = f"{reload.load_seconds:.3g} s" if reload.load_seconds is not None else "-"
    first = f"{reload.first_prediction_seconds:.3g} s" if reload.first_prediction_seconds is not None else "-"
    return f"{reload.compute_units} load {load} + first prediction {first}"


def _phase_text(name: str, spread: Spread) -> str:
    if spread.count == 1:
        return f"{name} {spread.median:.3g} s"
    return f"{name} median {spread.median:.3g} s ({spread.minimum:.3g}-{spread.maximum:.3g}, n={spread.count})"
