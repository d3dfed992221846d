"""Finite-difference checks (float64) of every backward pass, built from real spec layer messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from mlupdate._coreml import NeuralNetwork_pb2
from mlupdate.reference.layers import Layer, Params
from mlupdate.reference.losses import categorical_cross_entropy, mean_squared_error
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.spec_layers import layer_from_spec

RNG = np.random.default_rng(1234)
EPS = 1e-6
TOL = 1e-6


@pytest.fixture(autouse=True)
def _fresh_rng() -> None:
    """Every test draws the same numbers whatever ran before it in this worker (xdist reorders tests)."""
    global RNG
    RNG = np.random.default_rng(1234)


def _message(name: str, inputs: list[str], configure: Callable[[Any], None]) -> Any:
    layer = NeuralNetwork_pb2.NeuralNetworkLayer()
    layer.name = name
    layer.input.extend(inputs)
    layer.output.append(f"{name}_out")
    configure(layer)
    return layer


def _numeric(f: Callable[[], float], array: np.ndarray) -> np.ndarray:
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + EPS
        up = f()
        array[index] = saved - EPS
        down = f()
        array[index] = saved
        grad[index] = (up - down) / (2 * EPS)
    return grad


def _check_layer(layer: Layer, params: Params, xs: list[np.ndarray]) -> None:
    params = {k: v.astype(np.float64) for k, v in params.items()}
    y, _ = layer.forward(xs, params)
    upstream = RNG.normal(size=y.shape)

    def objective() -> float:
        out, _ = layer.forward(xs, params)
        return float((out * upstream).sum())

    _, cache = layer.forward(xs, params)
    dxs, dparams = layer.backward(upstream, cache, params)
    for i, x in enumerate(xs):
        np.testing.assert_allclose(dxs[i], _numeric(objective, x), rtol=TOL, atol=TOL, err_msg=f"input {i}")
    for name, grad in dparams.items():
        np.testing.assert_allclose(grad, _numeric(objective, params[name]), rtol=TOL, atol=TOL, err_msg=name)
    assert set(dparams) == {k for k in params if k in ("weights", "biases")}


def _conv(groups: int, stride: int, dilation: int, padding: str) -> Callable[[Any], None]:
    def configure(layer: Any) -> None:
        conv = layer.convolution
        conv.outputChannels, conv.kernelChannels, conv.nGroups = 6, 6 // groups, groups
        conv.kernelSize.extend([3, 2])
        conv.stride.extend([stride, 1])
        conv.dilationFactor.extend([dilation, 1])
        if padding == "valid":
            amounts = conv.valid.paddingAmounts.borderAmounts
            amounts.add(startEdgeSize=1, endEdgeSize=0)
            amounts.add(startEdgeSize=0, endEdgeSize=2)
        else:
            conv.same.asymmetryMode = 1 if padding == "same_top_left" else 0
        conv.hasBias = True
        conv.weights.floatValue.extend(RNG.normal(size=6 * (6 // groups) * 3 * 2).tolist())
        conv.bias.floatValue.extend(RNG.normal(size=6).tolist())

    return configure


@pytest.mark.parametrize(
    ("groups", "stride", "dilation", "padding"),
    [(1, 1, 1, "valid"), (2, 2, 1, "same"), (3, 1, 2, "same_top_left"), (1, 2, 2, "valid")],
)
def test_convolution_backward_matches_finite_differences(groups: int, stride: int, dilation: int, padding: str) -> None:
    layer, params = layer_from_spec(_message("conv", ["x"], _conv(groups, stride, dilation, padding)))
    _check_layer(layer, params, [RNG.normal(size=(2, 6, 7, 6))])


def test_inner_product_backward_matches_finite_differences() -> None:
    def configure(layer: Any) -> None:
        ip = layer.innerProduct
        ip.inputChannels, ip.outputChannels, ip.hasBias = 5, 3, True
        ip.weights.floatValue.extend(RNG.normal(size=15).tolist())
        ip.bias.floatValue.extend(RNG.normal(size=3).tolist())

    layer, params = layer_from_spec(_message("dense", ["x"], configure))
    _check_layer(layer, params, [RNG.normal(size=(4, 5, 1, 1))])


def _pool(kind: int, padding: str, exclude: bool = False, is_global: bool = False) -> Callable[[Any], None]:
    def configure(layer: Any) -> None:
        pool = layer.pooling
        pool.type = kind
        pool.kernelSize.extend([3, 2])
        pool.stride.extend([2, 2])
        pool.avgPoolExcludePadding = exclude
        pool.globalPooling = is_global
        if padding == "valid":
            amounts = pool.valid.paddingAmounts.borderAmounts
            amounts.add(startEdgeSize=1, endEdgeSize=1)
            amounts.add(startEdgeSize=0, endEdgeSize=1)
        elif padding == "same":
            pool.same.asymmetryMode = 0
        else:
            pool.includeLastPixel.paddingAmounts.extend([1, 0])

    return configure


@pytest.mark.parametrize(
    ("kind", "padding", "exclude", "is_global"),
    [
        (0, "valid", False, False),
        (0, "same", False, False),
        (0, "last_pixel", False, False),
        (1, "valid", False, False),
        (1, "same", True, False),
        (1, "last_pixel", True, False),
        (0, "valid", False, True),
        (1, "valid", False, True),
    ],
)
def test_pooling_backward_matches_finite_differences(kind: int, padding: str, exclude: bool, is_global: bool) -> None:
    layer, params = layer_from_spec(_message("pool", ["x"], _pool(kind, padding, exclude, is_global)))
    _check_layer(layer, params, [RNG.normal(size=(2, 3, 7, 6))])


@pytest.mark.parametrize("function", ["ReLU", "leakyReLU", "sigmoid", "tanh", "linear"])
def test_activation_backward_matches_finite_differences(function: str) -> None:
    def configure(layer: Any) -> None:
        getattr(layer.activation, function).SetInParent()
        if function == "leakyReLU":
            layer.activation.leakyReLU.alpha = 0.1
        if function == "linear":
            layer.activation.linear.alpha, layer.activation.linear.beta = 1.5, -0.5

    layer, params = layer_from_spec(_message("act", ["x"], configure))
    x = RNG.normal(size=(3, 4, 2, 2))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from ReLU's kink
    _check_layer(layer, params, [x])


@pytest.mark.parametrize("mode", [0, 1])
def test_flatten_backward_matches_finite_differences(mode: int) -> None:
    layer, params = layer_from_spec(_message("flat", ["x"], lambda m: setattr(m.flatten, "mode", mode)))
    _check_layer(layer, params, [RNG.normal(size=(2, 3, 2, 4))])


@pytest.mark.parametrize("mode", [0, 1])
def test_reshape_backward_matches_finite_differences(mode: int) -> None:
    def configure(layer: Any) -> None:
        layer.reshape.targetShape.extend([4, 3, 2])
        layer.reshape.mode = mode

    layer, params = layer_from_spec(_message("reshape", ["x"], configure))
    _check_layer(layer, params, [RNG.normal(size=(2, 3, 2, 4))])


def test_softmax_backward_matches_finite_differences() -> None:
    layer, params = layer_from_spec(_message("sm", ["x"], lambda m: m.softmax.SetInParent()))
    _check_layer(layer, params, [RNG.normal(size=(3, 5, 1, 1))])


def test_concat_add_and_multiply_backward_match_finite_differences() -> None:
    layer, params = layer_from_spec(_message("cat", ["a", "b"], lambda m: m.concat.SetInParent()))
    _check_layer(layer, params, [RNG.normal(size=(2, 2, 3, 3)), RNG.normal(size=(2, 3, 3, 3))])
    layer, params = layer_from_spec(_message("add", ["a", "b"], lambda m: m.add.SetInParent()))
    _check_layer(layer, params, [RNG.normal(size=(2, 3, 2, 2)), RNG.normal(size=(2, 1, 2, 2))])
    layer, params = layer_from_spec(_message("mul", ["a", "b"], lambda m: m.multiply.SetInParent()))
    _check_layer(layer, params, [RNG.normal(size=(2, 3, 2, 2)), RNG.normal(size=(2, 3, 2, 2))])


def test_batchnorm_backward_matches_finite_differences() -> None:
    def configure(layer: Any) -> None:
        bn = layer.batchnorm
        bn.channels, bn.epsilon = 3, 1e-3
        for name in ("gamma", "beta", "mean"):
            getattr(bn, name).floatValue.extend(RNG.normal(size=3).tolist())
        bn.variance.floatValue.extend(RNG.uniform(0.5, 2, size=3).tolist())

    layer, params = layer_from_spec(_message("bn", ["x"], configure))
    y, _ = layer.forward([np.ones((1, 3, 1, 1))], params)
    expected = params["gamma"] * (1 - params["mean"]) / np.sqrt(params["variance"] + 1e-3) + params["beta"]
    np.testing.assert_allclose(y.ravel(), expected, rtol=1e-6)
    x = RNG.normal(size=(2, 3, 2, 2))
    upstream = RNG.normal(size=x.shape)
    _, cache = layer.forward([x], params)
    (dx,), _ = layer.backward(upstream, cache, params)
    numeric = _numeric(lambda: float((layer.forward([x], params)[0] * upstream).sum()), x)
    np.testing.assert_allclose(dx, numeric, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_softmax_cross_entropy_gradient_with_respect_to_logits(reduction: str) -> None:
    semantics = Semantics(cce_reduction=reduction)  # type: ignore[arg-type]
    logits = RNG.normal(size=(4, 5, 1, 1))
    targets = np.array([0, 4, 2, 2])

    def softmax() -> np.ndarray:
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def loss() -> float:
        return categorical_cross_entropy(logits, softmax(), targets, semantics)[0]

    _, grad = categorical_cross_entropy(logits, softmax(), targets, semantics)
    np.testing.assert_allclose(grad, _numeric(loss, logits), rtol=TOL, atol=TOL)
    # The fused loss is -log p[target] of the softmax, reduced as asked.
    p = softmax().reshape(4, 5)[np.arange(4), targets]
    expected = -np.log(p).mean() if reduction == "mean" else -np.log(p).sum()
    assert loss() == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize(
    "semantics",
    [Semantics(), Semantics(mse_scale="half_squared", batch_reduction="sum", mse_vector_reduction="mean")],
)
def test_mean_squared_error_gradient(semantics: Semantics) -> None:
    outputs = RNG.normal(size=(5, 3, 1, 1))
    targets = RNG.normal(size=(5, 3))
    loss, grad = mean_squared_error(outputs, targets, semantics)
    np.testing.assert_allclose(
        grad, _numeric(lambda: mean_squared_error(outputs, targets, semantics)[0], outputs), rtol=TOL, atol=TOL
    )
    if semantics == Semantics():
        # calibrated: batch mean of (y - t)^2 summed over the output, dL/dy = 2 (y - t) / B
        diff = outputs - targets.reshape(outputs.shape)
        assert loss == pytest.approx(float((diff**2).sum() / 5))
        np.testing.assert_allclose(grad, 2 * diff / 5)
