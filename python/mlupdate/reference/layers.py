# ruff: noqa: ARG002  -- every layer implements the same forward/backward signature; not all need every argument
"""Neural-network layers of the Core ML spec, forward and backward side by side (vectorised numpy).

Activations are 4-D arrays `[batch, channels, height, width]` (Core ML's rank-5 layout without the
sequence axis); a vector of C features is `[batch, C, 1, 1]`. Parameters live outside the layers, keyed by
`weights` / `biases` (spec layout: inner product `[out, in]`, convolution `[out, in/groups, kh, kw]`), so the
same layer object runs with frozen, trained or perturbed weights and gradient checks can poke at them.

`forward(xs, params) -> (y, cache)`; `backward(dy, cache, params) -> (dxs, dparams)`; `param_backward` gives
only the parameter gradients (the first live layer needs no input gradient); `infer(xs, params) -> y` runs a
frozen layer without keeping a backward cache. Every layer here has a backward; a forward-only layer (frozen
prefixes only) needs just `forward` (or `infer`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlupdate.errors import UnsupportedError

Array = npt.NDArray[np.floating[Any]]
Params = dict[str, Array]
Grads = tuple[list[Array], Params]


@dataclass(frozen=True)
class Layer:
    """One spec layer: its name, spec type, input and output blob names."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    output: str

    def forward(self, xs: Sequence[Array], params: Params) -> tuple[Array, Any]:
        raise NotImplementedError

    def infer(self, xs: Sequence[Array], params: Params) -> Array:
        """The output alone, for frozen layers: no backward cache outlives the call."""
        return self.forward(xs, params)[0]

    def param_backward(self, dy: Array, cache: Any, params: Params) -> Params:
        """Only the parameter gradients: for a layer whose input needs none (the first live layer)."""
        return self.backward(dy, cache, params)[1]

    def backward(self, dy: Array, cache: Any, params: Params) -> Grads:
        raise NotImplementedError


# --- dense and convolution -------------------------------------------------------------------------


@dataclass(frozen=True)
class InnerProduct(Layer):
    has_bias: bool

    def forward(self, xs: Sequence[Array], params: Params) -> tuple[Array, Any]:
        x = xs[0]
        if x.shape[2:] != (1, 1):
            raise UnsupportedError(
                f"innerProduct input has shape {x.shape[1:]} (C, H, W); Core ML's innerProduct needs H = W = 1",
                where=f"layer {self.name}",
                fix="add a flatten layer before it",
            )
        x2 = x[:, :, 0, 0]
        y = x2 @ params["weights"].T
        if self.has_bias:
            y += params["biases"]
        return y[:, :, None, None], x2

    def param_backward(self, dy: Array, cache: Any, params: Params) -> Params:
        x2: Array = cache
        d2 = dy[:, :, 0, 0]
        grads: Params = {"weights": d2.T @ x2}
        if self.has_bias:
            grads["biases"] = d2.sum(axis=0)
        return grads

    def backward(self, dy: Array, cache: Any, params: Params) -> Grads:
        dx = (dy[:, :, 0, 0] @ params["weights"])[:, :, None, None]
        return [dx], self.param_backward(dy, cache, params)


@dataclass(frozen=True)
class Window:
    """A 2-D sliding window with its padding already resolved: `pads` = (top, bottom, left, right)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[int, int, int, int]

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        top, bottom, left, right = self.pads
        span_h = (self.kernel[0] - 1) * self.dilation[0] + 1
        span_w = (self.kernel[1] - 1) * self.dilation[1] + 1
        return (
            (height + top + bottom - span_h) // self.stride[0] + 1,
            (width + left + right - span_w) // self.stride[1] + 1,
        )

    def slices(self, i: int, j: int, oh: int, ow: int) -> tuple[slice, slice]:
        (sh, sw), (dh, dw) = self.stride, self.dilation
        return slice(i * dh, i * dh + sh * (oh - 1) + 1, sh), slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)

    def _valid(self, offset: int, axis: int, size: int, count: int) -> tuple[int, int, slice]:
        """Output positions [first, last) whose input index at kernel `offset` lies inside the image, and the
        input slice they read; the rest of the window hangs over the padding."""
        stride, step, before = self.stride[axis], self.dilation[axis] * offset, self.pads[2 * axis]
        first = min(count, max(0, -((step - before) // stride)))  # ceil((before - step) / stride)
        last = max(first, min(count, -((step - before - size) // stride)))
        if last == first:
            return first, last, slice(0, 0)
        start = first * stride + step - before
        return first, last, slice(start, start + stride * (last - first - 1) + 1, stride)

    def patches(self, x: Array, fill: float = 0.0) -> Array:
        """`[B, C, kh, kw, oh, ow]` copies of every window position."""
        oh, ow = self.output_size(x.shape[2], x.shape[3])
        cols = np.empty((*x.shape[:2], *self.kernel, oh, ow), dtype=x.dtype)
        height, width = x.shape[2:]
        for i in range(self.kernel[0]):
            r0, r1, rows = self._valid(i, 0, height, oh)
            for j in range(self.kernel[1]):
                c0, c1, columns = self._valid(j, 1, width, ow)
                _fill_window(cols[:, :, i, j], x[:, :, rows, columns], (r0, r1, c0, c1), fill)
        return cols

    def fold(self, cols: Array, shape: tuple[int, ...]) -> Array:
        """Adjoint of `patches`: add every window's values back to where they came from."""
        top, bottom, left, right = self.pads
        height, width = shape[2], shape[3]
        xp = np.zeros((shape[0], shape[1], height + top + bottom, width + left + right), dtype=cols.dtype)
        kh, kw = self.kernel
        oh, ow = cols.shape[4], cols.shape[5]
        for i in range(kh):
            for j in range(kw):
                rows, columns = self.slices(i, j, oh, ow)
                xp[:, :, rows, columns] += cols[:, :, i, j]
        return xp[:, :, top : top + height, left : left + width]

    def channel_patches(self, x: Array) -> Array:
        """`[C, kh, kw, B, oh, ow]` zero-padded windows: reshaped to `[K, B*P]` it feeds one matrix product."""
        oh, ow = self.output_size(x.shape[2], x.shape[3])
        cols = np.empty((x.shape[1], *self.kernel, x.shape[0], oh, ow), dtype=x.dtype)
        channels_first = x.transpose(1, 0, 2, 3)
        height, width = x.shape[2:]
        for i in range(self.kernel[0]):
            r0, r1, rows = self._valid(i, 0, height, oh)
            for j in range(self.kernel[1]):
                c0, c1, columns = self._valid(j, 1, width, ow)
                _fill_window(cols[:, i, j], channels_first[:, :, rows, columns], (r0, r1, c0, c1), 0.0)
        return cols

    def channel_fold(self, cols: Array, shape: tuple[int, ...]) -> Array:
        """Adjoint of `channel_patches`, returned as `[B, C, H, W]`."""
        top, bottom, left, right = self.pads
        batch, channels, height, width = shape
        xp = np.zeros((channels, batch, height + top + bottom, width + left + right), dtype=cols.dtype)
        kh, kw = self.kernel
        oh, ow = cols.shape[4], cols.shape[5]
        for i in range(kh):
            for j in range(kw):
                rows, columns = self.slices(i, j, oh, ow)
                xp[:, :, rows, columns] += cols[:, i, j]
        return xp[:, :, top : top + height, left : left + width].transpose(1, 0, 2, 3)


def _fill_window(target: Array, inside: Array, bounds: tuple[int, int, int, int], fill: float) -> None:
    """target[..., r0:r1, c0:c1] = inside, and `fill` around it (the part of the windows over the padding)."""
    r0, r1, c0, c1 = bounds
    oh, ow = target.shape[-2:]
    if bounds != (0, oh, 0, ow):
        target[..., :r0, :] = fill
        target[..., r1:, :] = fill
        target[..., :, :c0] = fill
        target[..., :, c1:] = fill
    target[..., r0:r1, c0:c1] = inside


def same_pads(size: int, kernel: int, stride: int, dilation: int, top_left_heavy: bool) -> tuple[int, int]:
    """Core ML `same` padding: output ceil(size/stride); the odd pixel goes bottom/right unless TOP_LEFT_HEAVY."""
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - size)
    small, large = total // 2, total - total // 2
    return (large, small) if top_left_heavy else (small, large)


@dataclass(frozen=True)
class Convolution(Layer):
    out_channels: int
    groups: int
    has_bias: bool
    window_for: Callable[[int, int], Window]  # input (H, W) -> resolved window

    def forward(self, xs: Sequence[Array], params: Params) -> tuple[Array, Any]:
        x = xs[0]
        w = params["weights"]
        batch, channels = x.shape[:2]
        if channels != w.shape[1] * self.groups or self.out_channels % self.groups:
            raise UnsupportedError(
                f"convolution input has {channels} channels and {self.out_channels} outputs; the weights expect "
                f"{w.shape[1]} channels x {self.groups} groups, and groups must divide the outputs",
                where=f"layer {self.name}",
                fix="check kernelChannels and nGroups against the input's channels",
            )
        window = self.window_for(x.shape[2], x.shape[3])
        cols = window.channel_patches(x)
        oh, ow = cols.shape[4], cols.shape[5]
        g = self.groups
        cols_g = cols.reshape(g, -1, batch * oh * ow)  # [g, cg*kh*kw, B*P]
        y = np.matmul(w.reshape(g, self.out_channels // g, -1), cols_g)  # [g, og, B*P]
        y = y.reshape(self.out_channels, batch, oh, ow).transpose(1, 0, 2, 3)
        if self.has_bias:  # the bias and the [B, O, oh, ow] layout in one pass
            y = np.add(y, params["biases"][None, :, None, None], out=np.empty(y.shape, dtype=y.dtype))
        return np.ascontiguousarray(y), (cols_g, window, x.shape)

    def _grad_out(self, dy: Array) -> Array:
        """dy `[B, O, oh, ow]` as `[g, og, B*P]`, the layout of the forward product."""
        return dy.transpose(1, 0, 2, 3).reshape(self.groups, self.out_channels // self.groups, -1)

    def param_backward(self, dy: Array, cache: Any, params: Params) -> Params:
        cols_g = cache[0]
        dy_g = self._grad_out(dy)
        grads: Params = {"weights": np.matmul(dy_g, cols_g.transpose(0, 2, 1)).reshape(params["weights"].shape)}
        if self.has_bias:
            grads["biases"] = dy.sum(axis=(0, 2, 3))
        return grads

    def backward(self, dy: Array, cache: Any, params: Params) -> Grads:
        _, window, x_shape = cache
        g, w = self.groups, params["weights"]
        dcols = np.matmul(w.reshape(g, self.out_channels // g, -1).transpose(0, 2, 1), self._grad_out(dy))
        kh, kw = window.kernel
        dcols = dcols.reshape(x_shape[1], kh, kw, dy.shape[0], dy.shape[2], dy.shape[3])
        return [window.channel_fold(dcols, x_shape)], self.param_backward(dy, cache, params)


# --- pooling ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pooling(Layer):
    """Max or average pooling, one strided slice per kernel offset (no window copies: frozen prefixes are large)."""

    mode: str  # "max" | "average"
    exclude_padding: bool
    window_for: Callable[[int, int], Window]

    def forward(self, xs: Sequence[Array], params: Params) -> tuple[Array, Any]:
        x = xs[0]
        window = self.window_for(x.shape[2], x.shape[3])
        top, bottom, left, right = window.pads
        fill = -np.inf if self.mode == "max" else 0.0
        xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill) if any(window.pads) else x
        oh, ow = window.output_size(x.shape[2], x.shape[3])
        kh, kw = window.kernel
        y: Array | None = None
        for i in range(kh):
            for j in range(kw):
                rows, columns = window.slices(i, j, oh, ow)
                part = xp[:, :, rows, columns]
                if y is None:
                    y = part.copy()
                elif self.mode == "max":
                    np.maximum(y, part, out=y)
                else:
                    y += part
        assert y is not None
        if self.mode == "max":
            return y, (window, x.shape, xp, y)
        counts = self._counts(window, x)
        return y / counts, (window, x.shape, None, counts)

    def _counts(self, window: Window, x: Array) -> Array:
        if not self.exclude_padding:
            return np.asarray(window.kernel[0] * window.kernel[1], dtype=x.dtype)
        ones = np.ones((1, 1, *x.shape[2:]), dtype=x.dtype)
        counts: Array = window.patches(ones).sum(axis=(2, 3))
        return counts

    def backward(self, dy: Array, cache: Any, params: Params) -> Grads:
        window, x_shape, xp, extra = cache
        top, bottom, left, right = window.pads
        dxp = np.zeros((*x_shape[:2], x_shape[2] + top + bottom, x_shape[3] + left + right), dtype=dy.dtype)
        oh, ow = dy.shape[2], dy.shape[3]
        kh, kw = window.kernel
        taken = np.zeros(dy.shape, dtype=bool) if self.mode == "max" else None
        share = dy / extra if self.mode == "average" else dy
        for i in range(kh):
            for j in range(kw):
                rows, columns = window.slices(i, j, oh, ow)
                if taken is None:
                    dxp[:, :, rows, columns] += share
                    continue
                hit = (xp[:, :, rows, columns] == extra) & ~taken  # the first maximum of a window takes it all
                dxp[:, :, rows, columns] += np.where(hit, dy, 0)
                taken |= hit
        return [dxp[:, :, top : top + x_shape[2], left : left + x_shape[3]]], {}


# --- element-wise and shape layers ------------------------------------------------------------------


@dataclass(frozen=True)
class Activation(Layer):
    function: str  # ReLU, leakyReLU, sigmoid, tanh, linear
    alpha: float = 0.0
    beta: float = 0.0

    def forward(self, xs: Sequence[Array], params: Params) -> tuple[Array, Any]:
        x = xs[0]
        if self.function == "ReLU":
            y = np.maximum(x, 0)
        elif self.function == "leakyReLU":
            y = np.where(x >= 0, x, x * self.alpha)
        elif self.function == "sigmoid":
            with np.errstate(over="ignore"):  # exp overflow saturates to 0, as sigmoid should
                y = 1 / (1 + np.exp(-x))
        elif self.function == "tanh":
            y = np.tanh(x)
        else:
            y = x * self.alpha + self.beta
        return y.astype(x.dtype, copy=False), (x, y)

    def backward(self, dy: Array, cache: Any, params: Params) -> Grads:
        x, y = cache
        if self.function == "ReLU":
            dx = dy * (x > 0)
        elif self.function == "leakyReLU":
            dx = dy * np.where(x >= 0, 1, self.alpha).astype(dy.dtype)
        elif self.function == "sigmoid":
            dx = dy * y * (1 - y)
        elif self.function == "tanh":
            dx = dy * (1 - y * y)
        else:
            dx = dy * self.alpha
        return [dx], {}


@dataclass(frozen=True)
class Softmax(Layer):
    """Softmax over the channel axis (Core ML: axis -3)."""

    def forward(self, xs: Sequence[Array], params: Params) -> tuple[Array, Any]:
        x = xs[0]
        e = np.exp(x - x.max(axis=1, keepdims=True))
        y = e / e.sum(axis=1, keepdims=True)
        return y, y

    def backward(self, dy: Array, cache: Any, params: Params) -> Grads:
        y: Array = cache
        return [y * (dy - (dy * y).sum(axis=1, keepdims=True))], {}


@dataclass(frozen=True)
class Flatten(Layer):
    channel_last: bool

    def forward(self, xs: Sequence[Array], params: Params) -> tuple[Array, Any]:
        x = xs[0]
        source = x.transpose(0, 2, 3, 1) if self.channel_last else x
        return source.reshape(x.shape[0], -1, 1, 1), x.shape

    def backward(self, dy: Array, cache: Any, params: Params) -> Grads:
        b, c, h, w = cache
        if self.channel_last:
            return [dy.reshape(b, h, w, c).transpose(0, 3, 1, 2)], {}
        return [dy.reshape(cache)], {}


@dataclass(frozen=True)
class Reshape(Layer):
    target: tuple[int, int, int]
    channel_last: bool

    def forward(self, xs: Sequence[Array], params: Params) -> tuple[Array, Any]:
        x = xs[0]
        c, h, w = self.target
        if self.channel_last:
            y = x.transpose(0, 2, 3, 1).reshape(x.shape[0], h, w, c).transpose(0, 3, 1, 2)
        else:
            y = x.reshape(x.shape[0], c, h, w)
        return y, x.shape

    def backward(self, dy: Array, cache: Any, params: Params) -> Grads:
        b, c, h, w = cache
        if self.channel_last:
            return [dy.transpose(0, 2, 3, 1).reshape(b, h, w, c).transpose(0, 3, 1, 2)], {}
        return [dy.reshape(cache)], {}


@dataclass(frozen=True)
class Concat(Layer):
    def forward(self, xs: Sequence[Array], params: Params) -> tuple[Array, Any]:
        return np.concatenate(list(xs), axis=1), [x.shape[1] for x in xs]

    def backward(self, dy: Array, cache: Any, params: Params) -> Grads:
        cuts = np.cumsum(cache)[:-1]
        return list(np.split(dy, cuts, axis=1)), {}


@dataclass(frozen=True)
class Elementwise(Layer):
    """`add` / `multiply` of several inputs (numpy broadcasting), or of one input and `alpha`."""

    multiply: bool
    alpha: float

    def forward(self, xs: Sequence[Array], params: Params) -> tuple[Array, Any]:
        if len(xs) == 1:
            y = xs[0] * self.alpha if self.multiply else xs[0] + self.alpha
            return y.astype(xs[0].dtype, copy=False), list(xs)
        y = xs[0]
        for x in xs[1:]:
            y = y * x if self.multiply else y + x
        return y, list(xs)

    def backward(self, dy: Array, cache: Any, params: Params) -> Grads:
        xs: list[Array] = cache
        if len(xs) == 1:
            return [dy * self.alpha if self.multiply else dy], {}
        grads = []
        for i, x in enumerate(xs):
            g = dy
            if self.multiply:
                for k, other in enumerate(xs):
                    if k != i:
                        g = g * other
            grads.append(_unbroadcast(g, x.shape))
        return grads, {}


def _unbroadcast(grad: Array, shape: tuple[int, ...]) -> Array:
    axes = tuple(i for i, (g, s) in enumerate(zip(grad.shape, shape, strict=True)) if s == 1 and g != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


@dataclass(frozen=True)
class BatchNorm(Layer):
    """Inference-mode batchnorm with the spec's stored mean/variance: y = gamma (x - mean)/sqrt(var + eps) + beta."""

    epsilon: float

    def _scale_shift(self, params: Params) -> tuple[Array, Array]:
        scale = params["gamma"] / np.sqrt(params["variance"] + self.epsilon)
        shift = params["beta"] - params["mean"] * scale
        return scale[None, :, None, None], shift[None, :, None, None]

    def forward(self, xs: Sequence[Array], params: Params) -> tuple[Array, Any]:
        scale, shift = self._scale_shift(params)
        return (xs[0] * scale + shift).astype(xs[0].dtype, copy=False), None

    def backward(self, dy: Array, cache: Any, params: Params) -> Grads:
        scale, _ = self._scale_shift(params)
        return [(dy * scale).astype(dy.dtype, copy=False)], {}
