# ruff: noqa: ARG001  -- every builder and table entry has one signature; not all use every argument
"""The N-dimensional layers of NeuralNetwork.proto (specification 4 and later), forward only.

These are what coremltools' converters emit for TensorFlow 2 and PyTorch models (`convert_to="neuralnetwork"`):
shape manipulation, broadcasting arithmetic, reductions, gathers, batched matrix products, embeddings,
normalisation. Every axis in a spec counts within one example's tensor (see `base`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlupdate.reference.forward.base import (
    DTYPE,
    Array,
    Run,
    align,
    as_float,
    indices,
    np_axis,
    one,
    rank,
    register,
    unsupported,
    weights,
)


def _per_example(fn: Callable[..., Array]) -> Callable[..., Array]:
    """Apply `fn` example by example (for data-dependent layers) and stack; shapes must agree."""

    def run(*xs: Array) -> Array:
        parts = [fn(*(x[i] for x in xs)) for i in range(len(xs[0]))]
        if len({p.shape for p in parts}) > 1:
            raise ValueError("per-example outputs of different shapes")
        return np.stack(parts)

    return run


def _values(x: Array) -> list[int]:
    """A shape-like input (one example's values; they must agree across examples) as ints."""
    first = np.rint(x[0]).astype(np.int64).ravel()
    return [int(v) for v in first]


# --- shape manipulation ------------------------------------------------------------------------------------------


@register("transpose")
def _transpose(layer: Any) -> Run:
    axes = [int(v) for v in layer.transpose.axes]

    def run(x: Array) -> Array:
        if len(axes) != rank(x):
            raise unsupported(layer, f"axes {axes} do not match the input rank {rank(x)}")
        return x.transpose([0, *(a + 1 for a in axes)])

    return one(run)


def _reshape_to(layer: Any, x: Array, target: Sequence[int]) -> Array:
    shape = [int(v) for v in target]
    try:
        return x.reshape(x.shape[0], *shape)
    except ValueError:
        raise unsupported(layer, f"cannot reshape {list(x.shape[1:])} to {shape}") from None


@register("reshapeStatic")
def _reshape_static(layer: Any) -> Run:
    target = list(layer.reshapeStatic.targetShape)
    return one(lambda x: _reshape_to(layer, x, target))


@register("reshapeLike")
def _reshape_like(layer: Any) -> Run:
    return lambda xs, _n: [_reshape_to(layer, xs[0], xs[1].shape[1:])]


@register("reshapeDynamic")
def _reshape_dynamic(layer: Any) -> Run:
    return lambda xs, _n: [_reshape_to(layer, xs[0], _values(xs[1]))]


@register("rankPreservingReshape")
def _rank_preserving_reshape(layer: Any) -> Run:
    target = [int(v) for v in layer.rankPreservingReshape.targetShape]

    def run(x: Array) -> Array:
        shape = [x.shape[i + 1] if v == 0 else v for i, v in enumerate(target)]
        return _reshape_to(layer, x, shape)

    return one(run)


@register("flattenTo2D")
def _flatten_to_2d(layer: Any) -> Run:
    axis = int(layer.flattenTo2D.axis)

    def run(x: Array) -> Array:
        r = rank(x)
        cut = axis % (r + 1) if axis < 0 else axis
        return x.reshape(x.shape[0], int(np.prod(x.shape[1 : cut + 1])), -1)

    return one(run)


@register("expandDims")
def _expand_dims(layer: Any) -> Run:
    axes = [int(v) for v in layer.expandDims.axes]

    def run(x: Array) -> Array:
        out_rank = rank(x) + len(axes)
        positions = sorted(a % out_rank for a in axes)
        shape = list(x.shape[1:])
        for p in positions:
            shape.insert(p, 1)
        return x.reshape(x.shape[0], *shape)

    return one(run)


@register("squeeze")
def _squeeze(layer: Any) -> Run:
    sq = layer.squeeze
    axes = [int(v) for v in sq.axes]

    def run(x: Array) -> Array:
        shape = list(x.shape[1:])
        if sq.squeezeAll:
            drop = {i for i, d in enumerate(shape) if d == 1}
        else:
            drop = {a % len(shape) for a in axes}
            if any(shape[a] != 1 for a in drop):
                raise unsupported(layer, f"axes {axes} of shape {shape} are not all 1")
        kept = [d for i, d in enumerate(shape) if i not in drop] or [1]
        return x.reshape(x.shape[0], *kept)

    return one(run)


@register("concatND")
def _concat_nd(layer: Any) -> Run:
    axis, interleave = int(layer.concatND.axis), layer.concatND.interleave

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        a = np_axis(layer, axis, rank(xs[0]))
        if not interleave:
            return [np.concatenate(list(xs), axis=a)]
        stacked = np.stack(list(xs), axis=a + 1)
        return [stacked.reshape(*stacked.shape[:a], -1, *stacked.shape[a + 2 :])]

    return run


@register("splitND")
def _split_nd(layer: Any) -> Run:
    split = layer.splitND
    sizes = [int(v) for v in split.splitSizes]
    count = int(split.numSplits) or len(layer.output)

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        x = xs[0]
        a = np_axis(layer, int(split.axis), rank(x))
        if sizes:
            return list(np.split(x, np.cumsum(sizes)[:-1], axis=a))
        return list(np.split(x, count, axis=a))

    return run


@register("stack")
def _stack(layer: Any) -> Run:
    axis = int(layer.stack.axis)

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        out_rank = rank(xs[0]) + 1
        return [np.stack(list(xs), axis=(axis % out_rank) + 1)]

    return run


@register("tile")
def _tile(layer: Any) -> Run:
    reps = [int(v) for v in layer.tile.reps]

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        times = reps if len(xs) == 1 else _values(xs[1])
        return [np.tile(xs[0], [1, *times])]

    return run


def _slice_axes(
    x: Array, begins: list[int], ends: list[int], strides: list[int], begin_masks: list[bool], end_masks: list[bool]
) -> Array:
    index: list[slice] = [slice(None)]
    for i in range(rank(x)):
        step = strides[i] if i < len(strides) and strides[i] else 1
        begin = None if (i >= len(begins) or (i < len(begin_masks) and begin_masks[i])) else begins[i]
        end = None if (i >= len(ends) or (i < len(end_masks) and end_masks[i])) else ends[i]
        index.append(slice(begin, end, step))
    return x[tuple(index)]


@register("sliceStatic")
def _slice_static(layer: Any) -> Run:
    sl = layer.sliceStatic
    squeeze = [i for i, flag in enumerate(sl.squeezeMasks) if flag]

    def run(x: Array) -> Array:
        y = _slice_axes(x, list(sl.beginIds), list(sl.endIds), list(sl.strides), list(sl.beginMasks), list(sl.endMasks))
        if squeeze:
            kept = [d for i, d in enumerate(y.shape[1:]) if i not in squeeze] or [1]
            y = y.reshape(y.shape[0], *kept)
        return y

    return one(run)


@register("sliceDynamic")
def _slice_dynamic(layer: Any) -> Run:
    sl = layer.sliceDynamic

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        begins = _values(xs[1])
        ends = _values(xs[2]) if len(xs) > 2 else list(sl.endIds)
        strides = _values(xs[3]) if len(xs) > 3 else list(sl.strides)
        return [_slice_axes(xs[0], begins, ends, strides, list(sl.beginMasks), list(sl.endMasks))]

    return run


@register("sliceBySize")
def _slice_by_size(layer: Any) -> Run:
    size, axis = int(layer.sliceBySize.size), int(layer.sliceBySize.axis)

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        x = xs[0]
        begin = _values(xs[1])[0]
        index = [slice(None)] * x.ndim
        index[np_axis(layer, axis, rank(x))] = slice(begin, begin + size)
        return [x[tuple(index)]]

    return run


@register("reverse")
def _reverse(layer: Any) -> Run:
    flags = list(layer.reverse.reverseDim)
    axes = tuple(i + 1 for i, flag in enumerate(flags) if flag)
    return one(lambda x: np.flip(x, axis=axes))


@register("reverseSeq")
def _reverse_seq(layer: Any) -> Run:
    batch_axis, seq_axis = int(layer.reverseSeq.batchAxis), int(layer.reverseSeq.sequenceAxis)

    def one_example(x: Array, lengths: Array) -> Array:
        y = x.copy()
        b, s = batch_axis % x.ndim, seq_axis % x.ndim
        for item, length in enumerate(np.rint(lengths).astype(int).ravel()):
            src = [slice(None)] * x.ndim
            src[b], src[s] = slice(item, item + 1), slice(0, length)
            y[tuple(src)] = np.flip(x[tuple(src)], axis=s)
        return y

    return lambda xs, _n: [_per_example(one_example)(xs[0], xs[1])]


@register("slidingWindows")
def _sliding_windows(layer: Any) -> Run:
    sw = layer.slidingWindows
    size, step = int(sw.windowSize), int(sw.step) or 1

    def run(x: Array) -> Array:
        a = np_axis(layer, int(sw.axis), rank(x))
        windows = np.lib.stride_tricks.sliding_window_view(x, size, axis=a)[
            (slice(None),) * a + (slice(None, None, step),)
        ]
        return np.moveaxis(windows, -1, a + 1)

    return one(run)


@register("constantPad")
def _constant_pad(layer: Any) -> Run:
    pad = layer.constantPad
    amounts = [int(v) for v in pad.padAmounts]
    value = DTYPE(pad.value)

    def run(x: Array) -> Array:
        r = rank(x)
        pairs = [(amounts[2 * i], amounts[2 * i + 1]) for i in range(len(amounts) // 2)]
        pairs = [(0, 0)] * (r - len(pairs)) + pairs
        if pad.padToGivenOutputSizeMode:
            pairs = [(0, max(0, end - x.shape[i + 1])) if end else (0, 0) for i, (_b, end) in enumerate(pairs)]
        return np.pad(x, [(0, 0), *pairs], constant_values=value)

    return one(run)


# --- constants and shapes ----------------------------------------------------------------------------------------


@register("loadConstantND")
def _load_constant_nd(layer: Any) -> Run:
    shape = [int(v) for v in layer.loadConstantND.shape]
    data = weights(layer, layer.loadConstantND.data, shape, "data")
    return lambda _xs, n: [np.broadcast_to(data, (n, *shape)).copy()]


@register("getShape")
def _get_shape(layer: Any) -> Run:
    return one(lambda x: np.tile(np.asarray(x.shape[1:], DTYPE), (x.shape[0], 1)))


def _filled(n: int, shape: Sequence[int], value: float) -> Array:
    return np.full((n, *shape), value, dtype=DTYPE)


@register("fillLike")
def _fill_like(layer: Any) -> Run:
    value = float(layer.fillLike.value)
    return lambda xs, n: [_filled(n, xs[0].shape[1:], value)]


@register("fillStatic")
def _fill_static(layer: Any) -> Run:
    value, shape = float(layer.fillStatic.value), [int(v) for v in layer.fillStatic.targetShape]
    return lambda _xs, n: [_filled(n, shape, value)]


@register("fillDynamic")
def _fill_dynamic(layer: Any) -> Run:
    value = float(layer.fillDynamic.value)
    return lambda xs, n: [_filled(n, _values(xs[0]), value)]


def _broadcast_to(x: Array, shape: Sequence[int]) -> Array:
    top = max(rank(x), len(shape))
    x = x.reshape(x.shape[0], *([1] * (top - rank(x))), *x.shape[1:])
    target = np.broadcast_shapes(x.shape[1:], tuple(shape))
    return np.broadcast_to(x, (x.shape[0], *target)).copy()


@register("broadcastToLike")
def _broadcast_to_like(layer: Any) -> Run:
    return lambda xs, _n: [_broadcast_to(xs[0], xs[1].shape[1:])]


@register("broadcastToStatic")
def _broadcast_to_static(layer: Any) -> Run:
    shape = [int(v) for v in layer.broadcastToStatic.targetShape]
    return one(lambda x: _broadcast_to(x, shape))


@register("broadcastToDynamic")
def _broadcast_to_dynamic(layer: Any) -> Run:
    return lambda xs, _n: [_broadcast_to(xs[0], _values(xs[1]))]


@register("rangeStatic")
def _range_static(layer: Any) -> Run:
    r = layer.rangeStatic
    values = np.arange(r.startValue, r.endValue, r.stepSizeValue or 1.0, dtype=np.float64).astype(DTYPE)
    return lambda _xs, n: [np.tile(values, (n, 1))]


@register("rangeDynamic")
def _range_dynamic(layer: Any) -> Run:
    r = layer.rangeDynamic

    def run(xs: Sequence[Array], n: int) -> list[Array]:
        end = float(xs[0][0].ravel()[0])
        start = float(xs[1][0].ravel()[0]) if len(xs) > 1 else float(r.startValue)
        step = float(xs[2][0].ravel()[0]) if len(xs) > 2 else float(r.stepSizeValue or 1.0)
        return [np.tile(np.arange(start, end, step).astype(DTYPE), (n, 1))]

    return run


@register("copy")
def _copy(layer: Any) -> Run:
    return one(lambda x: x.copy())


# --- arithmetic ----------------------------------------------------------------------------------------------------


def _binary(fn: Callable[[Array, Array], Array]) -> Callable[[Any], Run]:
    def build(layer: Any) -> Run:
        def run(xs: Sequence[Array], _n: int) -> list[Array]:
            if len(xs) != 2:
                raise unsupported(layer, f"needs 2 inputs, has {len(xs)}")
            a, b = align(xs)
            return [as_float(fn(a, b))]

        return run

    return build


_BROADCASTABLE: dict[str, Callable[[Array, Array], Array]] = {
    "addBroadcastable": np.add,
    "subtractBroadcastable": np.subtract,
    "multiplyBroadcastable": np.multiply,
    "divideBroadcastable": np.divide,
    "maxBroadcastable": np.maximum,
    "minBroadcastable": np.minimum,
    "powBroadcastable": np.power,
    "modBroadcastable": np.mod,
    "floorDivBroadcastable": np.floor_divide,
    "logicalAnd": lambda a, b: np.logical_and(a != 0, b != 0),
    "logicalOr": lambda a, b: np.logical_or(a != 0, b != 0),
    "logicalXor": lambda a, b: np.logical_xor(a != 0, b != 0),
}
for _kind, _fn in _BROADCASTABLE.items():
    register(_kind)(_binary(_fn))

_COMPARISONS: dict[str, Callable[[Array, Array], Array]] = {
    "equal": np.equal,
    "notEqual": np.not_equal,
    "lessThan": np.less,
    "lessEqual": np.less_equal,
    "greaterThan": np.greater,
    "greaterEqual": np.greater_equal,
}


def _comparison(kind: str) -> Callable[[Any], Run]:
    def build(layer: Any) -> Run:
        alpha = np.asarray(getattr(layer, kind).alpha, DTYPE)
        pair = _binary(_COMPARISONS[kind])(layer)

        def run(xs: Sequence[Array], n: int) -> list[Array]:
            if len(xs) == 1:
                return [as_float(_COMPARISONS[kind](xs[0], alpha))]
            return pair(xs, n)

        return run

    return build


for _kind in _COMPARISONS:
    register(_kind)(_comparison(_kind))


def _erf(x: Array) -> Array:
    """erf within 1.2e-7 (Numerical Recipes' Chebyshev fit of erfc): exact enough for float32."""
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.5 * z)
    coefficients = (
        -1.26551223,
        1.00002368,
        0.37409196,
        0.09678418,
        -0.18628806,
        0.27886807,
        -1.13520398,
        1.48851587,
        -0.82215223,
        0.17087277,
    )
    poly = np.zeros_like(t)
    for c in reversed(coefficients[1:]):
        poly = (poly + c) * t
    erfc = t * np.exp(-z * z + coefficients[0] + poly)
    result: Array = np.where(x >= 0, 1 - erfc, erfc - 1)
    return as_float(result)


def _round_half_away(x: Array) -> Array:
    result: Array = np.sign(x) * np.floor(np.abs(x) + 0.5)
    return result


_UNARY_ND: dict[str, Callable[[Array], Array]] = {
    "ceil": np.ceil,
    "floor": np.floor,
    "sign": np.sign,
    "round": _round_half_away,
    "exp2": np.exp2,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "erf": _erf,
    "logicalNot": lambda x: np.equal(x, 0),
}


def _unary(fn: Callable[[Array], Array]) -> Callable[[Any], Run]:
    return lambda _layer: one(lambda x: as_float(fn(x)))


for _kind, _unary_fn in _UNARY_ND.items():
    register(_kind)(_unary(_unary_fn))


@register("gelu")
def _gelu(layer: Any) -> Run:
    mode = int(layer.gelu.mode)

    def run(x: Array) -> Array:
        if mode == 1:
            inner = np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)
            return as_float(0.5 * x * (1 + np.tanh(inner)))
        if mode == 2:
            return as_float(x / (1 + np.exp(-1.702 * x)))
        return as_float(0.5 * x * (1 + _erf(x / np.sqrt(2))))

    return one(run)


@register("clip")
def _clip(layer: Any) -> Run:
    low, high = DTYPE(layer.clip.minVal), DTYPE(layer.clip.maxVal)
    return one(lambda x: np.clip(x, low, high))


@register("clampedReLU")
def _clamped_relu(layer: Any) -> Run:
    alpha, beta = DTYPE(layer.clampedReLU.alpha), DTYPE(layer.clampedReLU.beta)
    return one(lambda x: np.minimum(beta, np.where(x >= 0, x, alpha * x)))


@register("whereBroadcastable")
def _where(layer: Any) -> Run:
    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        cond, a, b = align(xs)
        return [as_float(np.where(cond != 0, a, b))]

    return run


# --- reductions and selections -------------------------------------------------------------------------------------

_REDUCERS: dict[str, Callable[[Array, tuple[int, ...]], Array]] = {
    "reduceSum": lambda x, a: x.sum(axis=a, keepdims=True),
    "reduceMean": lambda x, a: x.mean(axis=a, keepdims=True),
    "reduceProd": lambda x, a: x.prod(axis=a, keepdims=True),
    "reduceMax": lambda x, a: x.max(axis=a, keepdims=True),
    "reduceMin": lambda x, a: x.min(axis=a, keepdims=True),
    "reduceL1": lambda x, a: np.abs(x).sum(axis=a, keepdims=True),
    "reduceL2": lambda x, a: np.sqrt((x * x).sum(axis=a, keepdims=True)),
    "reduceSumSquare": lambda x, a: (x * x).sum(axis=a, keepdims=True),
    "reduceLogSum": lambda x, a: np.log(x.sum(axis=a, keepdims=True)),
    "reduceLogSumExp": lambda x, a: np.logaddexp.reduce(x.astype(np.float64), axis=a, keepdims=True),
}


def _reducer(kind: str) -> Callable[[Any], Run]:
    def build(layer: Any) -> Run:
        params = getattr(layer, kind)
        spec_axes = [int(v) for v in params.axes]

        def run(x: Array) -> Array:
            r = rank(x)
            axes = (
                tuple(range(1, r + 1))
                if params.reduceAll or not spec_axes
                else tuple(np_axis(layer, a, r) for a in spec_axes)
            )
            y = as_float(_REDUCERS[kind](x, axes))
            if params.keepDims:
                return y
            kept = [d for i, d in enumerate(y.shape) if i == 0 or i not in axes]
            return y.reshape(*kept, *([1] if len(kept) == 1 else []))

        return one(run)

    return build


for _kind in _REDUCERS:
    register(_kind)(_reducer(_kind))


def _arg(kind: str) -> Callable[[Any], Run]:
    pick = np.argmax if kind == "argMax" else np.argmin

    def build(layer: Any) -> Run:
        params = getattr(layer, kind)

        def run(x: Array) -> Array:
            a = np_axis(layer, int(params.axis), rank(x))
            y = np.expand_dims(pick(x, axis=a), a).astype(DTYPE)
            if params.removeDim and rank(x) > 1:
                y = np.squeeze(y, axis=a)
            return y

        return one(run)

    return build


register("argMax")(_arg("argMax"))
register("argMin")(_arg("argMin"))


@register("topK")
def _top_k(layer: Any) -> Run:
    params = layer.topK

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        x = xs[0]
        k = _values(xs[1])[0] if len(xs) > 1 else int(params.K)
        a = np_axis(layer, int(params.axis), rank(x))
        order = np.argsort(x if params.useBottomK else -x, axis=a, kind="stable")
        chosen = np.take(order, np.arange(k), axis=a)
        return [np.take_along_axis(x, chosen, axis=a), chosen.astype(DTYPE)]

    return run


@register("argSort")
def _arg_sort(layer: Any) -> Run:
    params = layer.argSort

    def run(x: Array) -> Array:
        a = np_axis(layer, int(params.axis), rank(x))
        return np.argsort(-x if params.descending else x, axis=a, kind="stable").astype(DTYPE)

    return one(run)


@register("cumSum")
def _cum_sum(layer: Any) -> Run:
    params = layer.cumSum

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        x = xs[0]
        a = np_axis(layer, _values(xs[1])[0] if len(xs) > 1 else int(params.axis), rank(x))
        source = np.flip(x, axis=a) if params.reverse else x
        total = np.cumsum(source, axis=a)
        if params.excludeFinalSum:
            total = total - source
        return [np.flip(total, axis=a) if params.reverse else total]

    return run


@register("oneHot")
def _one_hot(layer: Any) -> Run:
    params = layer.oneHot

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        x = xs[0]
        depth = _values(xs[1])[0] if len(xs) > 1 else int(params.oneHotVectorSize)
        ids = np.rint(x).astype(np.int64)
        hot = ids[..., None] == np.arange(depth)
        y = np.where(hot, DTYPE(params.onValue), DTYPE(params.offValue)).astype(DTYPE)
        a = np_axis(layer, int(params.axis), rank(x) + 1)
        return [np.moveaxis(y, -1, a)]

    return run


def _band(rows: int, cols: int, lower: int, upper: int) -> Array:
    m, n = np.arange(rows)[:, None], np.arange(cols)[None, :]
    return ((lower < 0) | (m - n <= lower)) & ((upper < 0) | (n - m <= upper))


@register("matrixBandPart")
def _matrix_band_part(layer: Any) -> Run:
    lower, upper = int(layer.matrixBandPart.numLower), int(layer.matrixBandPart.numUpper)
    return one(lambda x: x * _band(x.shape[-2], x.shape[-1], lower, upper))


@register("lowerTriangular")
def _lower_triangular(layer: Any) -> Run:
    k = int(layer.lowerTriangular.k)
    return one(lambda x: np.tril(x, k))


@register("upperTriangular")
def _upper_triangular(layer: Any) -> Run:
    k = int(layer.upperTriangular.k)
    return one(lambda x: np.triu(x, k))


@register("whereNonZero")
def _where_non_zero(layer: Any) -> Run:
    def run(x: Array) -> Array:
        try:
            return _per_example(lambda e: np.argwhere(e != 0).astype(DTYPE))(x)
        except ValueError:
            raise unsupported(layer, "its output size depends on the data and differs between examples") from None

    return one(run)


# --- gathers and scatters --------------------------------------------------------------------------------------------


@register("gather")
def _gather(layer: Any) -> Run:
    axis = int(layer.gather.axis)

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        data, idx = xs
        a = np_axis(layer, axis, rank(data)) - 1
        ids = indices(layer, np.where(idx < 0, idx + data.shape[a + 1], idx), data.shape[a + 1], "gather")
        return [_per_example(lambda d, i: np.take(d, i, axis=a))(data, ids)]

    return run


@register("gatherAlongAxis")
def _gather_along_axis(layer: Any) -> Run:
    axis = int(layer.gatherAlongAxis.axis)

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        data, idx = xs
        a = np_axis(layer, axis, rank(data))
        ids = indices(layer, np.where(idx < 0, idx + data.shape[a], idx), data.shape[a], "gather")
        return [np.take_along_axis(data, ids, axis=a)]

    return run


@register("gatherND")
def _gather_nd(layer: Any) -> Run:
    def one_example(data: Array, idx: Array) -> Array:
        ids = np.rint(idx).astype(np.int64)
        picked: Array = data[tuple(np.moveaxis(ids, -1, 0))]
        return picked

    return lambda xs, _n: [_per_example(one_example)(xs[0], xs[1])]


_SCATTER: dict[int, Callable[[Array, Array], Array]] = {
    1: np.add,
    2: np.subtract,
    3: np.multiply,
    4: np.divide,
    5: np.maximum,
    6: np.minimum,
}


def _scatter_into(out: Array, where: tuple[Any, ...], values: Array, mode: int) -> None:
    if mode == 0:
        out[where] = values
    else:
        out[where] = _SCATTER[mode](out[where], values)


@register("scatter")
def _scatter(layer: Any) -> Run:
    axis, mode = int(layer.scatter.axis), int(layer.scatter.mode)

    def one_example(data: Array, idx: Array, updates: Array) -> Array:
        out = data.copy()
        a = axis % data.ndim
        for j, i in enumerate(np.rint(idx).astype(np.int64).ravel()):
            where = (slice(None),) * a + (int(i),)
            _scatter_into(out, where, np.take(updates, j, axis=a), mode)
        return out

    return lambda xs, _n: [_per_example(one_example)(*xs[:3])]


@register("scatterND")
def _scatter_nd(layer: Any) -> Run:
    mode = int(layer.scatterND.mode)

    def one_example(data: Array, idx: Array, updates: Array) -> Array:
        out = data.copy()
        ids = np.rint(idx).astype(np.int64)
        flat = ids.reshape(-1, ids.shape[-1])
        values = updates.reshape(len(flat), *updates.shape[ids.ndim - 1 :])
        for position, value in zip(flat, values, strict=True):
            _scatter_into(out, tuple(int(v) for v in position), value, mode)
        return out

    return lambda xs, _n: [_per_example(one_example)(*xs[:3])]


@register("scatterAlongAxis")
def _scatter_along_axis(layer: Any) -> Run:
    axis, mode = int(layer.scatterAlongAxis.axis), int(layer.scatterAlongAxis.mode)

    def one_example(data: Array, idx: Array, updates: Array) -> Array:
        out = data.copy()
        a = axis % data.ndim
        ids = np.rint(idx).astype(np.int64)
        for position in np.ndindex(*ids.shape):
            target = list(position)
            target[a] = int(ids[position])
            _scatter_into(out, tuple(target), updates[position], mode)
        return out

    return lambda xs, _n: [_per_example(one_example)(*xs[:3])]


# --- learned layers ------------------------------------------------------------------------------------------------


@register("embeddingND")
def _embedding_nd(layer: Any) -> Run:
    emb = layer.embeddingND
    vocab, size = int(emb.vocabSize), int(emb.embeddingSize)
    table = weights(layer, emb.weights, (size, vocab), "weights").T.copy()
    bias = weights(layer, emb.bias, (size,), "bias") if emb.hasBias else np.zeros(size, DTYPE)

    def run(x: Array) -> Array:
        if rank(x) < 2 or x.shape[-1] != 1:
            raise unsupported(layer, f"needs an input of rank >= 2 ending in 1, got {list(x.shape[1:])}")
        return table[indices(layer, x[..., 0], vocab, "vocabulary")] + bias

    return one(run)


@register("batchedMatmul")
def _batched_matmul(layer: Any) -> Run:
    bmm = layer.batchedMatmul
    if len(layer.input) == 1:
        rows, cols = int(bmm.weightMatrixFirstDimension), int(bmm.weightMatrixSecondDimension)
        # Stored column-major: the values are W^T row by row.
        w = weights(layer, bmm.weights, (cols, rows), "weights").T.copy()
        bias = weights(layer, bmm.bias, (cols,), "bias") if bmm.hasBias else np.zeros(cols, DTYPE)
        return one(lambda a: as_float(a @ w + bias))

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        a, b = xs
        drop_first, drop_last = rank(a) == 1, rank(b) == 1
        a = a[:, None, :] if drop_first else a
        b = b[:, :, None] if drop_last else b
        if bmm.transposeA:
            a = np.swapaxes(a, -1, -2)
        if bmm.transposeB:
            b = np.swapaxes(b, -1, -2)
        a, b = align([a, b])
        y = np.matmul(a, b)
        if drop_first:
            y = y[..., 0, :] if rank(y) > 1 else y
        if drop_last:
            y = y[..., 0] if rank(y) > 1 else y
        return [as_float(y)]

    return run


@register("softmaxND")
def _softmax_nd(layer: Any) -> Run:
    axis = int(layer.softmaxND.axis)

    def run(x: Array) -> Array:
        a = np_axis(layer, axis, rank(x))
        e = np.exp(x - x.max(axis=a, keepdims=True))
        result: Array = e / e.sum(axis=a, keepdims=True)
        return result

    return one(run)


@register("layerNormalization")
def _layer_norm(layer: Any) -> Run:
    ln = layer.layerNormalization
    shape = [int(v) for v in ln.normalizedShape]
    gamma = weights(layer, ln.gamma, shape, "gamma")
    beta = weights(layer, ln.beta, shape, "beta")
    eps = DTYPE(ln.eps)
    axes = tuple(range(-len(shape), 0))

    def run(x: Array) -> Array:
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
        return as_float(gamma * (x - mean) / np.sqrt(var + eps) + beta)

    return one(run)
