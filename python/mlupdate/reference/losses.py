"""The two losses Core ML trains with, each returning the mini-batch loss and its gradient.

CCE is always fed by a softmax (a Core ML rule), so its gradient is taken with respect to the softmax's input:
(p - onehot) / B for a batch mean. MSE's gradient is with respect to the loss input: 2 (y - t) / B with the
calibrated defaults.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlupdate.reference.layers import Array
from mlupdate.reference.semantics import Semantics


def categorical_cross_entropy(
    probabilities: Array, targets: np.ndarray[Any, Any], semantics: Semantics
) -> tuple[float, Array]:
    """Loss -log p[target] reduced over the batch, and dL/dlogits; `probabilities` is `[B, C, 1, 1]`."""
    batch = probabilities.shape[0]
    p = probabilities.reshape(batch, -1)
    rows = np.arange(batch)
    with np.errstate(divide="ignore"):
        per_example = -np.log(p[rows, targets])
    grad = p.copy()
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
    grad = diff * outputs.dtype.type(2 * factor)
    return loss, grad
