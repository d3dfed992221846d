"""Recurrent layers of NeuralNetwork.proto, forward only: simpleRecurrent, GRU, uni- and bi-directional LSTM.

Input `[Seq, Batch, inputVectorSize, 1, 1]` (rank 5), optional initial states as extra inputs, outputs the
sequence (or its last step) and the final states. Pre-activations are clipped to [-50, 50] and the LSTM cell
to +-cellClipThreshold, as the spec's equations say. A reversed direction writes each step's output at its
input position (the bidirectional example of the spec: `[yf_1, yb_3]` at position 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlupdate.reference.forward.activations import activation
from mlupdate.reference.forward.base import DTYPE, Array, Run, rank, register, unsupported, weights

Step = Callable[[Array, list[Array]], list[Array]]  # (x_t, states) -> new states; states[0] is the output
_CLIP = DTYPE(50.0)


def _clip(x: Array) -> Array:
    return np.clip(x, -_CLIP, _CLIP)


def _sequence(layer: Any, x: Array, size: int) -> Array:
    """`[N, Seq, Batch, D, 1, 1]` as `[Seq, N * Batch, D]`."""
    if rank(x) != 5 or x.shape[3] != size:
        raise unsupported(layer, f"needs a [Seq, Batch, {size}, 1, 1] input, got {list(x.shape[1:])}")
    n, seq, batch = x.shape[:3]
    return x.reshape(n, seq, batch, size).transpose(1, 0, 2, 3).reshape(seq, n * batch, size)


def _state(x: Array | None, n: int, batch: int, size: int) -> Array:
    if x is None:
        return np.zeros((n * batch, size), dtype=DTYPE)
    return x.reshape(n * batch, size).astype(DTYPE)


def _unroll(seq: Array, states: list[Array], step: Step, reverse: bool) -> tuple[Array, list[Array]]:
    outputs: list[Array] = [np.empty(0, DTYPE)] * len(seq)
    order = range(len(seq) - 1, -1, -1) if reverse else range(len(seq))
    for t in order:
        states = step(seq[t], states)
        outputs[t] = states[0]
    return np.stack(outputs), states


def _shape_out(ys: Array, n: int, batch: int, sequence_output: bool, reverse: bool) -> Array:
    """`[Seq, N * Batch, H]` back to `[N, Seq or 1, Batch, H, 1, 1]`."""
    if not sequence_output:
        ys = ys[:1] if reverse else ys[-1:]
    seq, _, size = ys.shape
    return ys.reshape(seq, n, batch, size).transpose(1, 0, 2, 3)[..., None, None]


def _final(state: Array, n: int, batch: int) -> Array:
    return state.reshape(n, 1, batch, -1, 1, 1)


def _matrix(layer: Any, message: Any, rows: int, cols: int, name: str) -> Array:
    return weights(layer, message, (rows, cols), name)


def _vector(layer: Any, message: Any, size: int, name: str, present: bool) -> Array:
    return weights(layer, message, (size,), name) if present else np.zeros(size, DTYPE)


@register("simpleRecurrent")
def _simple(layer: Any) -> Run:
    p = layer.simpleRecurrent
    d, h = int(p.inputVectorSize), int(p.outputVectorSize)
    w, r = _matrix(layer, p.weightMatrix, h, d, "weightMatrix"), _matrix(layer, p.recursionMatrix, h, h, "R")
    b = _vector(layer, p.biasVector, h, "biasVector", p.hasBiasVector)
    f = activation(layer, p.activation, recurrent=True)

    def step(x: Array, states: list[Array]) -> list[Array]:
        return [f(_clip(x @ w.T + states[0] @ r.T + b))]

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        n, batch = xs[0].shape[0], xs[0].shape[2]
        seq = _sequence(layer, xs[0], d)
        ys, (last,) = _unroll(seq, [_state(xs[1] if len(xs) > 1 else None, n, batch, h)], step, p.reverseInput)
        return [_shape_out(ys, n, batch, p.sequenceOutput, p.reverseInput), _final(last, n, batch)]

    return run


@register("gru")
def _gru(layer: Any) -> Run:
    p = layer.gru
    d, h = int(p.inputVectorSize), int(p.outputVectorSize)
    wz, wr, wo = (_matrix(layer, getattr(p, f"{g}GateWeightMatrix"), h, d, g) for g in ("update", "reset", "output"))
    rz, rr, ro = (_matrix(layer, getattr(p, f"{g}GateRecursionMatrix"), h, h, g) for g in ("update", "reset", "output"))
    bz, br, bo = (
        _vector(layer, getattr(p, f"{g}GateBiasVector"), h, g, p.hasBiasVectors) for g in ("update", "reset", "output")
    )
    acts = list(p.activations)
    if len(acts) != 2:
        raise unsupported(layer, f"GRU needs 2 activations, has {len(acts)}")
    f, g = activation(layer, acts[0], recurrent=True), activation(layer, acts[1], recurrent=True)

    def step(x: Array, states: list[Array]) -> list[Array]:
        y = states[0]
        z = f(_clip(x @ wz.T + y @ rz.T + bz))
        r = f(_clip(x @ wr.T + y @ rr.T + br))
        o = g(_clip(x @ wo.T + (y * r) @ ro.T + bo))
        return [(1 - z) * o + z * y]

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        n, batch = xs[0].shape[0], xs[0].shape[2]
        seq = _sequence(layer, xs[0], d)
        ys, (last,) = _unroll(seq, [_state(xs[1] if len(xs) > 1 else None, n, batch, h)], step, p.reverseInput)
        return [_shape_out(ys, n, batch, p.sequenceOutput, p.reverseInput), _final(last, n, batch)]

    return run


@dataclass(frozen=True)
class _LstmWeights:
    w: Array  # [4H, D] gates i, f, z, o
    r: Array  # [4H, H]
    b: Array  # [4H]
    peep: Array  # [3, H] p_i, p_f, p_o


_GATES = ("inputGate", "forgetGate", "blockInput", "outputGate")


def _lstm_weights(layer: Any, message: Any, params: Any, d: int, h: int) -> _LstmWeights:
    w = np.concatenate([_matrix(layer, getattr(message, f"{g}WeightMatrix"), h, d, g) for g in _GATES])
    r = np.concatenate([_matrix(layer, getattr(message, f"{g}RecursionMatrix"), h, h, g) for g in _GATES])
    b = np.concatenate(
        [_vector(layer, getattr(message, f"{g}BiasVector"), h, g, params.hasBiasVectors) for g in _GATES]
    )
    if params.forgetBias:
        b[h : 2 * h] += 1
    peep = np.stack(
        [
            _vector(layer, getattr(message, f"{g}PeepholeVector"), h, g, params.hasPeepholeVectors)
            for g in ("inputGate", "forgetGate", "outputGate")
        ]
    )
    return _LstmWeights(w, r, b, peep)


def _lstm_step(layer: Any, acts: Sequence[Any], params: Any, lw: _LstmWeights, h: int) -> Step:
    if len(acts) != 3:
        raise unsupported(layer, f"LSTM needs 3 activations, has {len(acts)}")
    f, g, out = (activation(layer, a, recurrent=True) for a in acts)
    cell_clip = DTYPE(params.cellClipThreshold or 50.0)

    def step(x: Array, states: list[Array]) -> list[Array]:
        y, c = states
        pre = x @ lw.w.T + y @ lw.r.T + lw.b
        i = f(_clip(pre[:, :h] + lw.peep[0] * c))
        forget = f(_clip(pre[:, h : 2 * h] + lw.peep[1] * c))
        z = g(_clip(pre[:, 2 * h : 3 * h]))
        c = c * (1 - i) + i * z if params.coupledInputAndForgetGate else c * forget + i * z
        c = np.clip(c, -cell_clip, cell_clip)
        o = f(_clip(pre[:, 3 * h :] + lw.peep[2] * c))
        return [out(c) * o, c]

    return step


@register("uniDirectionalLSTM")
def _uni_lstm(layer: Any) -> Run:
    p = layer.uniDirectionalLSTM
    d, h = int(p.inputVectorSize), int(p.outputVectorSize)
    step = _lstm_step(layer, list(p.activations), p.params, _lstm_weights(layer, p.weightParams, p.params, d, h), h)

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        n, batch = xs[0].shape[0], xs[0].shape[2]
        seq = _sequence(layer, xs[0], d)
        start = [_state(xs[i] if len(xs) > i else None, n, batch, h) for i in (1, 2)]
        ys, (last, cell) = _unroll(seq, start, step, p.reverseInput)
        out = _shape_out(ys, n, batch, p.params.sequenceOutput, p.reverseInput)
        return [out, _final(last, n, batch), _final(cell, n, batch)]

    return run


@register("biDirectionalLSTM")
def _bi_lstm(layer: Any) -> Run:
    p = layer.biDirectionalLSTM
    d, h = int(p.inputVectorSize), int(p.outputVectorSize)
    if len(p.weightParams) != 2:
        raise unsupported(layer, f"a bidirectional LSTM needs 2 weight sets, has {len(p.weightParams)}")
    forward = _lstm_step(
        layer, list(p.activationsForwardLSTM), p.params, _lstm_weights(layer, p.weightParams[0], p.params, d, h), h
    )
    backward_acts = list(p.activationsBackwardLSTM) or list(p.activationsForwardLSTM)
    backward = _lstm_step(layer, backward_acts, p.params, _lstm_weights(layer, p.weightParams[1], p.params, d, h), h)

    def run(xs: Sequence[Array], _n: int) -> list[Array]:
        n, batch = xs[0].shape[0], xs[0].shape[2]
        seq = _sequence(layer, xs[0], d)
        states = [_state(xs[i] if len(xs) > i else None, n, batch, h) for i in (1, 2, 3, 4)]
        yf, (hf, cf) = _unroll(seq, states[:2], forward, False)
        yb, (hb, cb) = _unroll(seq, states[2:], backward, True)
        if p.params.sequenceOutput:
            ys = np.concatenate([yf, yb], axis=-1)
        else:
            ys = np.concatenate([yf[-1:], yb[:1]], axis=-1)
        out = _shape_out(ys, n, batch, True, False)
        return [out, *(_final(s, n, batch) for s in (hf, cf, hb, cb))]

    return run
