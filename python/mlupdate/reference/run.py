"""`run_reference`: a job bundle in, a results bundle out, as the companion app would write it.

The results say plainly that they come from the reference (`producer.name == "mlupdate-reference"`, device
`name` "mlupdate reference trainer") and record the semantics knobs used. Artifacts are from the first task;
every task's events are kept. The updated model is `model/<Name>.mlmodel`: the same spec with new weights.
"""

from __future__ import annotations

import dataclasses
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
from mlupdate.reference.trainer import TrainingResult, prepare, run_prepared

PRODUCER = ProducerName.REFERENCE
ProgressCallback = Callable[[int, ProgressEvent], None]  # (task index, event)


def load_examples(view: ExampleSetView) -> dict[str, Any]:
    return {feature.name: view.load(feature.name) for feature in view.features}


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
    job_path: str | Path,
    out_dir: str | Path,
    *,
    semantics: Semantics | None = None,
    on_event: ProgressCallback | None = None,
    force: bool = False,
) -> Path:
    """Train the job's model as `MLUpdateTask` would and write the results bundle `out_dir/<job_id>/`.

    The bundle is written aside and swapped in once complete; an existing `out_dir/<job_id>` is replaced only if
    an earlier `reference` run wrote it (or with `force`)."""
    job = read_job(job_path)
    final = Path(out_dir) / job.job_id
    with owned_output(final, command="reference", force=force, inputs=[job.path]) as output:
        output.publish(write_reference_results(job.path, output.staging, semantics=semantics, on_event=on_event))
    return final


def write_reference_results(
    job_path: str | Path,
    out_dir: str | Path,
    *,
    semantics: Semantics | None = None,
    on_event: ProgressCallback | None = None,
) -> Path:
    """What `run_reference` writes, as a device's app would: straight into `out_dir/<job_id>/`, which must not
    exist (no output marker; a fake device's outbox uses this)."""
    semantics = semantics or Semantics()
    job = read_job(job_path)
    if job.manifest["model"]["format"] != ModelFormat.MLMODEL:
        raise UnsupportedError(
            "the reference trains .mlmodel specs, not compiled .mlmodelc folders",
            where=str(job.model_path),
            fix="build the job from the .mlmodel the compiled model came from",
        )
    spec = load_spec(job.model_path)
    examples = load_examples(job.training)
    if model_kind(list(walk_models(spec))[-1].spec) == KNN_KIND:
        return _run_knn(job, spec, examples, Path(out_dir), semantics)
    return _run_network(job, spec, examples, Path(out_dir), semantics, on_event)


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


def _run_network(
    job: JobBundle,
    spec: Spec,
    examples: dict[str, Any],
    out_dir: Path,
    semantics: Semantics,
    on_event: ProgressCallback | None,
) -> Path:
    prepared = prepare(spec, examples, job.parameters, schedule=as_boundaries(job.schedule))
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
