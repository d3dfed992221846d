"""Writing a results bundle the way the companion app does: staging folder, rename, DONE last.

Used by the reference trainer (its results have the same layout as a device's) and by tests that fake a
device. Everything goes into `<parent>/.<job_id>.partial/`; `finish` writes results.json with every hash,
renames the folder to `<parent>/<job_id>/` and then writes `DONE` (job id + sha256 of results.json).
An exception inside the `with` block removes the partial folder and publishes nothing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from mlupdate.bundle import npy
from mlupdate.bundle.hashing import sha256_bytes, sha256_file
from mlupdate.bundle.paths import check_entry, walk_files
from mlupdate.bundle.schema import SCHEMA_VERSION, check_job_id, dumps, validate
from mlupdate.contract import (
    DONE,
    EVENTS,
    MODEL_DIR,
    RESULTS_KIND,
    RESULTS_MANIFEST,
    DeviceInfo,
    DumpSource,
    ModelFormat,
    ParameterKind,
    ProbeType,
    Producer,
    ProgressEvent,
    ReloadTiming,
    RunError,
    TaskRecord,
    TaskStatus,
    parameter_entry,
    partial_name,
    probe_entry,
    reloaded_parameter_entry,
    scoped_layer,
)
from mlupdate.errors import BundleError, SchemaError


def done_text(job_id: str, results_sha256: str) -> bytes:
    """The DONE sentinel: two lines, the job id and the sha256 of results.json."""
    return f"{job_id}\n{results_sha256}\n".encode()


def event_line(event: ProgressEvent) -> str:
    """One events.jsonl line in the contract's key order."""
    return json.dumps(event.to_json(), allow_nan=False)


class ResultsWriter:
    """Context manager that builds a results bundle for `job_id` under `parent`."""

    def __init__(self, parent: str | Path, job_id: str) -> None:
        self.parent = Path(parent)
        self.job_id = check_job_id(job_id, where=str(self.parent))
        self.final = self.parent / job_id
        self.root = self.parent / partial_name(job_id)
        self._events: list[ProgressEvent] = []
        self._parameters: list[dict[str, Any]] = []
        self._outputs: list[dict[str, Any]] = []
        self._probe_count: int | None = None
        self._model: dict[str, str] | None = None
        self._reloads: list[dict[str, Any]] = []
        self._finished = False

    def __enter__(self) -> ResultsWriter:
        if self.final.exists() or self.final.is_symlink():
            raise BundleError("results already exist", where=str(self.final), fix="remove the old results first")
        if self.root.exists():
            shutil.rmtree(self.root)  # the leftover of an interrupted writer: never reused
        self.root.mkdir(parents=True)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is not None or not self._finished:
            shutil.rmtree(self.root, ignore_errors=True)

    def add_events(self, events: Iterable[ProgressEvent]) -> None:
        """Append progress events, each checked against the event schema (a non-finite loss is written as null)."""
        for event in events:
            validate(event.to_json(), "event", where=f"{self.root / EVENTS}: line {len(self._events) + 1}")
            self._events.append(event)

    def add_parameter(
        self,
        layer: str,
        scope: str,
        kind: ParameterKind,
        array: np.ndarray,
        *,
        source: DumpSource | None = None,
    ) -> Path:
        """Store a layer's updated weights or biases as float32 `parameters/<scope.>layer.kind.npy`.

        `source` is the app's: `context` for the primary dump (context.model in the completion handler),
        `reloaded` for the cross-check read from the written model (kept under `parameters/reloaded/`).
        """
        if kind not in tuple(ParameterKind):
            raise SchemaError(f"parameter kind {kind!r}", where=layer, fix="use 'weights' or 'biases'")
        scoped = scoped_layer(layer, scope)
        if source is not None and source not in tuple(DumpSource):
            raise SchemaError(f"parameter source {source!r}", where=scoped, fix="use 'context' or 'reloaded'")
        reloaded = source == DumpSource.RELOADED
        path = reloaded_parameter_entry(layer, scope, kind) if reloaded else parameter_entry(layer, scope, kind)
        entry = check_entry(path, where=f"parameter {scoped!r}")
        values = np.asarray(array, dtype=np.float32)
        self._save(entry, values)
        document: dict[str, Any] = {"layer": layer, "scope": scope, "kind": str(kind), "path": entry}
        document["shape"] = list(values.shape)
        if source is not None:
            document["source"] = str(source)
        self._parameters.append(document)
        return self.root / entry

    def add_reload(self, timing: ReloadTiming) -> None:
        """Record the load and first prediction of the updated model with one compute-unit setting."""
        self._reloads.append(timing.to_json())

    def add_probe_output(
        self, name: str, type: ProbeType, values: Any, classes: Sequence[str | int] | None = None
    ) -> Path:
        """Store the probe predictions of one output: arrays as float32 `.npy`, labels as a JSON list."""
        if type not in tuple(ProbeType):
            raise SchemaError(f"probe output type {type!r}", where=name, fix="use multiArray/dictionary/string/int64")
        type = ProbeType(type)
        entry = check_entry(probe_entry(name, type), where=f"probe output {name!r}")
        if type.is_array:
            array = np.asarray(values, dtype=np.float32)
            if type is ProbeType.DICTIONARY and (classes is None or array.ndim != 2 or array.shape[1] != len(classes)):
                raise SchemaError(
                    f"dictionary output {name!r} needs values [M, C] and C classes",
                    where=f"probe output {name!r}",
                    fix="pass the probabilities as [M, C] and the class order as `classes`",
                )
            self._save(entry, array)
            count = int(array.shape[0]) if array.ndim else 0
        else:
            labels = [str(v) for v in values] if type is ProbeType.STRING else [int(v) for v in values]
            self._write(entry, (json.dumps(labels, ensure_ascii=False) + "\n").encode())
            count = len(labels)
        if self._probe_count is not None and count != self._probe_count:
            raise SchemaError(
                f"probe output {name!r} has {count} rows, earlier outputs have {self._probe_count}",
                where=f"probe output {name!r}",
            )
        self._probe_count = count
        output: dict[str, Any] = {"name": name, "type": str(type), "path": entry}
        if classes is not None:
            output["classes"] = list(classes)
        self._outputs.append(output)
        return self.root / entry

    def add_model(self, path: str | Path) -> Path:
        """Copy the updated model: a `.mlmodel` file or a `.mlmodelc` folder (links are refused)."""
        source = Path(path)
        suffix = source.suffix
        formats = {f".{format}" for format in ModelFormat}
        if suffix not in formats or (suffix == f".{ModelFormat.MLMODELC}") != source.is_dir():
            raise BundleError(
                "not a .mlmodel file or .mlmodelc folder", where=str(source), fix="pass the model Core ML wrote"
            )
        entry = check_entry(f"{MODEL_DIR}/{source.name}", where=str(source))
        target = self.root / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            list(walk_files(source))  # refuses links before anything is copied
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
        self._model = {"path": entry, "format": str(ModelFormat(suffix[1:]))}
        return target

    def finish(
        self,
        status: TaskStatus,
        error: RunError | None,
        device: DeviceInfo,
        tasks: Sequence[TaskRecord],
        producer: Producer,
    ) -> Path:
        """Write events.jsonl and results.json, rename the bundle into place, write DONE; return its path."""
        self._write(EVENTS, "".join(event_line(event) + "\n" for event in self._events).encode())
        files = {entry: sha256_file(self.root / entry) for entry in walk_files(self.root)}
        manifest: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "kind": RESULTS_KIND,
            "job_id": self.job_id,
            "producer": producer.to_json(),
            "status": str(TaskStatus(status)),
            "error": error.to_json() if error is not None else None,
            "device": device.to_json(),
            "tasks": [task.to_json() for task in tasks],
            "model": self._model,
            "parameters": self._parameters,
            "probe": {"count": self._probe_count, "outputs": self._outputs} if self._outputs else None,
            "events": {"path": EVENTS, "count": len(self._events)},
            "files": files,
        }
        if self._reloads:
            manifest["reloads"] = self._reloads
        data = dumps(validate(manifest, "results", where=str(self.final / RESULTS_MANIFEST)))
        (self.root / RESULTS_MANIFEST).write_bytes(data)
        self.root.rename(self.final)
        self._finished = True
        (self.final / DONE).write_bytes(done_text(self.job_id, sha256_bytes(data)))
        return self.final

    def _save(self, entry: str, array: np.ndarray) -> None:
        target = self.root / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            raise SchemaError(f"{entry!r} was added twice", where=str(target), fix="add each output once")
        npy.save(target, array)

    def _write(self, entry: str, data: bytes) -> None:
        target = self.root / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            raise SchemaError(f"{entry!r} was added twice", where=str(target), fix="add each output once")
        target.write_bytes(data)
