"""build_network: compact descriptions become valid updatable specs with deterministic or given weights."""

from __future__ import annotations

import numpy as np
import pytest

from mlupdate.errors import ModelBuildError
from mlupdate.models.arrays import layer_weights
from mlupdate.models.build import (
    Activation,
    Adam,
    ArrayInput,
    Classifier,
    Conv,
    Dense,
    Flatten,
    ImageInput,
    Loss,
    Pool,
    Regressor,
    SequentialNetwork,
    Sgd,
    Softmax,
    build_network,
)
from mlupdate.models.params import update_parameters
from mlupdate.models.spec import layers_by_name, model_kind
from mlupdate.models.validate import validate

MLP = SequentialNetwork(
    inputs=[ArrayInput("x", (8,))],
    layers=[Dense("fc1", 16, updatable=True), Activation("relu"), Dense("fc2", 3, updatable=True), Softmax()],
    head=Classifier(("a", "b", "c")),
    loss=Loss("cce"),
    optimizer=Sgd(lr=0.05, batch=4),
    epochs=5,
)


def test_five_line_description_builds_a_valid_updatable_classifier() -> None:
    spec = build_network(MLP, seed=0)
    assert model_kind(spec) == "neuralNetworkClassifier"
    assert validate(spec) == []
    params = update_parameters(spec)
    assert params["learningRate"].default == pytest.approx(0.05)
    assert params["miniBatchSize"].allowed == (4,)
    assert params["epochs"].default == 5


def test_weights_are_deterministic_from_the_seed() -> None:
    assert build_network(MLP, seed=3).SerializeToString() == build_network(MLP, seed=3).SerializeToString()
    first = layer_weights(layers_by_name(build_network(MLP, seed=3))["fc1"])["weights"]
    other = layer_weights(layers_by_name(build_network(MLP, seed=4))["fc1"])["weights"]
    assert first.shape == (16, 8) and not np.array_equal(first, other)
    limit = np.sqrt(6.0 / (8 + 16))
    assert np.all(np.abs(first) <= limit)


def test_explicit_weights_are_stored_exactly_in_spec_layout() -> None:
    weights = np.arange(3 * 16, dtype=np.float32).reshape(3, 16) / 100
    spec = build_network(MLP, weights={"fc2": {"weights": weights, "biases": [1.0, 2.0, 3.0]}})
    stored = layer_weights(layers_by_name(spec)["fc2"])
    np.testing.assert_array_equal(stored["weights"], weights)
    np.testing.assert_array_equal(stored["biases"], np.array([1, 2, 3], np.float32))


def test_explicit_weights_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(ModelBuildError, match=r"needs \[3, 16\]"):
        build_network(MLP, weights={"fc2": {"weights": np.zeros((16, 3))}})


def test_weights_for_unknown_layers_are_refused() -> None:
    with pytest.raises(ModelBuildError, match="unknown layers: fc9"):
        build_network(MLP, weights={"fc9": {"weights": np.zeros(1)}})


def test_convolutional_image_classifier_infers_shapes_and_keeps_conv_layout() -> None:
    kernel = np.random.default_rng(0).normal(size=(4, 1, 3, 3)).astype(np.float32)
    net = SequentialNetwork(
        inputs=[ImageInput("image", 28, 28, "GRAYSCALE", scale=1 / 255)],
        layers=[
            Conv("conv1", 4, padding="same"),
            Activation("relu"),
            Pool("max"),
            Flatten(),
            Dense("fc", 10, updatable=True),
            Softmax(),
        ],
        head=Classifier(tuple(range(10)), "digit"),
        optimizer=Adam(lr=0.001, batch=8),
        epochs=2,
        shuffle=False,
        seed=7,
    )
    spec = build_network(net, weights={"conv1": {"weights": kernel}})
    assert validate(spec) == []
    np.testing.assert_array_equal(layer_weights(layers_by_name(spec)["conv1"])["weights"], kernel)
    assert layer_weights(layers_by_name(spec)["fc"])["weights"].shape == (10, 4 * 14 * 14)
    image = spec.description.input[0].type.imageType
    assert (image.width, image.height) == (28, 28)
    assert spec.neuralNetworkClassifier.preprocessing[0].scaler.channelScale == pytest.approx(1 / 255)
    assert spec.description.trainingInput[1].type.WhichOneof("Type") == "int64Type"
    params = update_parameters(spec)
    assert params["shuffle"].default is False and params["seed"].default == 7


def test_updatable_convolution_layer_validates() -> None:
    net = SequentialNetwork(
        inputs=[ArrayInput("x", (2, 6, 6), "float32")],
        layers=[Conv("conv", 3, groups=1, updatable=True), Flatten(), Dense("fc", 2, updatable=True), Softmax()],
        head=Classifier(("yes", "no")),
    )
    assert validate(build_network(net)) == []


def test_rgb_image_input_takes_one_bias_per_channel() -> None:
    net = SequentialNetwork(
        inputs=[ImageInput("photo", 8, 8, "BGR", scale=2.0, bias=(-1.0, -2.0, -3.0))],
        layers=[Flatten(), Dense("fc", 2, updatable=True), Softmax()],
        head=Classifier(("cat", "dog")),
    )
    spec = build_network(net)
    scaler = spec.neuralNetworkClassifier.preprocessing[0].scaler
    assert (scaler.redBias, scaler.greenBias, scaler.blueBias) == (-1.0, -2.0, -3.0)
    assert spec.description.input[0].type.imageType.colorSpace == 30  # BGR
    with pytest.raises(ModelBuildError, match="2 bias values"):
        build_network(
            SequentialNetwork(
                inputs=[ImageInput("photo", 8, 8, "RGB", bias=(1.0, 2.0))],
                layers=[Flatten(), Dense("fc", 2, updatable=True), Softmax()],
                head=Classifier(("cat", "dog")),
            )
        )


def test_regressor_with_mse_and_float32_input() -> None:
    net = SequentialNetwork(
        inputs=[ArrayInput("f", (5,), "float32")],
        layers=[Dense("d1", 4), Activation("sigmoid"), Dense("d2", 1, updatable=True)],
        head=Regressor(),
        output="y",
    )
    spec = build_network(net)
    assert model_kind(spec) == "neuralNetworkRegressor"
    assert validate(spec) == []
    assert spec.description.trainingInput[1].name == "y_true"


def test_network_without_updatable_layers_is_returned_frozen() -> None:
    spec = build_network(SequentialNetwork(inputs=[ArrayInput("x", (3,))], layers=[Dense("d", 2)]))
    assert not spec.isUpdatable
    assert [i.rule for i in validate(spec)] == ["not-updatable"]


@pytest.mark.parametrize(
    ("network", "message"),
    [
        (
            SequentialNetwork(inputs=[ArrayInput("x", (1, 4, 4))], layers=[Dense("d", 2)]),
            "insert Flatten|needs a vector input",
        ),
        (
            SequentialNetwork(
                inputs=[ArrayInput("x", (4,))], layers=[Dense("d", 2), Softmax()], head=Classifier(("a",))
            ),
            "2 values but there are 1 class labels",
        ),
        (SequentialNetwork(inputs=[ArrayInput("x", (4,))], layers=[Conv("c", 2)]), r"needs a \(C, H, W\) input"),
        (
            SequentialNetwork(inputs=[ArrayInput("x", (4,))], layers=[Dense("d", 2), Dense("d", 2)]),
            "layer names repeat",
        ),
        (SequentialNetwork(inputs=[ArrayInput("x", (1, 2, 2))], layers=[Conv("c", 2, kernel=(3, 3))]), "does not fit"),
        (SequentialNetwork(inputs=[], layers=[Dense("d", 2)]), "exactly one input"),
    ],
)
def test_descriptions_that_cannot_be_built_say_why(network: SequentialNetwork, message: str) -> None:
    with pytest.raises(ModelBuildError, match=message):
        build_network(network)
