"""inspect_model: pipelines with scopes, k-NN settings, and invalid models with their issues."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mlupdate._coreml import Model_pb2
from mlupdate.models.inspect import inspect_model
from mlupdate.models.updatable import Sgd, make_updatable


def test_pipeline_report_names_scopes_and_scoped_layers(network_pipeline: Callable[[str], Any]) -> None:
    spec = make_updatable(network_pipeline("pipelineClassifier"), ["fc"], "cce", Sgd(lr=0.1, batch=2), epochs=2)
    report = inspect_model(spec, "p.mlmodel")
    assert report.update_scope == "model1"
    assert [(m.scope, m.kind, m.updatable) for m in report.models] == [
        ("", "pipelineClassifier", True),
        ("model0", "neuralNetwork", False),
        ("model1", "neuralNetworkClassifier", True),
    ]
    assert [layer.scoped_name for layer in report.updatable_layers] == ["model1.fc"]
    assert report.updatable_layers[0].shapes == {"weights": (3, 6), "biases": (3,)}
    assert report.loss is not None and report.loss.input == "probs"
    text = report.to_text()
    assert "model1.fc (innerProduct): weights [3, 6], biases [3]" in text
    assert "learningRate: 0.1 (double); in [0, 1]" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert data["valid"] is True and data["update_scope"] == "model1"
    assert data["parameters"][0] == {
        "key": "learningRate",
        "type": "double",
        "default": 0.1,
        "range": [0.0, 1.0],
        "set": None,
    }


def test_knn_report_shows_its_settings(pipeline: Any) -> None:
    report = inspect_model(pipeline)
    assert report.knn is not None
    assert (report.knn.dimension, report.knn.weighting, report.knn.index) == (6, "inverse_distance", "linear")
    assert report.knn.default_label == "none" and report.knn.stored_examples == 0
    assert "k-NN: dimension 6, inverse_distance weighting, linear index, String labels" in report.to_text()
    assert [p.key for p in report.parameters] == ["numberOfNeighbors"]


def test_invalid_model_report_lists_issues(cce: Any) -> None:
    cce.specificationVersion = 3
    report = inspect_model(cce)
    assert not report.valid
    assert [issue.rule for issue in report.issues] == ["spec-version"]
    assert "validation: 1 problem(s)" in report.to_text()
    assert report.to_dict()["issues"][0]["rule"] == "spec-version"


def test_empty_pipeline_is_reported_not_crashed_on() -> None:
    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    spec.isUpdatable = True
    spec.pipelineClassifier.SetInParent()
    report = inspect_model(spec)
    assert [issue.rule for issue in report.issues] == ["pipeline-empty"]
    assert report.parameters == () and report.updatable_layers == ()
