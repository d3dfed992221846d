"""Small valid updatable models that tests then break, change or train (built fresh for every test)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mlupdate._coreml import Model_pb2
from mlupdate.models.build import (
    Activation,
    ArrayInput,
    Classifier,
    Dense,
    Loss,
    Regressor,
    SequentialNetwork,
    Sgd,
    Softmax,
    build_network,
)
from mlupdate.models.knn import cut_embedding, drawing_classifier, knn_classifier


def cce_network() -> Any:
    """x[4] -> fc1 (updatable) -> relu -> fc2 (updatable) -> softmax `probs`; CCE with target probs_true."""
    return build_network(
        SequentialNetwork(
            inputs=[ArrayInput("x", (4,))],
            layers=[
                Dense("fc1", 5, updatable=True),
                Activation("relu", name="relu"),
                Dense("fc2", 3, updatable=True),
                Softmax(name="softmax"),
            ],
            loss=Loss("cce"),
            optimizer=Sgd(lr=0.1, batch=2),
            epochs=2,
            output="probs",
        ),
        seed=0,
    )


def classifier_network() -> Any:
    """The same network as a classifier with String labels a, b, c (label output `label`)."""
    return build_network(
        SequentialNetwork(
            inputs=[ArrayInput("x", (4,))],
            layers=[Dense("fc1", 5, updatable=True), Activation("relu"), Dense("fc2", 3, updatable=True), Softmax()],
            head=Classifier(("a", "b", "c")),
            optimizer=Sgd(lr=0.1, batch=2),
            epochs=2,
            output="probs",
        ),
        seed=0,
    )


def mse_network() -> Any:
    """f[3] -> d1 (frozen) -> tanh -> d2 (updatable) -> y[2]; a regressor with MSE on y."""
    return build_network(
        SequentialNetwork(
            inputs=[ArrayInput("f", (3,))],
            layers=[Dense("d1", 4), Activation("tanh"), Dense("d2", 2, updatable=True)],
            head=Regressor(),
            optimizer=Sgd(lr=0.01, batch=4),
            epochs=3,
            output="y",
        ),
        seed=0,
    )


def knn_model() -> Any:
    return knn_classifier(4, "none", k=3, weighting="uniform", index="linear")


def tiny_pipeline() -> Any:
    """PipelineClassifier(frozen 4->6 embedding, k-NN) built with drawing_classifier."""
    frozen = build_network(
        SequentialNetwork(inputs=[ArrayInput("x", (4,), "float32")], layers=[Dense("embed", 6), Activation("relu")]),
        seed=0,
    )
    return drawing_classifier(cut_embedding(frozen, "activation1"), default_label="none")


def network_pipeline_of(kind: str) -> Any:
    """A frozen embedding followed by a frozen classifier head, as coremltools' Pipeline writes it (v1)."""
    embedding = cut_embedding(
        build_network(
            SequentialNetwork(
                inputs=[ArrayInput("x", (4,), "float32")], layers=[Dense("embed", 6), Activation("relu")]
            ),
            seed=1,
        ),
        "activation1",
    )
    head = build_network(
        SequentialNetwork(
            inputs=[ArrayInput("embedding", (6,), "float32")],
            layers=[Dense("fc", 3), Softmax()],
            head=Classifier(("a", "b", "c")),
            output="probs",
        ),
        seed=2,
    )
    spec = Model_pb2.Model()
    spec.specificationVersion = 1
    getattr(spec, kind).SetInParent()
    pipeline = spec.pipeline if kind == "pipeline" else getattr(spec, kind).pipeline
    pipeline.models.extend([embedding, head])
    spec.description.input.extend(embedding.description.input)
    spec.description.output.extend(head.description.output)
    if kind == "pipelineClassifier":
        spec.description.predictedFeatureName = "label"
        spec.description.predictedProbabilitiesName = "probs"
    return spec


@pytest.fixture
def network_pipeline() -> Callable[[str], Any]:
    return network_pipeline_of


@pytest.fixture
def cce() -> Any:
    return cce_network()


@pytest.fixture
def classifier() -> Any:
    return classifier_network()


@pytest.fixture
def mse() -> Any:
    return mse_network()


@pytest.fixture
def knn() -> Any:
    return knn_model()


@pytest.fixture
def pipeline() -> Any:
    return tiny_pipeline()
