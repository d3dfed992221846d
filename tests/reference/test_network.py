"""Graph behaviour: image preprocessing, frozen prefix computed once, pipelines, optimiser knobs, scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlupdate._coreml import AdamParams, Model_pb2, NeuralNetwork_pb2, NeuralNetworkBuilder, SgdParams, datatypes
from mlupdate.bundle import read_job, read_results
from mlupdate.models.spec import load_spec, neural_network
from mlupdate.reference import layers
from mlupdate.reference.network import Network
from mlupdate.reference.predict import predict
from mlupdate.reference.run import run_reference
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.spec_layers import layer_from_spec
from mlupdate.reference.trainer import train
from mlupdate.scenarios.digit_images import load_sklearn_digits, to_mnist_frame
from mlupdate.scenarios.registry import SCENARIOS, build_scenario

RNG = np.random.default_rng(17)


def _image_model(color: str) -> Any:
    builder = NeuralNetworkBuilder([("img", datatypes.Array(3 if color != "GRAYSCALE" else 1, 2, 2))], [("out", None)])
    builder.add_flatten("flat", 0, "img", "out")
    channels = 1 if color == "GRAYSCALE" else 3
    builder.set_pre_processing_parameters(
        image_input_names=["img"],
        is_bgr=color == "BGR",
        red_bias=-1.0,
        green_bias=-2.0,
        blue_bias=-3.0,
        gray_bias=-0.5,
        image_scale=0.5,
    )
    image = builder.spec.description.input[0].type.imageType
    assert image.width == 2 and (channels == 1) == (image.colorSpace == 10)
    return builder.spec


@pytest.mark.parametrize(("color", "bias"), [("RGB", [-1, -2, -3]), ("BGR", [-3, -2, -1]), ("GRAYSCALE", [-0.5])])
def test_image_preprocessing_scales_and_biases_each_channel_in_model_order(color: str, bias: list[float]) -> None:
    network = Network(_image_model(color))
    pixels = RNG.integers(0, 256, (2, len(bias), 2, 2), dtype=np.uint8)
    prepared = network.prepare_inputs({"img": pixels})["img"]
    assert prepared.shape == (2, 1, 1, len(bias), 2, 2)  # Core ML's rank-5 image tensor [1, 1, C, H, W] per example
    np.testing.assert_allclose(prepared[:, 0, 0], pixels * 0.5 + np.asarray(bias)[None, :, None, None])


def _frozen_conv_classifier() -> Any:
    builder = NeuralNetworkBuilder([("x", datatypes.Array(1, 6, 6))], [("probs", None)], mode="classifier")
    w = RNG.normal(size=(3, 3, 1, 2))
    builder.add_convolution("conv", 1, 2, 3, 3, 1, 1, "valid", 1, w, np.zeros(2), True, input_name="x", output_name="c")
    builder.add_flatten("flat", 0, "c", "f")
    builder.add_inner_product("dense", RNG.normal(size=(3, 32)), np.zeros(3), 32, 3, True, "f", "logits")
    builder.add_softmax("sm", "logits", "probs")
    builder.set_class_labels(["a", "b", "c"], predicted_feature_name="label", prediction_blob="probs")
    builder.make_updatable(["dense"])
    builder.set_categorical_cross_entropy_loss("loss", input="probs")
    builder.set_sgd_optimizer(SgdParams(lr=0.1, batch=2))
    builder.set_epochs(4)
    return builder.spec


def test_frozen_prefix_runs_once_per_job_not_per_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    forward = layers.Convolution.forward

    def counting(self: Any, xs: Any, params: Any) -> Any:
        calls.append(len(xs[0]))
        return forward(self, xs, params)

    monkeypatch.setattr(layers.Convolution, "forward", counting)
    spec = _frozen_conv_classifier()
    result = train(spec, {"x": RNG.normal(size=(10, 1, 6, 6)), "label": ["a", "b"] * 5})
    assert calls == [10]  # all 10 examples once, although 4 epochs x 5 batches ran
    assert list(result.weights) == ["dense"]


def test_pipeline_trains_its_last_network_and_scopes_its_layers() -> None:
    embed = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("e", datatypes.Array(3))])
    embed.add_inner_product("proj", RNG.normal(size=(3, 4)), None, 4, 3, False, "x", "e")
    head = NeuralNetworkBuilder([("e", datatypes.Array(3))], [("y", datatypes.Array(1))])
    head.add_inner_product("dense", RNG.normal(size=(1, 3)), np.zeros(1), 3, 1, True, "e", "y")
    head.make_updatable(["dense"])
    head.set_mean_squared_error_loss("loss", input_feature=("y", datatypes.Array(1)))
    head.set_sgd_optimizer(SgdParams(lr=0.05, batch=2))
    head.set_epochs(3)
    spec = Model_pb2.Model()
    spec.specificationVersion, spec.isUpdatable = 4, True
    spec.description.input.extend(embed.spec.description.input)
    spec.description.output.extend(head.spec.description.output)
    spec.pipeline.models.add().CopyFrom(embed.spec)
    spec.pipeline.models.add().CopyFrom(head.spec)
    x, y = RNG.normal(size=(6, 4)), RNG.normal(size=(6, 1))
    result = train(spec, {"x": x, "y_true": y}, dtype=np.float64)
    assert result.scope == ("model1",) and result.scoped_name("dense") == "model1.dense"
    # the same as training the head alone on the embedding's outputs
    proj = np.asarray(neural_network(embed.spec).layers[0].innerProduct.weights.floatValue, np.float32).reshape(3, 4)
    alone = train(head.spec, {"e": x @ proj.astype(np.float64).T, "y_true": y}, dtype=np.float64)
    np.testing.assert_allclose(result.weights["dense"]["weights"], alone.weights["dense"]["weights"], rtol=1e-12)


def _momentum_model() -> Any:
    builder = NeuralNetworkBuilder([("x", datatypes.Array(3))], [("y", datatypes.Array(1))])
    builder.add_inner_product("dense", RNG.normal(size=(1, 3)), np.zeros(1), 3, 1, True, "x", "y")
    builder.make_updatable(["dense"])
    builder.set_mean_squared_error_loss("loss", input_feature=("y", datatypes.Array(1)))
    builder.set_sgd_optimizer(SgdParams(lr=0.05, batch=2, momentum=0.9))
    builder.set_epochs(5)
    return builder.spec


def test_both_momentum_forms_agree_for_a_constant_learning_rate() -> None:
    spec, examples = _momentum_model(), {"x": RNG.normal(size=(6, 3)), "y_true": RNG.normal(size=(6, 1))}
    torch = train(spec, examples, dtype=np.float64)
    classic = train(spec, examples, dtype=np.float64, semantics=Semantics(momentum_form="classic"))
    np.testing.assert_allclose(torch.weights["dense"]["weights"], classic.weights["dense"]["weights"], rtol=1e-10)


def test_adam_bias_correction_knob_changes_the_first_step() -> None:
    builder = NeuralNetworkBuilder([("x", datatypes.Array(2))], [("y", datatypes.Array(1))])
    builder.add_inner_product("dense", np.zeros((1, 2)), np.zeros(1), 2, 1, True, "x", "y")
    builder.make_updatable(["dense"])
    builder.set_mean_squared_error_loss("loss", input_feature=("y", datatypes.Array(1)))
    builder.set_adam_optimizer(AdamParams(lr=0.01, batch=1))
    builder.set_epochs(1)
    neural_network(builder.spec).updateParams.shuffle.defaultValue = False
    examples = {"x": np.array([[1.0, -2.0]]), "y_true": np.array([[1.0]])}
    corrected = train(builder.spec, examples, dtype=np.float64).weights["dense"]["weights"]
    raw = train(builder.spec, examples, dtype=np.float64, semantics=Semantics(adam_bias_correction=False))
    # g = 2 (y - t) x = [-2, 4]; corrected first step: w -= lr sign(g); raw: w -= lr 0.1 g / sqrt(0.001 g^2)
    np.testing.assert_allclose(corrected, [[0.01, -0.01]], rtol=1e-6)
    np.testing.assert_allclose(
        raw.weights["dense"]["weights"], [[0.01 * 0.1 / np.sqrt(0.001), -0.01 * 0.1 / np.sqrt(0.001)]], rtol=1e-6
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_job_trains_in_the_reference(name: str, tmp_path: Path, real_models: Path) -> None:
    scenario = build_scenario(name, tmp_path / "scenarios", real_models=real_models)
    for job in scenario.jobs:
        results = read_results(run_reference(job, tmp_path / "out" / job.name), read_job(job).job_id)
        assert results.status == "succeeded", (job.name, results.error)


@pytest.mark.parametrize(
    ("mode", "size", "kernel", "stride", "pad", "expected"),
    [
        ("valid", 7, 3, 2, 0, 3),  # floor((7 - 3) / 2) + 1
        ("same", 7, 3, 2, 0, 4),  # ceil(7 / 2)
        ("last_pixel", 6, 3, 2, 0, 3),  # ceil((6 - 3) / 2) + 1 = 3
        ("last_pixel", 5, 2, 2, 1, 3),  # ceil((5 + 2 - 2) / 2) + 1 = 4, last window starts at 6 >= 5 + 1: 3
    ],
)
def test_pooling_output_sizes_follow_the_spec(
    mode: str, size: int, kernel: int, stride: int, pad: int, expected: int
) -> None:
    message = NeuralNetwork_pb2.NeuralNetworkLayer(name="pool", input=["x"], output=["y"])
    pool = message.pooling
    pool.kernelSize.extend([kernel, kernel])
    pool.stride.extend([stride, stride])
    if mode == "valid":
        pool.valid.SetInParent()
    elif mode == "same":
        pool.same.SetInParent()
    else:
        pool.includeLastPixel.paddingAmounts.extend([pad, pad])
    layer, _ = layer_from_spec(message)
    y, _ = layer.forward([RNG.normal(size=(1, 2, size, size))], {})
    assert y.shape == (1, 2, expected, expected)


def test_real_mnist_classifier_reads_digits_through_the_reference_forward_pass(real_models: Path) -> None:
    """Apple's pretrained MNIST model (conv, same padding, pooling, flatten, 1/255 scaling) recognises real digits.

    A wrong padding side, flatten order or preprocessing would drop the accuracy far below this.
    """
    spec = load_spec(real_models / "mnist-classifier" / "MNISTClassifier.mlmodel")
    digits, labels = load_sklearn_digits()
    images = np.stack([np.asarray(to_mnist_frame(d)) for d in digits[:200]])[:, None]
    outputs = {output.name: output for output in predict(spec, {"image": images})}
    accuracy = float(np.mean(np.asarray(outputs["classLabel"].values) == labels[:200]))
    assert accuracy > 0.8, accuracy
    np.testing.assert_allclose(outputs["labelProbabilities"].values.sum(axis=1), 1, rtol=1e-5)
