"""The two losses Core ML trains with, each returning the mini-batch loss and its gradient.

CCE is always fed by a softmax (a Core ML rule), so it is computed in the fused form from the softmax's input:
the per-example loss is -log_softmax(logits)[target] (stable: finite for any finite logits, even when the
softmax saturates and the target's probability underflows to 0 in float32), and the gradient with respect to
the logits is p - onehot, scaled by the batch reduction. How Core ML reports the loss value of a saturated
example is uncalibrated (`cce_reported_loss`); it changes the reported number only, never the gradient.
MSE's gradient is with respect to the loss input: 2 (y - t) / B with the calibrated defaults.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlupdate.reference.layers import Array
from mlupdate.reference.semantics import Semantics

# cce_reported_loss -> the smallest probability the reported -log p may see (None: the exact log-softmax).
# 1e-7 is the epsilon Keras and TensorFlow clip probabilities with; the float minimum is where a float32
# probability stops being a normal number. "float32_probability" takes -log of the softmax's float32 output
# itself, unclipped: what a loss layer fed by the softmax computes naively (inf where p underflows to 0).
CCE_PROBABILITY_FLOOR: dict[str, float | None] = {
    "log_softmax": None,
    "clipped_1e-7": 1e-7,
    "clipped_float_min": float(np.finfo(np.float32).tiny),
}


def log_softmax(logits: Array) -> np.ndarray[Any, np.dtype[np.float64]]:
    """log p for every row of `logits` `[B, C]`, in float64 from the max-shifted logits (never -inf for finite
    logits: the largest entry contributes exp(0) = 1 to the sum)."""
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    shifted: np.ndarray[Any, np.dtype[np.float64]] = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return shifted


def reported_cce(log_p: np.ndarray[Any, Any], floor: float | None) -> np.ndarray[Any, Any]:
    """Per-example -log p as reported: exact, or with p clipped from below at `floor`."""
    clipped: np.ndarray[Any, Any] = -log_p if floor is None else -np.maximum(log_p, np.log(floor))
    return clipped


def softmax(logits: Array) -> Array:
    """The softmax of every row of `logits` `[B, C]` in their own dtype, as `Network.forward_live` computes it."""
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities: Array = exp / exp.sum(axis=1, keepdims=True)
    return probabilities


def per_example_cce(
    logits: Array, targets: np.ndarray[Any, Any], semantics: Semantics, probabilities: Array | None = None
) -> np.ndarray[Any, Any]:
    """The reported loss of every row of `logits` `[B, C]` (float64); `probabilities`, their softmax, is
    computed here when the knob reads it and none is given."""
    rows = np.arange(len(logits))
    if semantics.cce_reported_loss == "float32_probability":
        p = softmax(logits) if probabilities is None else probabilities
        with np.errstate(divide="ignore"):
            exact: np.ndarray[Any, Any] = -np.log(p[rows, targets].astype(np.float64))
        return exact
    log_p = log_softmax(logits)[rows, targets]
    return reported_cce(log_p, CCE_PROBABILITY_FLOOR[semantics.cce_reported_loss])


def categorical_cross_entropy(
    logits: Array, probabilities: Array, targets: np.ndarray[Any, Any], semantics: Semantics
) -> tuple[float, Array]:
    """Loss reduced over the batch (from the logits, the softmax's input) and dL/dlogits = p - onehot, reduced
    alike; `logits` and `probabilities` are `[B, C, 1, 1]`."""
    batch = probabilities.shape[0]
    rows = np.arange(batch)
    per_example = per_example_cce(logits.reshape(batch, -1), targets, semantics, probabilities.reshape(batch, -1))
    grad = probabilities.reshape(batch, -1).copy()
    grad[rows, targets] -= 1
    if semantics.cce_reduction == "mean":
        loss, grad = per_example.mean(), grad / batch
    else:
        loss = per_example.sum()
    return float(loss), grad.reshape(probabilities.shape).astype(probabilities.dtype, copy=False)


def mean_squared_error(outputs: Array, targets: Array, semantics: Semantics) -> tuple[float, Array]:
    """Loss of (y - t)^2 per example (scaled and reduced per the semantics), and dL/dy."""
    batch = outputs.shape[0]
    diff = outputs - targets.reshape(outputs.shape).astype(outputs.dtype, copy=False)
    elements = diff[0].size
    factor = 0.5 if semantics.mse_scale == "half_squared" else 1.0
    if semantics.mse_vector_reduction == "mean":
        factor /= elements
    if semantics.batch_reduction == "mean":
        factor /= batch
    loss = factor * float(np.square(diff, dtype=np.float64).sum())
    grad = diff * outputs.dtype.type(semantics.mse_gradient_factor * factor)
    return loss, grad
