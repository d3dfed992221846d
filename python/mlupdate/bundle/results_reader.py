"""Reading a results bundle: nothing is read before DONE, the job id, the manifest hash and every file check out.

Order of the checks (both sides of the contract use it, so a broken bundle fails the same way everywhere):
DONE present -> DONE line 1 == expected job id -> DONE line 2 == sha256(results.json) -> version -> schema ->
results.json job_id -> path safety -> no missing / unlisted file, every hash -> references and events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlupdate import limits
from mlupdate.bundle import npy
from mlupdate.bundle.hashing import sha256_bytes
from mlupdate.bundle.integrity import (
    check_root,
    read_json_file,
    read_regular,
    require_folder,
    require_listed,
    schema_problem,
    verify_files,
)
from mlupdate.bundle.kinds import expect_results_bundle
from mlupdate.bundle.paths import resolve_entry
from mlupdate.bundle.schema import label_list, parse_json, validate
from mlupdate.contract import (
    DONE,
    EVENTS,
    RESULTS_MANIFEST,
    DeviceInfo,
    DumpSource,
    ProbeOutput,
    ProbeType,
    Producer,
    ProgressEvent,
    ReloadTiming,
    RunError,
    TaskRecord,
    TaskStatus,
    scoped_layer,
)
from mlupdate.errors import HashMismatchError, IncompleteBundleError, SchemaError


@dataclass(frozen=True)
class ResultsBundle:
    """A results bundle whose sentinel, job id, schema, paths and hashes have all been checked.

    The typed fields are read from `manifest` once; `manifest` stays available as the checked document.
    """

    path: Path
    manifest: dict[str, Any]
    events: tuple[ProgressEvent, ...]
    status: TaskStatus
    error: RunError | None
    producer: Producer
    device: DeviceInfo
    tasks: tuple[TaskRecord, ...]
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_manifest(cls, path: Path, manifest: dict[str, Any], events: tuple[ProgressEvent, ...]) -> ResultsBundle:
        """The bundle of a manifest the results schema has accepted."""
        error = manifest["error"]
        return cls(
            path=path,
            manifest=manifest,
            events=events,
            status=TaskStatus(manifest["status"]),
            error=RunError.from_json(error) if error is not None else None,
            producer=Producer.from_json(manifest["producer"]),
            device=DeviceInfo.from_json(manifest["device"]),
            tasks=tuple(TaskRecord.from_json(task) for task in manifest["tasks"]),
        )

    @property
    def job_id(self) -> str:
        return str(self.manifest["job_id"])

    @property
    def model_path(self) -> Path | None:
        model = self.manifest["model"]
        return self.path / model["path"] if model is not None else None

    @property
    def parameters(self) -> dict[tuple[str, str], np.ndarray]:
        """Updated parameters keyed by (scoped layer, kind), e.g. ("model1.dense_1", "weights"); float32.

        The primary dump: what the app read from `context.model` in the completion handler (or, from producers
        that do not say, the only dump there is). When the app has no context dump, its reloaded one.
        """
        return self._dump(self.primary_dump_source)

    @property
    def primary_dump_source(self) -> str | None:
        """`context`, `reloaded`, or None (the producer does not say which read it dumped)."""
        sources = {entry.get("source") for entry in self.manifest["parameters"]}
        if None in sources or not sources:
            return None
        return DumpSource.CONTEXT if DumpSource.CONTEXT in sources else DumpSource.RELOADED

    @property
    def cross_check_parameters(self) -> dict[tuple[str, str], np.ndarray]:
        """The app's second read, from the written and reloaded model, when the primary dump is `context`."""
        if self.primary_dump_source != DumpSource.CONTEXT:
            return {}
        return self._dump(DumpSource.RELOADED)

    @property
    def dumps_agree(self) -> bool | None:
        """Whether the app's two reads hold the same tensors with equal values (None: it read once).

        Parity's `dump-paths` check says where and by how much they differ."""
        cross_check = self.cross_check_parameters
        if not cross_check:
            return None
        primary = self.parameters
        return primary.keys() == cross_check.keys() and all(
            primary[key].shape == cross_check[key].shape and np.array_equal(primary[key], cross_check[key])
            for key in primary
        )

    @property
    def reloads(self) -> tuple[ReloadTiming, ...]:
        """Load and first-prediction times of the updated model per compute-unit setting (empty: not measured)."""
        return tuple(ReloadTiming.from_json(entry) for entry in self.manifest.get("reloads", []))

    def _dump(self, source: str | None) -> dict[tuple[str, str], np.ndarray]:
        key = f"parameters:{source}"
        if key not in self._cache:
            self._cache[key] = {
                (scoped_layer(entry["layer"], entry["scope"]), entry["kind"]): self._array(entry["path"])
                for entry in self.manifest["parameters"]
                if entry.get("source") == source
            }
        dump: dict[tuple[str, str], np.ndarray] = self._cache[key]
        return dump

    @property
    def probe_outputs(self) -> dict[str, ProbeOutput]:
        """Probe predictions by output name (empty when the job had no probe set or the task failed)."""
        if "probe" not in self._cache:
            probe = self.manifest["probe"]
            outputs = probe["outputs"] if probe is not None else []
            self._cache["probe"] = {
                o["name"]: ProbeOutput(
                    o["name"],
                    ProbeType(o["type"]),
                    self._array(o["path"]) if ProbeType(o["type"]).is_array else self._labels(o["path"], o["type"]),
                    tuple(o["classes"]) if "classes" in o else None,
                )
                for o in outputs
            }
        outputs_by_name: dict[str, ProbeOutput] = self._cache["probe"]
        return outputs_by_name

    def _array(self, entry: str) -> np.ndarray:
        path = resolve_entry(self.path, entry, where=str(self.path))
        return npy.load(path, where=str(path))

    def _labels(self, entry: str, kind: str) -> list[Any]:
        path = resolve_entry(self.path, entry, where=str(self.path))
        values = read_json_file(path, limit=limits.LABELS_BYTES, where=str(path))
        labels = label_list(values, kind, len(values)) if isinstance(values, list) else None
        if labels is None:
            raise SchemaError(f"expected a JSON list of {kind} values", where=str(path))
        return labels


def read_done(root: Path) -> tuple[str, str]:
    """The two lines of DONE: (job id, sha256 of results.json).

    Split at `\\n` only, with an optional final newline, as the Swift reader does: blank lines, a third line or
    text that is not UTF-8 are refused, and a `\\r` stays part of its line (so `\\r\\n` names another job)."""
    data = read_regular(root, DONE, where=str(root / DONE), limit=limits.DONE_BYTES)
    lines = data.split(b"\n")
    if len(lines) == 3 and lines[2] == b"":
        lines.pop()
    try:
        text = [line.decode("utf-8") for line in lines]
    except UnicodeDecodeError:
        text = []
    if len(text) != 2:
        raise SchemaError(
            "DONE must hold two lines: the job id and the sha256 of results.json",
            where=str(root / DONE),
            fix="the writer was interrupted or is not of this contract: run the job again",
        )
    return text[0], text[1]


def read_results(path: str | Path, expected_job_id: str) -> ResultsBundle:
    """Read and verify a results bundle for `expected_job_id`; refuse it (a BundleError) if anything is off."""
    root = Path(path)
    expect_results_bundle(root)
    check_root(root)
    done_job, done_hash = read_done(root)
    if done_job != expected_job_id:
        raise IncompleteBundleError(
            f"DONE names job {done_job!r}, expected {expected_job_id!r}",
            where=str(root / DONE),
            fix="these are another job's results: pull the right folder, or run the job again",
        )
    where = str(root / RESULTS_MANIFEST)
    data = read_regular(root, RESULTS_MANIFEST, where=where, limit=limits.MANIFEST_BYTES)
    if sha256_bytes(data) != done_hash:
        raise HashMismatchError(
            "results.json does not match the sha256 recorded in DONE",
            where=where,
            fix="results.json changed after DONE was written, or the copy is incomplete: pull again",
        )
    manifest = validate(parse_json(data, where=where), "results", where=where)
    if manifest["job_id"] != expected_job_id:
        raise IncompleteBundleError(
            f"results.json names job {manifest['job_id']!r}, expected {expected_job_id!r}",
            where=f"{where}: job_id",
            fix="these are another job's results: run the job again",
        )
    files: dict[str, str] = manifest["files"]
    verify_files(root, files, exempt=(RESULTS_MANIFEST, DONE), where=where)
    _check_references(manifest, files, where)
    _check_tensors(root, manifest, where)
    events = _read_events(root, manifest["events"]["count"], where)
    return ResultsBundle.from_manifest(root, manifest, events)


def _check_references(manifest: dict[str, Any], files: dict[str, str], where: str) -> None:
    require_listed(files, EVENTS, field="events.path", where=where)
    model = manifest["model"]
    if model is not None:
        if model["format"] == "mlmodelc":
            require_folder(files, model["path"], field="model.path", where=where)
        else:
            require_listed(files, model["path"], field="model.path", where=where)
    seen: set[tuple[str, str, str, str | None]] = set()
    sources = {entry.get("source") for entry in manifest["parameters"]}
    if None in sources and len(sources) > 1:
        raise schema_problem(
            "either every parameter names its source (context/reloaded) or none does", field="parameters", where=where
        )
    for index, entry in enumerate(manifest["parameters"]):
        if not entry["path"].endswith(".npy"):
            raise schema_problem("parameters are .npy files", field=f"parameters[{index}].path", where=where)
        require_listed(files, entry["path"], field=f"parameters[{index}].path", where=where)
        key = (entry["scope"], entry["layer"], entry["kind"], entry.get("source"))
        if key in seen:
            raise schema_problem("the same tensor is dumped twice", field=f"parameters[{index}]", where=where)
        seen.add(key)
    probe = manifest["probe"]
    for index, output in enumerate(probe["outputs"] if probe is not None else []):
        suffix = ".npy" if ProbeType(output["type"]).is_array else ".json"
        if not output["path"].endswith(suffix):
            raise schema_problem(f"a {output['type']} output is a {suffix} file", field="probe", where=where)
        require_listed(files, output["path"], field=f"probe.outputs[{index}].path", where=where)


def _check_tensors(root: Path, manifest: dict[str, Any], where: str) -> None:
    """Parameters and probe outputs hold what the manifest says (float32, declared shapes, M rows)."""
    for index, entry in enumerate(manifest["parameters"]):
        dtype, shape = npy.read_header(root / entry["path"], where=str(root / entry["path"]))
        if dtype.str != "<f4" or list(shape) != entry["shape"]:
            what = f"{entry['path']!r} holds {dtype.str} {list(shape)}, the manifest says <f4 {entry['shape']}"
            raise schema_problem(what, field=f"parameters[{index}]", where=where)
    probe = manifest["probe"]
    for index, output in enumerate(probe["outputs"] if probe is not None else []):
        path, field = root / output["path"], f"probe.outputs[{index}]"
        if ProbeType(output["type"]).is_array:
            dtype, shape = npy.read_header(path, where=str(path))
            classes = output.get("classes")
            wrong_columns = output["type"] == "dictionary" and (classes is None or list(shape[1:]) != [len(classes)])
            if dtype.str != "<f4" or not shape or shape[0] != probe["count"] or wrong_columns:
                what = f"{output['path']!r} holds {dtype.str} {list(shape)}, expected <f4 with {probe['count']} rows"
                raise schema_problem(what + " (dictionaries: one column per class)", field=field, where=where)
        else:
            values = read_json_file(path, limit=limits.LABELS_BYTES, where=str(path))
            if label_list(values, output["type"], probe["count"]) is None:
                what = f"{output['path']!r} must be a JSON list of {probe['count']} {output['type']} values"
                raise schema_problem(what, field=field, where=where)


def _read_events(root: Path, count: int, where: str) -> tuple[ProgressEvent, ...]:
    path = root / EVENTS
    text = limits.read_bounded(path, limits.EVENTS_BYTES, error=SchemaError, what=EVENTS, fix="pull the bundle again")
    limits.check_json_depth(text, error=SchemaError, where=str(path), fix="write one flat JSON object per line")
    try:
        lines = text.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise SchemaError("events.jsonl is not UTF-8", where=str(path)) from None
    if lines[-1] == "":
        lines.pop()  # the final newline; any other empty line is refused as an event
    if len(lines) != count:
        raise schema_problem(
            f"events.jsonl has {len(lines)} lines, the manifest says {count}", field="events", where=where
        )
    events = []
    for number, line in enumerate(lines, start=1):
        line_where = f"{path}: line {number}"
        document = parse_json(line.encode(), where=line_where, depth_checked=True)
        event = validate(document, "event", where=line_where)
        events.append(ProgressEvent.from_json(event))
    return tuple(events)
