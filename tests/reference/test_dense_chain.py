"""The dense-chain step trains as the generic step does: bit for bit with the separate update, within rounding
with SGD folded into gemm (the trainer's float32 mode); a chain that differs in one rounding or update is caught.

Every case trains twice from the same prepared job: once on the `DenseChain` path and once with the chain
planner switched off (the generic `forward_live` / `backward_live` step). With the separate update (float64's
default, and float32's when asked) weights, reported losses and every progress event must be equal to the bit,
in float32 and float64. With SGD updates folded into gemm (float32's default) every weight must lie within
float32 rounding of the generic step's, and in float64 (when asked) within float64 rounding.
The cases walk the optimizers (SGD, both momentum forms, Adam with and without bias correction), both losses
and their reductions, every activation (inside the chain and at its end), frozen dense layers inside the
chain, the batch layouts (consecutive rows read in place, gathered shuffled rows, a summation order, a short,
wrapped or stale last batch, a batch of one, a batch larger than the data) and a frozen convolution prefix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from mlupdate._coreml import AdamParams, NeuralNetworkBuilder, SgdParams, datatypes
from mlupdate.errors import TrainingError
from mlupdate.models.spec import Spec, neural_network
from mlupdate.reference import trainer
from mlupdate.reference.dense_chain import DenseChain
from mlupdate.reference.layers import Array, Params
from mlupdate.reference.optimizers import Sgd
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.trainer import PreparedJob, TrainingResult, prepare, run_prepared

DTYPES = (np.float32, np.float64)


@dataclass(frozen=True)
class Chain:
    """A small dense chain: `widths` of the dense layers' outputs, the activation after each hidden layer."""

    loss: str = "cce"  # "cce" | "mse"
    optimizer: str = "sgd"  # "sgd" | "momentum" | "adam"
    hidden: str | None = "RELU"
    last: str | None = None  # an activation after the last dense layer (the logits or the MSE input)
    widths: tuple[int, ...] = (9, 4)
    frozen: tuple[int, ...] = ()  # indices of dense layers left frozen (never the first: it is updatable)
    inputs: int = 7
    examples: int = 29
    batch: int = 6
    epochs: int = 3
    shuffle: bool = True
    conv_prefix: bool = False
    learning_rate: float = 0.05
    semantics: Semantics = field(default_factory=Semantics)


def _activation(builder: Any, name: str, function: str, src: str, dst: str) -> None:
    params = {"LEAKYRELU": [0.1], "LINEAR": [0.7, 0.2]}.get(function)
    builder.add_activation(name, function, src, dst, params=params)


def _spec(chain: Chain, rng: np.random.Generator) -> Spec:
    classes = chain.widths[-1]
    inputs = [("x", datatypes.Array(2, 6, 6) if chain.conv_prefix else datatypes.Array(chain.inputs))]
    if chain.loss == "cce":
        builder = NeuralNetworkBuilder(inputs, [("probs", None)], mode="classifier")
    else:
        builder = NeuralNetworkBuilder(inputs, [("y", datatypes.Array(classes))])
    blob, width = "x", chain.inputs
    if chain.conv_prefix:
        w = rng.normal(0, 0.3, (3, 3, 2, 4))
        bias = rng.normal(0, 0.1, 4)
        builder.add_convolution("c", 2, 4, 3, 3, 1, 1, "valid", 1, w, bias, True, input_name="x", output_name="co")
        builder.add_activation("cr", "RELU", "co", "cro")
        builder.add_flatten("flat", 0, "cro", "f")
        blob, width = "f", 4 * 4 * 4
    last = len(chain.widths) - 1
    for i, out in enumerate(chain.widths):
        end = i == last and chain.last is None
        target = ("logits" if chain.loss == "cce" else "y") if end else f"z{i}"
        w = rng.normal(0, 0.6 / np.sqrt(width), (out, width))
        builder.add_inner_product(f"d{i}", w, rng.normal(0, 0.1, out), width, out, True, blob, target)
        blob, width = target, out
        function = chain.last if i == last else chain.hidden
        if function is not None:
            target = ("logits" if chain.loss == "cce" else "y") if i == last else f"a{i}"
            _activation(builder, f"act{i}", function, blob, target)
            blob = target
    updatable = [f"d{i}" for i in range(len(chain.widths)) if i not in chain.frozen]
    if chain.loss == "cce":
        builder.add_softmax("sm", "logits", "probs")
        builder.set_class_labels(list(range(classes)), predicted_feature_name="label", prediction_blob="probs")
    builder.make_updatable(updatable)
    if chain.loss == "cce":
        builder.set_categorical_cross_entropy_loss("loss", input="probs")
    else:
        builder.set_mean_squared_error_loss("loss", input_feature=("y", datatypes.Array(classes)))
    lr = chain.learning_rate
    if chain.optimizer == "adam":
        builder.set_adam_optimizer(AdamParams(lr=lr / 10, batch=chain.batch))
    else:
        momentum = 0.8 if chain.optimizer == "momentum" else 0.0
        builder.set_sgd_optimizer(SgdParams(lr=lr, batch=chain.batch, momentum=momentum))
    builder.set_epochs(chain.epochs)
    message = neural_network(builder.spec)
    message.updateParams.shuffle.defaultValue = chain.shuffle
    message.updateParams.seed.defaultValue = 7
    spec: Spec = builder.spec
    return spec


def _examples(chain: Chain, rng: np.random.Generator) -> dict[str, Any]:
    n = chain.examples
    x = rng.normal(size=(n, 2, 6, 6)) if chain.conv_prefix else rng.normal(size=(n, chain.inputs))
    if chain.loss == "cce":
        return {"x": x, "label": list(rng.integers(0, chain.widths[-1], n))}
    return {"x": x, "y_true": rng.normal(size=(n, chain.widths[-1]))}


def _job(chain: Chain, dtype: type[np.floating[Any]], schedule: Sequence[tuple[int, float]] = ()) -> PreparedJob:
    rng = np.random.default_rng(11)
    return prepare(_spec(chain, rng), _examples(chain, rng), dtype=dtype, schedule=schedule)


@contextmanager
def _generic_step() -> Iterator[None]:
    """Train with the chain planner switched off: every step runs forward_live / backward_live."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trainer.DenseChain, "plan", classmethod(lambda cls, *args: None))
        yield


@contextmanager
def _folded(fold: bool) -> Iterator[None]:
    """Build every chain with SGD updates folded into gemm (`fold`) or separate, whatever the dtype."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DenseChain, "FUSED_DTYPES", frozenset(map(np.dtype, DTYPES)) if fold else frozenset())
        yield


@contextmanager
def _chain_class(chain_class: type[DenseChain]) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trainer, "DenseChain", chain_class)
        yield


@contextmanager
def _built_chains() -> Iterator[list[DenseChain]]:
    """Every chain the trainer builds inside the block."""
    built: list[DenseChain] = []

    class Spy(DenseChain):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    with _chain_class(Spy):
        yield built


def _train(job: PreparedJob, chain: Chain, **options: Any) -> TrainingResult:
    return run_prepared(job, semantics=chain.semantics, **options)


def _differences(a: TrainingResult, b: TrainingResult) -> list[str]:
    """Every weight array, loss or event where two runs are not bit-identical."""
    found = [
        f"{layer}.{kind}"
        for layer, arrays in a.weights.items()
        for kind, values in arrays.items()
        if values.dtype != b.weights[layer][kind].dtype or values.tobytes() != b.weights[layer][kind].tobytes()
    ]
    if a.weights.keys() != b.weights.keys():
        found.append("updated layers")
    if a.final_loss != b.final_loss:
        found.append(f"final loss {a.final_loss!r} != {b.final_loss!r}")
    if a.events != b.events:
        found.append("events")
    return found


def _ulps(a: Params, b: Params) -> int:
    """The largest distance in float32 units in the last place between two sets of float32 arrays."""
    distance = 0
    for kind, values in a.items():
        ia, ib = (np.asarray(v, dtype=np.float32).view(np.int32).astype(np.int64) for v in (values, b[kind]))
        ia = np.where(ia < 0, np.int64(-(2**31)) - ia, ia)  # a monotonic integer line through -0 and +0
        ib = np.where(ib < 0, np.int64(-(2**31)) - ib, ib)
        distance = max(distance, int(np.max(np.abs(ia - ib))))
    return distance


def _assert_chain_is_generic(chain: Chain, dtype: type[np.floating[Any]], **options: Any) -> TrainingResult:
    job = _job(chain, dtype)
    params = {name: dict(arrays) for name, arrays in job.network.params.items()}
    assert DenseChain.plan(job.network, job.frontier, params, int(job.parameters["miniBatchSize"])) is not None
    with _folded(False):
        fast = _train(job, chain, **options)
    with _generic_step():
        generic = _train(job, chain, **options)
    assert not _differences(fast, generic), f"{chain} ({np.dtype(dtype)}): {_differences(fast, generic)}"
    return fast


def _relative_distance(a: TrainingResult, b: TrainingResult) -> float:
    """The largest weight difference between two runs, relative to the largest weight of its array in `b`."""
    return max(
        float(np.max(np.abs(a.weights[layer][kind] - values))) / max(float(np.max(np.abs(values))), 1e-30)
        for layer, arrays in b.weights.items()
        for kind, values in arrays.items()
    )


# The folded chain's float32 weights after a test case's few epochs: one float32 rounding per step and weight
# lands ~1e-7 of the largest weight (8e-6 in the saturated case, whose learning rate is 50); float64: ~1e-16.
ROUNDING = {np.float32: 3e-5, np.float64: 1e-12}


CASES = {
    "relu_sgd": Chain(),
    "relu_sgd_unshuffled_views": Chain(shuffle=False),
    "momentum_torch": Chain(optimizer="momentum"),
    "momentum_classic": Chain(optimizer="momentum", semantics=Semantics(momentum_form="classic")),
    "adam": Chain(optimizer="adam"),
    "adam_without_bias_correction": Chain(optimizer="adam", semantics=Semantics(adam_bias_correction=False)),
    "leaky_relu_three_layers": Chain(hidden="LEAKYRELU", widths=(8, 6, 5)),
    "sigmoid": Chain(hidden="SIGMOID"),
    "tanh_logits_after_activation": Chain(hidden="TANH", last="TANH"),
    "linear": Chain(hidden="LINEAR", optimizer="momentum"),
    "no_activation": Chain(hidden=None, widths=(6, 5, 3)),
    "frozen_middle_layer": Chain(widths=(8, 6, 4), frozen=(1,)),
    "single_layer": Chain(widths=(5,), hidden=None),
    "cce_sum_clipped_loss": Chain(
        semantics=Semantics(cce_reduction="sum", cce_reported_loss="clipped_1e-7"), learning_rate=0.01
    ),
    "saturated_float32_probability_loss": Chain(
        hidden="LINEAR", semantics=Semantics(cce_reported_loss="float32_probability"), learning_rate=50.0
    ),
    "short_last_batch": Chain(semantics=Semantics(partial_batch="short")),
    "stale_last_batch": Chain(semantics=Semantics(partial_batch="stale")),
    "shuffled_once_numpy_engine": Chain(semantics=Semantics(shuffle_schedule="once", shuffle_engine="numpy_pcg64")),
    "batch_of_one": Chain(batch=1, examples=9, optimizer="adam"),
    "batch_larger_than_the_data": Chain(batch=16, examples=11),
    "one_batch_stale": Chain(batch=16, examples=11, semantics=Semantics(partial_batch="stale")),
    "one_short_batch": Chain(batch=16, examples=11, semantics=Semantics(partial_batch="short")),
    "frozen_conv_prefix": Chain(conv_prefix=True, optimizer="momentum"),
    "mse_sigmoid_output": Chain(loss="mse", last="SIGMOID", optimizer="momentum"),
    "mse_relu_hidden_sum": Chain(
        loss="mse", semantics=Semantics(batch_reduction="sum", mse_scale="half_squared"), learning_rate=0.01
    ),
    "mse_vector_mean_adam_short": Chain(
        loss="mse",
        optimizer="adam",
        hidden="TANH",
        semantics=Semantics(mse_vector_reduction="mean", mse_gradient_factor=1, partial_batch="short"),
    ),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", list(CASES))
def test_dense_chain_trains_bit_identically_to_the_generic_step(case: str, dtype: type[np.floating[Any]]) -> None:
    _assert_chain_is_generic(CASES[case], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", list(CASES))
def test_the_folded_chain_trains_as_the_generic_step_within_rounding(case: str, dtype: type[np.floating[Any]]) -> None:
    chain = CASES[case]
    job = _job(chain, dtype)
    with _folded(True):
        fast = _train(job, chain)
    with _generic_step():
        generic = _train(job, chain)
    assert _relative_distance(fast, generic) <= ROUNDING[dtype]
    assert [(e.event, e.epoch, e.mini_batch) for e in fast.events] == [
        (e.event, e.epoch, e.mini_batch) for e in generic.events
    ]
    losses = [(e.loss, g.loss) for e, g in zip(fast.events, generic.events, strict=True) if g.loss is not None]
    assert all(np.isclose(a, b, rtol=1e-4, atol=1e-6) for a, b in losses)


def test_float32_folds_sgd_updates_into_gemm_by_default() -> None:
    """The trainer's float32 chain folds SGD into gemm (no weight-gradient buffer); float64's does not."""
    with _built_chains() as built:
        for dtype in DTYPES:
            chain = Chain(optimizer="momentum")
            _train(_job(chain, dtype), chain)
    folded32, separate64 = built
    assert folded32.fused is not None
    assert all(d.grads is not None and "weights" not in d.grads for d in folded32.layers)
    assert separate64.fused is None


class _MomentumForgotten(Sgd):
    """Folds the gradient into the velocity without keeping the old velocity (beta 0 instead of momentum)."""

    def step_product(self, layer: str, weights: Array, a: Array, b: Array) -> None:
        momentum, self.momentum = self.momentum, 0.0
        try:
            super().step_product(layer, weights, a, b)
        finally:
            self.momentum = momentum


def test_a_folded_update_that_forgets_the_momentum_is_caught() -> None:
    chain = Chain(optimizer="momentum", batch=16, examples=64, widths=(16, 10), epochs=2)
    job = _job(chain, np.float32)
    with _generic_step():
        generic = _train(job, chain)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trainer, "optimizer_for", lambda *args: _MomentumForgotten(0.05, 0.8))
        wrong = _train(job, chain)
    # How far it lands: 0.098 of the largest weight (the right chain: 9e-8), 3,300 times the rounding bound.
    assert _relative_distance(wrong, generic) > 100 * ROUNDING[np.float32]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_a_summation_order_is_the_same_on_both_steps(dtype: type[np.floating[Any]]) -> None:
    _assert_chain_is_generic(Chain(optimizer="momentum"), dtype, summation_seed=5)


def test_many_steps_spill_the_loss_log_and_keep_every_event() -> None:
    """More steps than the deferred-loss log holds (a wide logit row fills it sooner): losses come in order."""
    chain = Chain(widths=(8, 2000), examples=2000, batch=4, epochs=1, learning_rate=0.01)
    result = _assert_chain_is_generic(chain, np.float32)
    steps = [e.mini_batch for e in result.events if e.event == "miniBatchEnd"]
    assert steps == list(range(500))


def test_learning_rate_schedule_and_blas_threads_train_alike() -> None:
    chain = Chain(optimizer="momentum", epochs=4)
    job = _job(chain, np.float32, schedule=[(2, 0.01)])
    with _folded(False):
        fast = _train(job, chain, blas_threads=2)
    with _generic_step():
        generic = _train(job, chain, blas_threads=2)
    assert not _differences(fast, generic)
    assert _relative_distance(_train(job, chain, blas_threads=2), generic) <= ROUNDING[np.float32]


def test_events_left_unrequested_give_the_same_epoch_losses() -> None:
    chain = Chain()
    job = _job(chain, np.float32)
    with _folded(False):
        fast = _train(job, chain, events=["epochEnd"])
    with _generic_step():
        generic = _train(job, chain, events=["epochEnd"])
    assert not _differences(fast, generic)
    assert {e.event for e in fast.events} == {"epochEnd", "completion"}


@pytest.mark.parametrize("case", ["relu_sgd", "saturated_float32_probability_loss", "stale_last_batch"])
def test_a_run_nobody_watches_step_by_step_trains_and_reports_epochs_as_a_watched_one(case: str) -> None:
    """Without miniBatchEnd observers only each epoch's last loss is computed: the weights, the epochEnd losses
    and the final loss are those of a run that reports every step (an infinite loss included)."""
    chain = CASES[case]
    job = _job(chain, np.float32)
    watched = _train(job, chain)
    unwatched = _train(job, chain, events=["epochEnd"])
    assert not _differences(unwatched, dataclasses.replace(watched, events=unwatched.events))
    epoch_losses = [e.loss for e in watched.events if e.event == "epochEnd"]
    assert [e.loss for e in unwatched.events if e.event == "epochEnd"] == epoch_losses
    assert len([e for e in watched.events if e.event == "miniBatchEnd"]) > len(epoch_losses)


@pytest.mark.parametrize("loss", ["cce", "mse"])
def test_divergence_names_the_same_epoch_and_mini_batch(loss: str) -> None:
    chain = Chain(loss=loss, hidden="LINEAR", learning_rate=1e4 if loss == "cce" else 50.0, epochs=4)
    job = _job(chain, np.float32)
    seen: list[Any] = []
    with pytest.raises(TrainingError) as fast:
        _train(job, chain, on_event=seen.append)
    with _generic_step(), pytest.raises(TrainingError) as generic:
        _train(job, chain)
    assert str(fast.value) == str(generic.value)
    assert (fast.value.epoch, fast.value.mini_batch) == (generic.value.epoch, generic.value.mini_batch)
    steps = [(e.epoch, e.mini_batch) for e in seen if e.event == "miniBatchEnd"]
    assert len(steps) == len(set(steps)), "the progress callback saw a replayed event twice"


def test_a_network_that_is_not_a_dense_chain_takes_the_generic_step() -> None:
    rng = np.random.default_rng(3)
    spec = _spec(Chain(conv_prefix=True), rng)
    layers = neural_network(spec).layers
    for layer in layers:
        layer.isUpdatable = layer.name in ("c", "d1")  # a live convolution: not a chain over a vector
    job = prepare(spec, _examples(Chain(conv_prefix=True), rng))
    params = {name: dict(arrays) for name, arrays in job.network.params.items()}
    assert DenseChain.plan(job.network, job.frontier, params, 6) is None


# --- a chain that is wrong in one rounding or one update is caught -----------------------------------------


class _ReversedBiasSum(DenseChain):
    """Sums the bias gradient over the batch in the reverse order: the same mathematics, other roundings."""

    def backward(self, g: Array, inputs: Sequence[Array]) -> dict[str, Params]:
        grads = super().backward(g, inputs)
        layer = self.layers[-1]
        if layer.grads is not None and "biases" in layer.grads:
            np.sum(g[::-1], axis=0, out=layer.grads["biases"])
        return grads


class _NoBiasUpdate(DenseChain):
    """Forgets the first layer's bias update."""

    def backward(self, g: Array, inputs: Sequence[Array]) -> dict[str, Params]:
        grads = super().backward(g, inputs)
        first = self.layers[0].grads
        if first is not None and "biases" in first:
            first["biases"][...] = 0
        return grads


@pytest.mark.parametrize(
    ("wrong", "dtype"), [(_ReversedBiasSum, np.float32), (_ReversedBiasSum, np.float64), (_NoBiasUpdate, np.float32)]
)
def test_a_chain_that_differs_from_the_generic_step_is_caught(
    wrong: type[DenseChain], dtype: type[np.floating[Any]]
) -> None:
    chain = Chain(optimizer="momentum", batch=16, examples=64, widths=(16, 10), epochs=2)
    job = _job(chain, dtype)
    with _generic_step():
        generic = _train(job, chain)
    with _chain_class(wrong), _folded(False):
        wrong_result = _train(job, chain)
    assert _differences(wrong_result, generic)
    if dtype == np.float32:
        # How far the wrong chain lands: the reordered sum moves weights by a few float32 ulps only.
        distances = {layer: _ulps(wrong_result.weights[layer], generic.weights[layer]) for layer in generic.weights}
        assert max(distances.values()) >= 1


def test_the_reversed_sum_moves_float32_weights_by_rounding_alone() -> None:
    """The reordered chain is a rounding change, not a bug in the mathematics: it stays within float32 noise
    of the generic step (so only a bit-for-bit comparison, as above, can see it)."""
    chain = Chain(optimizer="momentum", batch=16, examples=64, widths=(16, 10), epochs=2)
    job = _job(chain, np.float32)
    with _generic_step():
        generic = _train(job, chain)
    with _chain_class(_ReversedBiasSum), _folded(False):
        wrong_result = _train(job, chain)
    for layer, arrays in generic.weights.items():
        for kind, values in arrays.items():
            scale = float(np.max(np.abs(values)))
            assert np.max(np.abs(wrong_result.weights[layer][kind] - values)) <= 1e-5 * scale


def test_the_generic_switch_really_runs_the_generic_step() -> None:
    """The comparison above is between two paths: with the planner off no chain is built."""
    chain = Chain()
    job = _job(chain, np.float32)
    with _built_chains() as built:
        _train(job, chain)
    assert built
    with _built_chains() as built, _generic_step():
        _train(job, chain)
    assert not built


def test_chain_cases_cover_every_activation_and_optimizer() -> None:
    chains = list(CASES.values())
    functions = {c.hidden for c in chains} | {c.last for c in chains}
    assert {"RELU", "LEAKYRELU", "SIGMOID", "TANH", "LINEAR", None} <= functions
    assert {c.optimizer for c in chains} == {"sgd", "momentum", "adam"}
    assert {c.semantics.partial_batch for c in chains} == {"wrap_around", "short", "stale"}
