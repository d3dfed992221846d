"""SGD (with momentum) and Adam, updating parameter arrays in place, as Core ML's optimiser options describe."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
        for layer, layer_grads in grads.items():
            for name, grad in layer_grads.items():
                weights = params[layer][name]
                lr = weights.dtype.type(self.learning_rate)
                if self.momentum == 0:
                    weights -= lr * grad
                    continue
                mu = weights.dtype.type(self.momentum)
                velocity = self._velocity.setdefault((layer, name), np.zeros_like(weights))
                if self.form == "torch":
                    velocity *= mu
                    velocity += grad
                    weights -= lr * velocity
                else:
                    velocity *= mu
                    velocity -= lr * grad
                    weights += velocity


@dataclass
class Adam:
    """Adam; `bias_correction` divides the moments by (1 - beta^t) (the `adam_bias_correction` knob)."""

    learning_rate: float
    beta1: float
    beta2: float
    eps: float
    bias_correction: bool = True
    _moments: dict[Key, tuple[Array, Array]] = field(default_factory=dict)
    _steps: int = 0

    def step(self, params: Mapping[str, Params], grads: Mapping[str, Params]) -> None:
        self._steps += 1
        t = self._steps
        for layer, layer_grads in grads.items():
            for name, grad in layer_grads.items():
                weights = params[layer][name]
                kind: Any = weights.dtype.type
                m, v = self._moments.setdefault((layer, name), (np.zeros_like(weights), np.zeros_like(weights)))
                m *= kind(self.beta1)
                m += kind(1 - self.beta1) * grad
                v *= kind(self.beta2)
                v += kind(1 - self.beta2) * grad * grad
                if self.bias_correction:
                    m_hat = m / kind(1 - self.beta1**t)
                    v_hat = v / kind(1 - self.beta2**t)
                else:
                    m_hat, v_hat = m, v
                weights -= kind(self.learning_rate) * m_hat / (np.sqrt(v_hat) + kind(self.eps))


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
