"""Writing a job bundle: the model, the fitted training and probe sets, parameter overrides, job.json.

Examples are streamed to disk one at a time (images as PNG, multiArrays appended to one `.npy`), hashed as
they are written, and the whole folder is renamed into place after job.json, so a reader never meets half a
bundle. PNGs are encoded on a small thread pool (zlib releases the GIL), with a bounded number in flight so
memory stays bounded by the pool, not by the set.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mlupdate import __version__
from mlupdate.bundle.atomic import HashingWriter, publish, staging_folder, write_hashed
from mlupdate.bundle.hashing import sha256_file
from mlupdate.bundle.npy import NpyRowWriter
from mlupdate.bundle.paths import check_entry
from mlupdate.bundle.schedule import SCHEDULE_KEY, LearningRateStep, check_schedule
from mlupdate.bundle.schema import SCHEMA_VERSION, check_job_id, dump, validate
from mlupdate.contract import JOB_KIND, JOB_MANIFEST, ComputeUnits, EventKind
from mlupdate.data.examples import NUMPY_DTYPES, ExampleSet, SetFeature, set_feature
from mlupdate.data.fit import training_set_features
from mlupdate.errors import DataError, SchemaError
from mlupdate.models.features import inputs
from mlupdate.models.params import resolve_parameters
from mlupdate.models.spec import Spec, load_spec, model_kind, neural_network, updatable_leaf
from mlupdate.models.validate import ensure_valid

EVENT_NAMES = EventKind.requestable()
COMPUTE_UNITS = tuple(ComputeUnits)


def write_job(
    out_dir: str | Path,
    *,
    model_path: str | Path,
    training: ExampleSet,
    probe: ExampleSet | None = None,
    parameters: Mapping[str, float | int | bool] | None = None,
    events: Sequence[str] = EVENT_NAMES,
    compute_units: str = "cpuOnly",
    repeat: int = 1,
    deadline_seconds: float = 600,
    job_id: str | None = None,
    case: str | None = None,
    schedule: Sequence[LearningRateStep] = (),
) -> Path:
    """Write the job bundle `out_dir/<job_id>/` and return its path.

    The model is validated against Core ML's rules for updatable models, the parameter overrides against the
    model's allowed ranges, and the example sets against the model's (training) inputs before anything is
    written. `case` names the parity case whose tolerances apply (an entry of `mlupdate.parity.tolerances`);
    `schedule` changes the learning rate at epoch boundaries (`mlupdate.bundle.schedule`).
    """
    model_path = Path(model_path)
    spec = load_spec(model_path)
    ensure_valid(spec, str(model_path))
    job_id = job_id if job_id is not None else _new_job_id(model_path)
    _check_options(job_id, events, compute_units, repeat, deadline_seconds)
    overrides = dict(parameters or {})
    resolved = resolve_parameters(spec, overrides)
    steps = tuple(schedule)
    if steps:
        check_schedule(steps, epochs=int(resolved.get("epochs", 1)), events=events, where=str(model_path))
        for step in steps:  # each value within the model's allowed learning rates, as a load-time value would be
            resolve_parameters(spec, {**overrides, SCHEDULE_KEY: step.learning_rate})
    _check_features(
        training, training_set_features(spec, where=training.origin), "training", "the model's training inputs"
    )
    if probe is not None:
        _check_features(
            probe, [set_feature(f, where=probe.origin) for f in inputs(spec)], "probe", "the model's inputs"
        )

    final = Path(out_dir) / job_id
    with staging_folder(final) as root:
        files: dict[str, str] = {}
        model_entry = f"model/{model_path.stem}.mlmodel"
        (root / "model").mkdir()
        if model_path.is_dir():  # an .mlpackage: the job carries its spec as a plain .mlmodel
            (root / model_entry).write_bytes(spec.SerializeToString())
        else:
            shutil.copyfile(model_path, root / model_entry)
        files[model_entry] = sha256_file(root / model_entry)
        manifest: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "kind": JOB_KIND,
            "job_id": job_id,
            "created_by": f"mlupdate {__version__}",
            "model": _model_entry(spec, model_entry, files[model_entry]),
            "parameters": {key: resolved[key] for key in overrides},
            "events": [str(event) for event in events],
            "compute_units": str(compute_units),
            "repeat": repeat,
            "deadline_seconds": deadline_seconds,
            "training": write_example_set(root, "train", training, files),
            "probe": write_example_set(root, "probe", probe, files) if probe is not None else None,
            "files": files,
        }
        if case is not None:
            manifest["case"] = case
        if steps:
            manifest["schedule"] = [step.to_json() for step in steps]
        validate(manifest, "job", where=str(final / JOB_MANIFEST))
        dump(manifest, root / JOB_MANIFEST)
        return publish(root, final)


def _new_job_id(model_path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]", "-", model_path.stem).lstrip("._-")[:100] or "job"
    return f"{stem}-{secrets.token_hex(6)}"


def _check_options(job_id: str, events: Sequence[str], compute_units: str, repeat: int, deadline: float) -> None:
    def refuse(field: str, what: str, fix: str) -> SchemaError:
        return SchemaError(what, where=f"{JOB_MANIFEST}: {field}", fix=fix)

    check_job_id(job_id, where=f"{JOB_MANIFEST}: job_id")
    unknown = [str(event) for event in events if event not in EVENT_NAMES]
    twice = sorted({str(event) for event in events if list(events).count(event) > 1})
    if unknown or twice:
        what = f"unknown event(s) {', '.join(map(repr, unknown))}" if unknown else f"listed twice: {', '.join(twice)}"
        raise refuse("events", what, f"use each of {', '.join(EVENT_NAMES)} at most once (names are case-sensitive)")
    if compute_units not in COMPUTE_UNITS:
        raise refuse(
            "compute_units", f"unknown compute units {compute_units!r}", f"use one of {', '.join(COMPUTE_UNITS)}"
        )
    if type(repeat) is not int or repeat < 1:
        raise refuse("repeat", f"repeat must be an integer >= 1, got {repeat!r}", "pass repeat=1 or more")
    if isinstance(deadline, bool) or not isinstance(deadline, int | float) or not 0 < deadline < float("inf"):
        raise refuse("deadline_seconds", f"deadline must be > 0 seconds, got {deadline!r}", "pass e.g. 600")


def _model_entry(spec: Spec, entry: str, sha256: str) -> dict[str, Any]:
    leaf = updatable_leaf(spec)
    layers: list[str] = []
    if model_kind(leaf.spec) in ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"):
        layers = [layer.name for layer in neural_network(leaf.spec).layers if layer.isUpdatable]
    return {
        "path": entry,
        "format": "mlmodel",
        "sha256": sha256,
        "kind": model_kind(spec),
        "update_scope": ".".join(leaf.scope),
        "updatable_layers": layers,
    }


def _check_features(examples: ExampleSet, expected: list[SetFeature], role: str, described: str) -> None:
    """The set's features must be exactly the model's (training) inputs, with matching sizes and types."""
    names = [f.name for f in examples.features]
    wanted = [f.name for f in expected]
    if sorted(names) != sorted(wanted) or len(set(names)) != len(names):
        raise DataError(
            f"the {role} set has features {names}, but {described} are {wanted}",
            where=examples.origin,
            fix=f"fit the {role} examples to the model with mlupdate.data",
        )
    for feature in expected:
        got = examples.feature(feature.name)
        want = feature
        if got != want:
            raise DataError(
                f"{role} feature {feature.name!r} is {got}, the model declares {want}",
                where=examples.origin,
                fix=f"fit the {role} examples to the model with mlupdate.data",
            )


PNG_THREADS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def write_example_set(root: Path, prefix: str, examples: ExampleSet, files: dict[str, str]) -> dict[str, Any]:
    """Stream `examples` into `root/prefix/...`, add their hashes to `files`, return the manifest entry."""
    with ThreadPoolExecutor(PNG_THREADS, thread_name_prefix="png") as pool:
        return _write_examples(root, prefix, examples, files, pool)


def _write_examples(
    root: Path, prefix: str, examples: ExampleSet, files: dict[str, str], pool: ThreadPoolExecutor
) -> dict[str, Any]:
    sinks = [_sink_for(root, prefix, feature, examples.count, pool) for feature in examples.features]
    written = 0
    try:
        for index, example in enumerate(examples):
            if index >= examples.count:
                raise DataError(f"the set yields more examples than its count {examples.count}", where=examples.origin)
            for sink in sinks:
                where = f"{examples.origin}, example {index}"
                if sink.feature.name not in example:
                    raise DataError(f"example {index} has no feature {sink.feature.name!r}", where=where)
                sink.add(index, sink.feature.check_value(example[sink.feature.name], where))
            written = index + 1
    finally:
        for sink in sinks:
            sink.close(files)
    if written != examples.count:
        raise DataError(f"the set yielded {written} examples, its count says {examples.count}", where=examples.origin)
    return {"count": examples.count, "features": [sink.describe() for sink in sinks]}


class _Sink:
    """Where one feature's values go: a PNG folder, a `.npy` file, or a JSON list."""

    def __init__(self, root: Path, entry: str, feature: SetFeature, count: int, pool: ThreadPoolExecutor) -> None:
        self.root = root
        self.entry = entry
        self.feature = feature
        self._pool = pool
        self._pending: deque[tuple[str, Future[str]]] = deque()  # PNGs being encoded, oldest first
        self._labels: list[Any] = []
        self._files: dict[str, str] = {}
        self._npy: HashingWriter | None = None
        self._rows: NpyRowWriter | None = None
        if feature.kind == "image":
            (root / entry).mkdir(parents=True)
        elif feature.kind == "multiArray":
            (root / entry).parent.mkdir(parents=True, exist_ok=True)
            self._npy = HashingWriter(root / entry)
            dtype = NUMPY_DTYPES[feature.dtype or "float32"]
            self._rows = NpyRowWriter(self._npy, dtype, count, feature.shape)
        else:
            (root / entry).parent.mkdir(parents=True, exist_ok=True)

    def add(self, index: int, value: Any) -> None:
        if self.feature.kind == "image":
            name = f"{self.entry}/{index:06d}.png"
            # A copy: the source may reuse its buffer for the next example while this one is being encoded.
            self._pending.append((name, self._pool.submit(_write_png, self.root / name, np.array(value))))
            while len(self._pending) > 2 * PNG_THREADS:
                self._settle()
        elif self._rows is not None:
            self._rows.write(value)
        else:
            self._labels.append(value)

    def _settle(self) -> None:
        name, future = self._pending.popleft()
        self._files[name] = future.result()

    def close(self, files: dict[str, str]) -> None:
        while self._pending:  # every write finishes (or fails) before the folder is published or removed
            self._settle()
        if self._npy is not None:
            self._files[self.entry] = self._npy.close()
        elif self.feature.kind in ("string", "int64"):
            self._files[self.entry] = write_hashed(self.root / self.entry, dumps_list(self._labels))
        files.update(self._files)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.feature.name, "type": self.feature.kind, "path": self.entry}
        if self.feature.kind == "image":
            out |= {"width": self.feature.width, "height": self.feature.height}
            out["color_space"] = self.feature.color_space
        elif self.feature.kind == "multiArray":
            out |= {"dtype": self.feature.dtype, "shape": list(self.feature.shape)}
        return out


def _sink_for(root: Path, prefix: str, feature: SetFeature, count: int, pool: ThreadPoolExecutor) -> _Sink:
    suffix = {"image": "", "multiArray": ".npy"}.get(feature.kind, ".json")
    entry = check_entry(f"{prefix}/{feature.name}{suffix}", where=f"feature {feature.name!r}")
    return _Sink(root, entry, feature, count, pool)


def _write_png(path: Path, image: np.ndarray) -> str:
    return write_hashed(path, encode_png(image))


def encode_png(image: np.ndarray) -> bytes:
    """An 8-bit `L` or `RGB` PNG of a fitted image value ([H, W] or [H, W, 3] uint8)."""
    buffer = io.BytesIO()
    # Closed explicitly: saving leaves a reference cycle that would keep the pixels until the next GC run.
    with Image.fromarray(image) as picture:
        picture.save(buffer, format="PNG")
    return buffer.getvalue()


def dumps_list(values: list[Any]) -> bytes:
    """A string/int64 feature file: one JSON list on one line."""
    return (json.dumps(values, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
