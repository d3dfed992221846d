"""Spec layer messages -> reference layers and their parameters (weights exactly as the spec stores them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlupdate.errors import UnsupportedError
from mlupdate.models.arrays import decode_weight_params
from mlupdate.reference.layers import (
    Activation,
    BatchNorm,
    Concat,
    Convolution,
    Elementwise,
    Flatten,
    InnerProduct,
    Layer,
    Params,
    Pooling,
    Reshape,
    Softmax,
    Window,
    same_pads,
)

_ACTIVATIONS = ("ReLU", "leakyReLU", "sigmoid", "tanh", "linear")
_SAME_TOP_LEFT_HEAVY = 1  # SamePadding.SamePaddingMode.TOP_LEFT_HEAVY
_SUPPORTED = (
    "innerProduct, convolution, activation (ReLU, leakyReLU, sigmoid, tanh, linear), pooling (max, average), "
    "flatten, reshape, concat, add, multiply, batchnorm, softmax"
)


def _unsupported(layer: Any, detail: str) -> UnsupportedError:
    return UnsupportedError(
        f"the reference trainer cannot run layer {layer.name!r}: {detail}",
        where=f"layer {layer.name}",
        fix=f"use only layers the reference supports ({_SUPPORTED}) or extend mlupdate.reference.layers",
    )


def weight_array(layer: Any, field: str, message: Any, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """A WeightParams message as a float32 array of `shape` (quantized weights are unsupported)."""
    return decode_weight_params(message, int(np.prod(shape)), f"layer {layer.name}.{field}").reshape(shape)


def _pair(values: Any, default: int) -> tuple[int, int]:
    items = [int(v) for v in values]
    return (items[0], items[1]) if len(items) == 2 else (default, default)


def _padding_resolver(
    layer: Any, params: Any, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> Callable[[int, int], Window]:
    """Turn the spec's padding (valid amounts, same with asymmetry, includeLastPixel) into a Window per input size."""
    mode = params.WhichOneof("ConvolutionPaddingType" if hasattr(params, "outputChannels") else "PoolingPaddingType")
    if mode in (None, "valid"):
        amounts = list(params.valid.paddingAmounts.borderAmounts) if mode else []
        top, bottom = (amounts[0].startEdgeSize, amounts[0].endEdgeSize) if amounts else (0, 0)
        left, right = (amounts[1].startEdgeSize, amounts[1].endEdgeSize) if len(amounts) > 1 else (0, 0)
        fixed = Window(kernel, stride, dilation, (int(top), int(bottom), int(left), int(right)))
        return lambda _h, _w: fixed
    if mode == "same":
        heavy = params.same.asymmetryMode == _SAME_TOP_LEFT_HEAVY

        def same(height: int, width: int) -> Window:
            top, bottom = same_pads(height, kernel[0], stride[0], dilation[0], heavy)
            left, right = same_pads(width, kernel[1], stride[1], dilation[1], heavy)
            return Window(kernel, stride, dilation, (top, bottom, left, right))

        return same
    if mode == "includeLastPixel":
        pad_h, pad_w = _pair(params.includeLastPixel.paddingAmounts, 0)

        def last_pixel(height: int, width: int) -> Window:
            pads = []
            for size, k, s, p in ((height, kernel[0], stride[0], pad_h), (width, kernel[1], stride[1], pad_w)):
                out = -(-(size + 2 * p - k) // s) + 1
                if (out - 1) * s >= size + p:
                    out -= 1
                pads += [p, max(0, (out - 1) * s + k - size - p)]
            return Window(kernel, stride, dilation, (pads[0], pads[1], pads[2], pads[3]))

        return last_pixel
    raise _unsupported(layer, f"padding mode {mode!r}")


def _convolution(layer: Any) -> tuple[Layer, Params]:
    conv = layer.convolution
    if conv.isDeconvolution:
        raise _unsupported(layer, "deconvolution")
    kernel = _pair(conv.kernelSize, 3)
    stride = _pair(conv.stride, 1)
    dilation = _pair(conv.dilationFactor, 1)
    groups = max(1, int(conv.nGroups))
    out_channels = int(conv.outputChannels)
    shape = (out_channels, int(conv.kernelChannels), *kernel)
    params = {"weights": weight_array(layer, "weights", conv.weights, shape)}
    if conv.hasBias:
        params["biases"] = weight_array(layer, "biases", conv.bias, (out_channels,))
    resolver = _padding_resolver(layer, conv, kernel, stride, dilation)
    return Convolution(
        layer.name, "convolution", tuple(layer.input), layer.output[0], out_channels, groups, conv.hasBias, resolver
    ), params


def _inner_product(layer: Any) -> tuple[Layer, Params]:
    ip = layer.innerProduct
    shape = (int(ip.outputChannels), int(ip.inputChannels))
    params = {"weights": weight_array(layer, "weights", ip.weights, shape)}
    if ip.hasBias:
        params["biases"] = weight_array(layer, "biases", ip.bias, (shape[0],))
    return InnerProduct(layer.name, "innerProduct", tuple(layer.input), layer.output[0], ip.hasBias), params


def _global_window(height: int, width: int) -> Window:
    return Window((height, width), (1, 1), (1, 1), (0, 0, 0, 0))


def _pooling(layer: Any) -> tuple[Layer, Params]:
    pool = layer.pooling
    modes = {0: "max", 1: "average"}
    if pool.type not in modes:
        raise _unsupported(layer, "L2 pooling")
    kernel = _pair(pool.kernelSize, 3)
    stride = _pair(pool.stride, 1)
    resolver: Callable[[int, int], Window]
    resolver = _global_window if pool.globalPooling else _padding_resolver(layer, pool, kernel, stride, (1, 1))
    mode = modes[pool.type]
    pooling = Pooling(
        layer.name, "pooling", tuple(layer.input), layer.output[0], mode, pool.avgPoolExcludePadding, resolver
    )
    return pooling, {}


def _activation(layer: Any) -> tuple[Layer, Params]:
    act = layer.activation
    function = act.WhichOneof("NonlinearityType")
    if function not in _ACTIVATIONS:
        raise _unsupported(layer, f"activation {function!r}")
    alpha, beta = 0.0, 0.0
    if function == "leakyReLU":
        alpha = float(act.leakyReLU.alpha)
    elif function == "linear":
        alpha, beta = float(act.linear.alpha), float(act.linear.beta)
    return Activation(layer.name, "activation", tuple(layer.input), layer.output[0], function, alpha, beta), {}


def _reshape(layer: Any) -> tuple[Layer, Params]:
    target = [int(v) for v in layer.reshape.targetShape]
    if len(target) == 4 and target[0] == 1:
        target = target[1:]
    if len(target) != 3:
        raise _unsupported(layer, f"reshape to {target} (only [C, H, W] or [1, C, H, W])")
    channel_last = layer.reshape.mode == 1
    return Reshape(
        layer.name, "reshape", tuple(layer.input), layer.output[0], (target[0], target[1], target[2]), channel_last
    ), {}


def _batchnorm(layer: Any) -> tuple[Layer, Params]:
    bn = layer.batchnorm
    if bn.computeMeanVar or bn.instanceNormalization:
        raise _unsupported(layer, "batchnorm that computes mean/variance from its input")
    shape = (int(bn.channels),)
    params = {
        name: weight_array(layer, name, getattr(bn, name), shape) for name in ("gamma", "beta", "mean", "variance")
    }
    return BatchNorm(layer.name, "batchnorm", tuple(layer.input), layer.output[0], float(bn.epsilon)), params


def _simple(layer: Any, kind: str) -> tuple[Layer, Params]:
    inputs, output = tuple(layer.input), layer.output[0]
    if kind == "softmax":
        return Softmax(layer.name, kind, inputs, output), {}
    if kind == "flatten":
        return Flatten(layer.name, kind, inputs, output, layer.flatten.mode == 1), {}
    if kind == "concat":
        if layer.concat.sequenceConcat:
            raise _unsupported(layer, "sequence concat")
        return Concat(layer.name, kind, inputs, output), {}
    message = getattr(layer, kind)
    return Elementwise(layer.name, kind, inputs, output, kind == "multiply", float(message.alpha)), {}


_BUILDERS: dict[str, Callable[[Any], tuple[Layer, Params]]] = {
    "convolution": _convolution,
    "innerProduct": _inner_product,
    "pooling": _pooling,
    "activation": _activation,
    "reshape": _reshape,
    "batchnorm": _batchnorm,
}


def layer_from_spec(layer: Any) -> tuple[Layer, Params]:
    """The reference layer for a `NeuralNetworkLayer` message and its parameters as float32 arrays."""
    kind = layer.WhichOneof("layer")
    if len(layer.output) != 1:
        raise _unsupported(layer, f"{kind} with {len(layer.output)} outputs")
    if kind in _BUILDERS:
        return _BUILDERS[kind](layer)
    if kind in ("softmax", "flatten", "concat", "add", "multiply"):
        return _simple(layer, kind)
    raise _unsupported(layer, f"layer type {kind!r}")
