"""The schemas reject each malformed field of job.json / results.json with a message naming that field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mlupdate.bundle.schema import parse_json, schema, validate
from mlupdate.errors import SchemaError

CONTRACT = Path(__file__).resolve().parents[1] / "data" / "contract"
JOB = json.loads((CONTRACT / "jobs" / "golden-classifier-image" / "job.json").read_text())
RESULTS = json.loads((CONTRACT / "results" / "succeeded" / "results.json").read_text())


def _set(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(document)
    *parents, last = path.split(".")
    target: Any = out
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is _DELETE:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return out


_DELETE = object()

JOB_CASES = [
    ("kind", "mlupdate.jobs", "kind"),
    ("job_id", "-starts-with-dash", "job_id"),
    ("model.format", "onnx", "model.format"),
    ("model.sha256", "ABC", "model.sha256"),
    ("parameters.learningRate", "fast", "parameters.learningRate"),
    ("parameters.miniBatchSize", 0, "parameters.miniBatchSize"),
    ("parameters.dropout", 0.5, "parameters"),
    ("events", ["epochEnd", "epochEnd"], "events"),
    ("events.0", "batchEnd", "events[0]"),
    ("compute_units", "gpu", "compute_units"),
    ("repeat", 0, "repeat"),
    ("deadline_seconds", 0, "deadline_seconds"),
    ("training.count", 0, "training.count"),
    ("training.features", [], "training.features"),
    ("training.features.0.width", "4", "training.features[0].width"),
    ("training.features.0.color_space", "CMYK", "training.features[0].color_space"),
    ("training.features.0.dtype", "float32", "training.features[0]"),
    ("training.features.1.type", "double", "training.features[1].type"),
    ("created_by", _DELETE, "(top level)"),
]


@pytest.mark.parametrize(("field", "value", "named"), JOB_CASES, ids=[c[0] for c in JOB_CASES])
def test_job_schema_names_the_malformed_field(field: str, value: Any, named: str) -> None:
    with pytest.raises(SchemaError) as info:
        validate(_set(JOB, field, value), "job", where="job.json")
    assert info.value.where == f"job.json: {named}"
    if value is _DELETE:
        assert "'created_by' is a required property" in info.value.what


RESULTS_CASES = [
    ("status", "done", "status"),
    ("producer.name", "someone", "producer.name"),
    ("device.is_simulator", "no", "device.is_simulator"),
    ("tasks", [], "tasks"),
    ("tasks.0.train_seconds", -1, "tasks[0].train_seconds"),
    ("tasks.0.memory_after_bytes", 1.5, "tasks[0].memory_after_bytes"),
    ("error", {"phase": "train"}, "error"),
    ("parameters.0.kind", "gradients", "parameters[0].kind"),
    ("probe.outputs.0.type", "image", "probe.outputs[0].type"),
    ("events.path", "log.txt", "events.path"),
    ("model.format", "mlpackage", "model.format"),
]


@pytest.mark.parametrize(("field", "value", "named"), RESULTS_CASES, ids=[c[0] for c in RESULTS_CASES])
def test_results_schema_names_the_malformed_field(field: str, value: Any, named: str) -> None:
    with pytest.raises(SchemaError) as info:
        validate(_set(RESULTS, field, value), "results", where="results.json")
    assert info.value.where == f"results.json: {named}"


def test_a_bad_file_hash_names_the_file_entry() -> None:
    document = copy.deepcopy(JOB)
    document["files"]["train/label.json"] = "0" * 63
    with pytest.raises(SchemaError) as info:
        validate(document, "job", where="job.json")
    assert info.value.where == "job.json: files.train/label.json"


def test_unknown_version_is_reported_as_a_version_problem_first() -> None:
    with pytest.raises(SchemaError, match=r"schema_version 7 is not supported \(this reader supports \[1\]\)"):
        validate(_set(RESULTS, "schema_version", 7), "results", where="r")
    with pytest.raises(SchemaError, match="schema_version"):
        validate(_set(JOB, "schema_version", True), "job", where="j")


def test_golden_manifests_validate() -> None:
    assert validate(JOB, "job", where="j")["job_id"] == "golden-classifier-image"
    assert validate(RESULTS, "results", where="r")["status"] == "succeeded"


def test_nan_literals_duplicate_keys_and_bad_utf8_are_refused() -> None:
    for data in (b'{"a": NaN}', b'{"a": 1, "a": 2}', b"\xff\xfe"):
        with pytest.raises(SchemaError, match="not valid JSON"):
            parse_json(data, where="x.json")
    with pytest.raises(SchemaError, match="JSON nested 100000 deep"):
        parse_json(b"[" * 100000, where="x.json")


def test_schemas_are_2020_12_and_closed() -> None:
    for name in ("job", "results", "event"):
        document = schema(name)  # type: ignore[arg-type]
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert document["additionalProperties"] is False
