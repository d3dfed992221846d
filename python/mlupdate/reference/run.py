"""`run_reference`: a job bundle in, a results bundle out, as the companion app would write it.

The results say plainly that they come from the reference (`producer.name == "mlupdate-reference"`, device
`name` "mlupdate reference trainer") and record the semantics knobs used. Artifacts are from the first task;
every task's events are kept. The updated model is `model/<Name>.mlmodel`: the same spec with new weights.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlupdate import __version__
from mlupdate.bundle import JobBundle, ResultsWriter, read_job
from mlupdate.bundle.job_reader import ExampleSetView
from mlupdate.bundle.schedule import as_boundaries
from mlupdate.contract import (
    DeviceInfo,
    EventKind,
    ModelFormat,
    ParameterKind,
    ProbeOutput,
    Producer,
    ProducerName,
    ProgressEvent,
    RunError,
    RunPhase,
    TaskRecord,
    TaskStatus,
)
from mlupdate.errors import TrainingError, UnsupportedError
from mlupdate.models.spec import KNN_KIND, Spec, load_spec, model_kind, save_spec, walk_models
from mlupdate.output_folder import owned_output
from mlupdate.reference import knn
from mlupdate.reference.predict import predict, updated_spec
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.trainer import PreparedJob, TrainingResult, prepare, run_prepared

PRODUCER = ProducerName.REFERENCE
ProgressCallback = Callable[[int, ProgressEvent], None]  # (task index, event)


def load_examples(view: ExampleSetView) -> dict[str, Any]:
    return {feature.name: view.load(feature.name) for feature in view.features}


class LoadedJob:
    """A job bundle read and verified once. Its spec, its decoded training examples and the prepared job (the
    frozen prefix over every example) are each computed on first use and then shared by every run of the job:
    the reference's own, an ensemble's members, the known-wrong alternatives."""

    def __init__(self, bundle: JobBundle) -> None:
        self.bundle = bundle

    @classmethod
    def read(cls, job: str | Path | LoadedJob) -> LoadedJob:
        return job if isinstance(job, LoadedJob) else cls(read_job(job))

    @functools.cached_property
    def spec(self) -> Spec:
        if self.bundle.manifest["model"]["format"] != ModelFormat.MLMODEL:
            raise UnsupportedError(
                "the reference trains .mlmodel specs, not compiled .mlmodelc folders",
                where=str(self.bundle.model_path),
                fix="build the job from the .mlmodel the compiled model came from",
            )
        return load_spec(self.bundle.model_path)

    @functools.cached_property
    def examples(self) -> dict[str, Any]:
        return load_examples(self.bundle.training)

    @functools.cached_property
    def prepared(self) -> PreparedJob:
        return prepare(self.spec, self.examples, self.bundle.parameters, schedule=as_boundaries(self.bundle.schedule))


def _device() -> DeviceInfo:
    return DeviceInfo(
        name="mlupdate reference trainer",
        model="reference",
        os_name=platform.system(),
        os_version=platform.release(),
        os_build=platform.version()[:64],
        is_simulator=False,
        chip=None,
        host=platform.node() or None,
    )


def _task(index: int, seconds: float | None, result: TrainingResult | None, error: RunError | None) -> TaskRecord:
    return TaskRecord(
        index=index,
        status=TaskStatus.FAILED if error else TaskStatus.SUCCEEDED,
        error=error,
        train_seconds=seconds,
        epochs_completed=result.epochs_completed if result else 0,
        final_loss=_finite(result.final_loss) if result else None,
    )


def _timed(task: int, events: list[tuple[ProgressEvent, float]]) -> list[ProgressEvent]:
    return [dataclasses.replace(event, task=task, t=round(t, 6)) for event, t in events]


def _finite(value: float | None) -> float | None:
    """The contract writes a non-finite loss as null (a float32 loss may overflow while the weights train on)."""
    return value if value is not None and math.isfinite(value) else None


def _write_probe(writer: ResultsWriter, outputs: list[ProbeOutput]) -> None:
    for output in outputs:
        writer.add_probe_output(output.name, output.type, output.values, output.classes)


def run_reference(
    job_path: str | Path | LoadedJob,
    out_dir: str | Path,
    *,
    semantics: Semantics | None = None,
    on_event: ProgressCallback | None = None,
    force: bool = False,
) -> Path:
    """Train the job's model as `MLUpdateTask` would and write the results bundle `out_dir/<job_id>/`.

    The bundle is written aside and swapped in once complete; an existing `out_dir/<job_id>` is replaced only if
    an earlier `reference` run wrote it (or with `force`). A `LoadedJob` is not read again."""
    job = LoadedJob.read(job_path)
    final = Path(out_dir) / job.bundle.job_id
    with owned_output(final, command="reference", force=force, inputs=[job.bundle.path]) as output:
        output.publish(write_reference_results(job, output.staging, semantics=semantics, on_event=on_event))
    return final


def write_reference_results(
    job_path: str | Path | LoadedJob,
    out_dir: str | Path,
    *,
    semantics: Semantics | None = None,
    on_event: ProgressCallback | None = None,
) -> Path:
    """What `run_reference` writes, as a device's app would: straight into `out_dir/<job_id>/`, which must not
    exist (no output marker; a fake device's outbox uses this)."""
    semantics = semantics or Semantics()
    job = LoadedJob.read(job_path)
    if model_kind(list(walk_models(job.spec))[-1].spec) == KNN_KIND:
        return _run_knn(job.bundle, job.spec, job.examples, Path(out_dir), semantics)
    return _run_network(job, Path(out_dir), semantics, on_event)


def _recorder(
    index: int, wanted: tuple[str, ...], start: float, on_event: ProgressCallback | None
) -> tuple[list[tuple[ProgressEvent, float]], Callable[[ProgressEvent], None]]:
    """The events a task's results keep (with seconds since the task started), and the callback filling them."""
    timeline: list[tuple[ProgressEvent, float]] = []

    def record(event: ProgressEvent) -> None:
        if event.event in wanted or event.event is EventKind.COMPLETION:
            timeline.append((event, time.monotonic() - start))
        if on_event is not None:
            on_event(index, event)

    return timeline, record


def _run_network(loaded: LoadedJob, out_dir: Path, semantics: Semantics, on_event: ProgressCallback | None) -> Path:
    job, spec, prepared = loaded.bundle, loaded.spec, loaded.prepared
    first: TrainingResult | None = None
    tasks: list[TaskRecord] = []
    rows: list[ProgressEvent] = []
    failure: RunError | None = None
    for index in range(job.repeat):
        start = time.monotonic()
        timeline, record = _recorder(index, job.events, start, on_event)
        try:
            result = run_prepared(prepared, events=job.events, semantics=semantics, on_event=record)
        except TrainingError as exc:
            failure = RunError(RunPhase.TRAIN, PRODUCER, 1, exc.message)
            tasks.append(_task(index, time.monotonic() - start, None, failure))
            rows += _timed(index, timeline)
            continue
        tasks.append(_task(index, time.monotonic() - start, result, None))
        rows += _timed(index, timeline)
        first = first or result
    with ResultsWriter(out_dir, job.job_id) as writer, tempfile.TemporaryDirectory() as scratch:
        writer.add_events(rows)
        if first is not None:
            scope = ".".join(first.scope)
            for layer, arrays in first.weights.items():
                for kind in ParameterKind:
                    if kind in arrays:
                        writer.add_parameter(layer, scope, kind, arrays[kind])
            model = save_spec(updated_spec(spec, first.weights), Path(scratch) / job.model_path.name)
            writer.add_model(model)
            if job.probe is not None:
                _write_probe(
                    writer, predict(spec, load_examples(job.probe), weights=first.weights, semantics=semantics)
                )
        status = TaskStatus.FAILED if failure else TaskStatus.SUCCEEDED
        return writer.finish(status, failure, _device(), tasks, _producer(semantics))


def _run_knn(job: JobBundle, spec: Spec, examples: dict[str, Any], out_dir: Path, semantics: Semantics) -> Path:
    start = time.monotonic()
    updated = knn.update(spec, examples, job.parameters)
    seconds = time.monotonic() - start
    rows = [ProgressEvent(EventKind.COMPLETION, task=i) for i in range(job.repeat)]
    tasks = [dataclasses.replace(_task(i, seconds, None, None), epochs_completed=1) for i in range(job.repeat)]
    with ResultsWriter(out_dir, job.job_id) as writer, tempfile.TemporaryDirectory() as scratch:
        writer.add_events(rows)
        writer.add_model(save_spec(updated, Path(scratch) / job.model_path.name))
        if job.probe is not None:
            _write_probe(writer, predict(updated, load_examples(job.probe), semantics=semantics))
        return writer.finish(TaskStatus.SUCCEEDED, None, _device(), tasks, _producer(semantics))


def _producer(semantics: Semantics) -> Producer:
    return Producer(PRODUCER, __version__, semantics.report())
