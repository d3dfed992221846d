"""`ActivationParams` (every non-linearity of NeuralNetwork.proto) as numpy functions.

Per-channel parameters (PReLU alpha, parametric softplus alpha/beta) run along axis -3 ("C"), as the spec says.
Recurrent layers use the same functions for their gates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlupdate.reference.forward.base import DTYPE, Array, Run, at_least, one, register, unsupported, weights


def _sigmoid(x: Array) -> Array:
    with np.errstate(over="ignore"):
        result: Array = 1 / (1 + np.exp(-x))
    return result


def _softplus(x: Array) -> Array:
    result: Array = np.logaddexp(0, x)
    return result


def _channel(layer: Any, message: Any, name: str) -> Array:
    count = len(message.floatValue) or (len(message.float16Value) // 2) or 1
    return weights(layer, message, (count,), name)


def _per_channel(values: Array) -> Array:
    """`values` of length C (or 1) shaped to broadcast along axis -3 of `x`."""
    return values.reshape(-1, 1, 1) if values.size > 1 else values.reshape(())


# Recurrent layers support these two only with the spec's fixed constants, so unset fields mean those.
_RECURRENT_DEFAULTS = {"sigmoidHard": (0.2, 0.5), "scaledTanh": (1.7159, 2 / 3)}


def activation(layer: Any, params: Any, *, recurrent: bool = False) -> Callable[[Array], Array]:
    """The function an ActivationParams message describes (layer is only named in errors)."""
    kind = params.WhichOneof("NonlinearityType")
    simple: dict[str, Callable[[Array], Array]] = {
        "ReLU": lambda x: np.maximum(x, 0),
        "tanh": np.tanh,
        "sigmoid": _sigmoid,
        "softsign": lambda x: x / (1 + np.abs(x)),
        "softplus": _softplus,
    }
    if kind in simple:
        return simple[kind]
    if kind is None:
        raise unsupported(layer, "an activation without a type")
    body: Any = getattr(params, kind)
    if kind in ("PReLU", "parametricSoftplus"):
        return _per_channel_activation(layer, kind, body)
    a, b = float(getattr(body, "alpha", 0.0)), float(getattr(body, "beta", 0.0))
    if recurrent and kind in _RECURRENT_DEFAULTS and not (a or b):
        a, b = _RECURRENT_DEFAULTS[kind]
    scalar: dict[str, Callable[[Array], Array]] = {
        "linear": lambda x: x * a + b,
        "leakyReLU": lambda x: np.where(x >= 0, x, x * a),
        "thresholdedReLU": lambda x: np.where(x >= a, x, 0),
        "scaledTanh": lambda x: a * np.tanh(b * x),
        "sigmoidHard": lambda x: np.clip(a * x + b, 0, 1),
        "ELU": lambda x: np.where(x >= 0, x, a * np.expm1(np.minimum(x, 0))),
    }
    if kind not in scalar:
        raise unsupported(layer, f"activation {kind!r}")
    return scalar[kind]


def _per_channel_activation(layer: Any, kind: str, body: Any) -> Callable[[Array], Array]:
    alpha = _per_channel(_channel(layer, body.alpha, "alpha"))
    if kind == "PReLU":
        return lambda x: np.where(x >= 0, x, x * alpha)
    beta = _per_channel(_channel(layer, body.beta, "beta"))
    return lambda x: alpha * _softplus(beta * x)


@register("activation")
def _activation_layer(layer: Any) -> Run:
    fn = activation(layer, layer.activation)
    per_channel = layer.activation.WhichOneof("NonlinearityType") in ("PReLU", "parametricSoftplus")

    def run(x: Array) -> Array:
        if per_channel:
            at_least(layer, x, 3)
        return fn(x).astype(DTYPE, copy=False)

    return one(run)
