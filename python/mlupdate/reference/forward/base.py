"""What every forward-only layer shares: the tensor layout, axis arithmetic, weights and the registry.

Layout: a blob is an array `[N, *shape]`, where N counts the examples and `shape` is the tensor one example
has in Core ML (its rank is Core ML's rank: NeuralNetwork.proto defines every layer on that rank). An axis
`a` of the spec (negative from the end) is numpy axis `a + 1` when `a >= 0`. Layers that "treat the leading
dimensions as batch" fold them into one batch axis and unfold them after. Examples never mix: each is the
tensor a single prediction would see.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlupdate.errors import DataError, UnsupportedError
from mlupdate.models.arrays import decode_weight_params

Array = npt.NDArray[Any]
Run = Callable[[Sequence[Array], int], list[Array]]  # (inputs, example count) -> outputs
Builder = Callable[[Any], Run]
DTYPE = np.float32


@dataclass(frozen=True)
class ForwardLayer:
    """A spec layer that runs forward only: name, type, blobs in and out, and its bound computation."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    run: Run


REGISTRY: dict[str, Builder] = {}


def register(*kinds: str) -> Callable[[Builder], Builder]:
    def add(builder: Builder) -> Builder:
        for kind in kinds:
            REGISTRY[kind] = builder
        return builder

    return add


def unsupported(layer: Any, detail: str) -> UnsupportedError:
    kind = layer.WhichOneof("layer")
    return UnsupportedError(
        f"the reference cannot run layer {layer.name!r} ({kind}): {detail}",
        where=f"layer {layer.name}",
        fix="see docs/layers.md for the layer types and options the reference runs",
    )


def rank(x: Array) -> int:
    return int(x.ndim - 1)


def np_axis(layer: Any, axis: int, r: int) -> int:
    """Numpy axis of spec axis `axis` (negative counts from the end) for a per-example rank `r`."""
    if not -r <= axis < r:
        raise unsupported(layer, f"axis {axis} is outside a rank-{r} tensor")
    return (axis % r) + 1


def fold(x: Array, keep: int) -> tuple[Array, tuple[int, ...]]:
    """`x` as `[batch, *last keep dims]` (every leading axis, N included, folded) and the leading shape."""
    lead = x.shape[: x.ndim - keep]
    return x.reshape(-1, *x.shape[x.ndim - keep :]), lead


def unfold(y: Array, lead: tuple[int, ...]) -> Array:
    return y.reshape(*lead, *y.shape[1:])


def at_least(layer: Any, x: Array, minimum: int) -> None:
    if rank(x) < minimum:
        raise unsupported(layer, f"needs an input of rank >= {minimum}, got shape {list(x.shape[1:])}")


def align(xs: Sequence[Array]) -> list[Array]:
    """Per-example tensors of different ranks, given singleton axes after N so numpy broadcasts them as Core ML."""
    top = max(rank(x) for x in xs)
    return [x.reshape(x.shape[0], *([1] * (top - rank(x))), *x.shape[1:]) for x in xs]


def as_float(x: Array) -> Array:
    return np.asarray(x, dtype=DTYPE)


def weights(layer: Any, message: Any, shape: Sequence[int], name: str) -> Array:
    """A WeightParams message as a float32 array: float32, float16, raw, or dequantized (linear or look-up)."""
    count = int(np.prod(shape))
    where = f"layer {layer.name}.{name}"
    if message.HasField("quantization") and message.quantization.numberOfBits and not len(message.floatValue):
        return dequantize(message, count, where).reshape(shape)
    if message.HasField("quantization"):  # a left-over empty quantization message beside float values
        message = _without_quantization(message)
    return decode_weight_params(message, count, where).reshape(shape)


def _without_quantization(message: Any) -> Any:
    copy = type(message)()
    copy.CopyFrom(message)
    copy.ClearField("quantization")
    return copy


def dequantize(message: Any, count: int, where: str) -> Array:
    """Quantized frozen weights back to floats: `numberOfBits`-wide codes packed MSB first in `rawValue`."""
    quant = message.quantization
    bits = int(quant.numberOfBits)
    raw = np.frombuffer(message.rawValue, dtype=np.uint8)
    if not 1 <= bits <= 8 or raw.size * 8 < count * bits:
        raise UnsupportedError(
            f"quantized weights with {bits} bits hold {raw.size} bytes for {count} values",
            where=where,
            fix="re-export the model: the quantized blob does not match the layer's sizes",
        )
    codes = np.unpackbits(raw)[: count * bits].reshape(count, bits) if bits < 8 else raw[:count, None]
    if bits < 8:
        codes = (codes.astype(np.int64) << np.arange(bits - 1, -1, -1)).sum(axis=1)[:, None]
    values = codes[:, 0].astype(np.int64)
    which = quant.WhichOneof("QuantizationType")
    if which == "lookupTableQuantization":
        table = np.asarray(quant.lookupTableQuantization.floatValue, dtype=DTYPE)
        return table[values]
    if which == "linearQuantization":
        scale = np.asarray(quant.linearQuantization.scale, dtype=DTYPE)
        bias = np.asarray(quant.linearQuantization.bias, dtype=DTYPE)
        channels = max(scale.size, bias.size, 1)
        per = values.reshape(channels, -1).astype(DTYPE)
        out: Array = per * scale.reshape(-1, 1) + bias.reshape(-1, 1)
        return out.reshape(-1)
    raise UnsupportedError(f"unknown quantization {which!r}", where=where, fix="use linear or look-up quantization")


def indices(layer: Any, x: Array, size: int, what: str) -> Array:
    """Float index values as ints, refusing any outside `[0, size)` (Core ML's behaviour there is undefined)."""
    ints = np.rint(x).astype(np.int64)
    if ints.size and (ints.min() < 0 or ints.max() >= size):
        bad = int(ints.min() if ints.min() < 0 else ints.max())
        raise DataError(
            f"layer {layer.name!r}: {what} index {bad} is outside 0..{size - 1}",
            where=f"layer {layer.name}",
            fix=f"feed {what} indices below {size}",
        )
    return ints


def one(fn: Callable[[Array], Array]) -> Run:
    """A single-input, single-output layer."""
    return lambda xs, _n: [fn(xs[0])]
