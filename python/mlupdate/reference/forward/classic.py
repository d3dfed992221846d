# ruff: noqa: ARG005  -- every builder and table entry has one signature; not all use every argument
"""The rank-5 "classic" layers of NeuralNetwork.proto, forward only, on any rank the spec allows.

Spatial layers work on the last three axes `[C, H, W]` and treat every leading axis as batch (the spec's rule
for ranks above 3); the sequence axis is -5. Convolution and pooling reuse the trainer's own layers
(`mlupdate.reference.layers`) so the frozen and the live part of a network compute them the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlupdate._coreml import Model_pb2
from mlupdate.reference.forward.base import (
    DTYPE,
    Array,
    Run,
    as_float,
    at_least,
    fold,
    indices,
    np_axis,
    one,
    rank,
    register,
    unfold,
    unsupported,
    weights,
)
from mlupdate.reference.spec_layers import layer_from_spec


def _dequantized(layer: Any) -> Any:
    """A copy of `layer` whose quantized weight blobs are float32 (frozen layers may be quantized)."""
    copy = Model_pb2.NeuralNetwork().layers.add()
    copy.CopyFrom(layer)
    params = getattr(copy, copy.WhichOneof("layer"))
    for field in ("weights", "bias"):
        message = getattr(params, field, None)
        if message is None or not message.HasField("quantization"):
            continue
        if message.quantization.numberOfBits and not len(message.floatValue):
            values = weights(layer, message, (_declared_count(params, field),), field)
            message.Clear()
            message.floatValue.extend(values.tolist())
        else:  # an empty quantization message left beside float values
            message.ClearField("quantization")
    return copy


def _declared_count(params: Any, field: str) -> int:
    out = int(params.outputChannels)
    if field == "bias":
        return out
    if hasattr(params, "kernelChannels"):
        kernel = [int(k) for k in params.kernelSize] or [3, 3]
        first = out if not params.isDeconvolution else int(params.kernelChannels)
        second = int(params.kernelChannels) if not params.isDeconvolution else out // max(1, int(params.nGroups))
        return first * second * kernel[0] * kernel[1]
    return out * int(params.inputChannels)


def _spatial(layer: Any, fn: Callable[[Array], Array]) -> Run:
    """Run `fn` on `[batch, C, H, W]` with every leading axis folded into the batch."""

    def run(x: Array) -> Array:
        at_least(layer, x, 3)
        x4, lead = fold(x, 3)
        return unfold(fn(x4), lead)

    return one(run)


# --- convolution, pooling, dense, embedding ------------------------------------------------------------------


@register("convolution")
def _convolution(layer: Any) -> Run:
    if layer.convolution.isDeconvolution:
        return _deconvolution(layer)
    conv, params = layer_from_spec(_dequantized(layer))
    return _spatial(layer, lambda x: conv.infer([x], params))


def _deconvolution(layer: Any) -> Run:
    conv = layer.convolution
    groups = max(1, int(conv.nGroups))
    cin, out = int(conv.kernelChannels), int(conv.outputChannels)
    kh, kw = ([int(k) for k in conv.kernelSize] or [3, 3])[:2]
    sh, sw = ([int(s) for s in conv.stride] or [1, 1])[:2]
    w = weights(layer, conv.weights, (cin, out // groups, kh, kw), "weights")
    bias = weights(layer, conv.bias, (out,), "bias") if conv.hasBias else None
    target = [int(v) for v in conv.outputShape]

    def run(x: Array) -> Array:
        b, c, h, width = x.shape
        full = np.zeros((b, out, (h - 1) * sh + kh, (width - 1) * sw + kw), dtype=DTYPE)
        xg = x.reshape(b, groups, c // groups, h, width)
        wg = w.reshape(groups, c // groups, out // groups, kh, kw)
        for i in range(kh):
            for j in range(kw):
                part = np.einsum("bgchw,gco->bgohw", xg, wg[:, :, :, i, j]).reshape(b, out, h, width)
                full[:, :, i : i + sh * (h - 1) + 1 : sh, j : j + sw * (width - 1) + 1 : sw] += part
        top, bottom, left, right = _deconv_pads(layer, full.shape[2:], (h * sh, width * sw), target)
        y = full[:, :, top : full.shape[2] - bottom, left : full.shape[3] - right]
        if bias is not None:
            y = y + bias[None, :, None, None]
        return y

    return _spatial(layer, run)


def _deconv_pads(
    layer: Any, full: tuple[int, ...], same: tuple[int, int], target: list[int]
) -> tuple[int, int, int, int]:
    conv = layer.convolution
    if target:  # outputShape: crop what exceeds it (the spec's padding type is ignored then)
        return 0, full[0] - target[0], 0, full[1] - target[1]
    if conv.WhichOneof("ConvolutionPaddingType") == "same":
        pads = []
        for size, want in zip(full, same, strict=True):
            total = size - want
            small, large = total // 2, total - total // 2
            pads += [large, small] if conv.same.asymmetryMode == 1 else [small, large]
        return pads[0], pads[1], pads[2], pads[3]
    amounts = list(conv.valid.paddingAmounts.borderAmounts)
    edges = [(int(a.startEdgeSize), int(a.endEdgeSize)) for a in amounts] + [(0, 0)] * 2
    return edges[0][0], edges[0][1], edges[1][0], edges[1][1]


@register("pooling")
def _pooling(layer: Any) -> Run:
    pool = layer.pooling
    if pool.type == 2:  # L2: sqrt of the window's sum of squares
        copy = Model_pb2.NeuralNetwork().layers.add()
        copy.CopyFrom(layer)
        copy.pooling.type = 1
        copy.pooling.avgPoolExcludePadding = False
        avg, _ = layer_from_spec(copy)
        kernel = ([int(k) for k in pool.kernelSize] or [3, 3])[:2]

        def l2(x: Array) -> Array:
            area = x.shape[2] * x.shape[3] if pool.globalPooling else kernel[0] * kernel[1]
            result: Array = np.sqrt(avg.infer([x * x], {}) * area)
            return result

        return _spatial(layer, l2)
    pooling, _ = layer_from_spec(layer)
    return _spatial(layer, lambda x: pooling.infer([x], {}))


@register("innerProduct")
def _inner_product(layer: Any) -> Run:
    ip = layer.innerProduct
    cin, cout = int(ip.inputChannels), int(ip.outputChannels)
    w = weights(layer, ip.weights, (cout, cin), "weights").T.copy()
    bias = weights(layer, ip.bias, (cout,), "bias") if ip.hasBias else np.zeros(cout, DTYPE)

    def run(x: Array) -> Array:
        r = rank(x)
        tail: tuple[int, ...] = ()
        if r <= 3:
            flat = x
        elif r == 4:
            flat, tail = x.reshape(*x.shape[:2], -1), (1, 1)
        else:
            flat, tail = x.reshape(*x.shape[:3], -1), (1, 1)
        if flat.shape[-1] != cin:
            raise unsupported(layer, f"input shape {list(x.shape[1:])} does not end in {cin} input channels")
        y: Array = flat @ w + bias
        return y.reshape(*y.shape, *tail)

    return one(run)


@register("embedding")
def _embedding(layer: Any) -> Run:
    emb = layer.embedding
    vocab, out = int(emb.inputDim), int(emb.outputChannels)
    table = weights(layer, emb.weights, (out, vocab), "weights").T.copy()
    bias = weights(layer, emb.bias, (out,), "bias") if emb.hasBias else np.zeros(out, DTYPE)

    def run(x: Array) -> Array:
        at_least(layer, x, 3)
        ids = indices(layer, x[..., 0, 0, 0], vocab, "embedding")
        return (table[ids] + bias)[..., None, None]

    return one(run)


# --- normalisation ---------------------------------------------------------------------------------------------


@register("batchnorm")
def _batchnorm(layer: Any) -> Run:
    bn = layer.batchnorm
    channels, eps = int(bn.channels), DTYPE(bn.epsilon or 1e-5)
    gamma = weights(layer, bn.gamma, (channels,), "gamma").reshape(-1, 1, 1)
    beta = weights(layer, bn.beta, (channels,), "beta").reshape(-1, 1, 1)
    if not bn.computeMeanVar:
        mean = weights(layer, bn.mean, (channels,), "mean").reshape(-1, 1, 1)
        var = weights(layer, bn.variance, (channels,), "variance").reshape(-1, 1, 1)
        return _spatial(layer, lambda x: as_float(gamma * (x - mean) / np.sqrt(var + eps) + beta))

    def computed(x: Array) -> Array:
        # One example is one instance: Core ML's single-prediction statistics (a batch of one).
        mean = x.mean(axis=(2, 3), keepdims=True)
        var = x.var(axis=(2, 3), keepdims=True)
        return as_float(gamma * (x - mean) / np.sqrt(var + eps) + beta)

    return _spatial(layer, computed)


@register("mvn")
def _mvn(layer: Any) -> Run:
    mvn = layer.mvn
    axes = (1, 2, 3) if mvn.acrossChannels else (2, 3)
    eps = DTYPE(mvn.epsilon or 1e-6)

    def run(x: Array) -> Array:
        centred: Array = x - x.mean(axis=axes, keepdims=True)
        if not mvn.normalizeVariance:
            return centred
        return as_float(centred / np.sqrt((centred * centred).mean(axis=axes, keepdims=True) + eps))

    return _spatial(layer, run)


@register("l2normalize")
def _l2normalize(layer: Any) -> Run:
    eps = DTYPE(layer.l2normalize.epsilon or 1e-6)
    return _spatial(layer, lambda x: x / np.sqrt((x * x).sum(axis=(1, 2, 3), keepdims=True) + eps))


@register("lrn")
def _lrn(layer: Any) -> Run:
    lrn = layer.lrn
    size = int(lrn.localSize)
    alpha, beta, k = DTYPE(lrn.alpha), DTYPE(lrn.beta), DTYPE(lrn.k or 1.0)
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2

    def run(x: Array) -> Array:
        squares = np.pad(x * x, ((0, 0), (before, after), (0, 0), (0, 0)))
        window = np.cumsum(squares, axis=1)
        window = np.concatenate([window[:, size - 1 : size], window[:, size:] - window[:, :-size]], axis=1)
        result: Array = x / (k + alpha / size * window) ** beta
        return result

    return _spatial(layer, run)


@register("softmax")
def _softmax(layer: Any) -> Run:
    def run(x: Array) -> Array:
        at_least(layer, x, 3)
        e = np.exp(x - x.max(axis=-3, keepdims=True))
        result: Array = e / e.sum(axis=-3, keepdims=True)
        return result

    return one(run)


# --- spatial reshaping -----------------------------------------------------------------------------------------


def _borders(message: Any) -> tuple[int, int, int, int]:
    edges = [(int(a.startEdgeSize), int(a.endEdgeSize)) for a in message.borderAmounts] + [(0, 0)] * 2
    return edges[0][0], edges[0][1], edges[1][0], edges[1][1]


@register("crop")
def _crop(layer: Any) -> Run:
    crop = layer.crop
    top, bottom, left, right = _borders(crop.cropAmounts)
    offset = [int(v) for v in crop.offset] or [0, 0]

    def run(xs: Any, _n: int) -> list[Array]:
        x = xs[0]
        at_least(layer, x, 3)
        if len(xs) == 2:
            h, w = xs[1].shape[-2:]
            return [x[..., offset[0] : offset[0] + h, offset[1] : offset[1] + w]]
        return [x[..., top : x.shape[-2] - bottom, left : x.shape[-1] - right]]

    return run


@register("padding")
def _padding(layer: Any) -> Run:
    pad = layer.padding
    top, bottom, left, right = _borders(pad.paddingAmounts)
    which = pad.WhichOneof("PaddingType") or "constant"
    mode = {"constant": "constant", "reflection": "reflect", "replication": "edge"}[which]
    extra = {"constant_values": DTYPE(pad.constant.value)} if which == "constant" else {}

    def run(x: Array) -> Array:
        at_least(layer, x, 3)
        widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
        return np.pad(x, widths, mode=mode, **extra)  # type: ignore[call-overload,no-any-return]

    return one(run)


def _grid(size: int, out: int, mode: str) -> Array:
    """Source coordinates of `out` samples over an axis of `size` (SamplingMode / linearUpsampleMode)."""
    i = np.arange(out, dtype=np.float64)
    if mode == "STRICT_ALIGN_ENDPOINTS_MODE" or (mode == "ALIGN_ENDPOINTS_MODE" and out > 1):
        grid = np.linspace(0, size - 1, out)
    elif mode == "ALIGN_ENDPOINTS_MODE":
        grid = np.full(out, (size - 1) / 2)
    elif mode == "UPSAMPLE_MODE":
        grid = i * size / out
    elif mode == "ROI_ALIGN_MODE":
        spacing = max(1, size - 1) / out
        grid = 0.5 * spacing + i * spacing
    else:  # ALIGN_CORNERS_FALSE: pixel centres
        grid = (i + 0.5) * size / out - 0.5
    return np.clip(grid, 0, size - 1)


def _bilinear(x: Array, grid_h: Array, grid_w: Array) -> Array:
    def axis_weights(grid: Array, size: int) -> tuple[Array, Array, Array]:
        low = np.floor(grid).astype(np.int64)
        high = np.minimum(low + 1, size - 1)
        return low, high, (grid - low).astype(DTYPE)

    h0, h1, fh = axis_weights(grid_h, x.shape[-2])
    w0, w1, fw = axis_weights(grid_w, x.shape[-1])
    rows = x[..., h0, :] * (1 - fh)[:, None] + x[..., h1, :] * fh[:, None]
    result: Array = rows[..., w0] * (1 - fw) + rows[..., w1] * fw
    return result


@register("upsample")
def _upsample(layer: Any) -> Run:
    up = layer.upsample
    ints = [int(v) for v in up.scalingFactor] or [1, 1]
    fractions = [float(v) for v in up.fractionalScalingFactor]
    modes = {0: "UPSAMPLE_MODE", 1: "STRICT_ALIGN_ENDPOINTS_MODE", 2: "ALIGN_CORNERS_FALSE"}
    mode = modes.get(int(up.linearUpsampleMode), "UPSAMPLE_MODE")

    def run(x: Array) -> Array:
        at_least(layer, x, 3)
        if up.mode == 0:  # nearest neighbour
            return np.repeat(np.repeat(x, ints[0], axis=-2), ints[1], axis=-1)
        scale = fractions or [float(v) for v in ints]
        h, w = x.shape[-2:]
        out_h, out_w = int(np.floor(h * scale[0])), int(np.floor(w * scale[1]))
        return _bilinear(x, _grid(h, out_h, mode), _grid(w, out_w, mode))

    return one(run)


_SAMPLING = ("STRICT_ALIGN_ENDPOINTS_MODE", "ALIGN_ENDPOINTS_MODE", "UPSAMPLE_MODE", "ROI_ALIGN_MODE")


@register("resizeBilinear")
def _resize_bilinear(layer: Any) -> Run:
    resize = layer.resizeBilinear
    out_h, out_w = ([int(v) for v in resize.targetSize] or [1, 1])[:2]
    mode = _SAMPLING[int(resize.mode.samplingMethod)]

    def run(x: Array) -> Array:
        at_least(layer, x, 3)
        return _bilinear(x, _grid(x.shape[-2], out_h, mode), _grid(x.shape[-1], out_w, mode))

    return one(run)


@register("reorganizeData")
def _reorganize(layer: Any) -> Run:
    block = int(layer.reorganizeData.blockSize)
    mode = int(layer.reorganizeData.mode)  # 0 SPACE_TO_DEPTH, 1 DEPTH_TO_SPACE, 2 PIXEL_SHUFFLE

    def run(x: Array) -> Array:
        b, c, h, w = x.shape
        if mode == 0:
            y = x.reshape(b, c, h // block, block, w // block, block).transpose(0, 3, 5, 1, 2, 4)
            return y.reshape(b, c * block * block, h // block, w // block)
        if mode == 1:
            y = x.reshape(b, block, block, c // block**2, h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            y = x.reshape(b, c // block**2, block, block, h, w).transpose(0, 1, 4, 2, 5, 3)
        return y.reshape(b, c // block**2, h * block, w * block)

    return _spatial(layer, run)


# --- element-wise and reductions ---------------------------------------------------------------------------------


def _broadcast(xs: Any) -> list[Array]:
    """Classic element-wise layers broadcast right-aligned, as numpy does within one example."""
    top = max(x.ndim for x in xs)
    return [x.reshape(x.shape[0], *([1] * (top - x.ndim)), *x.shape[1:]) for x in xs]


def _reduce_inputs(
    layer: Any, combine: Callable[[Array, Array], Array], scalar: Callable[[Array], Array] | None
) -> Run:
    def run(xs: Any, _n: int) -> list[Array]:
        if len(xs) == 1:
            if scalar is None:
                raise unsupported(layer, "needs at least two inputs")
            return [scalar(xs[0])]
        parts = _broadcast(xs)
        y = parts[0]
        for x in parts[1:]:
            y = combine(y, x)
        return [y]

    return run


@register("add")
def _add(layer: Any) -> Run:
    alpha = DTYPE(layer.add.alpha)
    return _reduce_inputs(layer, np.add, lambda x: x + alpha)


@register("multiply")
def _multiply(layer: Any) -> Run:
    alpha = DTYPE(layer.multiply.alpha)
    return _reduce_inputs(layer, np.multiply, lambda x: x * alpha)


@register("max")
def _max(layer: Any) -> Run:
    return _reduce_inputs(layer, np.maximum, None)


@register("min")
def _min(layer: Any) -> Run:
    return _reduce_inputs(layer, np.minimum, None)


@register("average")
def _average(layer: Any) -> Run:
    total = _reduce_inputs(layer, np.add, None)
    return lambda xs, n: [total(xs, n)[0] / DTYPE(len(xs))]


def _shaped(layer: Any, message: Any, shape: list[int], name: str) -> Array:
    values = weights(layer, message, (int(np.prod(shape)),), name)
    return values.reshape(shape[0], 1, 1) if len(shape) == 1 else values.reshape(shape)


@register("scale")
def _scale(layer: Any) -> Run:
    sc = layer.scale
    scale = _shaped(layer, sc.scale, [int(v) for v in sc.shapeScale] or [1], "scale")
    bias = _shaped(layer, sc.bias, [int(v) for v in sc.shapeBias] or [1], "bias") if sc.hasBias else DTYPE(0)
    return _spatial(layer, lambda x: x * scale + bias)


@register("bias")
def _bias(layer: Any) -> Run:
    bias = _shaped(layer, layer.bias.bias, [int(v) for v in layer.bias.shape] or [1], "bias")
    return _spatial(layer, lambda x: x + bias)


@register("dot")
def _dot(layer: Any) -> Run:
    cosine = layer.dot.cosineSimilarity

    def run(xs: Any, _n: int) -> list[Array]:
        a, b = xs[0], xs[1]
        if cosine:
            a = a / np.sqrt((a * a).sum(axis=(-3, -2, -1), keepdims=True))
            b = b / np.sqrt((b * b).sum(axis=(-3, -2, -1), keepdims=True))
        return [(a * b).sum(axis=(-3, -2, -1), keepdims=True)]

    return run


_REDUCE_AXES = {0: (-3, -2, -1), 1: (-2, -1), 2: (-3,), 3: (-2,), 4: (-1,)}


@register("reduce")
def _reduce(layer: Any) -> Run:
    red = layer.reduce
    axes = _REDUCE_AXES[int(red.axis)]
    eps = DTYPE(red.epsilon or 1e-6)
    ops: dict[int, Callable[[Array], Array]] = {
        0: lambda x: x.sum(axis=axes, keepdims=True),
        1: lambda x: x.mean(axis=axes, keepdims=True),
        2: lambda x: x.prod(axis=axes, keepdims=True),
        3: lambda x: np.log(x + eps).sum(axis=axes, keepdims=True),
        4: lambda x: (x * x).sum(axis=axes, keepdims=True),
        5: lambda x: np.abs(x).sum(axis=axes, keepdims=True),
        6: lambda x: np.sqrt((x * x).sum(axis=axes, keepdims=True)),
        7: lambda x: x.max(axis=axes, keepdims=True),
        8: lambda x: x.min(axis=axes, keepdims=True),
        9: lambda x: np.expand_dims(x.argmax(axis=axes[0]), axes[0]).astype(DTYPE),
    }
    fn = ops[int(red.mode)]

    def run(x: Array) -> Array:
        at_least(layer, x, len(axes))
        return fn(x).astype(DTYPE, copy=False)

    return one(run)


_UNARY: dict[int, Callable[[Array, Any], Array]] = {
    0: lambda x, u: np.sqrt(x),
    1: lambda x, u: 1 / np.sqrt(x + DTYPE(u.epsilon or 1e-6)),
    2: lambda x, u: 1 / (x + DTYPE(u.epsilon or 1e-6)),
    3: lambda x, u: np.power(x, DTYPE(u.alpha)),
    4: lambda x, u: np.exp(x),
    5: lambda x, u: np.log(x),
    6: lambda x, u: np.abs(x),
    7: lambda x, u: np.maximum(x, DTYPE(u.alpha)),
}


@register("unary")
def _unary(layer: Any) -> Run:
    u = layer.unary
    fn = _UNARY[int(u.type)]
    scale, shift = DTYPE(u.scale or 1.0), DTYPE(u.shift)
    return one(lambda x: fn(x * scale + shift, u).astype(DTYPE, copy=False))


# --- data reorganisation -----------------------------------------------------------------------------------------


@register("loadConstant")
def _load_constant(layer: Any) -> Run:
    shape = [int(v) for v in layer.loadConstant.shape]
    data = weights(layer, layer.loadConstant.data, shape, "data").reshape(1, 1, *shape)
    return lambda _xs, n: [np.broadcast_to(data, (n, 1, 1, *shape)).copy()]


def _rank5(layer: Any, x: Array) -> Array:
    """A classic layer's rank-5 view `[N, Seq, B, C, H, W]` of an input of rank 3 to 5."""
    at_least(layer, x, 3)
    if rank(x) > 5:
        raise unsupported(layer, f"needs an input of rank <= 5, got shape {list(x.shape[1:])}")
    return x.reshape(x.shape[0], *([1] * (5 - rank(x))), *x.shape[1:])


@register("reshape")
def _reshape(layer: Any) -> Run:
    target = [int(v) for v in layer.reshape.targetShape]
    channel_last = layer.reshape.mode == 1
    if len(target) not in (3, 4):
        raise unsupported(layer, f"targetShape {target} must have 3 or 4 entries")

    def run(x: Array) -> Array:
        x5 = _rank5(layer, x)
        n, seq, batch = x5.shape[:3]
        if channel_last:
            x5 = x5.transpose(0, 1, 2, 4, 5, 3)
        c, h, w = target[-3:]
        seq_out = target[0] if len(target) == 4 else seq
        if channel_last:
            y = x5.reshape(n, seq_out, batch, h, w, c).transpose(0, 1, 2, 5, 3, 4)
        else:
            y = x5.reshape(n, seq_out, batch, c, h, w)
        return y.reshape(n, *y.shape[6 - rank(x) :]) if rank(x) < 5 and seq_out == 1 else y

    return one(run)


@register("flatten")
def _flatten(layer: Any) -> Run:
    channel_last = layer.flatten.mode == 1

    def run(x: Array) -> Array:
        at_least(layer, x, 3)
        source = np.moveaxis(x, -3, -1) if channel_last else x
        return source.reshape(*x.shape[:-3], -1, 1, 1)

    return one(run)


@register("permute")
def _permute(layer: Any) -> Run:
    axes = [int(v) for v in layer.permute.axis] or [0, 1, 2, 3]
    # axis i of [Seq, C, H, W] is rank-5 axis (0, 2, 3, 4)[i]; B (axis 1) never moves
    five = [(0, 2, 3, 4)[a] for a in axes]
    order = [0, 1 + five[0], 2, 1 + five[1], 1 + five[2], 1 + five[3]]

    def run(x: Array) -> Array:
        y = _rank5(layer, x).transpose(order)
        return y.reshape(y.shape[0], *y.shape[6 - rank(x) :]) if all(d == 1 for d in y.shape[1 : 6 - rank(x)]) else y

    return one(run)


@register("concat")
def _concat(layer: Any) -> Run:
    axis = -5 if layer.concat.sequenceConcat else -3
    return lambda xs, _n: [np.concatenate(list(xs), axis=axis)]


@register("split")
def _split(layer: Any) -> Run:
    parts = int(layer.split.nOutputs) or len(layer.output)
    return lambda xs, _n: list(np.split(xs[0], parts, axis=-3))


@register("sequenceRepeat")
def _sequence_repeat(layer: Any) -> Run:
    times = int(layer.sequenceRepeat.nRepetitions) or 1
    return one(lambda x: np.concatenate([x] * times, axis=-5) if rank(x) >= 5 else x)


@register("slice")
def _slice(layer: Any) -> Run:
    sl = layer.slice
    axis = (-3, -2, -1)[int(sl.axis)]
    stride = int(sl.stride) or 1

    def run(x: Array) -> Array:
        size = x.shape[axis]
        start = int(sl.startIndex) % size if sl.startIndex < 0 else int(sl.startIndex)
        end = int(sl.endIndex) % size if sl.endIndex < 0 else int(sl.endIndex)
        index = [slice(None)] * x.ndim
        index[np_axis(layer, axis, rank(x))] = slice(start, end, stride)
        return x[tuple(index)]

    return one(run)
