"""A model trained and written by any app, read as results: its updated parameters, and nothing else.

An app other than the companion leaves no results bundle: no task status, no progress events, no probe
predictions, no timings. Parity can still judge the weights it wrote against the reference for the job that
describes its data and parameters; every check whose evidence is absent reports "not recorded".
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from mlupdate.compiled.layers import StoragePrecision
from mlupdate.contract import (
    DeviceInfo,
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
from mlupdate.parity.model_params import ParameterKey, model_parameters


@dataclass(frozen=True)
class TrainedModel:
    """Results-like view of a trained `.mlmodel`, `.mlpackage` or `.mlmodelc` (see `evaluate.ResultsLike`)."""

    job_id: str
    model_path: Path
    parameters: dict[ParameterKey, Array]
    precision: dict[ParameterKey, StoragePrecision]
    ignored: tuple[str, ...] = ()  # the model's other weighted layers (frozen): not part of the update
    status: TaskStatus | None = None  # not recorded
    error: RunError | None = None
    tasks: tuple[TaskRecord, ...] = ()
    events: tuple[ProgressEvent, ...] = ()
    probe_outputs: dict[str, ProbeOutput] = field(default_factory=dict)
    # A model file holds one copy of the weights and no timings: nothing to cross-check, no reloads.
    cross_check_parameters: dict[ParameterKey, Array] = field(default_factory=dict)
    reloads: tuple[ReloadTiming, ...] = ()

    @property
    def path(self) -> Path:
        return self.model_path

    @property
    def producer(self) -> Producer | None:
        return None  # no results bundle: reports name the model file instead

    @property
    def device(self) -> DeviceInfo:
        # Nothing says where the model was trained: the report shows the file instead of a device.
        return DeviceInfo(self.model_path.name, "unknown", "unknown", "unknown", "", is_simulator=False)


def read_trained_model(path: str | Path, job_id: str, updatable: Collection[ParameterKey]) -> TrainedModel:
    """The parameters of the updatable layers (`updatable`, the reference's keys) of the model at `path`."""
    model = Path(path)
    if not model.exists():
        raise ParityError(
            "no such trained model", where=str(model), fix="pass the .mlmodel, .mlpackage or .mlmodelc the app wrote"
        )
    values, precision = model_parameters(model)
    wanted = set(updatable)
    kept = {key: array for key, array in values.items() if key in wanted}
    if not kept and wanted:
        found = sorted(f"{layer}.{kind}" for layer, kind in values)[:8]
        raise ParityError(
            f"the model has none of the job's updatable layers (it has {found or 'no weighted layers'})",
            where=str(model),
            fix="pass the model the app trained for this job (the same network as the job's model)",
        )
    ignored = tuple(sorted(f"{layer}.{kind}" for layer, kind in values if (layer, kind) not in wanted))
    return TrainedModel(
        job_id=job_id,
        model_path=model,
        parameters=kept,
        precision={key: precision[key] for key in kept},
        ignored=ignored,
    )
