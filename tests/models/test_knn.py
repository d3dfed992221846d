"""k-NN classifiers, embedding cuts and the drawing-classifier pipeline."""

from __future__ import annotations

from typing import Any

import pytest

from mlupdate.errors import ModelBuildError
from mlupdate.models.build import ArrayInput, Conv, Dense, Flatten, SequentialNetwork, build_network
from mlupdate.models.knn import cut_embedding, drawing_classifier, knn_classifier
from mlupdate.models.params import update_parameters
from mlupdate.models.spec import class_labels
from mlupdate.models.validate import validate


def test_empty_knn_with_string_labels_is_valid_and_updatable(knn: Any) -> None:
    assert validate(knn) == [] and knn.isUpdatable and knn.specificationVersion == 4
    assert class_labels(knn) == []
    assert [f.name for f in knn.description.trainingInput] == ["input", "label"]
    assert update_parameters(knn)["numberOfNeighbors"].range == (1, 1000)


def test_knn_with_int64_labels_k_set_kd_tree_and_inverse_distance() -> None:
    spec = knn_classifier(
        16, -1, k=5, k_set=[1, 3, 5], weighting="inverse_distance", index="kd_tree", leaf_size=8, output_name="digit"
    )
    assert validate(spec) == []
    knn = spec.kNearestNeighborsClassifier
    assert knn.defaultInt64Label == -1 and knn.WhichOneof("ClassLabels") == "int64ClassLabels"
    assert knn.nearestNeighborsIndex.singleKdTreeIndex.leafSize == 8
    assert knn.WhichOneof("WeightingScheme") == "inverseDistanceWeighting"
    assert update_parameters(spec)["numberOfNeighbors"].allowed == (1, 3, 5)
    assert spec.description.output[0].type.WhichOneof("Type") == "int64Type"
    assert spec.description.output[1].name == "digitProbs"


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"dimension": 0}, "knn_classifier.dimension"),
        ({"k": 4, "k_set": [1, 3]}, "knn_classifier.k"),
        ({"k": 0}, "knn_classifier.k"),
        ({"k": 50, "k_range": (1, 30)}, "knn_classifier.k"),
        ({"index": "kd_tree", "leaf_size": 0}, "knn_classifier.leaf_size"),
    ],
)
def test_bad_knn_arguments_are_refused(kwargs: dict[str, Any], where: str) -> None:
    arguments: dict[str, Any] = {"dimension": 4, "default_label": "none"} | kwargs
    with pytest.raises(ModelBuildError) as caught:
        knn_classifier(**arguments)
    assert caught.value.where == where


def small_network() -> Any:
    return build_network(
        SequentialNetwork(
            inputs=[ArrayInput("x", (1, 4, 4), "float32")],
            layers=[Conv("conv", 2), Flatten(), Dense("dense", 5), Dense("unused", 3)],
        )
    )


def test_cut_embedding_keeps_only_the_layers_the_cut_needs_and_freezes_them() -> None:
    source = small_network()
    before = source.SerializeToString()
    embedding = cut_embedding(source, "dense", output_name="emb")
    assert source.SerializeToString() == before
    assert [layer.name for layer in embedding.neuralNetwork.layers] == ["conv", "flatten1", "dense"]
    assert list(embedding.neuralNetwork.layers[-1].output) == ["emb"]
    output = embedding.description.output[0]
    assert output.name == "emb" and list(output.type.multiArrayType.shape) == [5]
    assert not embedding.isUpdatable
    assert not any(layer.isUpdatable for layer in embedding.neuralNetwork.layers)


def test_cut_at_a_layer_of_unknown_width_asks_for_the_dimension() -> None:
    with pytest.raises(ModelBuildError, match="dimension="):
        cut_embedding(small_network(), "conv")
    assert list(
        cut_embedding(small_network(), "flatten1", dimension=18).description.output[0].type.multiArrayType.shape
    ) == [18]


def test_cut_at_an_unknown_layer_lists_the_layers() -> None:
    with pytest.raises(ModelBuildError, match="conv, flatten1, dense, unused"):
        cut_embedding(small_network(), "nope")


def test_drawing_classifier_wires_the_embedding_into_the_knn(pipeline: Any) -> None:
    models = pipeline.pipelineClassifier.pipeline.models
    assert [m.WhichOneof("Type") for m in models] == ["neuralNetwork", "kNearestNeighborsClassifier"]
    assert models[1].description.input[0] == models[0].description.output[0]
    assert [m.isUpdatable for m in models] == [False, True]
    assert pipeline.description.predictedFeatureName == "label"


def test_drawing_classifier_needs_a_single_vector_output() -> None:
    with pytest.raises(ModelBuildError, match="exactly one output"):
        drawing_classifier(
            build_network(SequentialNetwork(inputs=[ArrayInput("x", (1, 4, 4), "float32")], layers=[Conv("conv", 2)]))
        )
