"""`mlupdate.contract` matches the JSON schemas field for field and value for value.

The check walks the schema documents themselves (not a copy of their names), so a field or an enumeration
value added to a schema without the contract module fails here; a tampered copy of the schemas proves the
walk notices each kind of drift.
"""

from __future__ import annotations

import copy
import enum
from dataclasses import MISSING, fields
from typing import Any

import pytest

from mlupdate import contract as c
from mlupdate.bundle.schema import schema, validate

Schemas = dict[str, dict[str, Any]]


def load_schemas() -> Schemas:
    return {name: copy.deepcopy(schema(name)) for name in ("job", "results", "event")}


def _props(node: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = node["properties"]
    return properties


def _object_branch(node: dict[str, Any]) -> dict[str, Any]:
    """The object alternative of a `oneOf: [{object}, {null}]`."""
    for branch in node.get("oneOf", [node]):
        if branch.get("type") == "object":
            return dict(branch)
    raise AssertionError(f"no object branch in {node}")


def _feature_then(job: dict[str, Any], key: str) -> dict[str, Any]:
    for rule in job["$defs"]["feature"]["allOf"]:
        then = rule["then"]["properties"]
        if key in then and isinstance(then[key], dict) and "enum" in then[key]:
            return dict(then[key])
    raise AssertionError(f"no feature rule for {key}")


def enumerations(schemas: Schemas) -> list[tuple[type[enum.StrEnum], list[Any], str]]:
    """(contract enum, the values the schema allows, where in the schema) for every enumeration."""
    job, results, event = schemas["job"], schemas["results"], schemas["event"]
    feature_types = job["$defs"]["feature"]["properties"]["type"]["enum"]
    probe = _object_branch(_props(results)["probe"])
    output = _props(probe)["outputs"]["items"]
    error = _object_branch(results["$defs"]["error_or_null"])
    return [
        (c.EventKind, _props(event)["event"]["enum"], "event.schema.json: event"),
        (c.TaskStatus, results["$defs"]["status"]["enum"], "results.schema.json: $defs.status"),
        (c.ComputeUnits, _props(job)["compute_units"]["enum"], "job.schema.json: compute_units"),
        (c.RunPhase, _props(error)["phase"]["enum"], "results.schema.json: error.phase"),
        (c.ProducerName, _props(_props(results)["producer"])["name"]["enum"], "results.schema.json: producer.name"),
        (c.ProbeType, _props(output)["type"]["enum"], "results.schema.json: probe.outputs[].type"),
        (c.FeatureType, feature_types, "job.schema.json: $defs.feature.type"),
        (c.ColorSpace, _feature_then(job, "color_space")["enum"], "job.schema.json: feature.color_space"),
        (c.ArrayDType, _feature_then(job, "dtype")["enum"], "job.schema.json: feature.dtype"),
        (c.ModelFormat, _props(job)["model"]["properties"]["format"]["enum"], "job.schema.json: model.format"),
        (
            c.ModelFormat,
            _props(_object_branch(_props(results)["model"]))["format"]["enum"],
            "results.schema.json: model.format",
        ),
        (
            c.ParameterKind,
            _props(_props(results)["parameters"]["items"])["kind"]["enum"],
            "results.schema.json: parameters[].kind",
        ),
        (c.ParameterName, list(_props(_props(job)["parameters"])), "job.schema.json: parameters"),
        (
            c.DumpSource,
            _props(_props(results)["parameters"]["items"])["source"]["enum"],
            "results.schema.json: parameters[].source",
        ),
        (
            c.TaskState,
            [v for v in _props(results["$defs"]["task"])["task_state"]["enum"] if v is not None],
            "results.schema.json: $defs.task.task_state",
        ),
    ]


def value_objects(schemas: Schemas) -> list[tuple[type[Any], dict[str, Any], str]]:
    """(contract dataclass, the schema object it stands for, where) for every value object."""
    results, event = schemas["results"], schemas["event"]
    return [
        (c.ProgressEvent, event, "event.schema.json"),
        (c.RunError, _object_branch(results["$defs"]["error_or_null"]), "results.schema.json: error"),
        (c.Producer, _props(results)["producer"], "results.schema.json: producer"),
        (c.DeviceInfo, _props(results)["device"], "results.schema.json: device"),
        (c.TaskRecord, results["$defs"]["task"], "results.schema.json: $defs.task"),
        (c.ReloadTiming, results["$defs"]["reload"], "results.schema.json: $defs.reload"),
    ]


def contract_problems(schemas: Schemas) -> list[str]:
    """Every way `mlupdate.contract` and the schema documents disagree, one line each."""
    problems = []
    for kind, allowed, where in enumerations(schemas):
        values = [member.value for member in kind]
        if sorted(values) != sorted(allowed):
            problems.append(f"{kind.__name__} {values} != {where} {allowed}")
    for cls, node, where in value_objects(schemas):
        names = [f.name for f in fields(cls)]
        if sorted(names) != sorted(_props(node)):
            problems.append(f"{cls.__name__} fields {names} != {where} properties {list(_props(node))}")
        optional = set(_props(node)) - set(node.get("required", []))
        needed = sorted(f.name for f in fields(cls) if f.name in optional and f.default is MISSING)
        if needed:
            problems.append(f"{where}: {needed} optional, but {cls.__name__} has no default for them")
    job, results = schemas["job"], schemas["results"]
    if c.EventKind.requestable() != tuple(_props(job)["events"]["items"]["enum"]):
        problems.append(f"EventKind.requestable() != job.schema.json events {_props(job)['events']['items']['enum']}")
    for document, kind in ((job, c.JOB_KIND), (results, c.RESULTS_KIND)):
        if _props(document)["schema_version"] != {"const": c.SCHEMA_VERSION}:
            problems.append(f"SCHEMA_VERSION {c.SCHEMA_VERSION} != {_props(document)['schema_version']}")
        if _props(document)["kind"] != {"const": kind}:
            problems.append(f"kind {kind!r} != {_props(document)['kind']}")
    if _props(_props(results)["events"])["path"] != {"const": c.EVENTS}:
        problems.append(f"EVENTS {c.EVENTS!r} != results.schema.json events.path")
    return problems


def test_contract_module_matches_every_enumeration_and_object_of_the_schemas() -> None:
    assert contract_problems(load_schemas()) == []


def _tamper_event_enum(schemas: Schemas) -> None:
    _props(schemas["event"])["event"]["enum"].append("epochBegin")


def _tamper_task_field(schemas: Schemas) -> None:
    task = schemas["results"]["$defs"]["task"]
    _props(task)["peak_memory_bytes"] = {"type": "integer"}
    task["required"].append("peak_memory_bytes")


def _tamper_device_field(schemas: Schemas) -> None:
    del _props(_props(schemas["results"])["device"])["chip"]


def _tamper_parameter_key(schemas: Schemas) -> None:
    _props(_props(schemas["job"])["parameters"])["l2"] = {"type": "number"}


def _tamper_version(schemas: Schemas) -> None:
    _props(schemas["results"])["schema_version"] = {"const": 2}


def _tamper_required(schemas: Schemas) -> None:
    schemas["event"]["required"].remove("event")


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (_tamper_event_enum, "EventKind"),
        (_tamper_task_field, "TaskRecord"),
        (_tamper_device_field, "DeviceInfo"),
        (_tamper_parameter_key, "ParameterName"),
        (_tamper_version, "SCHEMA_VERSION"),
        (_tamper_required, "['event'] optional"),
    ],
)
def test_a_schema_that_drifted_from_the_contract_module_is_reported(tamper: Any, named: str) -> None:
    schemas = load_schemas()
    tamper(schemas)
    problems = contract_problems(schemas)
    assert len(problems) == 1 and named in problems[0], problems


def _sample_results(tasks: list[c.TaskRecord], events: list[c.ProgressEvent]) -> dict[str, Any]:
    return {
        "schema_version": c.SCHEMA_VERSION,
        "kind": c.RESULTS_KIND,
        "job_id": "job-1",
        "producer": c.Producer(c.ProducerName.COMPANION_IOS, "1.0").to_json(),
        "status": c.TaskStatus.combined([t.status for t in tasks]),
        "error": tasks[-1].error.to_json() if tasks[-1].error else None,
        "device": c.DeviceInfo("iPhone", "iPhone16,1", "iOS", "18.5", "22F76", False, "A17 Pro", None).to_json(),
        "tasks": [t.to_json() for t in tasks],
        "model": None,
        "parameters": [],
        "probe": None,
        "events": {"path": c.EVENTS, "count": len(events)},
        "files": {},
    }


def test_value_objects_write_what_the_schemas_accept_and_read_back_equal() -> None:
    error = c.RunError(c.RunPhase.TRAIN, "com.apple.CoreML", 0, "loss is NaN")
    tasks = [
        c.TaskRecord(0, c.TaskStatus.SUCCEEDED, train_seconds=1.5, epochs_completed=2, final_loss=0.25),
        c.TaskRecord(1, c.TaskStatus.FAILED, error=error),
    ]
    events = [c.ProgressEvent(c.EventKind.EPOCH_END, epoch=0, loss=0.5, task=0, t=0.75)]
    manifest = validate(_sample_results(tasks, events), "results", where="sample")
    assert manifest["status"] == "failed"
    assert [c.TaskRecord.from_json(t) for t in manifest["tasks"]] == tasks
    for event in events:
        line = validate(event.to_json(), "event", where="sample event")
        assert list(line) == schema("event")["required"]  # the contract's key order
        assert c.ProgressEvent.from_json(line) == event
    semantics = c.Producer(c.ProducerName.REFERENCE, "0.1", {"cce_reduction": "mean"})
    assert c.Producer.from_json(semantics.to_json()) == semantics
    assert not semantics.is_device and c.Producer.from_json(manifest["producer"]).is_device


def test_a_non_finite_loss_is_written_as_null() -> None:
    assert c.ProgressEvent(c.EventKind.MINI_BATCH_END, 0, 3, float("nan")).to_json()["loss"] is None


def test_enumeration_members_are_their_json_strings() -> None:
    assert c.EventKind.EPOCH_END == "epochEnd"
    assert c.ProgressEvent("epochEnd").event is c.EventKind.EPOCH_END  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="epochBegin"):
        c.ProgressEvent("epochBegin")  # type: ignore[arg-type]


def test_bundle_paths_are_spelled_once() -> None:
    assert c.parameter_entry("dense_1", "model1", c.ParameterKind.WEIGHTS) == "parameters/model1.dense_1.weights.npy"
    assert c.parameter_entry("dense_1", "", "biases") == "parameters/dense_1.biases.npy"
    assert c.probe_entry("probs", c.ProbeType.DICTIONARY) == "probe/probs.npy"
    assert c.probe_entry("label", "string") == "probe/label.json"
    assert c.partial_path("j") == "Documents/outbox/.j.partial"
    assert c.inbox_path("j") == "Documents/inbox/j" and c.outbox_path("j") == "Documents/outbox/j"
