"""The real third-party models: they load, inspect and validate as Core ML would judge them, and the two
non-updatable ones can be made updatable (and the MNIST one turned into a drawing classifier)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlupdate.models.arrays import layer_weights
from mlupdate.models.inspect import inspect_model
from mlupdate.models.knn import cut_embedding, drawing_classifier
from mlupdate.models.spec import layers_by_name, load_spec, neural_network, save_spec
from mlupdate.models.updatable import Sgd, make_updatable
from mlupdate.models.validate import validate

EXPECTED = {
    "tictactoe/UpdatableNNClassifier.mlmodel": [],
    "prayer-auto-advance/PrayerAutoAdvance.mlmodel": [],
    "sleep-predictor/SleepPredictorUpdatable.mlmodel": [],
    "tictactoe/NNClassifier.mlmodel": ["not-updatable"],
    "mnist-classifier/MNISTClassifier.mlmodel": ["not-updatable"],
}
MNIST = "mnist-classifier/MNISTClassifier.mlmodel"
MNIST_DENSE = ["drawing_dense0_fwd", "drawing_dense1_fwd"]


def test_every_real_model_is_covered(real_models: Path) -> None:
    found = sorted(str(p.relative_to(real_models)) for p in real_models.glob("*/*.mlmodel"))
    assert found == sorted(EXPECTED)


@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_real_model_loads_inspects_and_validates_as_core_ml_would(real_models: Path, relative: str) -> None:
    spec = load_spec(real_models / relative)
    assert [issue.rule for issue in validate(spec)] == EXPECTED[relative]
    report = inspect_model(spec, relative)
    assert report.valid == (EXPECTED[relative] == [])
    data = json.loads(json.dumps(report.to_dict()))
    assert data["kind"] == spec.WhichOneof("Type")
    assert data["inputs"] and data["outputs"]
    text = report.to_text()
    assert relative in text
    assert ("valid updatable model" in text) == report.valid


def test_updatable_real_models_report_their_layers_loss_and_parameters(real_models: Path) -> None:
    report = inspect_model(load_spec(real_models / "sleep-predictor/SleepPredictorUpdatable.mlmodel"))
    assert [layer.name for layer in report.updatable_layers] == ["output_layer"]
    assert report.updatable_layers[0].shapes == {"weights": (1, 32), "biases": (1,)}
    assert report.loss is not None and report.loss.kind == "meanSquaredError"
    assert report.optimizer == "SGD"
    by_key = {p.key: p for p in report.parameters}
    assert by_key["miniBatchSize"].allowed == (16,)
    assert by_key["epochs"].default == 50
    prayer = inspect_model(load_spec(real_models / "prayer-auto-advance/PrayerAutoAdvance.mlmodel"))
    assert prayer.optimizer == "Adam"
    assert {p.key for p in prayer.parameters} >= {"beta1", "beta2", "eps"}


def test_nn_classifier_made_updatable_matches_its_authors_updatable_version(real_models: Path) -> None:
    original = load_spec(real_models / "tictactoe/NNClassifier.mlmodel")
    before = original.SerializeToString()
    layers = ["dense_1", "dense_2", "dense_3", "dense_4"]
    updatable = make_updatable(original, layers, "cce", Sgd(lr=0.05, batch=1), epochs=10)
    assert original.SerializeToString() == before
    assert validate(updatable) == []
    theirs = load_spec(real_models / "tictactoe/UpdatableNNClassifier.mlmodel")
    ours_network, their_network = neural_network(updatable), neural_network(theirs)
    assert [(f.name, f.type) for f in updatable.description.trainingInput] == [
        (f.name, f.type) for f in theirs.description.trainingInput
    ]
    assert ours_network.updateParams.lossLayers[0] == their_network.updateParams.lossLayers[0]
    assert ours_network.updateParams.optimizer == their_network.updateParams.optimizer
    assert [layer.isUpdatable for layer in ours_network.layers] == [layer.isUpdatable for layer in their_network.layers]


def test_mnist_classifier_made_updatable_on_its_two_dense_layers(real_models: Path, tmp_path: Path) -> None:
    original = load_spec(real_models / MNIST)
    updatable = make_updatable(original, MNIST_DENSE, "cce", Sgd(lr=0.01, batch=8), epochs=10)
    assert validate(updatable) == []
    assert updatable.specificationVersion == 4
    assert [(f.name, f.type.WhichOneof("Type")) for f in updatable.description.trainingInput] == [
        ("image", "imageType"),
        ("classLabel", "int64Type"),
    ]
    loss = neural_network(updatable).updateParams.lossLayers[0].categoricalCrossEntropyLossLayer
    assert loss.input == "labelProbabilities"
    for name in MNIST_DENSE:
        original_weights = layer_weights(layers_by_name(original)[name])
        new_weights = layer_weights(layers_by_name(updatable)[name])
        assert all(np.array_equal(original_weights[key], new_weights[key]) for key in original_weights)
    reloaded = load_spec(save_spec(updatable, tmp_path / "Updatable.mlmodel"))
    assert validate(reloaded) == []


@pytest.mark.parametrize("cut_at", ["drawing_dense0_fwd", "drawing_dense0_relu_fwd"])
def test_mnist_cut_at_its_128_wide_layer_makes_a_valid_drawing_classifier(
    real_models: Path, tmp_path: Path, cut_at: str
) -> None:
    embedding = cut_embedding(load_spec(real_models / MNIST), cut_at)
    output = embedding.description.output[0].type.multiArrayType
    assert list(output.shape) == [128]
    spec = drawing_classifier(embedding, default_label="unknown", k=3)
    assert validate(spec) == []
    assert spec.specificationVersion == 4 and spec.isUpdatable
    assert [f.name for f in spec.description.trainingInput] == ["image", "label"]
    report = inspect_model(load_spec(save_spec(spec, tmp_path / "Drawing.mlmodel")))
    assert report.update_scope == "model1"
    assert report.knn is not None and report.knn.dimension == 128
    assert report.valid
