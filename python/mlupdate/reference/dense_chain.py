"""The live part as a chain of dense layers, trained one mini-batch at a time in buffers allocated once.

Core ML updates only innerProduct and convolution layers, and most updatable models are a frozen feature
extractor followed by dense layers: the live part is then a chain `innerProduct [activation] innerProduct
[activation] ...` from one frontier blob to a CCE (through its softmax) or MSE loss. The generic step
(`Network.forward_live` / `backward_live`) allocates every activation and gradient and walks dictionaries of
blobs and caches each step; for a short step (a 784-128-10 head at batch 32 is ~0.1 ms of arithmetic) that
costs as much again as the arithmetic.

`DenseChain` runs the same numpy operations on the same values in the same order, writing into buffers kept
from step to step (`out=`), so with numpy's products its weights are bit-identical to the generic step's in
every dtype and on every BLAS kernel: each product is the same `numpy.matmul` call on operands of the same shape
and strides, each element-wise operation the same ufunc (tests/reference/test_dense_chain.py compares the two on
every optimizer, loss, activation and batch layout). A mini-batch whose rows are consecutive in the frontier is
read in place (a view) instead of being gathered.

In float32 (the trainer's mode) an SGD step (with or without momentum) updates each updatable layer's weights
inside the product that forms its gradient, BLAS gemm with alpha and beta (`mlupdate.reference.blas`):
`w = -lr (g^T x) + w` in one call, no gradient buffer, one pass over the weights instead of three. That is the
same mathematics in another float32 rounding (gemm adds alpha times its float32 sum with one rounding; numpy
rounds the product, lr times it and the difference in turn), so in float32 the weights differ from the generic
step's by rounding alone, as they do between BLAS kernels and thread counts; tests/reference/test_dense_chain.py
bounds that difference, and checks the folded form in float64 too. Float64 (the oracles' mode), Adam, and a
numpy without OpenBLAS keep the separate update: bit-identical to the generic step.

A CCE loss value is not needed to train: the chain keeps each step's logits and the trainer computes the
reported losses for many steps at once (`LossLog`), with the same float64 log-softmax per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mlupdate.reference import blas
from mlupdate.reference.layers import Activation, Array, InnerProduct, Params
from mlupdate.reference.losses import per_example_cce
from mlupdate.reference.network import Network
from mlupdate.reference.optimizers import Optimizer, Sgd
from mlupdate.reference.semantics import Semantics

Rows = np.ndarray[Any, np.dtype[np.intp]]
# Logits kept for deferred CCE losses: the reported losses are computed per this many bytes of logits (their
# float64 temporaries take ~6 times as much while they are computed).
_LOG_BYTES = 64 << 10


@dataclass
class _Dense:
    """One innerProduct of the chain, its activation (if one follows) and the buffers of both."""

    name: str
    weights: Array  # the task's own arrays, updated in place by the optimizer
    weights_t: Array  # weights.T, a view that follows the in-place updates
    biases: Array | None
    z: Array  # [B, out]: the product (plus bias)
    activation: Activation | None
    relu: bool  # ReLU runs in buffers; other activations run the generic layer (allocating, as it does)
    a: Array | None  # [B, out] ReLU output
    mask: np.ndarray[Any, np.dtype[np.bool_]] | None  # [B, out] where the ReLU input was > 0
    grads: Params | None  # {"weights", "biases"} buffers for an updatable layer ("weights" not when fused)
    dx: Array | None  # [B, in] gradient of the layer's input: for every layer but the first


def _chain_layers(network: Network) -> list[tuple[InnerProduct, Activation | None]] | None:
    """(innerProduct, activation after it) for every dense layer, when the live part is such a chain whose
    first layer reads the only frontier blob and whose end feeds the loss; None otherwise."""
    loss = network.loss
    if loss is None:
        return None
    layers = [layer for layer in network.live if layer.name != loss.softmax]
    frontier = network.frontier()
    if len(frontier) != 1 or not layers or not isinstance(layers[0], InnerProduct):
        return None
    chain: list[tuple[InnerProduct, Activation | None]] = []
    blob = frontier[0]
    for layer in layers:
        if layer.inputs != (blob,):
            return None
        if isinstance(layer, InnerProduct):
            chain.append((layer, None))
        elif isinstance(layer, Activation) and chain and chain[-1][1] is None:
            chain[-1] = (chain[-1][0], layer)
        else:
            return None
        blob = layer.output
    end = loss.logits if loss.kind == "cce" else loss.input
    return chain if blob == end else None


class DenseChain:
    """A mini-batch step (forward, loss gradient, backward) of a dense chain, for one task's parameters."""

    # Dtypes whose SGD updates are folded into gemm. Float64 is the oracles' mode and stays bit-identical to the
    # generic step; tests switch float32 to the separate update the same way.
    FUSED_DTYPES: ClassVar[frozenset[np.dtype[Any]]] = frozenset({np.dtype(np.float32)})

    @classmethod
    def plan(
        cls,
        network: Network,
        frontier: dict[str, Array],
        params: dict[str, Params],
        batch: int,
        optimizer: Optimizer | None = None,
    ) -> DenseChain | None:
        """The chain for `network`'s live part, or None if it is not a dense chain over a vector frontier.

        In a dtype of `FUSED_DTYPES`, for an SGD `optimizer`, each weight update is folded into the product that
        forms its gradient (when numpy's BLAS is an OpenBLAS); `optimizer.step` then gets the rest."""
        layers = _chain_layers(network)
        if layers is None:
            return None
        (source,) = frontier.values()
        if source.shape[2:] != (1, 1):
            return None  # an innerProduct input must be a vector; the generic step says so
        fold = np.dtype(network.dtype) in cls.FUSED_DTYPES and blas.available()
        fused = optimizer if fold and isinstance(optimizer, Sgd) else None
        return cls(network, source.reshape(len(source), -1), layers, params, batch, fused)

    def __init__(
        self,
        network: Network,
        x: Array,
        layers: Sequence[tuple[InnerProduct, Activation | None]],
        params: dict[str, Params],
        batch: int,
        fused: Sgd | None = None,
    ) -> None:
        loss = network.loss
        assert loss is not None  # a chain ends in a loss
        self.loss, self.dtype, self.x = loss, network.dtype, x
        self.fused = fused
        self.inputs: Array | None = None  # gathered rows of a shuffled mini-batch (allocated on first use)
        self.layers: list[_Dense] = []
        for i, (dense, activation) in enumerate(layers):
            weights = params[dense.name]["weights"]
            out, width = weights.shape
            relu = activation is not None and activation.function == "ReLU"
            updatable = dense.name in network.updatable
            grads = ({} if fused is not None else {"weights": np.empty_like(weights)}) if updatable else None
            if grads is not None and dense.has_bias:
                grads["biases"] = np.empty_like(params[dense.name]["biases"])
            self.layers.append(
                _Dense(
                    name=dense.name,
                    weights=weights,
                    weights_t=weights.T,
                    biases=params[dense.name]["biases"] if dense.has_bias else None,
                    z=np.empty((batch, out), dtype=self.dtype),
                    activation=activation,
                    relu=relu,
                    a=np.empty((batch, out), dtype=self.dtype) if relu else None,
                    mask=np.empty((batch, out), dtype=bool) if relu else None,
                    grads=grads,
                    dx=np.empty((batch, width), dtype=self.dtype) if i else None,
                )
            )
        # Every updatable layer's gradient buffers, in the shape the optimizer takes: the same dict every step.
        self.grads = {d.name: d.grads for d in self.layers if d.grads is not None}
        classes = self.layers[-1].z.shape[1]
        self.classes = classes
        self.row_offsets = np.arange(batch) * classes  # flat index of each row's first logit
        self.e = np.empty((batch, classes), dtype=self.dtype)  # softmax, then dL/dlogits
        self.m = np.empty((batch, 1), dtype=self.dtype)
        self.s = np.empty((batch, 1), dtype=self.dtype)
        self.caches: list[Any] = [None] * len(self.layers)

    def rows(self, rows: Rows, consecutive: bool) -> Array:
        """The frontier rows of a mini-batch: a view when they are consecutive, else gathered into a buffer."""
        if consecutive:
            start = int(rows[0])
            return self.x[start : start + len(rows)]
        if self.inputs is None:
            self.inputs = np.empty((len(self.layers[0].z), self.x.shape[1]), dtype=self.x.dtype)
        gathered: Array = np.take(self.x, rows, axis=0, out=self.inputs[: len(rows)], mode="clip")
        return gathered

    def forward(self, x: Array, logits_out: Array | None = None) -> tuple[list[Array], Array]:
        """The input of every dense layer and the chain's output for the rows `x`; the last product is written
        into `logits_out` when given (a CCE loss keeps the logits) and no activation follows it."""
        n = len(x)
        inputs: list[Array] = []
        a = x
        last = len(self.layers) - 1
        for i, d in enumerate(self.layers):
            inputs.append(a)
            z = logits_out if i == last and logits_out is not None and d.activation is None else d.z[:n]
            np.matmul(a, d.weights_t, out=z)  # the generic step's `x @ W.T`
            if d.biases is not None:
                z += d.biases
            if d.activation is None:
                a = z
            elif d.relu:
                assert d.a is not None
                a = np.maximum(z, 0, out=d.a[:n])
            else:
                a, self.caches[i] = d.activation.forward([z], {})
        return inputs, a

    def cce_gradient(self, logits: Array, flat_targets: Rows, reduction: str) -> Array:
        """dL/dlogits = softmax - onehot (divided by the batch for a mean), from the float32 softmax exactly as
        `Network.forward_live` and `categorical_cross_entropy` compute it; `flat_targets` index each row's
        target in the flattened logits."""
        n = len(logits)
        m, s, e = self.m[:n], self.s[:n], self.e[:n]
        np.maximum.reduce(logits, axis=1, keepdims=True, out=m)  # np.max without its Python wrapper
        np.subtract(logits, m, out=e)
        np.exp(e, out=e)
        np.add.reduce(e, axis=1, keepdims=True, out=s)  # np.sum, likewise
        np.divide(e, s, out=e)
        e.reshape(-1)[flat_targets] -= 1
        if reduction == "mean":
            np.divide(e, n, out=e)
        return e

    def backward(self, g: Array, inputs: Sequence[Array]) -> dict[str, Params]:
        """Fill the updatable layers' gradient buffers from dL/d(chain output) `g` and return them; a fused
        chain has already updated the weights (their buffers are not there), the rest is the optimizer's."""
        n = len(g)
        last = self.layers[-1]
        if last.activation is not None:
            g = self._activation_backward(len(self.layers) - 1, g)
        for i in range(len(self.layers) - 1, -1, -1):
            d = self.layers[i]
            dx = None
            if i:  # before a fused update changes the weights
                assert d.dx is not None
                dx = np.matmul(g, d.weights, out=d.dx[:n])
            if d.grads is not None:
                if self.fused is not None:
                    self.fused.step_product(d.name, d.weights, g.T, inputs[i])  # weights -= lr g^T x, in one call
                else:
                    np.matmul(g.T, inputs[i], out=d.grads["weights"])  # the generic step's `d2.T @ x2`
                if "biases" in d.grads:
                    np.add.reduce(g, axis=0, out=d.grads["biases"])
            if dx is None:
                break
            g = self._activation_backward(i - 1, dx) if self.layers[i - 1].activation is not None else dx
        return self.grads

    def _activation_backward(self, i: int, dy: Array) -> Array:
        d = self.layers[i]
        assert d.activation is not None
        if d.relu:
            assert d.mask is not None
            n = len(dy)
            mask = np.greater(d.z[:n], 0, out=d.mask[:n])
            return np.multiply(dy, mask, out=dy)  # the generic `dy * (x > 0)`
        dx: Array = d.activation.backward(dy, self.caches[i], {})[0][0]
        return dx


class LossLog:
    """Logits and targets of the last few CCE steps, and their reported losses computed together.

    The per-row losses (`per_example_cce`, row by row, so the same whether computed for one step or many) and
    the per-step reduction are those of `categorical_cross_entropy`, so each step's loss is the value the
    generic step reports, to the bit. At most one epoch's steps are kept (losses are due at its end)."""

    def __init__(self, batch: int, classes: int, dtype: np.dtype[Any], semantics: Semantics, steps: int) -> None:
        self.capacity = max(1, min(steps, _LOG_BYTES // max(1, batch * classes * dtype.itemsize)))
        self.batch = batch
        self.logits = np.empty((self.capacity, batch, classes), dtype=dtype)
        self.targets: list[Rows] = []
        self.counts: list[int] = []
        self.semantics = semantics
        self.mean = semantics.cce_reduction == "mean"

    @property
    def full(self) -> bool:
        return len(self.counts) == self.capacity

    def slot(self, n: int, targets: Rows) -> Array:
        """Where the next step writes its logits `[n, classes]`; its targets are recorded now."""
        j = len(self.counts)
        self.counts.append(n)
        self.targets.append(targets)
        slot: Array = self.logits[j, :n]
        return slot

    def losses(self) -> list[float]:
        """The reported loss of every step logged since the last call, in order; the log is emptied."""
        counts, self.counts = self.counts, []
        targets, self.targets = self.targets, []
        out: list[float] = []
        start = 0
        while start < len(counts):  # runs of full steps at once; a short last batch on its own
            n = counts[start]
            end = start + 1
            while end < len(counts) and counts[end] == n == self.batch:
                end += 1
            out += self._reduce(self.logits[start:end, :n], np.concatenate(targets[start:end]))
            start = end
        return out

    def _reduce(self, logits: Array, targets: Rows) -> list[float]:
        steps, n = logits.shape[:2]
        per_example = per_example_cce(logits.reshape(steps * n, -1), targets, self.semantics).reshape(steps, n)
        reduced = per_example.mean(axis=1) if self.mean else per_example.sum(axis=1)
        return [float(v) for v in reduced]
