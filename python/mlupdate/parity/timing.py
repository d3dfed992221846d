"""Timing and memory of a results bundle: phases per task (median and spread over repeats), per-epoch and
per-mini-batch durations from the event clock, and memory footprint growth across repeated tasks.

These figures describe the producer of the results: a reference dry run measures the host, never a device.
Timing informs, it does not gate parity; memory growth above the reviewed threshold is a warning.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlupdate.parity.events import EventLike, task_events
from mlupdate.parity.tolerances import Tolerances
from mlupdate.parity.verdict import Check

PHASES = ("compile", "load", "train", "write", "probe")


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


def epoch_durations(events: Sequence[EventLike]) -> list[float]:
    """Seconds per epoch of one task: differences of successive epochEnd times, the first from t = 0."""
    ends = [event.t for event in events if event.event == "epochEnd"]
    return [end - start for start, end in itertools.pairwise([0.0, *ends])]


def mini_batch_intervals(events: Sequence[EventLike]) -> list[float]:
    times = [event.t for event in events if event.event == "miniBatchEnd"]
    return [b - a for a, b in itertools.pairwise(times)]


def memory_growth_per_task(after: Sequence[float]) -> float | None:
    """Least-squares slope of the footprint after each task, in bytes per task (None with fewer than 2)."""
    if len(after) < 2:
        return None
    slope, _ = np.polyfit(np.arange(len(after), dtype=np.float64), np.asarray(after, dtype=np.float64), 1)
    return float(slope)


def summarize_timing(tasks: Sequence[Mapping[str, Any]], events: Sequence[EventLike], tolerances: Tolerances) -> Check:
    phases = {
        phase: Spread.of([float(t[f"{phase}_seconds"]) for t in tasks if t.get(f"{phase}_seconds") is not None])
        for phase in PHASES
    }
    per_task = [task_events(events, int(task["index"])) for task in tasks]
    epochs = [epoch_durations(task) for task in per_task]
    by_epoch = [
        Spread.of([e[i] for e in epochs if i < len(e)]) for i in range(max((len(e) for e in epochs), default=0))
    ]
    intervals = Spread.of([v for task in per_task for v in mini_batch_intervals(task)])
    before = [t.get("memory_before_bytes") for t in tasks]
    after = [float(v) for v in (t.get("memory_after_bytes") for t in tasks) if v is not None]
    growth = memory_growth_per_task(after)
    details: dict[str, Any] = {
        "phases": {name: spread.to_dict() if spread else None for name, spread in phases.items()},
        "per_task": [
            {"index": t["index"], **{p: t.get(f"{p}_seconds") for p in PHASES}, "epochs": epochs[i]}
            for i, t in enumerate(tasks)
        ],
        "per_epoch": [spread.to_dict() if spread else None for spread in by_epoch],
        "mini_batch_interval": intervals.to_dict() if intervals else None,
        "memory": {
            "before": before,
            "after": [t.get("memory_after_bytes") for t in tasks],
            "growth_per_task_bytes": growth,
            "warn_above_bytes_per_task": tolerances.memory_growth_warn_bytes_per_task,
        },
    }
    if not any(phases.values()) and not any(epochs) and intervals is None and not after:
        return Check.not_recorded("timing", "the results hold no phase timings, event times or memory figures", details)
    parts = [_phase_text(name, spread) for name, spread in phases.items() if spread is not None]
    message = "timing: " + (", ".join(parts) if parts else "no phase timings recorded")
    if growth is not None:
        message += f"; memory {growth / 1e6:+.1f} MB per task over {len(after)} tasks"
        if growth > tolerances.memory_growth_warn_bytes_per_task:
            return Check("timing", "warn", message + " (footprint grows with every task)", details)
    return Check("timing", "pass", message, details)


def _phase_text(name: str, spread: Spread) -> str:
    if spread.count == 1:
        return f"{name} {spread.median:.3g} s"
    return f"{name} median {spread.median:.3g} s ({spread.minimum:.3g}-{spread.maximum:.3g}, n={spread.count})"
