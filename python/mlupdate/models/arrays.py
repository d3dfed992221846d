"""Layer weights as numpy arrays, in the spec's own layout, and back.

Layouts (NeuralNetwork.proto): innerProduct weights `[out, in]`, biases `[out]`; convolution weights
`[out, in/groups, kh, kw]` (deconvolution: `[in, out/groups, kh, kw]`), biases `[out]`. Weights are always
returned as float32, whether the spec stores them as `floatValue`, as `float16Value`, or as an unquantized
`rawValue` blob of fp16 or fp32 values. Quantized weights cannot be turned back into trainable floats here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from mlupdate.errors import ModelBuildError, UnsupportedError

FloatArray = npt.NDArray[np.float32]
WEIGHT_NAMES = ("weights", "biases")
_PARAM_FIELD = {"weights": "weights", "biases": "bias"}


def _layer_params(layer: Any) -> tuple[str, Any]:
    kind = layer.WhichOneof("layer")
    if kind not in ("innerProduct", "convolution"):
        raise UnsupportedError(
            f"layer {layer.name!r} is a {kind} layer; only innerProduct and convolution layers carry trainable weights",
            where=f"layers/{layer.name}",
            fix="pick an innerProduct or convolution layer",
        )
    return str(kind), getattr(layer, kind)


def weight_shapes(layer: Any) -> dict[str, tuple[int, ...]]:
    """The shapes `layer_weights` returns, computed from the layer's declared sizes."""
    kind, params = _layer_params(layer)
    shapes: dict[str, tuple[int, ...]]
    if kind == "innerProduct":
        shapes = {"weights": (int(params.outputChannels), int(params.inputChannels))}
    else:
        kh, kw = (int(k) for k in params.kernelSize) if len(params.kernelSize) == 2 else (3, 3)
        out, kernel_channels, groups = int(params.outputChannels), int(params.kernelChannels), int(params.nGroups or 1)
        first, second = (kernel_channels, out // groups) if params.isDeconvolution else (out, kernel_channels)
        shapes = {"weights": (first, second, kh, kw)}
    if params.hasBias:
        shapes["biases"] = (int(params.outputChannels),)
    return shapes


def decode_weight_params(message: Any, count: int, where: str) -> FloatArray:
    """A `WeightParams` protobuf holding `count` values as a flat float32 array."""
    if message.HasField("quantization"):
        raise UnsupportedError(
            "the weights are quantized; quantized weights cannot be trained or read back as floats",
            where=where,
            fix="use a model with float32 weights (unquantized)",
        )
    if len(message.floatValue):
        values = np.asarray(message.floatValue, dtype=np.float32)
    elif message.float16Value:
        values = np.frombuffer(message.float16Value, dtype="<f2").astype(np.float32)
    elif message.rawValue:
        raw = message.rawValue
        dtype = "<f2" if len(raw) == 2 * count else "<f4"
        values = np.frombuffer(raw, dtype=dtype).astype(np.float32)
    else:
        values = np.zeros(0, dtype=np.float32)
    if values.size != count:
        raise UnsupportedError(
            f"holds {values.size} values, but the layer's sizes need {count}",
            where=where,
            fix="re-export the model; its weight blob does not match the layer's declared sizes",
        )
    return values


def layer_weights(layer: Any) -> dict[str, FloatArray]:
    """`{"weights": ..., "biases": ...}` (biases only when the layer has them) as float32 in spec layout."""
    _, params = _layer_params(layer)
    arrays: dict[str, FloatArray] = {}
    for name, shape in weight_shapes(layer).items():
        where = f"layers/{layer.name}/{_PARAM_FIELD[name]}"
        flat = decode_weight_params(getattr(params, _PARAM_FIELD[name]), int(np.prod(shape)), where)
        arrays[name] = flat.reshape(shape)
    return arrays


def set_layer_weights(layer: Any, name: str, array: npt.ArrayLike) -> None:
    """Store `array` (spec layout) as float32 `floatValue` in the layer's weights or biases.

    The `isUpdatable` flag of the weights is kept; any fp16 or raw blob is replaced.
    """
    if name not in WEIGHT_NAMES:
        raise ModelBuildError(
            f"unknown weight name {name!r}", where=f"layers/{layer.name}", fix="use 'weights' or 'biases'"
        )
    shapes = weight_shapes(layer)
    if name not in shapes:
        raise ModelBuildError(
            "the layer has no bias (hasBias is false)", where=f"layers/{layer.name}", fix="set only its weights"
        )
    values = np.asarray(array, dtype=np.float32)
    if values.shape != shapes[name]:
        raise ModelBuildError(
            f"{name} of shape {list(values.shape)} do not fit: the layer needs {list(shapes[name])}",
            where=f"layers/{layer.name}/{_PARAM_FIELD[name]}",
            fix=f"pass an array of shape {list(shapes[name])} in spec layout",
        )
    if not np.all(np.isfinite(values)):
        raise ModelBuildError(f"{name} contain NaN or Inf", where=f"layers/{layer.name}", fix="pass finite values only")
    _, params = _layer_params(layer)
    message = getattr(params, _PARAM_FIELD[name])
    updatable = bool(message.isUpdatable)
    message.Clear()
    message.floatValue.extend(values.ravel().tolist())
    message.isUpdatable = updatable
