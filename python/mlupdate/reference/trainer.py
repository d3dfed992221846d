"""The update task: epochs of mini-batches in Core ML's order, losses, optimiser steps and progress events.

`train(spec, examples)` does what `MLUpdateTask` does for a neural network (or the network at the end of a
pipeline): it resolves the update parameters (model defaults + `MLModelConfiguration.parameters`-style
overrides, checked as Core ML checks them), computes the frozen prefix once, then runs ceil(N/B) mini-batches
per epoch in the order `MLShufflingBatchProvider` produces, emitting the events the job asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlupdate.contract import ALL_PROGRESS_EVENTS, EventKind, ProgressEvent
from mlupdate.errors import DataError, ModelInvalidError, TrainingError, UnsupportedError
from mlupdate.models.params import resolve_parameters
from mlupdate.models.spec import Spec, is_neural_network, neural_network
from mlupdate.reference import parallelism
from mlupdate.reference.dense_chain import DenseChain, LossLog
from mlupdate.reference.layers import Array, Params
from mlupdate.reference.losses import categorical_cross_entropy, mean_squared_error
from mlupdate.reference.network import Network, as_network_array, blob_rows
from mlupdate.reference.optimizers import Optimizer, optimizer_for
from mlupdate.reference.pipeline import leaf_features
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.shuffle import epoch_order

EVENT_KINDS = ALL_PROGRESS_EVENTS
_FLOAT32_MAX = float(np.finfo(np.float32).max)  # Core ML reports the loss as a float: beyond this it is inf


@dataclass(frozen=True)
class TrainingResult:
    """What an update task leaves behind: trained parameters per updatable layer, events and the final loss."""

    weights: dict[str, Params]  # updatable layer name -> {"weights", "biases"} in spec layout
    scope: tuple[str, ...]  # pipeline scope of the updatable model: () or ("model1",)
    events: tuple[ProgressEvent, ...]
    final_loss: float | None
    epochs_completed: int
    parameters: dict[str, float | int | bool]
    semantics: Semantics = field(default_factory=Semantics)

    def scoped_name(self, layer: str) -> str:
        """`dense_1` or `model1.dense_1`, as `MLParameterKey.weights.scoped(to:)` spells it."""
        return ".".join((*self.scope, layer))


@dataclass(frozen=True)
class PreparedJob:
    """A job ready to train: network, frozen frontier activations for all examples, targets, parameters."""

    network: Network
    scope: tuple[str, ...]
    frontier: dict[str, Array]
    targets: Array
    count: int
    parameters: dict[str, float | int | bool]
    optimizer: str
    largest_product: int = 0  # multiply-adds of the largest product in one mini-batch step (BLAS thread choice)
    # (epoch, learning rate): from that epoch on the task trains with that rate, set at the epoch boundary as a
    # progress handler's `resume(withParameters: [.learningRate: ...])` does (mlupdate.bundle.schedule).
    schedule: tuple[tuple[int, float], ...] = ()


def _require_updatable(spec: Spec, leaf: Spec) -> None:
    problems = []
    if not spec.isUpdatable:
        problems.append("the model is not updatable (isUpdatable is false); make it updatable first")
    if not is_neural_network(leaf):
        kind = leaf.WhichOneof("Type")
        raise UnsupportedError(
            f"the updatable model is a {kind!r}; the network trainer runs neural networks only",
            where="model",
            fix="train k-NN models with mlupdate.reference.knn.update",
        )
    if not leaf.isUpdatable:
        problems.append("the updatable sub-model has isUpdatable false")
    message = neural_network(leaf)
    if not message.HasField("updateParams") or not message.updateParams.lossLayers:
        problems.append("no loss layer in updateParams; add a CCE or MSE loss layer")
    elif message.updateParams.optimizer.WhichOneof("OptimizerType") is None:
        problems.append("no optimizer in updateParams; set an SGD or Adam optimizer")
    if not any(layer.isUpdatable for layer in message.layers):
        problems.append("no layer is marked updatable; mark an innerProduct or convolution layer updatable")
    if problems:
        raise ModelInvalidError("model", problems)


def _targets(network: Network, examples: Mapping[str, Any], count: int) -> Array:
    loss = network.loss
    assert loss is not None  # checked by _require_updatable
    if loss.kind == "mse":
        if loss.target not in examples:
            raise DataError(f"the MSE target {loss.target!r} is missing", where=f"feature {loss.target}", fix="add it")
        return as_network_array(examples[loss.target], name=loss.target, dtype=network.dtype)
    labels = network.class_labels()
    predicted = network.spec.description.predictedFeatureName if labels is not None else ""
    if loss.target in examples:
        indices = np.asarray(examples[loss.target]).reshape(count, -1)[:, 0]
        classes = None
    elif predicted and predicted in examples:
        lookup = {label: i for i, label in enumerate(labels or [])}
        unknown = [v for v in examples[predicted] if v not in lookup]
        if unknown:
            raise DataError(
                f"label {unknown[0]!r} is not one of the model's class labels",
                where=f"feature {predicted}",
                fix=f"use labels from {list(lookup)[:10]}",
            )
        indices = np.asarray([lookup[v] for v in examples[predicted]])
        classes = len(lookup)
    else:
        raise DataError(
            f"the training examples hold neither the CCE target {loss.target!r} nor the classifier label",
            where="training",
            fix="add the target feature the model's trainingInput declares",
        )
    if not np.all(np.equal(np.mod(indices, 1), 0)):
        raise DataError(
            "CCE targets must be whole class indices", where=f"feature {loss.target}", fix="use 0-based ints"
        )
    indices = indices.astype(np.int64)
    limit = classes if classes is not None else _class_count(network)
    if indices.size and (indices.min() < 0 or (limit is not None and indices.max() >= limit)):
        raise DataError(
            f"class index {int(indices.max() if indices.max() >= 0 else indices.min())} is outside 0..{limit}",
            where=f"feature {loss.target}",
            fix="CCE targets are 0-based class indices below the number of softmax outputs",
        )
    return indices


def _class_count(network: Network) -> int | None:
    loss = network.loss
    for layer in network.layers:
        if layer.output == (loss.logits if loss else None) and layer.kind == "innerProduct":
            return int(network.params[layer.name]["weights"].shape[0])
    return None


def prepare(
    spec: Spec,
    examples: Mapping[str, Any],
    parameters: Mapping[str, Any] | None = None,
    *,
    dtype: type[np.floating[Any]] = np.float32,
    schedule: Sequence[tuple[int, float]] = (),
) -> PreparedJob:
    """Check the model and data, resolve parameters and compute the frozen prefix for every example once.
    `schedule` lists (epoch, learning rate) boundaries; each rate is checked against the model's allowed range."""
    leaf, features = leaf_features(spec, examples, dtype=dtype)
    _require_updatable(spec, leaf.spec)
    resolved = resolve_parameters(spec, dict(parameters or {}))
    network = Network(leaf.spec, dtype=dtype)
    count = network.example_count(features)
    # The frozen prefix runs once over the whole set, chunk by chunk (inputs converted per chunk).
    frontier = network.frozen_activations(features)
    targets = _targets(network, features, count)
    if len(targets) != count:
        raise DataError(
            f"{len(targets)} targets for {count} examples", where="training", fix="give one target per example"
        )
    optimizer = neural_network(leaf.spec).updateParams.optimizer.WhichOneof("OptimizerType")
    largest = largest_step_product(network, frontier, int(resolved["miniBatchSize"]), count)
    for _, rate in schedule:
        resolve_parameters(spec, {**dict(parameters or {}), "learningRate": rate})
    return PreparedJob(
        network, leaf.scope, frontier, targets, count, resolved, str(optimizer), largest, tuple(schedule)
    )


# One thread is faster for small products (thread hand-off costs more than it saves); past this many
# multiply-adds in the largest product of a step, two idle cores gain: measured by `make bench` (Haswell kernel,
# 2 cores, load average 3), 3.2 M multiply-adds (32 x 784 x 128) ran at 89 GFLOP/s on one thread and 119 on two,
# 6.4 M at 100 and 171. A machine that other programs keep busy trains on one thread whatever the size
# (`idle_cores`).
THREADED_PRODUCT_MIN = 2_000_000


def largest_step_product(network: Network, frontier: Mapping[str, Array], size: int, count: int) -> int:
    """Multiply-adds of the largest matrix product one mini-batch step runs (forward; the backward products
    of a layer have the same count), from one forward pass over the first mini-batch."""
    env = blob_rows(frontier, np.arange(size) % count)
    network.forward_live(env)
    largest = 0
    for layer in network.live:
        weights = network.params[layer.name].get("weights")
        if weights is not None and layer.output in env:
            largest = max(largest, env[layer.output].size * (weights.size // max(1, env[layer.output].shape[1])))
    return largest


def blas_threads_for(job: PreparedJob) -> int:
    """BLAS threads for the training loop: more than one only in float32, only past the crossover, and only on
    cores that are idle when the task starts.

    OpenBLAS's threads wait for each other spinning: on a machine whose cores are all busy a threaded product of
    a training step runs 5 to 400 times slower than on one thread (measured at a load of 10 on 2 cores:
    `make bench` prints the crossover), so a busy machine trains on one thread. Float64 (the oracles' mode)
    always runs on one thread, so its weights stay bit-identical to every earlier version; in float32 OpenBLAS's
    Haswell kernel sums some products in another order on more threads, which moves weights by rounding (ulps)
    and nothing else. Pass `blas_threads` to `run_prepared` to pin the count (ensembles pin one)."""
    if job.network.dtype != np.float32 or job.largest_product < THREADED_PRODUCT_MIN:
        return 1
    return min(parallelism.blas_threads_available(), parallelism.idle_cores())


def batch_rows(order: np.ndarray[Any, Any], index: int, size: int, partial: str) -> np.ndarray[Any, Any]:
    """Rows of mini-batch `index`: a short last batch wraps around to the start of the epoch's order."""
    start = index * size
    if partial == "short":
        return order[start : start + size]
    return order[np.arange(start, start + size) % len(order)]


def epoch_batches(
    order: np.ndarray[Any, Any], size: int, partial: str, previous: np.ndarray[Any, Any] | None = None
) -> list[np.ndarray[Any, Any]]:
    """Every mini-batch of an epoch, `batch_rows` for k = 0 .. ceil(N/B) - 1, in one indexing operation.

    `partial` "stale": the last batch's empty slots keep what the batch before put there (the batch before it
    in this epoch, or `previous`, the last batch of the epoch before, when an epoch has one batch; with
    neither, they wrap around)."""
    steps = -(-len(order) // size)
    if partial == "short":
        return [order[k * size : (k + 1) * size] for k in range(steps)]
    batches = list(order[np.arange(steps * size) % len(order)].reshape(steps, size))
    filled = len(order) - (steps - 1) * size
    before = batches[-2] if steps > 1 else previous
    if partial == "stale" and filled < size and before is not None:
        batches[-1] = np.concatenate([batches[-1][:filled], before[filled:]])
    return batches


def summation_orders(batches: list[np.ndarray[Any, Any]], rng: np.random.Generator) -> list[np.ndarray[Any, Any]]:
    """Each mini-batch's rows in the order `rows[rng.permutation(len(rows))]`, batch after batch; drawn for every
    run of equal-sized batches at once (`Generator.permuted` shuffles each row with the draws `permutation` makes,
    so the orders are the same: tests/reference/test_ensemble_processes.py)."""
    ordered: list[np.ndarray[Any, Any]] = []
    start = 0
    while start < len(batches):
        size = len(batches[start])
        end = start + 1
        while end < len(batches) and len(batches[end]) == size:
            end += 1
        stacked = np.stack(batches[start:end])
        orders = rng.permuted(np.broadcast_to(np.arange(size), stacked.shape), axis=1)
        ordered += list(np.take_along_axis(stacked, orders, axis=1))
        start = end
    return ordered


def _loss(
    job: PreparedJob, env: dict[str, Array], rows: np.ndarray[Any, Any], semantics: Semantics
) -> tuple[float, Array]:
    loss = job.network.loss
    assert loss is not None
    if loss.kind == "cce":
        return categorical_cross_entropy(env[loss.logits or ""], env[loss.input], job.targets[rows], semantics)
    return mean_squared_error(env[loss.input], job.targets[rows], semantics)


_FIX = "lower the learning rate or check the data for extreme values"


def _weights_error(bad: tuple[str, str], loss: float, epoch: int, mini_batch: int) -> TrainingError:
    layer, kind = bad
    return TrainingError(
        f"{layer}.{kind} became NaN or Inf (the mini-batch's loss was {loss:.6g})",
        epoch=epoch,
        mini_batch=mini_batch,
        where=f"layer {layer}",
        fix=_FIX,
    )


def _first_non_finite(params: Mapping[str, Params]) -> tuple[str, str] | None:
    for layer, arrays in params.items():
        for name, array in arrays.items():
            if not np.isfinite(array).all():
                return layer, name
    return None


class _Diverged(Exception):
    """On the fast path: the loss of (epoch, mini_batch), or a weight by the end, stopped being finite."""

    def __init__(self, epoch: int, mini_batch: int) -> None:
        super().__init__(epoch, mini_batch)
        self.epoch, self.mini_batch = epoch, mini_batch


class _Gather:
    """The frontier rows of a mini-batch, copied into buffers reused from step to step (allocated on first use:
    a dense chain gathers into its own)."""

    def __init__(self, frontier: Mapping[str, Array], size: int) -> None:
        self.frontier, self.size = frontier, size
        self.buffers: dict[str, Array] = {}

    def __call__(self, rows: np.ndarray[Any, Any]) -> dict[str, Array]:
        if not self.buffers:
            self.buffers = {n: np.empty((self.size, *a.shape[1:]), dtype=a.dtype) for n, a in self.frontier.items()}
        env: dict[str, Array] = {}
        for name, array in self.frontier.items():
            buffer = self.buffers[name]
            env[name] = (
                np.take(array, rows, axis=0, out=buffer, mode="clip") if len(rows) == len(buffer) else array[rows]
            )
        return env


class _Task:
    """One update task from its initial weights: optimizer state, epoch order and the parameters it trains."""

    def __init__(
        self,
        job: PreparedJob,
        semantics: Semantics,
        initial_weights: Mapping[str, Params] | None,
        events: Collection[str],
        threads: int,
        summation_seed: int | None = None,
        batch_events: bool = True,
    ) -> None:
        network, p = job.network, job.parameters
        self.job, self.semantics, self.threads = job, semantics, threads
        self.batch_events = batch_events  # False: nobody sees miniBatchEnd events, so none is made
        # The task trains copies of the updatable layers; frozen layers are only read, so the job's arrays serve
        # (a large frozen feature extractor is not held twice while training).
        self.params = {
            name: {k: v.copy() for k, v in arrays.items()} if name in network.updatable else arrays
            for name, arrays in network.params.items()
        }
        for layer, arrays in (initial_weights or {}).items():
            self.params[layer] = {k: np.asarray(v, dtype=network.dtype).copy() for k, v in arrays.items()}
        self.trained = {name: self.params[name] for name in network.updatable}
        self.optimizer: Optimizer = optimizer_for(job.optimizer, p, semantics)
        self.epochs, self.size = int(p["epochs"]), int(p["miniBatchSize"])
        seed = p.get("seed")
        self.order = epoch_order(
            job.count,
            shuffle=bool(p.get("shuffle", False)) and semantics.shuffle_schedule != "never",
            seed=int(seed) if seed is not None else None,
            engine=semantics.shuffle_engine,
            seeded_shuffle=semantics.seeded_shuffle,
        )
        self.reshuffle = semantics.shuffle_schedule == "every_epoch" and (
            not semantics.reshuffle_requires_epoch_end_handler or EventKind.EPOCH_END in events
        )
        # A dense chain trains in buffers kept from step to step (bit-identical to the generic step, but for the
        # float32 SGD update it folds into gemm: see mlupdate.reference.dense_chain).
        self.chain = DenseChain.plan(network, job.frontier, self.params, self.size, self.optimizer)
        self.gather = _Gather(job.frontier, self.size)
        cce = network.loss is not None and network.loss.kind == "cce"
        steps = -(-job.count // self.size)
        self.loss_log = (
            LossLog(self.size, self.chain.classes, network.dtype, semantics, steps) if cce and self.chain else None
        )
        self.last_batch: np.ndarray[Any, Any] | None = None
        # Rows of a mini-batch visited in another order: the same sums in another float32 rounding.
        self.summation = np.random.default_rng(summation_seed) if summation_seed is not None else None

    def run(self, emit: Callable[[ProgressEvent], None], *, exact: bool) -> float:
        """Train every epoch; `exact` checks every weight after every step and raises the TrainingError, else
        only the loss is checked per step and the weights once at the end (`_Diverged` on either)."""
        emit(ProgressEvent(EventKind.TRAINING_BEGIN))
        loss = math.nan
        # Overflow is detected after each step and reported as a TrainingError with its epoch and batch.
        with (
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
            parallelism.blas_limit(self.threads),
        ):
            rates = dict(self.job.schedule)
            for epoch in range(self.epochs):
                if epoch in rates:
                    self.optimizer.learning_rate = rates[epoch]
                loss = self._epoch(epoch, emit, exact)
                emit(ProgressEvent(EventKind.EPOCH_END, epoch, None, loss))
                if self.reshuffle:
                    self.order.reshuffle()
        if not exact and _first_non_finite(self.trained) is not None:
            raise _Diverged(self.epochs - 1, math.ceil(self.job.count / self.size) - 1)
        emit(ProgressEvent(EventKind.COMPLETION, None, None, loss if self.epochs else None))
        return loss

    def _batches(self) -> list[np.ndarray[Any, Any]]:
        """This epoch's mini-batches, each in its summation order."""
        batches = epoch_batches(self.order.array, self.size, self.semantics.partial_batch, self.last_batch)
        self.last_batch = batches[-1]
        return summation_orders(batches, self.summation) if self.summation is not None else batches

    def _epoch(self, epoch: int, emit: Callable[[ProgressEvent], None], exact: bool) -> float:
        """One epoch of ceil(N/B) mini-batches; returns the last mini-batch's loss (what epochEnd reports)."""
        if self.chain is not None:
            return self._chain_epoch(self.chain, epoch, emit, exact)
        job, network, params = self.job, self.job.network, self.params
        loss = math.nan
        for k, rows in enumerate(self._batches()):
            env = self.gather(rows)
            caches = network.forward_live(env, params)
            raw_loss, start = _loss(job, env, rows, self.semantics)
            if not exact and not abs(raw_loss) <= _FLOAT32_MAX:  # also true for NaN
                raise _Diverged(epoch, k)  # a non-finite loss is an error only once a weight breaks: replay exactly
            self.optimizer.step(self.trained, network.backward_live(start, caches, params))
            if exact and (bad := _first_non_finite(self.trained)) is not None:
                raise _weights_error(bad, raw_loss, epoch, k)
            loss = float(np.float32(raw_loss))
            if self.batch_events:
                emit(ProgressEvent(EventKind.MINI_BATCH_END, epoch, k, loss))
        return loss

    def _chain_epoch(self, chain: DenseChain, epoch: int, emit: Callable[[ProgressEvent], None], exact: bool) -> float:
        """`_epoch` for a dense chain. A CCE step's loss is computed with those of the next steps (`LossLog`), so
        a run of steps' miniBatchEnd events is emitted together, in order, and a non-finite loss is seen then;
        exactly (`exact`), each step's loss is computed and the weights checked before the next step.

        When no one sees miniBatchEnd events, only the epoch's last CCE loss (its epochEnd loss) is computed: the
        other losses would only be checked for being finite, which decides nothing (a non-finite weight is found
        at the end of the run and replayed exactly, and a non-finite loss alone stops nothing)."""
        batches = self._batches()
        log = self.loss_log
        plan = _BatchPlan(batches, self.job.targets if log is not None else None, chain.row_offsets)
        trained, step, reduction = self.trained, self.optimizer.step, self.semantics.cce_reduction
        reported = _Reported(epoch, emit if self.batch_events else None, exact)
        every_loss = exact or self.batch_events
        last = len(batches) - 1
        for k, rows in enumerate(batches):
            x = chain.rows(rows, plan.consecutive[k])
            if log is not None:
                slot = log.slot(len(rows), plan.targets[k]) if every_loss or k == last else None
                inputs, logits = chain.forward(x, slot)
                if slot is not None and logits is not slot:
                    np.copyto(slot, logits)
                step(trained, chain.backward(chain.cce_gradient(logits, plan.flat[k], reduction), inputs))
                losses = log.losses() if exact or log.full or k == last else []
            else:
                inputs, outputs = chain.forward(x)
                raw_loss, start = mean_squared_error(outputs, self.job.targets[rows], self.semantics)
                step(trained, chain.backward(start, inputs))
                losses = [raw_loss]
            if exact and (bad := _first_non_finite(trained)) is not None:
                raise _weights_error(bad, losses[-1], epoch, k)
            reported.add(losses)
        return reported.loss


class _BatchPlan:
    """Per mini-batch of an epoch: whether its rows are consecutive frontier rows (read in place), and for a
    CCE loss its targets and their flat indices in the batch's logits; worked out for the epoch at once."""

    def __init__(
        self, batches: list[np.ndarray[Any, Any]], targets: np.ndarray[Any, Any] | None, offsets: np.ndarray[Any, Any]
    ) -> None:
        if all(len(rows) == len(batches[0]) for rows in batches):
            stacked = np.stack(batches)
            self.consecutive: list[bool] = (np.diff(stacked, axis=1) == 1).all(axis=1).tolist()
            chosen = targets[stacked] if targets is not None else None
            self.targets = list(chosen) if chosen is not None else []
            self.flat = list(chosen + offsets[: stacked.shape[1]]) if chosen is not None else []
            return
        self.consecutive = [bool((np.diff(rows) == 1).all()) for rows in batches]
        self.targets = [targets[rows] for rows in batches] if targets is not None else []
        self.flat = [t + offsets[: len(t)] for t in self.targets]


class _Reported:
    """Mini-batch losses as they become known, in step order: each is checked (on the fast path a non-finite
    loss means replay exactly) and emitted as its step's miniBatchEnd event."""

    def __init__(self, epoch: int, emit: Callable[[ProgressEvent], None] | None, exact: bool) -> None:
        self.epoch, self.emit, self.exact = epoch, emit, exact
        self.step = 0
        self.loss = math.nan

    def add(self, losses: list[float]) -> None:
        for raw_loss in losses:
            if not self.exact and not abs(raw_loss) <= _FLOAT32_MAX:  # also true for NaN
                raise _Diverged(self.epoch, self.step)  # an error only once a weight breaks: replay exactly
            self.loss = float(np.float32(raw_loss))
            if self.emit is not None:
                self.emit(ProgressEvent(EventKind.MINI_BATCH_END, self.epoch, self.step, self.loss))
            self.step += 1


class _EventLog:
    """The events a task keeps (those asked for, and completion), and a progress callback that sees every event
    once: after `replay()` the replayed events it already saw are not passed on again."""

    def __init__(self, wanted: Collection[str], on_event: Callable[[ProgressEvent], None] | None) -> None:
        self.wanted, self.on_event = wanted, on_event
        self.kept: list[ProgressEvent] = []
        self.count = self.seen = 0

    def replay(self) -> None:
        self.kept.clear()
        self.seen, self.count = max(self.seen, self.count), 0

    def __call__(self, event: ProgressEvent) -> None:
        if event.event in self.wanted or event.event == "completion":
            self.kept.append(event)
        self.count += 1
        if self.on_event is not None and self.count > self.seen:  # progress display sees every event
            self.on_event(event)


def run_prepared(
    job: PreparedJob,
    *,
    events: Collection[str] = EVENT_KINDS,
    semantics: Semantics | None = None,
    initial_weights: Mapping[str, Params] | None = None,
    on_event: Callable[[ProgressEvent], None] | None = None,
    blas_threads: int | None = None,
    summation_seed: int | None = None,
) -> TrainingResult:
    """Train a prepared job from its (or the given) initial weights; the job itself is left unchanged.

    `blas_threads` defaults to `blas_threads_for(job)`. Training stops with a TrainingError only where a weight
    stops being finite: a saturated softmax trains on (its fused loss stays finite), and so would a loss that
    overflows float32 while every weight is still finite. Each step checks its loss (one scalar) as a cheap
    sign of trouble, and the weights are checked once at the end; on either sign the run is replayed (it is
    deterministic) with every weight checked after every step, so the TrainingError names the epoch and
    mini-batch where a weight first stopped being finite, or the replay's result is the run's result.

    `summation_seed` visits the rows of every mini-batch in an order drawn from it: the same mathematics, summed
    in another order, so the weights differ by float32 rounding alone (as a device's kernels differ from
    numpy's). Ensembles use it to include that rounding in their spread.
    """
    semantics = semantics or Semantics()
    threads = blas_threads if blas_threads is not None else blas_threads_for(job)
    log = _EventLog(events, on_event)
    batch_events = EventKind.MINI_BATCH_END in events or on_event is not None
    task = _Task(job, semantics, initial_weights, events, threads, summation_seed, batch_events)
    try:
        loss = task.run(log, exact=False)
    except _Diverged:
        log.replay()
        task = _Task(job, semantics, initial_weights, events, threads, summation_seed, batch_events)
        loss = task.run(log, exact=True)
    epochs = task.epochs
    return TrainingResult(
        weights=task.trained,
        scope=job.scope,
        events=tuple(log.kept),
        final_loss=loss if epochs else None,
        epochs_completed=epochs,
        parameters=dict(job.parameters),
        semantics=semantics,
    )


def train(
    spec: Spec,
    examples: Mapping[str, Any],
    *,
    parameters: Mapping[str, Any] | None = None,
    events: Collection[str] = EVENT_KINDS,
    semantics: Semantics | None = None,
    dtype: type[np.floating[Any]] = np.float32,
    on_event: Callable[[ProgressEvent], None] | None = None,
) -> TrainingResult:
    """Run one update task on `examples` (feature name -> array, label list or uint8 images [N, C, H, W])."""
    job = prepare(spec, examples, parameters, dtype=dtype)
    return run_prepared(job, events=events, semantics=semantics, on_event=on_event)
