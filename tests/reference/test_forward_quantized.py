"""Frozen layers with quantized weights run as coremltools' own dequantizer reads them (1-8 bits, linear and
look-up-table quantization): real models quantize their frozen layers to shrink."""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import pytest

from mlupdate._coreml import NeuralNetworkBuilder, coremltools, datatypes
from mlupdate.reference.network import Network

RNG = np.random.default_rng(3)


def _model() -> Any:
    builder = NeuralNetworkBuilder([("x", datatypes.Array(6))], [("z", None)])
    builder.add_inner_product("dense", RNG.normal(size=(4, 6)), RNG.normal(size=4), 6, 4, True, "x", "y")
    builder.add_convolution(
        "conv",
        4,
        2,
        1,
        1,
        1,
        1,
        "valid",
        1,
        RNG.normal(size=(1, 1, 4, 2)),
        RNG.normal(size=2),
        True,
        input_name="y",
        output_name="z",
    )
    return builder.spec


@pytest.mark.parametrize("bits", [8, 4, 3, 1])
@pytest.mark.parametrize("mode", ["linear", "lookup"])
def test_quantized_frozen_weights_run_as_coremltools_dequantizes_them(mode: str, bits: int) -> None:
    from coremltools.models.neural_network import quantization_utils

    logging.getLogger("coremltools").setLevel(logging.ERROR)
    models = coremltools.models
    chosen = (
        models._QUANTIZATION_MODE_LINEAR_QUANTIZATION
        if mode == "linear"
        else (models._QUANTIZATION_MODE_LOOKUP_TABLE_LINEAR)
    )
    quantized = _model()
    quantization_utils._quantize_nn_spec(quantized.neuralNetwork, bits, chosen)
    assert quantized.neuralNetwork.layers[0].innerProduct.weights.HasField("quantization")
    dequantized = copy.deepcopy(quantized)
    quantization_utils._dequantize_nn_spec(dequantized.neuralNetwork)
    x = RNG.normal(size=(3, 6)).astype(np.float32)
    outputs = []
    for spec in (quantized, dequantized):
        network = Network(spec)
        outputs.append(network.forward(network.prepare_inputs({"x": x}))["z"])
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-6, atol=1e-6)
