"""Regenerate the golden bundles of `tests/data/contract/` deterministically: `python -m mlupdate.bundle.golden`.

Python and Swift both test against these files, so they are generated, never edited by hand:

    jobs/<name>/           one valid job bundle per model kind
    results/<name>/        valid results bundles (success, failure, cancellation, reference)
    invalid/<name>/        bundles every reader must refuse; invalid/expected.json says how, README.md why

A test regenerates them into a temporary folder and compares bytes, so they never drift from the code.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlupdate.bundle.golden_models import (
    CLASSES,
    STICKERS,
    image_classifier,
    index_classifier,
    knn_pipeline,
    model_bytes,
    regressor,
)
from mlupdate.bundle.hashing import sha256_bytes
from mlupdate.bundle.job_writer import write_job
from mlupdate.bundle.results_writer import ResultsWriter, done_text
from mlupdate.bundle.schedule import LearningRateStep
from mlupdate.bundle.schema import dumps
from mlupdate.contract import (
    ALL_PROGRESS_EVENTS,
    DONE,
    RELOAD_COMPUTE_UNITS,
    RESULTS_MANIFEST,
    ComputeUnits,
    DeviceInfo,
    DumpSource,
    EventKind,
    ParameterKind,
    ProbeType,
    Producer,
    ProducerName,
    ProgressEvent,
    ReloadTiming,
    RunError,
    RunPhase,
    TaskRecord,
    TaskState,
    TaskStatus,
)
from mlupdate.data.examples import ExampleSet, from_arrays, set_feature
from mlupdate.errors import OutputFolderError
from mlupdate.models.features import inputs, training_inputs
from mlupdate.models.spec import Spec

GENERATED = ("jobs", "results", "invalid")
CLASSIFIER_JOB = "golden-classifier-image"
KNN_JOB = "golden-knn-pipeline"
SYNTHETIC_DEVICE = DeviceInfo(
    name="synthetic golden fixture (no device ran this)",
    model="iPhone16,1",
    os_name="iOS",
    os_version="17.5",
    os_build="synthetic",
    is_simulator=False,
)
# `companion-cli` is the contract's producer name for synthetic results that are never a training result.
SYNTHETIC_PRODUCER = Producer(ProducerName.COMPANION_CLI, "golden-1")


def generate(out: Path) -> None:
    """Write jobs/, results/ and invalid/ under `out`, replacing those an earlier `generate` wrote there."""
    _check_replaceable(out)
    for name in GENERATED:
        shutil.rmtree(out / name, ignore_errors=True)
    with tempfile.TemporaryDirectory() as scratch:
        models = Path(scratch)
        _jobs(out / "jobs", models)
        _results(out / "results", models)
    _invalid(out)


def _save(spec: Spec, folder: Path, name: str) -> Path:
    path = folder / f"{name}.mlmodel"
    path.write_bytes(model_bytes(spec))
    return path


def _set(spec: Spec, values: dict[str, Any], *, probe: bool = False) -> ExampleSet:
    features = inputs(spec) if probe else training_inputs(spec)
    return from_arrays([set_feature(f, where="golden") for f in features], values)


def _pixels(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _jobs(out: Path, models: Path) -> None:
    spec = image_classifier()
    write_job(
        out,
        model_path=_save(spec, models, "TinyImageClassifier"),
        training=_set(spec, {"image": _pixels(10, (4, 4, 4, 3)), "label": ["cat", "dog", "fish", "dog"]}),
        probe=_set(spec, {"image": _pixels(11, (2, 4, 4, 3))}, probe=True),
        parameters={"learningRate": 0.02, "epochs": 2},
        events=ALL_PROGRESS_EVENTS,
        repeat=2,
        deadline_seconds=120,
        job_id=CLASSIFIER_JOB,
        schedule=(LearningRateStep(1, 0.01),),
    )
    spec = index_classifier()
    x = np.random.default_rng(12).normal(size=(5, 4)).astype(np.float32)
    write_job(
        out,
        model_path=_save(spec, models, "TinyIndexClassifier"),
        training=_set(spec, {"x": x, "probs_true": np.array([[0], [2], [1], [2], [0]], dtype=np.int32)}),
        probe=_set(spec, {"x": x[:2]}, probe=True),
        parameters={"miniBatchSize": 2, "shuffle": False},
        events=(EventKind.EPOCH_END,),
        compute_units=ComputeUnits.ALL,
        job_id="golden-index-classifier",
    )
    spec = regressor()
    features = np.random.default_rng(13).normal(size=(4, 3))
    write_job(
        out,
        model_path=_save(spec, models, "TinyRegressor"),
        training=_set(spec, {"features": features, "y_true": features.sum(axis=1, keepdims=True)}),
        events=(EventKind.MINI_BATCH_END,),
        job_id="golden-regressor",
    )
    spec = knn_pipeline()
    write_job(
        out,
        model_path=_save(spec, models, "TinyStickerPipeline"),
        training=_set(spec, {"drawing": _pixels(14, (6, 4, 4)), "label": [*[STICKERS[0]] * 3, *[STICKERS[1]] * 3]}),
        probe=_set(spec, {"drawing": _pixels(15, (1, 4, 4))}, probe=True),
        parameters={"numberOfNeighbors": 3},
        events=(),
        job_id=KNN_JOB,
        case="sketches",
    )


def _task(index: int, status: TaskStatus, error: RunError | None, *, trained: bool) -> TaskRecord:
    succeeded = status is TaskStatus.SUCCEEDED
    return TaskRecord(
        index=index,
        status=status,
        error=error,
        compile_seconds=0.031,
        load_seconds=0.012,
        train_seconds=0.25 if trained else 0.01,
        write_seconds=0.02 if succeeded else None,
        probe_seconds=0.004 if succeeded else None,
        memory_before_bytes=52428800,
        memory_after_bytes=53477376,
        epochs_completed=2 if succeeded else 0,
        final_loss=0.75 if succeeded else None,
    )


def _events(task: int, *, complete: bool) -> list[ProgressEvent]:
    events = [_event(task, EventKind.TRAINING_BEGIN, None, None, None, 0.0)]
    t = 0.0
    for epoch in range(2 if complete else 1):
        for batch in range(2):
            t += 0.01
            events.append(_event(task, EventKind.MINI_BATCH_END, epoch, batch, 1.25 - 0.125 * (2 * epoch + batch), t))
        if complete:
            t += 0.005
            events.append(_event(task, EventKind.EPOCH_END, epoch, None, 1.125 - 0.25 * epoch, t))
    if complete:
        events.append(_event(task, EventKind.COMPLETION, None, None, 0.75, t + 0.01))
    return events


def _event(
    task: int, kind: EventKind, epoch: int | None, batch: int | None, loss: float | None, t: float
) -> ProgressEvent:
    return ProgressEvent(kind, epoch, batch, loss, task=task, t=round(t, 6))


def _fake_compiled(folder: Path) -> Path:
    """A stand-in `.mlmodelc` of two files: the contract only cares that a folder is copied and hashed."""
    compiled = folder / "TinyImageClassifier.mlmodelc"
    compiled.mkdir()
    (compiled / "coremldata.bin").write_bytes(bytes(range(32)))
    (compiled / "model.espresso.net").write_text('{"layers": [], "note": "synthetic golden fixture"}\n')
    return compiled


def _move_out(parent: Path, job_id: str, target: Path) -> None:
    """Results are written as `<parent>/<job_id>/` (the contract's layout); golden folders are named by case."""
    target.parent.mkdir(parents=True, exist_ok=True)
    (parent / job_id).rename(target)
    parent.rmdir()


def _results(out: Path, models: Path) -> None:
    for case, job_id, write in (
        ("succeeded", CLASSIFIER_JOB, lambda writer: _succeeded(writer, models)),
        ("failed", CLASSIFIER_JOB, _failed),
        ("cancelled", CLASSIFIER_JOB, _cancelled),
        ("reference-knn", KNN_JOB, lambda writer: _reference_knn(writer, models)),
    ):
        with ResultsWriter(models / case, job_id) as writer:
            write(writer)
        _move_out(models / case, job_id, out / case)


def _succeeded(writer: ResultsWriter, models: Path) -> None:
    writer.add_events([*_events(0, complete=True), *_events(1, complete=True)])
    weights, biases = np.random.default_rng(20).normal(size=(3, 48)), np.array([0.01, -0.02, 0.01])
    # The app's two reads of the updated layer: context.model in the completion handler (primary) and the
    # written model loaded again (cross-check). They agree here; parity tests tamper with one to disagree.
    for source in (DumpSource.CONTEXT, DumpSource.RELOADED):
        writer.add_parameter("dense", "", ParameterKind.WEIGHTS, weights, source=source)
        writer.add_parameter("dense", "", ParameterKind.BIASES, biases, source=source)
    for units, load, first in zip(RELOAD_COMPUTE_UNITS, (0.011, 0.013, 0.42), (0.002, 0.003, 0.05), strict=True):
        writer.add_reload(ReloadTiming(units, load, first))
    writer.add_probe_output("label", ProbeType.STRING, ["dog", "cat"])
    probabilities = [[0.25, 0.5, 0.25], [0.5, 0.25, 0.25]]
    writer.add_probe_output("probs", ProbeType.DICTIONARY, probabilities, classes=CLASSES)
    writer.add_model(_fake_compiled(models))
    succeeded = TaskStatus.SUCCEEDED
    tasks = [_task(0, succeeded, None, trained=True), _task(1, succeeded, None, trained=True)]
    tasks = [dataclasses.replace(task, task_state=TaskState.COMPLETED) for task in tasks]
    writer.finish(succeeded, None, SYNTHETIC_DEVICE, tasks, SYNTHETIC_PRODUCER)


def _failed(writer: ResultsWriter) -> None:
    error = RunError(RunPhase.TRAIN, "com.apple.CoreML", 0, "synthetic failure")
    writer.add_events(_events(0, complete=False)[:1])
    failed = TaskStatus.FAILED
    writer.finish(failed, error, SYNTHETIC_DEVICE, [_task(0, failed, error, trained=False)], SYNTHETIC_PRODUCER)


def _cancelled(writer: ResultsWriter) -> None:
    writer.add_events(_events(0, complete=False))
    # Core ML had not finished cancelling when the runner stopped waiting: a repeat would be contaminated.
    cancelled = TaskStatus.CANCELLED
    task = dataclasses.replace(_task(0, cancelled, None, trained=True), task_state=TaskState.CANCELLING)
    writer.finish(cancelled, None, SYNTHETIC_DEVICE, [task], SYNTHETIC_PRODUCER)


def _reference_knn(writer: ResultsWriter, models: Path) -> None:
    writer.add_events([_event(0, EventKind.COMPLETION, None, None, None, 0.001)])
    writer.add_probe_output("label", ProbeType.STRING, ["heart"])
    writer.add_model(_save(knn_pipeline(), models, "TinyStickerPipeline"))
    reference = Producer(ProducerName.REFERENCE, "golden-1", {"knn_ties": "lowest-index"})
    device = dataclasses.replace(SYNTHETIC_DEVICE, name="mlupdate reference trainer", model="host", os_name="Linux")
    task = dataclasses.replace(_task(0, TaskStatus.SUCCEEDED, None, trained=True), compile_seconds=None)
    writer.finish(TaskStatus.SUCCEEDED, None, device, [dataclasses.replace(task, epochs_completed=1)], reference)


@dataclass(frozen=True)
class Breakage:
    """One deliberately broken bundle: copied from a valid one, broken by `apply`, refused with `error`."""

    name: str
    source: str
    expected_job_id: str
    error: str
    why: str
    apply: Callable[[Path], None]


def _edit_json(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(path.read_text("utf-8"))
    edit(document)
    path.write_bytes(dumps(document))


def _reseal(root: Path) -> None:
    """Rewrite DONE for the edited results.json, so only the intended defect remains."""
    job_id = json.loads((root / RESULTS_MANIFEST).read_text("utf-8"))["job_id"]
    (root / DONE).write_bytes(done_text(job_id, sha256_bytes((root / RESULTS_MANIFEST).read_bytes())))


def _edit_results(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        _edit_json(root / RESULTS_MANIFEST, edit)
        _reseal(root)

    return apply


def _flip_last_byte(entry: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        data = bytearray((root / entry).read_bytes())
        data[-1] ^= 0x01
        (root / entry).write_bytes(bytes(data))

    return apply


def _set_job_id(job_id: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        _edit_json(root / RESULTS_MANIFEST, lambda d: d.update(job_id=job_id))
        _reseal(root)

    return apply


def _add_stray(path: Path) -> None:
    path.write_text("stray\n", encoding="utf-8")


def _unsafe_feature_path(document: dict[str, Any]) -> None:
    document["training"]["features"][1]["path"] = "/tmp/label.json"


def _unsafe_parameter_path(document: dict[str, Any]) -> None:
    document["parameters"][0]["path"] = "../dense.weights.npy"


BREAKAGES: tuple[Breakage, ...] = (
    Breakage(
        "job-bad-version",
        f"jobs/{CLASSIFIER_JOB}",
        CLASSIFIER_JOB,
        "SchemaError",
        "job.json says schema_version 2; readers support only 1",
        lambda root: _edit_json(root / "job.json", lambda d: d.update(schema_version=2)),
    ),
    Breakage(
        "job-missing-file",
        f"jobs/{CLASSIFIER_JOB}",
        CLASSIFIER_JOB,
        "IncompleteBundleError",
        "train/image/000001.png is listed in files but missing",
        lambda root: (root / "train/image/000001.png").unlink(),
    ),
    Breakage(
        "job-unsafe-path",
        f"jobs/{CLASSIFIER_JOB}",
        CLASSIFIER_JOB,
        "UnsafePathError",
        "training.features[1].path is the absolute path /tmp/label.json",
        lambda root: _edit_json(root / "job.json", _unsafe_feature_path),
    ),
    Breakage(
        "job-hash-mismatch",
        "jobs/golden-index-classifier",
        "golden-index-classifier",
        "HashMismatchError",
        "the last byte of train/x.npy was changed after hashing",
        _flip_last_byte("train/x.npy"),
    ),
    Breakage(
        "job-unknown-field",
        "jobs/golden-regressor",
        "golden-regressor",
        "SchemaError",
        "job.json has an unknown top-level field `comment`",
        lambda root: _edit_json(root / "job.json", lambda d: d.update(comment="typo")),
    ),
    Breakage(
        "results-missing-done",
        "results/succeeded",
        CLASSIFIER_JOB,
        "IncompleteBundleError",
        "DONE is missing (the writer never finished)",
        lambda root: (root / DONE).unlink(),
    ),
    Breakage(
        "results-wrong-job-id",
        "results/succeeded",
        CLASSIFIER_JOB,
        "IncompleteBundleError",
        "a consistent bundle of job golden-another-job, read as golden-classifier-image",
        _set_job_id("golden-another-job"),
    ),
    Breakage(
        "results-done-hash-mismatch",
        "results/succeeded",
        CLASSIFIER_JOB,
        "HashMismatchError",
        "results.json was edited after DONE recorded its sha256",
        lambda root: _edit_json(root / RESULTS_MANIFEST, lambda d: d.update(status="failed")),
    ),
    Breakage(
        "results-tampered-file",
        "results/succeeded",
        CLASSIFIER_JOB,
        "HashMismatchError",
        "the last byte of parameters/dense.weights.npy was changed after hashing",
        _flip_last_byte("parameters/dense.weights.npy"),
    ),
    Breakage(
        "results-unlisted-file",
        "results/failed",
        CLASSIFIER_JOB,
        "HashMismatchError",
        "notes.txt is in the bundle but not in files",
        lambda root: _add_stray(root / "notes.txt"),
    ),
    Breakage(
        "results-unsafe-path",
        "results/succeeded",
        CLASSIFIER_JOB,
        "UnsafePathError",
        "parameters[0].path climbs out of the bundle with ..",
        _edit_results(_unsafe_parameter_path),
    ),
    Breakage(
        "results-bad-version",
        "results/cancelled",
        CLASSIFIER_JOB,
        "SchemaError",
        "results.json says schema_version 2 (DONE matches it)",
        _edit_results(lambda d: d.update(schema_version=2)),
    ),
    Breakage(
        "results-unknown-field",
        "results/cancelled",
        CLASSIFIER_JOB,
        "SchemaError",
        "tasks[0] has an unknown field `stauts` (DONE matches it)",
        _edit_results(lambda d: d["tasks"][0].update(stauts="cancelled")),
    ),
)


def _rewrite_done(edit: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / DONE).write_bytes(edit((root / DONE).read_bytes()))

    return apply


def _list_file(entry: str) -> Callable[[Path], None]:
    """List `entry` in results.json's files (the reader refuses its name before looking for it on disk)."""
    return _edit_results(lambda d: d["files"].update({entry: "0" * 64}))


def _npy_header(shape: tuple[int, ...]) -> bytes:
    text = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape!r}, }}"
    text += " " * (-(10 + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode() + bytes(16)


HUGE_SHAPE = (4, 2**32, 2**32)  # 2**66 elements: the product overflowed a 64-bit count


def _huge_parameter(root: Path) -> None:
    entry = "parameters/dense.weights.npy"
    (root / entry).write_bytes(_npy_header(HUGE_SHAPE))

    def declare(document: dict[str, Any]) -> None:
        document["files"][entry] = sha256_bytes((root / entry).read_bytes())
        next(p for p in document["parameters"] if p["path"] == entry)["shape"] = list(HUGE_SHAPE)

    _edit_results(declare)(root)


def _huge_training_tensor(root: Path) -> None:
    entry = "train/x.npy"
    document = json.loads((root / "job.json").read_text("utf-8"))
    shape = (document["training"]["count"], *HUGE_SHAPE[1:])
    (root / entry).write_bytes(_npy_header(shape))

    def declare(document: dict[str, Any]) -> None:
        document["files"][entry] = sha256_bytes((root / entry).read_bytes())
        next(f for f in document["training"]["features"] if f["path"] == entry)["shape"] = list(shape[1:])

    _edit_json(root / "job.json", declare)


BREAKAGES += (
    Breakage(
        "results-done-crlf",
        "results/succeeded",
        CLASSIFIER_JOB,
        "IncompleteBundleError",
        "DONE ends its lines with \\r\\n, so its first line names the job `golden-classifier-image\\r`",
        _rewrite_done(lambda data: data.replace(b"\n", b"\r\n")),
    ),
    Breakage(
        "results-done-blank-line",
        "results/succeeded",
        CLASSIFIER_JOB,
        "SchemaError",
        "DONE has a blank line after its two lines",
        _rewrite_done(lambda data: data + b"\n"),
    ),
    Breakage(
        "results-drive-letter-name",
        "results/succeeded",
        CLASSIFIER_JOB,
        "UnsafePathError",
        "files lists `a:b`, an absolute path on Windows",
        _list_file("a:b"),
    ),
    Breakage(
        "results-control-character-name",
        "results/succeeded",
        CLASSIFIER_JOB,
        "UnsafePathError",
        "files lists a name holding the control character U+0001",
        _list_file("probe/x\u0001y.npy"),
    ),
    Breakage(
        "results-decomposed-name",
        "results/succeeded",
        CLASSIFIER_JOB,
        "UnsafePathError",
        "files lists `café` spelled with a combining accent (not NFC): Apple's file systems take it for `café`",
        _list_file("cafe\u0301.txt"),
    ),
    Breakage(
        "results-tensor-shape",
        "results/succeeded",
        CLASSIFIER_JOB,
        "SchemaError",
        "parameters[0].shape says [3, 47]; the .npy holds [3, 48]",
        _edit_results(lambda d: d["parameters"][0].update(shape=[3, 47])),
    ),
    Breakage(
        "results-npy-overflow",
        "results/succeeded",
        CLASSIFIER_JOB,
        "SchemaError",
        "parameters/dense.weights.npy declares shape (4, 2**32, 2**32), and so does the manifest",
        _huge_parameter,
    ),
    Breakage(
        "job-npy-overflow",
        "jobs/golden-index-classifier",
        "golden-index-classifier",
        "SchemaError",
        "train/x.npy declares shape (5, 2**32, 2**32), and so does job.json (5 examples)",
        _huge_training_tensor,
    ),
)


def _invalid(out: Path) -> None:
    folder = out / "invalid"
    folder.mkdir(parents=True)
    expected = {}
    lines = ["# Bundles every reader must refuse", "", "Generated by `python -m mlupdate.bundle.golden`.", ""]
    lines += ["| bundle | reader | expected job id | refusal | what is wrong |", "|---|---|---|---|---|"]
    for breakage in BREAKAGES:
        shutil.copytree(out / breakage.source, folder / breakage.name)
        breakage.apply(folder / breakage.name)
        reader = "job" if breakage.source.startswith("jobs/") else "results"
        expected[breakage.name] = {
            "reader": reader,
            "expected_job_id": breakage.expected_job_id,
            "error": breakage.error,
        }
        lines.append(
            f"| `{breakage.name}` | {reader} | `{breakage.expected_job_id}` | {breakage.error} | {breakage.why} |"
        )
    (folder / "expected.json").write_bytes(dumps(expected))
    (folder / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _check_replaceable(out: Path) -> None:
    """Folders named like ours are replaced only where `invalid/expected.json` shows an earlier run wrote them."""
    existing = [name for name in GENERATED if _holds_something(out / name)]
    if existing and not (out / "invalid" / "expected.json").is_file():
        raise OutputFolderError(
            f"{', '.join(existing)} already exist(s) and were not written by the golden bundle generator",
            where=str(out),
            fix="pass an empty or new folder (the default is tests/data/contract)",
        )


def _holds_something(path: Path) -> bool:
    return path.is_symlink() or path.is_file() or (path.is_dir() and any(path.iterdir()))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(__file__).resolve().parents[3] / "tests" / "data" / "contract"
    generate(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
