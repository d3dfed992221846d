"""The tiny models behind the golden bundles: one per model kind the contract must carry.

Weights come from fixed seeds and coremltools' version stamp is removed from the metadata, so the same
bytes come out on every machine (until coremltools changes its protobuf serialisation).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from mlupdate._coreml import FeatureTypes_pb2, Model_pb2, NeuralNetworkBuilder, SgdParams, coremltools, datatypes
from mlupdate.models.spec import Spec

CLASSES = ["cat", "dog", "fish"]
STICKERS = ["heart", "star"]
_COLOR_SPACES = {"GRAYSCALE": 10, "RGB": 20, "BGR": 30}


def model_bytes(spec: Spec) -> bytes:
    """Deterministic bytes: no coremltools version stamp, deterministic protobuf map order."""
    spec.description.metadata.userDefined.clear()
    data: bytes = spec.SerializeToString(deterministic=True)
    return data


def _quiet(build: Any) -> Spec:
    # coremltools prints progress notes ("Now adding input ...") to stdout; library code stays silent.
    with contextlib.redirect_stdout(io.StringIO()):
        return build()


def _as_image(feature_type: Any, width: int, height: int, color_space: str) -> None:
    feature_type.imageType.width = width
    feature_type.imageType.height = height
    feature_type.imageType.colorSpace = _COLOR_SPACES[color_space]


def _set_image_input(spec: Spec, name: str, width: int, height: int, color_space: str) -> None:
    for description in (*spec.description.input, *spec.description.trainingInput):
        if description.name == name:
            _as_image(description.type, width, height, color_space)


def _weights(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.1, size=shape).astype(np.float32)


def image_classifier() -> Spec:
    """neuralNetworkClassifier: image 4x4 BGR -> flatten -> dense (updatable) -> softmax; String labels."""

    def build() -> Spec:
        builder = NeuralNetworkBuilder(
            [("image", datatypes.Array(3, 4, 4))], [("probs", datatypes.Array(3))], mode="classifier"
        )
        builder.add_flatten("flatten", 0, "image", "flat")
        builder.add_inner_product("dense", _weights(1, (3, 48)), np.zeros(3, np.float32), 48, 3, True, "flat", "logits")
        builder.add_softmax("softmax", "logits", "probs")
        builder.set_class_labels(CLASSES, predicted_feature_name="label", prediction_blob="probs")
        builder.make_updatable(["dense"])
        builder.set_categorical_cross_entropy_loss("loss", input="probs")
        builder.set_sgd_optimizer(SgdParams(lr=0.01, batch=2))
        builder.set_epochs(2)
        spec = builder.spec
        _set_image_input(spec, "image", 4, 4, "BGR")
        return spec

    return _quiet(build)


def index_classifier() -> Spec:
    """Plain neuralNetwork: FLOAT32 [4] -> dense (updatable) -> softmax; CCE target `probs_true` INT32 [1]."""

    def build() -> Spec:
        builder = NeuralNetworkBuilder(
            [("x", datatypes.Array(4))], [("probs", datatypes.Array(3))], use_float_arraytype=True
        )
        builder.add_inner_product("dense", _weights(2, (3, 4)), np.zeros(3, np.float32), 4, 3, True, "x", "logits")
        builder.add_softmax("softmax", "logits", "probs")
        builder.make_updatable(["dense"])
        builder.set_categorical_cross_entropy_loss("loss", input="probs")
        builder.set_sgd_optimizer(SgdParams(lr=0.05, batch=2))
        builder.set_epochs(3)
        return builder.spec

    return _quiet(build)


def regressor() -> Spec:
    """neuralNetworkRegressor: DOUBLE [3] -> dense (updatable) -> `y`; MSE target `y_true` DOUBLE [1]."""

    def build() -> Spec:
        builder = NeuralNetworkBuilder(
            [("features", datatypes.Array(3))], [("y", datatypes.Array(1))], mode="regressor"
        )
        builder.add_inner_product("dense", _weights(3, (1, 3)), np.zeros(1, np.float32), 3, 1, True, "features", "y")
        builder.make_updatable(["dense"])
        builder.set_mean_squared_error_loss("loss", input_feature=("y", datatypes.Array(1)))
        builder.set_sgd_optimizer(SgdParams(lr=0.01, batch=4))
        builder.set_epochs(2)
        return builder.spec

    return _quiet(build)


def knn_pipeline() -> Spec:
    """pipelineClassifier: frozen embedding (GRAYSCALE 4x4 -> 4) then an updatable k-NN with String labels."""
    embedding = _quiet(_embedding)
    knn = _quiet(_knn)
    # k-NN must take exactly the type the embedding produces (Core ML's pipeline wiring rule).
    for description in (knn.description.input[0], knn.description.trainingInput[0]):
        description.type.CopyFrom(embedding.description.output[0].type)
    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    spec.isUpdatable = True
    spec.description.input.extend(embedding.description.input)
    spec.description.output.extend(knn.description.output)
    spec.description.predictedFeatureName = knn.description.predictedFeatureName
    spec.description.predictedProbabilitiesName = knn.description.predictedProbabilitiesName
    spec.description.trainingInput.extend(embedding.description.input)
    label = spec.description.trainingInput.add()
    label.name = "label"
    label.type.stringType.MergeFrom(FeatureTypes_pb2.StringFeatureType())
    pipeline = spec.pipelineClassifier.pipeline
    pipeline.models.add().CopyFrom(embedding)
    pipeline.models.add().CopyFrom(knn)
    pipeline.names.extend(["embedding", "knn"])
    return spec


def _embedding() -> Spec:
    builder = NeuralNetworkBuilder([("drawing", datatypes.Array(1, 4, 4))], [("embedding", datatypes.Array(4))])
    builder.add_flatten("flatten", 0, "drawing", "flat")
    builder.add_inner_product("project", _weights(4, (4, 16)), None, 16, 4, False, "flat", "embedding")
    spec = builder.spec
    spec.specificationVersion = 4
    _set_image_input(spec, "drawing", 4, 4, "GRAYSCALE")
    return spec


def _knn() -> Spec:
    builder = coremltools.models.nearest_neighbors.KNearestNeighborsClassifierBuilder(
        input_name="embedding",
        output_name="label",
        number_of_dimensions=4,
        default_class_label="unknown",
        number_of_neighbors=3,
        weighting_scheme="inverse_distance",
        index_type="linear",
    )
    builder.set_number_of_neighbors_with_bounds(3, allowed_range=(1, 10))
    builder.author = ""
    builder.license = ""
    builder.description = ""
    spec: Spec = builder.spec
    spec.isUpdatable = True
    spec.description.trainingInput.extend([spec.description.input[0]])
    label = spec.description.trainingInput.add()
    label.name = "label"
    label.type.stringType.MergeFrom(FeatureTypes_pb2.StringFeatureType())
    return spec
