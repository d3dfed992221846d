"""Frozen layers of the kinds the trainer also runs, computed by the trainer's own layers.

A convolution, pooling, dense, batchnorm, activation, softmax, flatten, reshape, concat, add or multiply layer
in the frozen prefix computes exactly what it computes in the live part (same code, same dtype, same bits),
on `[batch, C, H, W]` with every leading axis folded into the batch. Inputs of lower rank, and options the
trainer's layers do not take (quantized weights, L2 pooling, batch statistics, deconvolution, ...), run on the
forward-only implementations registered in this package instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlupdate.errors import UnsupportedError
from mlupdate.reference.forward.base import REGISTRY, Array, Run, rank
from mlupdate.reference.layers import InnerProduct, Layer
from mlupdate.reference.spec_layers import layer_from_spec

SHARED_KINDS = frozenset(
    {
        "convolution",
        "innerProduct",
        "pooling",
        "activation",
        "reshape",
        "batchnorm",
        "softmax",
        "flatten",
        "concat",
        "add",
        "multiply",
    }
)


def shared_run(layer_message: Any, dtype: np.dtype[Any]) -> Run | None:
    """The trainer's layer for this message as a forward run, or None when only the forward engine runs it."""
    try:
        layer, params = layer_from_spec(layer_message)
    except UnsupportedError:
        return None
    cast = {name: value.astype(dtype) for name, value in params.items()}
    fallback = REGISTRY[layer_message.WhichOneof("layer")](layer_message)

    def run(xs: Sequence[Array], count: int) -> list[Array]:
        if not _fits(layer, xs):
            return fallback(xs, count)
        lead = xs[0].shape[:-3]
        folded = [x.reshape(-1, *x.shape[-3:]) for x in xs]
        y = layer.infer(folded, cast)
        return [y.reshape(*lead, *y.shape[1:])]

    return run


def _fits(layer: Layer, xs: Sequence[Array]) -> bool:
    """The trainer's layers take `[.., C, H, W]` inputs with one leading shape (dense ones with H = W = 1)."""
    if any(rank(x) < 3 or x.shape[:-3] != xs[0].shape[:-3] for x in xs):
        return False
    return not isinstance(layer, InnerProduct) or all(x.shape[-2:] == (1, 1) for x in xs)
