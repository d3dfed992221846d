"""The reference runs parity needs beyond the reference's results: the perturbed ensemble (trajectory level),
the job's measured float32 noise, and one run per known-wrong alternative (the power of the check).

All of them are variants of one prepared job trained by `mlupdate.reference.ensemble.run_variants` (frozen
prefix once, members in parallel processes); each run becomes an `EnsembleMember` keyed like a results bundle
(scoped layer, kind).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlupdate.contract import ProgressEvent, TaskRecord, TaskStatus
from mlupdate.errors import ParityError, TrainingError
from mlupdate.parity.alternatives import JobShape, alternatives_for
from mlupdate.parity.compare import Array
from mlupdate.parity.model_params import ParameterKey
from mlupdate.parity.power import AlternativeRun, losses_of
from mlupdate.reference.ensemble import Variant, member_initial_weights, member_summation_seeds, run_variants
from mlupdate.reference.run import LoadedJob
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.trainer import TrainingResult


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


@dataclass(frozen=True)
class ReferenceRuns:
    """The reference runs parity compares a device with, beyond the reference's own results bundle.

    `members`: the perturbed ensemble (trajectory level only); `noise`: two runs from the job's own initial
    weights that differ only in float32 summation order (its measured float32 noise); `alternatives`: one run
    under each known-wrong alternative that changes this job (the power of the check, the likely cause)."""

    members: tuple[EnsembleMember, ...] = ()
    noise: tuple[EnsembleMember, EnsembleMember] | None = None
    alternatives: tuple[AlternativeRun, ...] = ()


def reference_runs(
    job_dir: Path | LoadedJob,
    members: int,
    *,
    semantics: Semantics | None = None,
    seed: int = 0,
    power: bool = True,
    workers: int | None = None,
) -> ReferenceRuns:
    """`members` perturbed runs (0 at step level) plus the noise pair, and (`power`) the alternatives' runs, all
    of the job at `job_dir` in one set of processes. An alternative that diverges is kept with its error. A
    `LoadedJob` is not read again, and its prepared job (frozen prefix) is the one its reference run used."""
    loaded = LoadedJob.read(job_dir)
    job, prepared = loaded.bundle, loaded.prepared
    semantics = semantics or Semantics()
    wanted = alternatives_for(JobShape.of(prepared, job.events), semantics) if power else []
    variants: list[Variant] = []
    if members:
        initials = member_initial_weights(prepared, members, 1e-7, seed)
        orders = member_summation_seeds(members + 2, seed)
        variants += [
            Variant(initial_weights=w, semantics=semantics, summation_seed=o)
            for w, o in zip(initials, orders[:members], strict=True)
        ]
        variants += [Variant(semantics=semantics, summation_seed=o) for o in orders[members:]]
    variants += [alternative.variant(semantics) for alternative in wanted]
    outcomes = run_variants(prepared, variants, events=job.events, workers=workers)
    trained = [_member(outcome, job.path) for outcome in outcomes[: members + 2 if members else 0]]
    runs = tuple(
        AlternativeRun(alternative, None, error=str(outcome))
        if isinstance(outcome, TrainingError)
        else AlternativeRun(
            alternative, member_from_training(outcome).parameters, losses_of(member_from_training(outcome).events)
        )
        for alternative, outcome in zip(wanted, outcomes[len(trained) :], strict=True)
    )
    noise = (trained[members], trained[members + 1]) if members else None
    return ReferenceRuns(tuple(trained[:members]), noise, runs)


def _member(outcome: TrainingResult | TrainingError, job_dir: Path) -> EnsembleMember:
    if isinstance(outcome, TrainingError):
        raise ParityError(
            f"a perturbed reference run of the job failed: {outcome.message}",
            where=f"job {job_dir}",
            fix="the job diverges under the reference's own semantics; fix the job so the reference trains it",
        )
    return member_from_training(outcome)
