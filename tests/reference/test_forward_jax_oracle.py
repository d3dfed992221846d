"""Forward layers against JAX, written here from NeuralNetwork.proto's definitions (no code shared).

Each case builds a small model with coremltools' NeuralNetworkBuilder (the builder real converters use), runs
it through the reference network (`Network.forward`) and compares with a JAX function of one example, mapped
over the examples. The oracle functions restate the spec's text for that layer; where the spec is silent they
say which reading they take. Layers that onnxmltools converts are also checked in test_forward_onnx_oracle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlupdate._coreml import NeuralNetworkBuilder, datatypes
from mlupdate.reference.forward import NOT_SUPPORTED, supported_kinds
from mlupdate.reference.network import Network

jax.config.update("jax_enable_x64", True)

pytestmark = pytest.mark.slow
N = 3
RNG = np.random.default_rng(11)
W34 = RNG.normal(size=(3, 4)).astype(np.float32)
W45 = RNG.normal(size=(4, 5)).astype(np.float32)
B5 = RNG.normal(size=5).astype(np.float32)
TABLE = RNG.normal(size=(6, 10)).astype(np.float32)  # [embeddingSize, vocab]
GAMMA = RNG.normal(size=(4,)).astype(np.float32)
BETA = RNG.normal(size=(4,)).astype(np.float32)
CONST = RNG.normal(size=(2, 3)).astype(np.float32)


def _ints(high: int) -> Callable[[tuple[int, ...]], np.ndarray]:
    return lambda shape: RNG.integers(0, high, size=shape).astype(np.float32)


def _positive(shape: tuple[int, ...]) -> np.ndarray:
    return RNG.uniform(0.1, 2.0, size=shape).astype(np.float32)


@dataclass
class Case:
    kind: str
    inputs: dict[str, tuple[int, ...]]
    add: Callable[[Any], None]
    oracle: Callable[..., Any]
    data: dict[str, Callable[[tuple[int, ...]], np.ndarray]] = field(default_factory=dict)
    exact: bool = True
    outputs: tuple[str, ...] = ("y",)
    name: str = ""


def _sigmoid(x: Any) -> Any:
    return 1 / (1 + jnp.exp(-x))


def _softmax(x: Any, axis: int) -> Any:
    e = jnp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _band(x: Any, lower: int, upper: int) -> Any:
    m, n = jnp.arange(x.shape[-2])[:, None], jnp.arange(x.shape[-1])[None, :]
    keep = ((lower < 0) | (m - n <= lower)) & ((upper < 0) | (n - m <= upper))
    return x * keep


def _lstm_case() -> Case:
    d, h = 3, 2
    wx = [RNG.normal(size=(h, d)).astype(np.float32) for _ in range(4)]  # builder order i, f, o, z
    wh = [RNG.normal(size=(h, h)).astype(np.float32) for _ in range(4)]
    b = [RNG.normal(size=h).astype(np.float32) for _ in range(4)]

    def oracle(x: Any) -> Any:  # x [Seq, 1, D, 1, 1]; the spec's equations with f=sigmoid, g=h=tanh
        y, c, outs = jnp.zeros(h), jnp.zeros(h), []
        for t in range(x.shape[0]):
            xt = x[t, 0, :, 0, 0]
            i = _sigmoid(wx[0] @ xt + wh[0] @ y + b[0])
            f = _sigmoid(wx[1] @ xt + wh[1] @ y + b[1])
            o = _sigmoid(wx[2] @ xt + wh[2] @ y + b[2])
            z = jnp.tanh(wx[3] @ xt + wh[3] @ y + b[3])
            c = c * f + i * z
            y = jnp.tanh(c) * o
            outs.append(y)
        return jnp.stack(outs)[:, None, :, None, None]

    def add(builder: Any) -> None:
        builder.add_unilstm("lstm", wh, wx, b, h, d, ["x"], ["y"], output_all=True)

    return Case("uniDirectionalLSTM", {"x": (4, 1, d, 1, 1)}, add, oracle)


def _gru_case() -> Case:
    d, h = 3, 2
    wx = [RNG.normal(size=(h, d)).astype(np.float32) for _ in range(3)]  # z, r, o
    wh = [RNG.normal(size=(h, h)).astype(np.float32) for _ in range(3)]
    b = [RNG.normal(size=h).astype(np.float32) for _ in range(3)]

    def oracle(
        x: Any,
    ) -> Any:  # f = hard sigmoid, g = tanh; last step only. The builder leaves the hard sigmoid's alpha/beta unset:
        # the spec supports recurrent hard sigmoids only with alpha 0.2, beta 0.5
        y = jnp.zeros(h)
        for t in range(x.shape[0]):
            xt = x[t, 0, :, 0, 0]
            z = jnp.clip(0.2 * (wx[0] @ xt + wh[0] @ y + b[0]) + 0.5, 0, 1)
            r = jnp.clip(0.2 * (wx[1] @ xt + wh[1] @ y + b[1]) + 0.5, 0, 1)
            o = jnp.tanh(wx[2] @ xt + wh[2] @ (y * r) + b[2])
            y = (1 - z) * o + z * y
        return y[None, None, :, None, None]

    def add(builder: Any) -> None:
        builder.add_gru("gru", wh, wx, b, h, d, ["x"], ["y"])

    return Case("gru", {"x": (4, 1, d, 1, 1)}, add, oracle)


def _rnn_case() -> Case:
    d, h = 3, 2
    wx, wh, b = (RNG.normal(size=s).astype(np.float32) for s in ((h, d), (h, h), (h,)))

    def oracle(x: Any) -> Any:  # reverse input: y at position t is the state after reading x_T ... x_t
        y, outs = jnp.zeros(h), {}
        for t in reversed(range(x.shape[0])):
            y = jnp.tanh(wx @ x[t, 0, :, 0, 0] + wh @ y + b)
            outs[t] = y
        return jnp.stack([outs[t] for t in range(x.shape[0])])[:, None, :, None, None]

    def add(builder: Any) -> None:
        builder.add_simple_rnn("rnn", wh, wx, b, h, d, "TANH", ["x"], ["y"], output_all=True, reverse_input=True)

    return Case("simpleRecurrent", {"x": (4, 1, d, 1, 1)}, add, oracle)


def _bilstm_case() -> Case:
    d, h = 2, 2
    sets = [
        (
            [RNG.normal(size=(h, h)).astype(np.float32) for _ in range(4)],
            [RNG.normal(size=(h, d)).astype(np.float32) for _ in range(4)],
            [RNG.normal(size=h).astype(np.float32) for _ in range(4)],
        )
        for _ in range(2)
    ]

    def run(x: Any, weights: Any, reverse: bool) -> dict[int, Any]:
        wh, wx, b = weights
        y, c, outs = jnp.zeros(h), jnp.zeros(h), {}
        for t in reversed(range(x.shape[0])) if reverse else range(x.shape[0]):
            xt = x[t, 0, :, 0, 0]
            i, f, o = (_sigmoid(wx[k] @ xt + wh[k] @ y + b[k]) for k in range(3))
            c = c * f + i * jnp.tanh(wx[3] @ xt + wh[3] @ y + b[3])
            y = jnp.tanh(c) * o
            outs[t] = y
        return outs

    def oracle(x: Any) -> Any:  # output t = [forward y_t, backward y_t] (the spec's [yf_1, yb_3] example)
        fwd, bwd = run(x, sets[0], False), run(x, sets[1], True)
        seq = jnp.stack([jnp.concatenate([fwd[t], bwd[t]]) for t in range(x.shape[0])])
        return seq[:, None, :, None, None]

    def add(builder: Any) -> None:
        (wh, wx, b), (whb, wxb, bb) = sets
        builder.add_bidirlstm("bi", wh, wx, b, whb, wxb, bb, h, d, ["x"], ["y"], output_all=True)

    return Case("biDirectionalLSTM", {"x": (3, 1, d, 1, 1)}, add, oracle)


CASES: list[Case] = [
    Case(
        "innerProduct",
        {"x": (2, 3)},
        lambda b: b.add_inner_product("d", W34.T, GAMMA, 3, 4, True, "x", "y"),
        lambda x: x @ W34 + GAMMA,
        name="rank-2",
    ),
    Case(
        "pooling",
        {"x": (2, 4, 4)},
        lambda b: b.add_pooling("p", 2, 2, 2, 2, "L2", "VALID", "x", "y"),
        lambda x: jnp.sqrt((x.reshape(2, 2, 2, 2, 2) ** 2).sum(axis=(2, 4))),
        exact=False,
        name="L2",
    ),
    # --- the layers real models are seen to hold in their frozen prefix
    Case(
        "embeddingND",
        {"x": (5, 1)},
        lambda b: b.add_embedding_nd("e", "x", "y", 10, 6, TABLE, B5.repeat(2)[:6]),
        lambda x: jnp.asarray(TABLE).T[x[:, 0].astype(int)] + B5.repeat(2)[:6],
        {"x": _ints(10)},
    ),
    Case(
        "embedding",
        {"x": (1,)},
        lambda b: b.add_embedding("e", TABLE, B5.repeat(2)[:6], 10, 6, True, "x", "y"),
        lambda x: (jnp.asarray(TABLE)[:, x[0].astype(int)] + B5.repeat(2)[:6])[:, None, None],
        {"x": _ints(10)},
        exact=False,
    ),
    Case(
        "transpose",
        {"x": (2, 3, 4)},
        lambda b: b.add_transpose("t", [2, 0, 1], "x", "y"),
        lambda x: jnp.transpose(x, (2, 0, 1)),
    ),
    Case(
        "permute",
        {"x": (2, 3, 4)},
        lambda b: b.add_permute("p", (0, 3, 1, 2), "x", "y"),
        lambda x: jnp.transpose(x, (2, 0, 1)),
        exact=False,
    ),  # [Seq, C, H, W] -> [Seq, W, C, H]
    Case(
        "expandDims", {"x": (3, 4)}, lambda b: b.add_expand_dims("e", "x", "y", [0, -1]), lambda x: x[None, :, :, None]
    ),
    Case(
        "batchedMatmul",
        {"x": (2, 3)},
        lambda b: b.add_batched_mat_mul(
            "m", ["x"], "y", weight_matrix_rows=3, weight_matrix_columns=4, W=W34, bias=GAMMA
        ),
        lambda x: x @ W34 + GAMMA,
        name="weights",
    ),
    Case(
        "batchedMatmul",
        {"a": (2, 3, 4), "b": (4, 5)},
        lambda b: b.add_batched_mat_mul("m", ["a", "b"], "y"),
        lambda a, b: a @ b,
        name="two-inputs",
    ),
    Case(
        "batchedMatmul",
        {"a": (3, 4), "b": (2, 5, 4)},
        lambda b: b.add_batched_mat_mul("m", ["a", "b"], "y", transpose_b=True),
        lambda a, b: a @ jnp.swapaxes(b, -1, -2),
        name="transposeB-broadcast",
    ),
    Case("squeeze", {"x": (1, 3, 1, 4)}, lambda b: b.add_squeeze("s", "x", "y", axes=[0, 2]), lambda x: x[0, :, 0]),
    Case(
        "squeeze",
        {"x": (1, 3, 1)},
        lambda b: b.add_squeeze("s", "x", "y", squeeze_all=True),
        lambda x: x.reshape(3),
        name="all",
    ),
    Case(
        "reshapeStatic",
        {"x": (2, 6)},
        lambda b: b.add_reshape_static("r", "x", "y", [3, -1, 2]),
        lambda x: x.reshape(3, 2, 2),
    ),
    Case(
        "rankPreservingReshape",
        {"x": (2, 6)},
        lambda b: b.add_rank_preserving_reshape("r", "x", "y", [0, -1]),
        lambda x: x.reshape(2, 6),
        name="keep",
    ),
    Case(
        "flattenTo2D", {"x": (2, 3, 4)}, lambda b: b.add_flatten_to_2d("f", "x", "y", axis=2), lambda x: x.reshape(6, 4)
    ),
    Case(
        "reshapeLike",
        {"x": (2, 6), "r": (3, 4)},
        lambda b: b.add_reshape_like("r", ["x", "r"], "y"),
        lambda x, r: x.reshape(3, 4),
    ),
    Case(
        "concatND",
        {"a": (2, 3), "b": (2, 1)},
        lambda b: b.add_concat_nd("c", ["a", "b"], "y", axis=-1),
        lambda a, b: jnp.concatenate([a, b], axis=-1),
    ),
    Case(
        "concatND",
        {"a": (2, 3), "b": (2, 3)},
        lambda b: b.add_concat_nd("c", ["a", "b"], "y", axis=1, interleave=True),
        lambda a, b: jnp.stack([a, b], axis=2).reshape(2, 6),
        name="interleave",
    ),
    Case(
        "splitND",
        {"x": (2, 6)},
        lambda b: b.add_split_nd("s", "x", ["y", "z"], axis=1, split_sizes=[2, 4]),
        lambda x: (x[:, :2], x[:, 2:]),
        outputs=("y", "z"),
    ),
    Case(
        "sliceStatic",
        {"x": (4, 6)},
        lambda b: b.add_slice_static("s", "x", "y", [1, 0], [3, 5], [1, 2], [False, True], [False, False]),
        lambda x: x[1:3, 0:5:2],
    ),
    Case(
        "sliceStatic",
        {"x": (4, 6)},
        lambda b: b.add_slice_static("s", "x", "y", [-1, 0], [0, 6], [-1, 1], [True, False], [True, False]),
        lambda x: x[::-1, :],
        name="negative-stride",
    ),
    Case(
        "sliceBySize",
        {"x": (4, 6), "i": (1,)},
        lambda b: b.add_slice_by_size("s", ["x", "i"], "y", 1, 3),
        lambda x, i: jax.lax.dynamic_slice_in_dim(x, i[0].astype(int), 3, axis=1),
        {"i": lambda s: np.full(s, 2.0)},
    ),
    Case("softmaxND", {"x": (2, 5)}, lambda b: b.add_softmax_nd("s", "x", "y", axis=-1), lambda x: _softmax(x, -1)),
    Case(
        "addBroadcastable",
        {"a": (2, 3), "b": (3,)},
        lambda b: b.add_add_broadcastable("a", ["a", "b"], "y"),
        lambda a, b: a + b,
    ),
    Case(
        "multiplyBroadcastable",
        {"a": (2, 1, 3), "b": (4, 1)},
        lambda b: b.add_multiply_broadcastable("m", ["a", "b"], "y"),
        lambda a, b: a * b,
    ),
    Case(
        "subtractBroadcastable",
        {"a": (2, 3), "b": (2, 1)},
        lambda b: b.add_subtract_broadcastable("s", ["a", "b"], "y"),
        lambda a, b: a - b,
    ),
    Case(
        "divideBroadcastable",
        {"a": (2, 3), "b": (3,)},
        lambda b: b.add_divide_broadcastable("d", ["a", "b"], "y"),
        lambda a, b: a / b,
        {"b": _positive},
    ),
    Case(
        "maxBroadcastable",
        {"a": (2, 3), "b": (3,)},
        lambda b: b.add_max_broadcastable("m", ["a", "b"], "y"),
        lambda a, b: jnp.maximum(a, b),
    ),
    Case(
        "minBroadcastable",
        {"a": (2, 3), "b": (3,)},
        lambda b: b.add_min_broadcastable("m", ["a", "b"], "y"),
        lambda a, b: jnp.minimum(a, b),
    ),
    Case(
        "powBroadcastable",
        {"a": (2, 3), "b": (3,)},
        lambda b: b.add_pow_broadcastable("p", ["a", "b"], "y"),
        lambda a, b: a**b,
        {"a": _positive},
    ),
    Case(
        "modBroadcastable",
        {"a": (2, 3), "b": (3,)},
        lambda b: b.add_mod_broadcastable("m", ["a", "b"], "y"),
        lambda a, b: jnp.mod(a, b),
        {"b": _positive},
    ),
    Case(
        "floorDivBroadcastable",
        {"a": (2, 3), "b": (3,)},
        lambda b: b.add_floor_div_broadcastable("f", ["a", "b"], "y"),
        lambda a, b: jnp.floor(a / b),
        {"b": _positive},
    ),
    Case(
        "loadConstantND",
        {"x": (2, 3)},
        lambda b: (b.add_load_constant_nd("c", "k", CONST, (2, 3)), b.add_add_broadcastable("a", ["x", "k"], "y")),
        lambda x: x + CONST,
    ),
    Case(
        "loadConstant",
        {"x": (2, 3, 1)},
        lambda b: (
            b.add_load_constant("c", "k", CONST.reshape(2, 3, 1), (2, 3, 1)),
            b.add_elementwise("a", ["x", "k"], "y", "ADD"),
        ),
        lambda x: x + CONST.reshape(2, 3, 1),
        exact=False,
    ),
    Case(
        "gather",
        {"x": (5, 3), "i": (4,)},
        lambda b: b.add_gather("g", ["x", "i"], "y", axis=0),
        lambda x, i: x[i.astype(int)],
        {"i": _ints(5)},
    ),
    Case(
        "gatherAlongAxis",
        {"x": (3, 4), "i": (3, 2)},
        lambda b: b.add_gather_along_axis("g", ["x", "i"], "y", axis=1),
        lambda x, i: jnp.take_along_axis(x, i.astype(int), axis=1),
        {"i": _ints(4)},
    ),
    Case(
        "gatherND",
        {"x": (3, 4), "i": (2, 2)},
        lambda b: b.add_gather_nd("g", ["x", "i"], "y"),
        lambda x, i: x[i[:, 0].astype(int), i[:, 1].astype(int)],
        {"i": _ints(3)},
    ),
    Case(
        "scatter",
        {"x": (4, 3), "i": (2,), "u": (2, 3)},
        lambda b: b.add_scatter("s", ["x", "i", "u"], "y", mode="ADD"),
        lambda x, i, u: x.at[i.astype(int)].add(u),
        {"i": lambda s: np.array([[1.0, 3.0]] * s[0])},
    ),
    Case(
        "scatterND",
        {"x": (4, 3), "i": (2, 1), "u": (2, 3)},
        lambda b: b.add_scatter_nd("s", ["x", "i", "u"], "y"),
        lambda x, i, u: x.at[i[:, 0].astype(int)].set(u),
        {"i": lambda s: np.array([[[0.0], [2.0]]] * s[0])},
    ),
    Case(
        "scatterAlongAxis",
        {"x": (2, 4), "i": (2, 1), "u": (2, 1)},
        lambda b: b.add_scatter_along_axis("s", ["x", "i", "u"], "y", axis=1, mode="UPDATE"),
        lambda x, i, u: x.at[jnp.arange(2), i[:, 0].astype(int)].set(u[:, 0]),
        {"i": _ints(4)},
    ),
    Case("tile", {"x": (2, 3)}, lambda b: b.add_tile("t", "x", "y", reps=[2, 1]), lambda x: jnp.tile(x, (2, 1))),
    Case(
        "stack",
        {"a": (2, 3), "b": (2, 3)},
        lambda b: b.add_stack("s", ["a", "b"], "y", axis=1),
        lambda a, b: jnp.stack([a, b], axis=1),
    ),
    Case(
        "reverse",
        {"x": (2, 3)},
        lambda b: b.add_reverse("r", "x", "y", reverse_dim=[False, True]),
        lambda x: x[:, ::-1],
    ),
    Case(
        "reverseSeq",
        {"x": (2, 4), "n": (2,)},
        lambda b: b.add_reverse_sequence("r", ["x", "n"], "y", batch_axis=0, seq_axis=1),
        lambda x, n: jnp.stack(
            [jnp.concatenate([x[0, :2][::-1], x[0, 2:]]), jnp.concatenate([x[1, :3][::-1], x[1, 3:]])]
        ),
        {"n": lambda s: np.array([[2.0, 3.0]] * s[0])},
    ),
    Case(
        "slidingWindows",
        {"x": (7, 2)},
        lambda b: b.add_sliding_windows("s", "x", "y", axis=0, window_size=3, step=2),
        lambda x: jnp.stack([x[0:3], x[2:5], x[4:7]]),
    ),
    Case(
        "constantPad",
        {"x": (2, 3)},
        lambda b: b.add_constant_pad("p", ["x"], "y", value=0.5, pad_amounts=[1, 0, 0, 2]),
        lambda x: jnp.pad(x, ((1, 0), (0, 2)), constant_values=0.5),
    ),
    Case(
        "fillLike", {"x": (2, 3)}, lambda b: b.add_fill_like("f", "x", "y", value=2.5), lambda x: jnp.full((2, 3), 2.5)
    ),
    Case(
        "fillStatic",
        {"x": (1,)},
        lambda b: (b.add_fill_static("f", "k", (2, 2), value=1.5), b.add_add_broadcastable("a", ["x", "k"], "y")),
        lambda x: x + jnp.full((2, 2), 1.5),
    ),
    Case(
        "fillDynamic",
        {"x": (2,)},
        lambda b: b.add_fill_dynamic("f", "x", "y", value=3.0),
        lambda x: jnp.full((2, 3), 3.0),
        {"x": lambda s: np.array([[2.0, 3.0]] * s[0])},
    ),
    Case(
        "broadcastToStatic",
        {"x": (1, 3)},
        lambda b: b.add_broadcast_to_static("b", "x", "y", [4, 3]),
        lambda x: jnp.broadcast_to(x, (4, 3)),
    ),
    Case(
        "broadcastToLike",
        {"x": (3,), "r": (2, 3)},
        lambda b: b.add_broadcast_to_like("b", ["x", "r"], "y"),
        lambda x, r: jnp.broadcast_to(x, (2, 3)),
    ),
    Case("getShape", {"x": (2, 5, 3)}, lambda b: b.add_get_shape("s", "x", "y"), lambda x: jnp.array([2.0, 5.0, 3.0])),
    Case(
        "rangeStatic",
        {"x": (1,)},
        lambda b: (b.add_range_static("r", "k", end=5, start=1, step=2), b.add_add_broadcastable("a", ["x", "k"], "y")),
        lambda x: x + jnp.arange(1, 5, 2),
    ),
    Case(
        "rangeDynamic",
        {"x": (1,)},
        lambda b: b.add_range_dynamic("r", ["x"], "y", start=0, step=1),
        lambda x: jnp.arange(4.0),
        {"x": lambda s: np.full(s, 4.0)},
    ),
    Case("copy", {"x": (2, 3)}, lambda b: b.add_copy("c", "x", "y"), lambda x: x),
    Case(
        "whereBroadcastable",
        {"c": (2, 3), "a": (2, 3), "b": (3,)},
        lambda b: b.add_where_broadcastable("w", ["c", "a", "b"], "y"),
        lambda c, a, b: jnp.where(c != 0, a, b),
        {"c": _ints(2)},
    ),
    Case(
        "whereNonZero",
        {"x": (2, 3)},
        lambda b: b.add_where_nonzero("w", "x", "y"),
        lambda x: jnp.array([[0.0, 0.0], [1.0, 2.0]]),
        {"x": lambda s: np.array([[[1, 0, 0], [0, 0, 5]]] * s[0])},
    ),
    Case(
        "matrixBandPart", {"x": (4, 4)}, lambda b: b.add_matrix_band_part("m", "x", "y", 1, 0), lambda x: _band(x, 1, 0)
    ),
    Case(
        "lowerTriangular", {"x": (3, 4)}, lambda b: b.add_lower_triangular("l", "x", "y", k=1), lambda x: jnp.tril(x, 1)
    ),
    Case(
        "upperTriangular",
        {"x": (3, 4)},
        lambda b: b.add_upper_triangular("u", "x", "y", k=-1),
        lambda x: jnp.triu(x, -1),
    ),
    Case(
        "layerNormalization",
        {"x": (3, 4)},
        lambda b: b.add_layer_normalization("l", "x", "y", [4], GAMMA, BETA, eps=1e-5),
        lambda x: GAMMA * (x - x.mean(-1, keepdims=True)) / jnp.sqrt(x.var(-1, keepdims=True) + 1e-5) + BETA,
    ),
    Case(
        "cumSum",
        {"x": (2, 4)},
        lambda b: b.add_cumsum("c", ["x"], "y", axis=-1, reverse=True, exclusive=True),
        lambda x: jnp.flip(jnp.cumsum(jnp.flip(x, -1), -1), -1) - x,
    ),
    Case(
        "oneHot",
        {"x": (3,)},
        lambda b: b.add_one_hot("o", ["x"], "y", one_hot_vector_size=4, axis=0, on_value=5.0, off_value=-1.0),
        lambda x: jnp.where(jnp.arange(4)[:, None] == x[None, :], 5.0, -1.0),
        {"x": _ints(4)},
    ),
    Case(
        "argMax",
        {"x": (3, 4)},
        lambda b: b.add_argmax("a", "x", "y", axis=-1, keepdims=False),
        lambda x: jnp.argmax(x, axis=-1).astype(jnp.float64),
    ),
    Case(
        "argMin",
        {"x": (3, 4)},
        lambda b: b.add_argmin("a", "x", "y", axis=0, keepdims=True),
        lambda x: jnp.argmin(x, axis=0, keepdims=True).astype(jnp.float64),
    ),
    Case(
        "topK",
        {"x": (2, 5)},
        lambda b: b.add_topk("t", ["x"], ["y", "z"], k=2, axis=1),
        lambda x: (jax.lax.top_k(x, 2)[0], jax.lax.top_k(x, 2)[1].astype(jnp.float64)),
        outputs=("y", "z"),
    ),
    Case(
        "argSort",
        {"x": (2, 5)},
        lambda b: b.add_argsort("a", "x", "y", axis=1, descending=True),
        lambda x: jnp.argsort(-x, axis=1).astype(jnp.float64),
    ),
    Case("clip", {"x": (2, 5)}, lambda b: b.add_clip("c", "x", "y", -0.5, 0.7), lambda x: jnp.clip(x, -0.5, 0.7)),
    Case(
        "clampedReLU",
        {"x": (2, 5)},
        lambda b: b.add_clamped_relu("c", "x", "y", alpha=0.1, beta=0.8),
        lambda x: jnp.minimum(0.8, jnp.where(x >= 0, x, 0.1 * x)),
    ),
    Case(
        "gelu",
        {"x": (2, 5)},
        lambda b: b.add_gelu("g", "x", "y", mode="EXACT"),
        lambda x: 0.5 * x * (1 + jax.scipy.special.erf(x / jnp.sqrt(2.0))),
    ),
    Case(
        "gelu",
        {"x": (2, 5)},
        lambda b: b.add_gelu("g", "x", "y", mode="TANH_APPROXIMATION"),
        lambda x: 0.5 * x * (1 + jnp.tanh(jnp.sqrt(2 / jnp.pi) * (x + 0.044715 * x**3))),
        name="tanh",
    ),
    Case("erf", {"x": (2, 50)}, lambda b: b.add_erf("e", "x", "y"), lambda x: jax.scipy.special.erf(x)),
    *[
        Case(
            kind,
            {"x": (2, 5)},
            lambda b, kind=kind, name=name: getattr(b, f"add_{name}")(kind, "x", "y"),
            fn,
            {"x": lambda s: RNG.uniform(-0.9, 0.9, s).astype(np.float32)},
        )
        for kind, name, fn in (
            ("ceil", "ceil", jnp.ceil),
            ("floor", "floor", jnp.floor),
            ("sign", "sign", jnp.sign),
            ("round", "round", lambda x: jnp.sign(x) * jnp.floor(jnp.abs(x) + 0.5)),
            ("exp2", "exp2", jnp.exp2),
            ("sin", "sin", jnp.sin),
            ("cos", "cos", jnp.cos),
            ("tan", "tan", jnp.tan),
            ("asin", "asin", jnp.arcsin),
            ("acos", "acos", jnp.arccos),
            ("atan", "atan", jnp.arctan),
            ("sinh", "sinh", jnp.sinh),
            ("cosh", "cosh", jnp.cosh),
            ("tanh", "tanh", jnp.tanh),
            ("asinh", "asinh", jnp.arcsinh),
            ("atanh", "atanh", jnp.arctanh),
        )
    ],
    Case(
        "acosh",
        {"x": (2, 5)},
        lambda b: b.add_acosh("a", "x", "y"),
        jnp.arccosh,
        {"x": lambda s: RNG.uniform(1.1, 3.0, s).astype(np.float32)},
    ),
    Case(
        "reshapeDynamic",
        {"x": (2, 6), "s": (3,)},
        lambda b: b.add_reshape_dynamic("r", ["x", "s"], "y"),
        lambda x, s: x.reshape(3, 2, 2),
        {"s": lambda s: np.array([[3.0, 2.0, 2.0]] * s[0])},
    ),
    Case(
        "broadcastToDynamic",
        {"x": (1, 3), "s": (2,)},
        lambda b: b.add_broadcast_to_dynamic("b", ["x", "s"], "y"),
        lambda x, s: jnp.broadcast_to(x, (4, 3)),
        {"s": lambda s: np.array([[4.0, 3.0]] * s[0])},
    ),
    Case(
        "sliceDynamic",
        {"x": (4, 6), "b": (2,)},
        lambda b: b.add_slice_dynamic(
            "s", ["x", "b"], "y", end_ids=[3, 6], strides=[1, 2], begin_masks=[False, False], end_masks=[False, True]
        ),
        lambda x, b: x[1:3, 0::2],
        {"b": lambda s: np.array([[1.0, 0.0]] * s[0])},
    ),
    Case(
        "equal",
        {"a": (2, 3), "b": (3,)},
        lambda b: b.add_equal("e", ["a", "b"], "y"),
        lambda a, b: (a == b).astype(jnp.float64),
        {"a": _ints(2), "b": _ints(2)},
    ),
    Case(
        "notEqual",
        {"a": (3,)},
        lambda b: b.add_not_equal("e", ["a"], "y", alpha=1.0),
        lambda a: (a != 1).astype(jnp.float64),
        {"a": _ints(2)},
    ),
    Case(
        "lessThan",
        {"a": (2, 3), "b": (2, 3)},
        lambda b: b.add_less_than("l", ["a", "b"], "y"),
        lambda a, b: (a < b).astype(jnp.float64),
    ),
    Case(
        "lessEqual",
        {"a": (3,)},
        lambda b: b.add_less_than("l", ["a"], "y", use_less_than_equal=True, alpha=0.0),
        lambda a: (a <= 0).astype(jnp.float64),
    ),
    Case(
        "greaterThan",
        {"a": (2, 3), "b": (3,)},
        lambda b: b.add_greater_than("g", ["a", "b"], "y"),
        lambda a, b: (a > b).astype(jnp.float64),
    ),
    Case(
        "greaterEqual",
        {"a": (3,)},
        lambda b: b.add_greater_than("g", ["a"], "y", use_greater_than_equal=True, alpha=0.1),
        lambda a: (a >= 0.1).astype(jnp.float64),
    ),
    Case(
        "logicalAnd",
        {"a": (4,), "b": (4,)},
        lambda b: b.add_logical("l", ["a", "b"], "y", "AND"),
        lambda a, b: ((a != 0) & (b != 0)).astype(jnp.float64),
        {"a": _ints(2), "b": _ints(2)},
    ),
    Case(
        "logicalOr",
        {"a": (4,), "b": (4,)},
        lambda b: b.add_logical("l", ["a", "b"], "y", "OR"),
        lambda a, b: ((a != 0) | (b != 0)).astype(jnp.float64),
        {"a": _ints(2), "b": _ints(2)},
    ),
    Case(
        "logicalXor",
        {"a": (4,), "b": (4,)},
        lambda b: b.add_logical("l", ["a", "b"], "y", "XOR"),
        lambda a, b: ((a != 0) ^ (b != 0)).astype(jnp.float64),
        {"a": _ints(2), "b": _ints(2)},
    ),
    Case(
        "logicalNot",
        {"a": (4,)},
        lambda b: b.add_logical("l", ["a"], "y", "NOT"),
        lambda a: (a == 0).astype(jnp.float64),
        {"a": _ints(2)},
    ),
    *[
        Case(
            kind,
            {"x": (3, 4)},
            lambda b, kind=kind, name=name: getattr(b, f"add_{name}")(kind, "x", "y", axes=[-1], keepdims=False),
            fn,
            {"x": _positive},
        )
        for kind, name, fn in (
            ("reduceSum", "reduce_sum", lambda x: x.sum(-1)),
            ("reduceMean", "reduce_mean", lambda x: x.mean(-1)),
            ("reduceProd", "reduce_prod", lambda x: x.prod(-1)),
            ("reduceMax", "reduce_max", lambda x: x.max(-1)),
            ("reduceMin", "reduce_min", lambda x: x.min(-1)),
            ("reduceL1", "reduce_l1", lambda x: jnp.abs(x).sum(-1)),
            ("reduceL2", "reduce_l2", lambda x: jnp.sqrt((x * x).sum(-1))),
            ("reduceSumSquare", "reduce_sumsquare", lambda x: (x * x).sum(-1)),
            ("reduceLogSum", "reduce_logsum", lambda x: jnp.log(x.sum(-1))),
            ("reduceLogSumExp", "reduce_logsumexp", lambda x: jax.scipy.special.logsumexp(x, -1)),
        )
    ],
    Case(
        "reduceMean",
        {"x": (3, 4)},
        lambda b: b.add_reduce_mean("r", "x", "y", reduce_all=True, keepdims=True),
        lambda x: x.mean(keepdims=True),
        name="all-keepdims",
    ),
    *[
        Case(
            "unary",
            {"x": (2, 3, 4)},
            lambda b, mode=mode, kw=kw: b.add_unary("u", "x", "y", mode=mode, **kw),
            fn,
            {"x": _positive},
            exact=False,
            name=mode,
        )
        for mode, kw, fn in (
            ("sqrt", {}, jnp.sqrt),
            ("rsqrt", {"epsilon": 1e-3}, lambda x: 1 / jnp.sqrt(x + 1e-3)),
            ("inverse", {"epsilon": 1e-3}, lambda x: 1 / (x + 1e-3)),
            ("power", {"alpha": 1.5}, lambda x: x**1.5),
            ("exp", {"shift": 0.5, "scale": 2.0}, lambda x: jnp.exp(2 * x + 0.5)),
            ("log", {}, jnp.log),
            ("threshold", {"alpha": 1.0}, lambda x: jnp.maximum(x, 1.0)),
        )
    ],
    # --- classic rank-5 layers on the legacy mapping (each example's tensor is [1, 1, C, H, W])
    *[
        Case(
            "activation",
            {"x": (2, 3, 4)},
            lambda b, act=act, params=params: b.add_activation("a", act, "x", "y", params),
            fn,
            exact=False,
            name=act,
        )
        for act, params, fn in (
            ("LEAKYRELU", [0.2], lambda x: jnp.where(x >= 0, x, 0.2 * x)),
            ("THRESHOLDEDRELU", 0.3, lambda x: jnp.where(x >= 0.3, x, 0.0)),
            ("SCALED_TANH", [1.5, 0.7], lambda x: 1.5 * jnp.tanh(0.7 * x)),
            ("SIGMOID_HARD", [0.2, 0.5], lambda x: jnp.clip(0.2 * x + 0.5, 0, 1)),
            ("ELU", 0.9, lambda x: jnp.where(x >= 0, x, 0.9 * (jnp.exp(x) - 1))),
            ("SOFTSIGN", None, lambda x: x / (1 + jnp.abs(x))),
            ("SOFTPLUS", None, lambda x: jnp.log1p(jnp.exp(x))),
            (
                "PRELU",
                np.array([0.1, 0.2], np.float32),
                lambda x: jnp.where(x >= 0, x, x * jnp.array([0.1, 0.2])[:, None, None]),
            ),
            (
                "PARAMETRICSOFTPLUS",
                [np.array([0.5, 2.0], np.float32), np.array([1.5, 0.5], np.float32)],
                lambda x: (
                    jnp.array([0.5, 2.0])[:, None, None] * jnp.log1p(jnp.exp(jnp.array([1.5, 0.5])[:, None, None] * x))
                ),
            ),
            ("LINEAR", [2.0, -1.0], lambda x: 2 * x - 1),
        )
    ],
    Case(
        "softmax",
        {"x": (4, 2, 3)},
        lambda b: b.add_softmax("s", "x", "y"),
        lambda x: _softmax(x, 0),
        exact=False,
        name="per-pixel",
    ),
    Case(
        "l2normalize",
        {"x": (2, 3, 4)},
        lambda b: b.add_l2_normalize("l", "x", "y", epsilon=1e-6),
        lambda x: x / jnp.sqrt((x * x).sum() + 1e-6),
        exact=False,
        name="over-CHW",
    ),
    Case(
        "upsample",
        {"x": (2, 3, 4)},
        lambda b: b.add_upsample("u", 2, 2, "x", "y", mode="BILINEAR"),
        lambda x: _upsample_bilinear(x, 2),
        exact=False,
        name="bilinear",
    ),
    Case(
        "upsample",
        {"x": (2, 3, 4)},
        lambda b: b.add_upsample("u", 2, 2, "x", "y", mode="BILINEAR", linear_upsample_mode="ALIGN_CORNERS_TRUE"),
        lambda x: _resize_aligned(x, 6, 8),
        exact=False,
        name="align-corners",
    ),
    Case(
        "resizeBilinear",
        {"x": (2, 3, 4)},
        lambda b: b.add_resize_bilinear("r", "x", "y", 5, 7, mode="STRICT_ALIGN_ENDPOINTS_MODE"),
        lambda x: _resize_aligned(x, 5, 7),
        exact=False,
    ),
    Case(
        "slice",
        {"x": (3, 4, 5)},
        lambda b: b.add_slice("s", "x", "y", "width", 1, -1, 2),
        lambda x: x[:, :, 1:-1:2],
        exact=False,
    ),
    Case(
        "sequenceRepeat",
        {"x": (2, 1, 1)},
        lambda b: b.add_sequence_repeat("s", 3, "x", "y"),
        lambda x: jnp.broadcast_to(x, (3, 1, 2, 1, 1)),
        exact=False,
    ),
    Case(
        "split",
        {"x": (4, 2, 2)},
        lambda b: b.add_split("s", "x", ["y", "z"]),
        lambda x: (x[:2], x[2:]),
        exact=False,
        outputs=("y", "z"),
    ),
    Case(
        "dot",
        {"a": (4, 1, 1), "b": (4, 1, 1)},
        lambda b: _add_dot(b, cosine=True),
        lambda a, b: (a * b).sum(keepdims=True) / jnp.sqrt((a * a).sum() * (b * b).sum()),
        exact=False,
    ),
    Case(
        "batchnorm",
        {"x": (2, 3, 4)},
        lambda b: b.add_batchnorm(
            "bn",
            2,
            GAMMA[:2],
            BETA[:2],
            compute_mean_var=True,
            instance_normalization=True,
            input_name="x",
            output_name="y",
            epsilon=1e-5,
        ),
        lambda x: (
            GAMMA[:2, None, None] * (x - x.mean((1, 2), keepdims=True)) / jnp.sqrt(x.var((1, 2), keepdims=True) + 1e-5)
            + BETA[:2, None, None]
        ),
        exact=False,
        name="instance-norm",
    ),
    Case(
        "convolution",
        {"x": (2, 4, 4)},
        lambda b: b.add_convolution(
            "d",
            2,
            3,
            3,
            3,
            2,
            2,
            "valid",
            1,
            DECONV_W,
            None,
            False,
            is_deconv=True,
            output_shape=None,
            input_name="x",
            output_name="y",
        ),
        lambda x: _deconv(x, DECONV_W, 2),
        exact=False,
        name="deconvolution",
    ),
    _lstm_case(),
    _gru_case(),
    _rnn_case(),
    _bilstm_case(),
]

DECONV_W = RNG.normal(size=(3, 3, 2, 3)).astype(np.float32)  # builder layout [kh, kw, C_in, C_out]


def _add_dot(builder: Any, cosine: bool) -> None:
    layer = builder.nn_spec.layers.add()
    layer.name, layer.dot.cosineSimilarity = "dot", cosine
    layer.input.extend(["a", "b"])
    layer.output.append("y")


def _upsample_bilinear(x: Any, factor: int) -> Any:
    """UPSAMPLE_MODE grid: output i samples input i / factor (clamped to the last pixel), bilinearly."""
    return _sample(
        x,
        jnp.minimum(jnp.arange(x.shape[1] * factor) / factor, x.shape[1] - 1),
        jnp.minimum(jnp.arange(x.shape[2] * factor) / factor, x.shape[2] - 1),
    )


def _resize_aligned(x: Any, h: int, w: int) -> Any:
    return _sample(x, jnp.linspace(0, x.shape[1] - 1, h), jnp.linspace(0, x.shape[2] - 1, w))


def _sample(x: Any, rows: Any, cols: Any) -> Any:
    def at(img: Any, r: Any, c: Any) -> Any:
        r0, c0 = jnp.floor(r).astype(int), jnp.floor(c).astype(int)
        r1, c1 = jnp.minimum(r0 + 1, img.shape[0] - 1), jnp.minimum(c0 + 1, img.shape[1] - 1)
        fr, fc = r - r0, c - c0
        top = img[r0, c0] * (1 - fc) + img[r0, c1] * fc
        bottom = img[r1, c0] * (1 - fc) + img[r1, c1] * fc
        return top * (1 - fr) + bottom * fr

    grid_r, grid_c = jnp.meshgrid(rows, cols, indexing="ij")
    return jnp.stack([at(channel, grid_r, grid_c) for channel in x])


def _deconv(x: Any, w: Any, stride: int) -> Any:
    """Transposed convolution by its definition: each input pixel adds its kernel-weighted copy to the output."""
    kh, kw, _cin, cout = w.shape
    _, h, width = x.shape
    out = jnp.zeros((cout, (h - 1) * stride + kh, (width - 1) * stride + kw))
    for i in range(h):
        for j in range(width):
            patch = jnp.einsum("c,hwco->ohw", x[:, i, j], w)
            out = out.at[:, i * stride : i * stride + kh, j * stride : j * stride + kw].add(patch)
    return out


def _build(case: Case) -> Any:
    inputs = [(name, datatypes.Array(*shape)) for name, shape in case.inputs.items()]
    builder = NeuralNetworkBuilder(inputs, [(o, None) for o in case.outputs], disable_rank5_shape_mapping=case.exact)
    case.add(builder)
    return builder.spec


def _strip(shape: tuple[int, ...]) -> tuple[int, ...]:
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    return shape


def _ids() -> list[str]:
    return [f"{c.kind}-{c.name}" if c.name else c.kind for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_forward_layer_matches_the_spec_definition_in_jax(case: Case) -> None:
    spec = _build(case)
    feeds = {
        name: case.data.get(name, lambda s: RNG.normal(size=s).astype(np.float32))((N, *shape))
        for name, shape in case.inputs.items()
    }
    network = Network(spec)
    blobs = network.forward(network.prepare_inputs(feeds))
    per_example = []
    for i in range(N):
        out = case.oracle(*(jnp.asarray(feeds[name][i], jnp.float64) for name in case.inputs))
        per_example.append(out if isinstance(out, tuple) else (out,))
    expected = [np.stack([np.asarray(parts[k]) for parts in per_example]) for k in range(len(case.outputs))]
    for output, want in zip(case.outputs, expected, strict=True):
        got, want = np.asarray(blobs[output]), np.asarray(want)
        assert _strip(got.shape[1:]) == _strip(want.shape[1:]), (output, got.shape, want.shape)
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=2e-5, atol=2e-5, err_msg=output)


def test_every_layer_type_the_reference_runs_has_an_oracle_case() -> None:
    onnx_cases = (Path(__file__).parent / "test_forward_onnx_oracle.py").read_text(encoding="utf-8")
    covered = {case.kind for case in CASES} | set(re.findall(r'OnnxCase\(\s*"(\w+)"', onnx_cases))
    assert sorted(set(supported_kinds()) - covered) == []


def test_the_layer_table_in_the_docs_names_every_type_and_its_oracle() -> None:
    text = (Path(__file__).parents[2] / "docs" / "layers.md").read_text(encoding="utf-8")
    for kind in supported_kinds():
        assert re.search(rf"^\| `{kind}` \| .*test_forward_\w+_oracle\.py", text, re.MULTILINE), kind
    for kind in NOT_SUPPORTED:
        assert f"| `{kind}` |" in text, kind
