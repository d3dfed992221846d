"""SGD (with momentum) and Adam, updating parameter arrays in place, as Core ML's optimiser options describe.

Every update runs in buffers kept per parameter and in the gradients' own buffers (a step consumes its
gradients: no temporary arrays per step), and evaluates the same operations in the same order as the plain
expressions in the comments, so the results are bit-identical to them. `Sgd.step_product` is the same SGD
update for a gradient that is a matrix product, folded into BLAS gemm (`mlupdate.reference.blas`): the same
mathematics in another float32 rounding, used by the dense chain in float32.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlupdate.reference import blas
from mlupdate.reference.layers import Array, Params
from mlupdate.reference.semantics import Semantics

Key = tuple[str, str]  # (layer, "weights" | "biases")


@dataclass
class Sgd:
    """torch form: v = mu v + g, w -= lr v; classic form: v = mu v - lr g, w += v (the `momentum_form` knob)."""

    learning_rate: float
    momentum: float
    form: str = "torch"
    _velocity: dict[Key, Array] = field(default_factory=dict)

    def step(self, params: Mapping[str, Params], grads: Mapping[str, Params]) -> None:
        """One update from `grads`, whose arrays it overwrites (they serve as scratch)."""
        for layer, layer_grads in grads.items():
            layer_params = params[layer]
            for name, grad in layer_grads.items():
                weights = layer_params[name]
                lr = weights.dtype.type(self.learning_rate)
                if self.momentum == 0:
                    weights -= np.multiply(lr, grad, out=grad)  # w -= lr * g
                    continue
                mu = weights.dtype.type(self.momentum)
                velocity = self._velocity_of(layer, name, weights)
                velocity *= mu
                if self.form == "torch":  # v = mu v + g; w -= lr * v
                    velocity += grad
                    weights -= np.multiply(lr, velocity, out=grad)
                else:  # v = mu v - lr * g; w += v
                    velocity -= np.multiply(lr, grad, out=grad)
                    weights += velocity

    def step_product(self, layer: str, weights: Array, a: Array, b: Array) -> None:
        """The same update of `weights` (a layer's "weights") for the gradient `a @ b`, without forming it: BLAS
        gemm adds the scaled product into the weights or the velocity (`mlupdate.reference.blas`)."""
        lr = float(weights.dtype.type(self.learning_rate))
        if self.momentum == 0:
            blas.gemm(-lr, a, b, 1.0, weights)  # w = -lr g + w
            return
        mu = float(weights.dtype.type(self.momentum))
        velocity = self._velocity_of(layer, "weights", weights)
        if self.form == "torch":
            blas.gemm(1.0, a, b, mu, velocity)  # v = mu v + g
            blas.axpy(-lr, velocity, weights)  # w = -lr v + w
        else:
            blas.gemm(-lr, a, b, mu, velocity)  # v = mu v - lr g
            weights += velocity

    def _velocity_of(self, layer: str, name: str, like: Array) -> Array:
        velocity = self._velocity.get((layer, name))
        if velocity is None:
            velocity = self._velocity[(layer, name)] = np.zeros_like(like)
        return velocity


@dataclass
class Adam:
    """Adam; `bias_correction` divides the moments by (1 - beta^t) (the `adam_bias_correction` knob)."""

    learning_rate: float
    beta1: float
    beta2: float
    eps: float
    bias_correction: bool = True
    _moments: dict[Key, tuple[Array, Array]] = field(default_factory=dict)
    _scratch: dict[Key, Array] = field(default_factory=dict)
    _steps: int = 0

    def step(self, params: Mapping[str, Params], grads: Mapping[str, Params]) -> None:
        """One update from `grads`, whose arrays it overwrites (they serve as scratch)."""
        self._steps += 1
        t = self._steps
        for layer, layer_grads in grads.items():
            for name, grad in layer_grads.items():
                weights = params[layer][name]
                kind: Any = weights.dtype.type
                m, v = self._moments.setdefault((layer, name), (np.zeros_like(weights), np.zeros_like(weights)))
                a = _buffer(self._scratch, (layer, name), weights)
                m *= kind(self.beta1)
                m += np.multiply(kind(1 - self.beta1), grad, out=a)  # m = b1 m + (1 - b1) g
                v *= kind(self.beta2)
                np.multiply(kind(1 - self.beta2), grad, out=a)
                v += np.multiply(a, grad, out=a)  # v = b2 v + (1 - b2) g g
                b = grad  # the gradient is used up: its buffer holds v_hat
                if self.bias_correction:
                    np.divide(m, kind(1 - self.beta1**t), out=a)  # m_hat
                    np.divide(v, kind(1 - self.beta2**t), out=b)  # v_hat
                else:
                    np.copyto(a, m)
                    np.copyto(b, v)
                a *= kind(self.learning_rate)
                np.sqrt(b, out=b)
                b += kind(self.eps)
                weights -= np.divide(a, b, out=a)  # w -= lr m_hat / (sqrt(v_hat) + eps)


def _buffer(buffers: dict[Key, Array], key: Key, like: Array) -> Array:
    buffer = buffers.get(key)
    if buffer is None:
        buffer = buffers[key] = np.empty_like(like)
    return buffer


Optimizer = Sgd | Adam


def optimizer_for(kind: str, parameters: Mapping[str, Any], semantics: Semantics) -> Optimizer:
    """The optimiser a model's updateParams declares, with resolved parameter values."""
    if kind == "adamOptimizer":
        return Adam(
            float(parameters["learningRate"]),
            float(parameters.get("beta1", 0.9)),
            float(parameters.get("beta2", 0.999)),
            float(parameters.get("eps", 1e-8)),
            semantics.adam_bias_correction,
        )
    return Sgd(float(parameters["learningRate"]), float(parameters.get("momentum", 0.0)), semantics.momentum_form)
