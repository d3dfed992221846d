"""Batch norms the compiler folded into the convolution before them.

The compiled network then has no batch-norm layer, and the convolution's weights and bias are the spec's
scaled by gamma / sqrt(var + eps). Given the spec, we recognise each fold and can compute the folded values,
so a compiled model is still compared with its spec value for value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlupdate.models.spec import Spec, is_neural_network, neural_network, walk_models

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Fold:
    """`batchnorm` (spec layer) folded into `convolution` (spec and compiled layer), in parameter scope `scope`."""

    scope: str
    convolution: str
    batchnorm: str


def find_folds(spec: Spec, compiled_names: Iterable[str]) -> list[Fold]:
    """Spec batch norms fed by a convolution and absent from the compiled network (names scoped `a.b.layer`)."""
    present = set(compiled_names)
    folds: list[Fold] = []
    for scoped in walk_models(spec):
        if not is_neural_network(scoped.spec):
            continue
        scope = ".".join(scoped.scope)
        layers = list(neural_network(scoped.spec).layers)
        producers = {output: layer for layer in layers for output in layer.output}
        for layer in layers:
            if layer.WhichOneof("layer") != "batchnorm" or _scoped(scope, layer.name) in present:
                continue
            producer = producers.get(layer.input[0]) if layer.input else None
            if producer is not None and producer.WhichOneof("layer") == "convolution":
                folds.append(Fold(scope=scope, convolution=producer.name, batchnorm=layer.name))
    return folds


def folded_values(convolution: Any, batchnorm: Any) -> dict[str, FloatArray]:
    """The weights and bias a compiler produces when it folds `batchnorm` into `convolution` (spec layers)."""
    conv, bn = convolution.convolution, batchnorm.batchnorm
    out = int(conv.outputChannels)
    weights = np.asarray(conv.weights.floatValue, dtype=np.float32).reshape(out, -1)
    bias = np.asarray(conv.bias.floatValue, dtype=np.float32) if conv.hasBias else np.zeros(out, np.float32)
    gamma = np.asarray(bn.gamma.floatValue, dtype=np.float32)
    beta = np.asarray(bn.beta.floatValue, dtype=np.float32)
    mean = np.asarray(bn.mean.floatValue, dtype=np.float32) if bn.mean.floatValue else np.zeros(out, np.float32)
    var = np.asarray(bn.variance.floatValue, dtype=np.float32) if bn.variance.floatValue else np.ones(out, np.float32)
    scale = gamma / np.sqrt(var + np.float32(bn.epsilon))
    kernel_shape = (out, -1, *(int(k) for k in conv.kernelSize))
    return {
        "weights": (weights * scale[:, None]).reshape(kernel_shape).astype(np.float32),
        "biases": ((bias - mean) * scale + beta).astype(np.float32),
    }


def _scoped(scope: str, name: str) -> str:
    return f"{scope}.{name}" if scope else name
