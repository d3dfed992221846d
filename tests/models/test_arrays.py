"""Layer weights <-> numpy: layouts, fp16 and raw blobs, and refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlupdate._coreml import NeuralNetwork_pb2
from mlupdate.errors import ModelBuildError, UnsupportedError
from mlupdate.models.arrays import layer_weights, set_layer_weights, weight_shapes
from mlupdate.models.spec import layers_by_name, load_spec


def inner_product(out: int = 3, inputs: int = 2, bias: bool = True) -> Any:
    layer = NeuralNetwork_pb2.NeuralNetworkLayer(name="ip")
    layer.innerProduct.outputChannels, layer.innerProduct.inputChannels = out, inputs
    layer.innerProduct.hasBias = bias
    return layer


def test_mnist_layers_come_back_in_spec_layout(real_models: Path) -> None:
    layers = layers_by_name(load_spec(real_models / "mnist-classifier/MNISTClassifier.mlmodel"))
    conv = layer_weights(layers["drawing_conv1_fwd"])
    dense = layer_weights(layers["drawing_dense0_fwd"])
    assert conv["weights"].shape == (32, 16, 3, 3) and conv["biases"].shape == (32,)
    assert dense["weights"].shape == (128, 576) and dense["weights"].dtype == np.float32
    flat = np.asarray(layers["drawing_dense0_fwd"].innerProduct.weights.floatValue[:576], dtype=np.float32)
    np.testing.assert_array_equal(dense["weights"][0], flat)


def test_set_then_get_round_trips_and_keeps_the_updatable_flag() -> None:
    layer = inner_product()
    layer.innerProduct.weights.isUpdatable = True
    weights = np.arange(6, dtype=np.float32).reshape(3, 2)
    set_layer_weights(layer, "weights", weights)
    set_layer_weights(layer, "biases", [1, 2, 3])
    got = layer_weights(layer)
    np.testing.assert_array_equal(got["weights"], weights)
    np.testing.assert_array_equal(got["biases"], [1, 2, 3])
    assert layer.innerProduct.weights.isUpdatable


@pytest.mark.parametrize("dtype", ["<f2", "<f4"])
def test_fp16_and_raw_blobs_are_read_as_float32(dtype: str) -> None:
    layer = inner_product(bias=False)
    values = np.linspace(-1, 1, 6).astype(dtype)
    if dtype == "<f2":
        layer.innerProduct.weights.float16Value = values.tobytes()
    else:
        layer.innerProduct.weights.rawValue = values.tobytes()
    got = layer_weights(layer)
    assert set(got) == {"weights"}
    np.testing.assert_array_equal(got["weights"], values.astype(np.float32).reshape(3, 2))


def test_raw_fp16_blob_is_recognised_by_its_size() -> None:
    layer = inner_product(bias=False)
    values = np.linspace(-1, 1, 6).astype("<f2")
    layer.innerProduct.weights.rawValue = values.tobytes()
    np.testing.assert_array_equal(layer_weights(layer)["weights"].ravel(), values.astype(np.float32))


def test_grouped_convolution_and_deconvolution_shapes() -> None:
    layer = NeuralNetwork_pb2.NeuralNetworkLayer(name="conv")
    conv = layer.convolution
    conv.outputChannels, conv.kernelChannels, conv.nGroups = 8, 2, 2
    conv.kernelSize.extend([3, 5])
    assert weight_shapes(layer) == {"weights": (8, 2, 3, 5)}
    conv.isDeconvolution = True
    assert weight_shapes(layer) == {"weights": (2, 4, 3, 5)}


def test_wrong_shape_missing_bias_and_bad_names_are_refused() -> None:
    layer = inner_product(bias=False)
    with pytest.raises(ModelBuildError, match=r"needs \[3, 2\]"):
        set_layer_weights(layer, "weights", np.zeros((2, 3)))
    with pytest.raises(ModelBuildError, match="no bias"):
        set_layer_weights(layer, "biases", np.zeros(3))
    with pytest.raises(ModelBuildError, match="unknown weight name"):
        set_layer_weights(layer, "gamma", np.zeros(3))
    with pytest.raises(ModelBuildError, match="NaN"):
        set_layer_weights(layer, "weights", np.full((3, 2), np.nan))


def test_layers_without_weights_quantized_and_short_blobs_are_refused() -> None:
    with pytest.raises(UnsupportedError, match="activation"):
        layer_weights(NeuralNetwork_pb2.NeuralNetworkLayer(name="relu", activation={"ReLU": {}}))
    quantized = inner_product(bias=False)
    quantized.innerProduct.weights.quantization.numberOfBits = 8
    with pytest.raises(UnsupportedError, match="quantized"):
        layer_weights(quantized)
    short = inner_product(bias=False)
    short.innerProduct.weights.floatValue.extend([1.0, 2.0])
    with pytest.raises(UnsupportedError, match="holds 2 values"):
        layer_weights(short)
