"""The vocabulary of the job and results bundles: file names, enumerations and value objects.

One place spells every name the host and the companion app share (docs/contract.md). The JSON schemas in
`bundle/schemas/` are the machine-readable contract; `tests/contract/test_contract_module.py` walks them and
checks that every enumeration and every value object here matches them field for field, and the Swift
package's `SchemaConformanceTests` does the same for the Codable types.

Enumerations are `StrEnum`s: a member is equal to its JSON string and serialises as it, so a reader can
compare `event.event == EventKind.EPOCH_END` and a writer can put a member straight into a manifest.
Value objects are frozen dataclasses with `to_json()` (the exact dict the schema describes, keys in contract
order) and `from_json()` (from a dict a schema has already accepted).

This module imports only the standard library: everything, including `mlharness --help`, may import it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (1,)
JOB_KIND = "mlupdate.job"
RESULTS_KIND = "mlupdate.results"

# -- file names and relative paths inside bundles ---------------------------------------------------------

JOB_MANIFEST = "job.json"
RESULTS_MANIFEST = "results.json"
DONE = "DONE"  # the sentinel the app writes last: job id + sha256 of results.json
EVENTS = "events.jsonl"
MODEL_DIR = "model"
PARAMETERS_DIR = "parameters"
PROBE_DIR = "probe"
TRAINING_DIR = "train"


def partial_name(job_id: str) -> str:
    """The staging folder beside `<job_id>/` that a results writer fills before renaming it into place."""
    return f".{job_id}.partial"


def scoped_layer(layer: str, scope: str) -> str:
    """`dense_1` or `model1.dense_1`, as `MLParameterKey.weights.scoped(to:)` spells a pipeline's layer."""
    return f"{scope}.{layer}" if scope else layer


def parameter_entry(layer: str, scope: str, kind: ParameterKind | str) -> str:
    """`parameters/<scope.>layer.<kind>.npy`: where a results bundle keeps a layer's updated weights or biases."""
    return f"{PARAMETERS_DIR}/{scoped_layer(layer, scope)}.{ParameterKind(kind)}.npy"


def probe_entry(name: str, type: ProbeType | str) -> str:
    """`probe/<name>.npy` for arrays and probabilities, `probe/<name>.json` for labels."""
    suffix = ".npy" if ProbeType(type).is_array else ".json"
    return f"{PROBE_DIR}/{name}{suffix}"


# -- where bundles live in the app's data container ----------------------------------------------------

DOCUMENTS = "Documents"
INBOX = "inbox"
OUTBOX = "outbox"
JOB_ARGUMENT = "--job"  # the app is launched with `--job <job_id>` ...
JOB_ENVIRONMENT = "MLHARNESS_JOB"  # ... and `MLHARNESS_JOB=<job_id>` (devicectl passes no environment)
# A host that cannot delete files on the device (devicectl) gives each run its own folder: `--run <run_id>` (or
# MLHARNESS_RUN) makes the app use Documents/runs/<run_id>/inbox and .../outbox (CompanionKit's DeviceFolders).
RUN_ARGUMENT = "--run"
RUN_ENVIRONMENT = "MLHARNESS_RUN"
RUNS = "runs"


def _base(run: str | None) -> str:
    return f"{DOCUMENTS}/{RUNS}/{run}" if run is not None else DOCUMENTS


def inbox_path(job_id: str, run: str | None = None) -> str:
    """Container-relative folder the job bundle is pushed to."""
    return f"{_base(run)}/{INBOX}/{job_id}"


def outbox_path(job_id: str, run: str | None = None) -> str:
    """Container-relative folder the app renames the finished results bundle to."""
    return f"{_base(run)}/{OUTBOX}/{job_id}"


def partial_path(job_id: str, run: str | None = None) -> str:
    """Container-relative folder the app writes into while the job runs."""
    return f"{_base(run)}/{OUTBOX}/{partial_name(job_id)}"


# -- enumerations --------------------------------------------------------------------------------------------


class EventKind(enum.StrEnum):
    """A line of events.jsonl: Core ML's `MLUpdateProgressEvent`s plus `completion`, logged when a task ends."""

    TRAINING_BEGIN = "trainingBegin"
    EPOCH_END = "epochEnd"
    MINI_BATCH_END = "miniBatchEnd"
    COMPLETION = "completion"

    @classmethod
    def requestable(cls) -> tuple[EventKind, ...]:
        """The progress handlers a job can ask for (job.json `events`); `completion` is always logged."""
        return (cls.TRAINING_BEGIN, cls.EPOCH_END, cls.MINI_BATCH_END)


ALL_PROGRESS_EVENTS = EventKind.requestable()


class TaskStatus(enum.StrEnum):
    """How one update task, or a whole results bundle, ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def combined(cls, statuses: Sequence[TaskStatus | str]) -> TaskStatus:
        """A bundle's status from its tasks: any failure wins over any cancellation, which wins over success."""
        found = {cls(status) for status in statuses}
        for status in (cls.FAILED, cls.CANCELLED):
            if status in found:
                return status
        return cls.SUCCEEDED


class ComputeUnits(enum.StrEnum):
    """`MLModelConfiguration.computeUnits`. Training itself runs on the CPU whatever this says."""

    CPU_ONLY = "cpuOnly"
    CPU_AND_GPU = "cpuAndGPU"
    ALL = "all"
    CPU_AND_NEURAL_ENGINE = "cpuAndNeuralEngine"


class RunPhase(enum.StrEnum):
    """Where a run stopped (results.json `error.phase`)."""

    LOAD = "load"
    COMPILE = "compile"
    PREPARE = "prepare"
    TRAIN = "train"
    WRITE = "write"
    PROBE = "probe"
    DUMP = "dump"


class ProducerName(enum.StrEnum):
    """Who wrote a results bundle. Only the companions run Core ML; the reference trainer is not a device."""

    COMPANION_IOS = "companion-ios"
    COMPANION_MACOS = "companion-macos"
    REFERENCE = "mlupdate-reference"
    COMPANION_CLI = "companion-cli"


class ProbeType(enum.StrEnum):
    """The type of one model output in the probe predictions."""

    MULTI_ARRAY = "multiArray"
    DICTIONARY = "dictionary"  # class probabilities, one column per class
    STRING = "string"
    INT64 = "int64"

    @property
    def is_array(self) -> bool:
        """Stored as float32 `.npy` (arrays, probabilities) rather than a JSON list of labels."""
        return self in (ProbeType.MULTI_ARRAY, ProbeType.DICTIONARY)


class FeatureType(enum.StrEnum):
    """The type of one training or probe feature in a job bundle."""

    IMAGE = "image"
    MULTI_ARRAY = "multiArray"
    STRING = "string"
    INT64 = "int64"


class ColorSpace(enum.StrEnum):
    GRAYSCALE = "GRAYSCALE"
    RGB = "RGB"
    BGR = "BGR"


class ArrayDType(enum.StrEnum):
    """The element type of a multiArray feature's `.npy`."""

    FLOAT32 = "float32"
    FLOAT64 = "float64"
    INT32 = "int32"


class ModelFormat(enum.StrEnum):
    MLMODEL = "mlmodel"
    MLMODELC = "mlmodelc"


class TaskState(enum.StrEnum):
    """`MLTaskState` as the app last saw it (`unknown` for a state this contract does not name)."""

    SUSPENDED = "suspended"
    RUNNING = "running"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def may_still_run(self) -> bool:
        """Core ML may still be working on a task in this state."""
        return self in (TaskState.RUNNING, TaskState.CANCELLING, TaskState.SUSPENDED)


class DumpSource(enum.StrEnum):
    """Which read produced a dumped parameter tensor (results.json `parameters[].source`)."""

    CONTEXT = "context"  # context.model inside the completion handler: the primary dump
    RELOADED = "reloaded"  # the written model loaded again: the cross-check


def reloaded_parameter_entry(layer: str, scope: str, kind: ParameterKind | str) -> str:
    """`parameters/reloaded/<scope.>layer.<kind>.npy`: the cross-check dump of a layer, read from the written model."""
    return f"{PARAMETERS_DIR}/reloaded/{scoped_layer(layer, scope)}.{ParameterKind(kind)}.npy"


class ParameterKind(enum.StrEnum):
    """Which array of an updatable layer a parameter file holds."""

    WEIGHTS = "weights"
    BIASES = "biases"


class ParameterName(enum.StrEnum):
    """The `MLParameterKey`s a job may override through `MLModelConfiguration.parameters` (job.json `parameters`)."""

    LEARNING_RATE = "learningRate"
    MOMENTUM = "momentum"
    MINI_BATCH_SIZE = "miniBatchSize"
    BETA1 = "beta1"
    BETA2 = "beta2"
    EPS = "eps"
    EPOCHS = "epochs"
    SHUFFLE = "shuffle"
    SEED = "seed"
    NUMBER_OF_NEIGHBORS = "numberOfNeighbors"


# -- value objects -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressEvent:
    """One progress event of one update task: a line of events.jsonl.

    `epoch` and `mini_batch` are Core ML's 0-based indices; `loss` is `MLMetricKey.lossValue` (None when Core
    ML reports none or it is not finite); `t` is seconds since the task started. The reference trainer emits
    events with `task` 0 and `t` 0 and its runner fills both in.
    """

    event: EventKind
    epoch: int | None = None
    mini_batch: int | None = None
    loss: float | None = None
    task: int = 0
    t: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "event", EventKind(self.event))

    def to_json(self) -> dict[str, Any]:
        """The events.jsonl line, keys in contract order; a non-finite loss is written as null."""
        loss = self.loss if self.loss is None or math.isfinite(self.loss) else None
        return {
            "task": self.task,
            "event": str(self.event),
            "epoch": self.epoch,
            "mini_batch": self.mini_batch,
            "loss": loss,
            "t": self.t,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        return cls(
            event=EventKind(document["event"]),
            epoch=document["epoch"],
            mini_batch=document["mini_batch"],
            loss=document["loss"],
            task=document["task"],
            t=document["t"],
        )


@dataclass(frozen=True)
class RunError:
    """An error as the device (or the reference) saw it: `NSError` domain and code where there is one."""

    phase: RunPhase
    domain: str
    code: int
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "phase", RunPhase(self.phase))

    def to_json(self) -> dict[str, Any]:
        return {"phase": str(self.phase), "domain": self.domain, "code": self.code, "message": self.message}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        return cls(RunPhase(document["phase"]), document["domain"], document["code"], document["message"])


@dataclass(frozen=True)
class Producer:
    """Who wrote a results bundle; the reference also records the semantics knobs it ran with."""

    name: ProducerName
    version: str
    semantics: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", ProducerName(self.name))

    @property
    def is_device(self) -> bool:
        """Whether Core ML ran: a companion app wrote it (the reference trainer's results are not a device's)."""
        return self.name is not ProducerName.REFERENCE

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"name": str(self.name), "version": self.version}
        if self.semantics is not None:
            document["semantics"] = dict(self.semantics)
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        semantics = document.get("semantics")
        return cls(ProducerName(document["name"]), document["version"], dict(semantics) if semantics else semantics)


@dataclass(frozen=True)
class DeviceInfo:
    """The device (or host) a results bundle was made on, as the app reports it."""

    name: str
    model: str
    os_name: str
    os_version: str
    os_build: str
    is_simulator: bool
    chip: str | None = None
    host: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "os_name": self.os_name,
            "os_version": self.os_version,
            "os_build": self.os_build,
            "is_simulator": self.is_simulator,
            "chip": self.chip,
            "host": self.host,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        return cls(**{name: document[name] for name in _field_names(cls)})


TIMED_PHASES = ("compile", "load", "train", "write", "probe")


@dataclass(frozen=True)
class TaskRecord:
    """One update task of a job (a job repeats its task `repeat` times): status, timings, memory, final loss.

    Timings are seconds on the device's monotonic clock, None where the producer did not measure them.
    """

    index: int
    status: TaskStatus
    error: RunError | None = None
    compile_seconds: float | None = None
    load_seconds: float | None = None
    train_seconds: float | None = None
    write_seconds: float | None = None
    probe_seconds: float | None = None
    memory_before_bytes: int | None = None
    memory_after_bytes: int | None = None
    epochs_completed: int = 0
    final_loss: float | None = None
    # Optional in the schema (the app writes them, other producers may not): MLTask.state when the runner stopped
    # waiting for the task, and whether an earlier task may still have been running during this one.
    task_state: TaskState | None = None
    contaminated: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", TaskStatus(self.status))
        if self.task_state is not None:
            object.__setattr__(self, "task_state", TaskState(self.task_state))

    def seconds(self, phase: str) -> float | None:
        """The time of one of TIMED_PHASES (`"train"` -> `train_seconds`)."""
        if phase not in TIMED_PHASES:
            raise ValueError(f"unknown phase {phase!r}: one of {TIMED_PHASES}")
        value: float | None = getattr(self, f"{phase}_seconds")
        return value

    def to_json(self) -> dict[str, Any]:
        document = {name: getattr(self, name) for name in _field_names(type(self)) if name not in _TASK_OPTIONAL}
        document["status"] = str(self.status)
        document["error"] = self.error.to_json() if self.error is not None else None
        if self.task_state is not None:
            document["task_state"] = str(self.task_state)
        if self.contaminated:
            document["contaminated"] = True
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        values = {name: document[name] for name in _field_names(cls) if name not in _TASK_OPTIONAL}
        values |= {name: document[name] for name in _TASK_OPTIONAL if document.get(name) is not None}
        values["status"] = TaskStatus(values["status"])
        values["error"] = RunError.from_json(values["error"]) if values["error"] is not None else None
        return cls(**values)


_TASK_OPTIONAL = ("task_state", "contaminated")


@dataclass(frozen=True)
class ReloadTiming:
    """After the update: the written model loaded with one compute-unit setting, and its first prediction."""

    compute_units: ComputeUnits
    load_seconds: float | None
    first_prediction_seconds: float | None
    error: RunError | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "compute_units", ComputeUnits(self.compute_units))

    def to_json(self) -> dict[str, Any]:
        return {
            "compute_units": str(self.compute_units),
            "load_seconds": self.load_seconds,
            "first_prediction_seconds": self.first_prediction_seconds,
            "error": self.error.to_json() if self.error is not None else None,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        error = document["error"]
        return cls(
            ComputeUnits(document["compute_units"]),
            document["load_seconds"],
            document["first_prediction_seconds"],
            RunError.from_json(error) if error is not None else None,
        )


# The compute-unit settings the app reloads the updated model with (users report seconds-long reloads on the
# Neural Engine path, so each is timed on its own).
RELOAD_COMPUTE_UNITS = (ComputeUnits.CPU_ONLY, ComputeUnits.CPU_AND_GPU, ComputeUnits.ALL)


@dataclass(frozen=True)
class ProbeOutput:
    """One model output for all M probe examples: an array `[M, ...]`, probabilities `[M, C]` with the class
    order in `classes`, or a list of M labels."""

    name: str
    type: ProbeType
    values: Any = field(compare=False)
    classes: tuple[str | int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", ProbeType(self.type))
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(self.classes))


def _field_names(cls: type[Any]) -> tuple[str, ...]:
    return tuple(cls.__dataclass_fields__)
