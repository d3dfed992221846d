"""`evaluate`: a device's results bundle against the reference's, one Verdict with every check.

The level follows the number of optimizer steps per task: up to `step_level_max_steps` every weight and
loss is compared element by element; beyond, the run is chaotic and the device is judged against an
ensemble of perturbed reference runs (structure still exact, values in units of the ensemble's spread).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mlupdate.contract import (
    DeviceInfo,
    EventKind,
    ProbeOutput,
    Producer,
    ProgressEvent,
    ReloadTiming,
    RunError,
    TaskRecord,
    TaskStatus,
)
from mlupdate.errors import ParityError
from mlupdate.parity.compare import Array
from mlupdate.parity.events import compare_events, task_events
from mlupdate.parity.model_params import ParameterKey
from mlupdate.parity.parameters import (
    compare_dump_paths,
    compare_dump_with_model,
    compare_parameter_structure,
    compare_parameters,
)
from mlupdate.parity.power import AlternativeRun, losses_of, step_power, trajectory_power
from mlupdate.parity.probe import compare_probes
from mlupdate.parity.semantics_info import semantics_info
from mlupdate.parity.timing import summarize_timing
from mlupdate.parity.tolerances import Precision, Tolerances, case_for, for_case
from mlupdate.parity.trajectory import compare_trajectory
from mlupdate.parity.verdict import Check, Level, Verdict


class MemberLike(Protocol):
    """What trajectory checks read from an ensemble run (a ResultsBundle or a parity.ensemble.EnsembleMember)."""

    @property
    def tasks(self) -> Sequence[TaskRecord]: ...
    @property
    def events(self) -> Sequence[ProgressEvent]: ...
    @property
    def parameters(self) -> Mapping[ParameterKey, Array]: ...


class ResultsLike(Protocol):
    """What parity reads from a results bundle (`mlupdate.bundle.ResultsBundle` provides it)."""

    @property
    def job_id(self) -> str: ...
    @property
    def status(self) -> TaskStatus | None:
        """None: not recorded (a trained model file read on its own has no task status)."""

    @property
    def error(self) -> RunError | None: ...
    @property
    def producer(self) -> Producer | None:
        """None: no results bundle was written (a trained model file read on its own)."""

    @property
    def device(self) -> DeviceInfo: ...
    @property
    def tasks(self) -> Sequence[TaskRecord]: ...
    @property
    def events(self) -> Sequence[ProgressEvent]: ...
    @property
    def parameters(self) -> Mapping[ParameterKey, Array]: ...
    @property
    def probe_outputs(self) -> Mapping[str, ProbeOutput]: ...
    @property
    def model_path(self) -> Path | None: ...
    @property
    def cross_check_parameters(self) -> Mapping[ParameterKey, Array]: ...
    @property
    def reloads(self) -> Sequence[ReloadTiming]: ...


def require_succeeded(reference: ResultsLike) -> None:
    """Parity against a failed reference run cannot be computed: that is an error, not a verdict."""
    if reference.status is not TaskStatus.SUCCEEDED:
        message = reference.error.message if reference.error else "no error recorded"
        raise ParityError(
            f"the reference run did not succeed ({reference.status}): {message}",
            where=f"job {reference.job_id}",
            fix="fix the job so the reference trainer can run it (see the error), then run parity again",
        )


def count_steps(reference: ResultsLike, steps_per_epoch: int | None) -> int:
    """Optimizer steps of one task: the reference's miniBatchEnd events, else epochs x steps per epoch."""
    events = task_events(reference.events, 0)
    mini_batches = sum(1 for event in events if event.event is EventKind.MINI_BATCH_END)
    if mini_batches or steps_per_epoch == 0:
        return mini_batches  # steps_per_epoch 0: a k-NN update appends examples and takes no optimizer step
    epochs = sum(1 for event in events if event.event is EventKind.EPOCH_END) or _epochs_completed(reference)
    if steps_per_epoch is not None and epochs:
        return epochs * steps_per_epoch
    raise ParityError(
        "cannot tell how many optimizer steps the run took (no miniBatchEnd events and no steps per epoch)",
        where=f"job {reference.job_id}",
        fix="pass steps_per_epoch (training count / miniBatchSize, rounded up), or request miniBatchEnd events",
    )


def _epochs_completed(results: ResultsLike) -> int:
    tasks = results.tasks
    return tasks[0].epochs_completed if tasks else 0


def _final_loss(results: MemberLike) -> float | None:
    tasks = results.tasks
    value = tasks[0].final_loss if tasks else None
    return float(value) if value is not None else None


def evaluate(
    reference: ResultsLike,
    device: ResultsLike,
    *,
    ensemble: Sequence[MemberLike] = (),
    noise: tuple[MemberLike, MemberLike] | None = None,
    alternatives: Sequence[AlternativeRun] = (),
    steps_per_epoch: int | None = None,
    case: str | None = None,
    optimizer: str | None = None,
    tolerances: Tolerances | None = None,
    profile: str | None = None,
    profile_document: Mapping[str, Any] | None = None,
    precision: Mapping[ParameterKey, Precision] | None = None,
    parameters_from_model: bool = False,
) -> Verdict:
    """`ensemble` (trajectory level): perturbed reference runs; `noise`: two reference runs that differ only in
    float32 summation order (the job's measured float32 noise); `alternatives`: reference runs under known-wrong
    semantics (the power of the check and the likely cause of a failure). `precision` gives each device
    tensor's storage (float16 compiled weights get their tolerance); `parameters_from_model` says the device's
    parameters were read from its written model (no app dump)."""
    require_succeeded(reference)
    case = case or case_for(None, optimizer)
    tol = tolerances or for_case(case)
    steps = count_steps(reference, steps_per_epoch)
    level: Level = "step" if steps <= tol.step_level_max_steps else "trajectory"
    checks = [_status_check(device)]
    if device.status in (TaskStatus.SUCCEEDED, None):
        source = _Source(dict(precision or {}), parameters_from_model)
        runs = _Runs(tuple(ensemble), noise, tuple(alternatives))
        checks += _training_checks(reference, device, runs, tol, level, steps, steps_per_epoch, source)
    else:
        checks.append(Check("training", "skip", "the device's task did not succeed: nothing to compare"))
    checks.append(summarize_timing(device.tasks, device.events, tol, reloads=device.reloads))
    return Verdict(
        job_id=device.job_id,
        case=case,
        level=level,
        steps=steps,
        checks=tuple(checks),
        semantics=semantics_info(reference.producer, device.device, profile=profile, profile_document=profile_document),
        device=device.device,
        producer=device.producer,
        tolerances=tol.to_dict(),
    )


def _status_check(device: ResultsLike) -> Check:
    if device.status is None:
        return Check.not_recorded("status", "the results hold no task status; the trained model is judged as found")
    if device.status is TaskStatus.SUCCEEDED:
        return Check("status", "pass", f"status: succeeded ({len(device.tasks)} task(s))")
    error = device.error
    where = f" in phase {error.phase}" if error else ""
    return Check(
        "status",
        "fail",
        f"status: {device.status}{where}: {error.message if error else 'no error recorded'}",
        {"error": error.to_json() if error else {}},
    )


@dataclass(frozen=True)
class _Source:
    precision: dict[ParameterKey, Precision]
    parameters_from_model: bool


@dataclass(frozen=True)
class _Runs:
    ensemble: tuple[MemberLike, ...]
    noise: tuple[MemberLike, MemberLike] | None
    alternatives: tuple[AlternativeRun, ...]


def _training_checks(
    reference: ResultsLike,
    device: ResultsLike,
    runs: _Runs,
    tol: Tolerances,
    level: Level,
    steps: int,
    steps_per_epoch: int | None,
    source: _Source,
) -> list[Check]:
    trajectory = level == "trajectory"
    members = [run.events for run in runs.ensemble] if trajectory else []
    noise_events = (runs.noise[0].events, runs.noise[1].events) if trajectory and runs.noise else None
    checks = [
        compare_events(
            reference.events,
            device.events,
            tol,
            steps_per_epoch=steps_per_epoch,
            ensemble=members,
            noise=noise_events,
        )
    ]
    device_losses = losses_of(device.events)
    if not trajectory:
        parameters = compare_parameters(
            reference.parameters, device.parameters, tol, steps=steps, precision=source.precision
        )
        power = step_power(
            reference.parameters,
            device.parameters,
            runs.alternatives,
            lambda name: tol.weights(steps, _storage(source, name)),
            device_losses=device_losses,
        )
        checks.append(power.explain(parameters))
    else:
        checks.append(compare_parameter_structure(reference.parameters, device.parameters))
        noise = (runs.noise[0].parameters, runs.noise[1].parameters) if runs.noise else None
        power = trajectory_power(
            [run.parameters for run in runs.ensemble],
            device.parameters,
            runs.alternatives,
            tol.trajectory_max_spread_units,
            noise=noise,
            device_losses=device_losses,
        )
        check = compare_trajectory(
            [run.parameters for run in runs.ensemble],
            device.parameters,
            tol,
            noise=noise,
            ensemble_final_losses=[v for v in (_final_loss(run) for run in runs.ensemble) if v is not None],
            device_final_loss=_final_loss(device),
        )
        checks.append(power.explain(check))
    if runs.alternatives:
        checks.append(power.check)
    checks += compare_probes(reference.probe_outputs, device.probe_outputs, tol, gating=level == "step")
    if source.parameters_from_model:
        checks.append(Check.not_recorded("dump-vs-model", "the parameters were read from the model itself"))
    else:
        checks.append(compare_dump_paths(device.parameters, device.cross_check_parameters, tol))
        checks.append(compare_dump_with_model(device.model_path, device.parameters, tol))
    return checks


def _storage(source: _Source, name: str) -> Precision:
    by_tensor = {f"{layer}.{kind}": precision for (layer, kind), precision in source.precision.items()}
    return by_tensor.get(name, "float32")
