"""A job's learning-rate schedule: new values at epoch boundaries, applied during the task.

`MLParameterKey.learningRate` is the one update parameter Core ML lets a progress handler change mid-task
(`MLUpdateTask.resume(withParameters:)`, "adjustable in progress" in MLParameterKey.h; the other keys are fixed
at load). A step `{"epoch": e, "learningRate": v}` means: epochs e, e + 1, ... train with v. The companion
applies it from its `epochEnd` handler of epoch e - 1, so a job with a schedule must ask for `epochEnd` events;
the reference sets the optimizer's learning rate at the same boundary.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlupdate.contract import EventKind
from mlupdate.errors import SchemaError

SCHEDULE_KEY = "learningRate"


@dataclass(frozen=True)
class LearningRateStep:
    """From epoch `epoch` (0-based, at least 1) on, the task trains with `learning_rate`."""

    epoch: int
    learning_rate: float

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, SCHEDULE_KEY: self.learning_rate}


Schedule = tuple[LearningRateStep, ...]


def parse_schedule(raw: Sequence[Mapping[str, Any]] | None, *, where: str) -> Schedule:
    """Steps from job.json's `schedule` (schema-checked), refusing epochs that do not strictly increase."""
    steps = tuple(LearningRateStep(int(step["epoch"]), float(step[SCHEDULE_KEY])) for step in raw or ())
    for index, (before, after) in enumerate(itertools.pairwise(steps), start=1):
        if after.epoch <= before.epoch:
            raise SchemaError(
                f"schedule epochs must increase: step {index} is epoch {after.epoch} after epoch {before.epoch}",
                where=f"{where}: schedule[{index}].epoch",
                fix="list the steps in epoch order, one step per epoch boundary",
            )
    return steps


def check_schedule(steps: Schedule, *, epochs: int, events: Sequence[str], where: str) -> None:
    """A schedule the companion can run: every step inside the task, and an epochEnd handler to apply it."""
    if not steps:
        return
    late = [step.epoch for step in steps if step.epoch >= epochs]
    if late:
        raise SchemaError(
            f"schedule step at epoch {late[0]} is past the task's last epoch ({epochs - 1})",
            where=f"{where}: schedule",
            fix=f"use epochs 1 to {epochs - 1}, or train more epochs",
        )
    check_schedule_events(steps, events, where=where)


def check_schedule_events(steps: Schedule, events: Sequence[str], *, where: str) -> None:
    """Both readers refuse a schedule without an epochEnd handler to apply it from."""
    if steps and EventKind.EPOCH_END not in events:
        raise SchemaError(
            "a learning-rate schedule is applied from the epochEnd handler, but the job does not ask for epochEnd",
            where=f"{where}: events",
            fix="add 'epochEnd' to the job's events",
        )


def as_boundaries(steps: Schedule) -> tuple[tuple[int, float], ...]:
    """(epoch, learning rate) pairs, what the reference trainer takes."""
    return tuple((step.epoch, step.learning_rate) for step in steps)
