"""Batch norms folded into a convolution by the compiler are recognised and their values reproduced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlupdate.compiled import Fold, folded_values, read_compiled
from mlupdate.models.spec import Spec, layers_by_name, load_spec, neural_network

CONV = "drawing_conv0_fwd"


def spec_with_batchnorm(spec_path: Path) -> Spec:
    """The MNIST spec with a batch norm between its first convolution and that convolution's ReLU."""
    spec = load_spec(spec_path)
    network = neural_network(spec)
    rng = np.random.default_rng(7)
    bn = network.layers.add()
    bn.name = "bn0"
    bn.input.append(CONV)
    bn.output.append("bn0")
    body = bn.batchnorm
    body.channels = 16
    body.epsilon = 1e-3
    body.computeMeanVar = False
    body.gamma.floatValue.extend(rng.uniform(0.5, 2.0, 16).astype(np.float32))
    body.beta.floatValue.extend(rng.normal(0, 0.1, 16).astype(np.float32))
    body.mean.floatValue.extend(rng.normal(0, 0.1, 16).astype(np.float32))
    body.variance.floatValue.extend(rng.uniform(0.5, 1.5, 16).astype(np.float32))
    # Move the new layer right after the convolution and feed the ReLU from it.
    layers = list(network.layers)
    order = [layers[0], layers[-1], *layers[1:-1]]
    del network.layers[:]
    network.layers.extend(order)
    network.layers[2].input[0] = "bn0"
    return spec


def test_folded_values_equal_batchnorm_after_convolution_on_a_patch(real_models: Path) -> None:
    spec = spec_with_batchnorm(real_models / "mnist-classifier" / "MNISTClassifier.mlmodel")
    layers = layers_by_name(spec)
    conv, bn = layers[CONV].convolution, layers["bn0"].batchnorm
    folded = folded_values(layers[CONV], layers["bn0"])
    patch = np.random.default_rng(3).normal(size=(1, 3, 3)).astype(np.float64)
    weights = np.asarray(conv.weights.floatValue, dtype=np.float64).reshape(16, 1, 3, 3)
    conv_out = np.einsum("ochw,chw->o", weights, patch) + np.asarray(conv.bias.floatValue)
    gamma, beta = np.asarray(bn.gamma.floatValue), np.asarray(bn.beta.floatValue)
    mean, var = np.asarray(bn.mean.floatValue), np.asarray(bn.variance.floatValue)
    expected = gamma * (conv_out - mean) / np.sqrt(var + bn.epsilon) + beta
    got = np.einsum("ochw,chw->o", folded["weights"].astype(np.float64), patch) + folded["biases"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_compiled_model_with_a_folded_batchnorm_is_recognised(
    real_models: Path, mnist_compiled_copy: Path, read_blobs: Any, write_blobs: Any
) -> None:
    spec = spec_with_batchnorm(real_models / "mnist-classifier" / "MNISTClassifier.mlmodel")
    layers = layers_by_name(spec)
    folded = folded_values(layers[CONV], layers["bn0"])
    weights_path = mnist_compiled_copy / "model.espresso.weights"
    blobs = read_blobs(weights_path)
    blobs[3], blobs[1] = folded["weights"].tobytes(), folded["biases"].tobytes()
    write_blobs(weights_path, blobs)

    compiled = read_compiled(mnist_compiled_copy, spec=spec)

    assert compiled.folds == (Fold(scope="", convolution=CONV, batchnorm="bn0"),)
    assert any("'bn0' folded" in note for note in compiled.layer(CONV).notes)
    np.testing.assert_array_equal(compiled.weights_for(CONV)["weights"], folded["weights"])
    np.testing.assert_array_equal(compiled.weights_for(CONV)["biases"], folded["biases"])


def test_without_batchnorm_in_the_spec_nothing_is_reported_folded(mnist_pair: tuple[Path, Path]) -> None:
    compiled = read_compiled(mnist_pair[1], spec=load_spec(mnist_pair[0]))
    assert compiled.folds == ()
    assert not any("folded" in note for layer in compiled.layers for note in layer.notes)
