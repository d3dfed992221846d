"""Perturbed reference runs for trajectory-level parity, as members parity can compare with a device.

The reference trainer's `run_ensemble` trains one prepared job N times from initial weights perturbed by a
relative epsilon; each run becomes an `EnsembleMember` keyed like a results bundle (scoped layer, kind).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlupdate.bundle import read_job
from mlupdate.contract import ProgressEvent, TaskRecord, TaskStatus
from mlupdate.models.spec import load_spec
from mlupdate.parity.compare import Array
from mlupdate.parity.model_params import ParameterKey
from mlupdate.reference.ensemble import run_ensemble
from mlupdate.reference.run import load_examples
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.trainer import TrainingResult, prepare


@dataclass(frozen=True)
class EnsembleMember:
    """One perturbed reference run as parity reads it: task 0, untimed (every event's `t` is 0)."""

    parameters: dict[ParameterKey, Array]
    events: tuple[ProgressEvent, ...]
    final_loss: float | None

    @property
    def tasks(self) -> tuple[TaskRecord, ...]:
        return (TaskRecord(0, TaskStatus.SUCCEEDED, final_loss=self.final_loss),)


def member_from_training(result: TrainingResult) -> EnsembleMember:
    parameters = {
        (result.scoped_name(layer), kind): np.asarray(values, dtype=np.float32)
        for layer, arrays in result.weights.items()
        for kind, values in arrays.items()
    }
    events = tuple(dataclasses.replace(event, task=0, t=0.0) for event in result.events)
    return EnsembleMember(parameters, events, result.final_loss)


def reference_ensemble(
    job_dir: Path, count: int, *, semantics: Semantics | None = None, seed: int = 0
) -> list[EnsembleMember]:
    """`count` reference runs of the job at `job_dir`, from perturbed initial weights (seeded)."""
    job = read_job(job_dir)
    prepared = prepare(load_spec(job.model_path), load_examples(job.training), job.parameters)
    result = run_ensemble(prepared, runs=count, seed=seed, events=job.events, semantics=semantics)
    return [member_from_training(run) for run in result.runs]
