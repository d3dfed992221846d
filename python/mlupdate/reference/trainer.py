"""The update task: epochs of mini-batches in Core ML's order, losses, optimiser steps and progress events.

`train(spec, examples)` does what `MLUpdateTask` does for a neural network (or the network at the end of a
pipeline): it resolves the update parameters (model defaults + `MLModelConfiguration.parameters`-style
overrides, checked as Core ML checks them), computes the frozen prefix once, then runs ceil(N/B) mini-batches
per epoch in the order `MLShufflingBatchProvider` produces, emitting the events the job asked for.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from mlupdate.contract import ALL_PROGRESS_EVENTS
from mlupdate.errors import DataError, ModelInvalidError, TrainingError, UnsupportedError
from mlupdate.models.params import resolve_parameters
from mlupdate.models.spec import Spec, is_neural_network, neural_network
from mlupdate.reference.layers import Array, Params
from mlupdate.reference.losses import categorical_cross_entropy, mean_squared_error
from mlupdate.reference.network import Network, as_network_array, blob_rows
from mlupdate.reference.optimizers import Optimizer, optimizer_for
from mlupdate.reference.pipeline import leaf_features
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.shuffle import EpochOrder, engine_for

EVENT_KINDS = ALL_PROGRESS_EVENTS
_FLOAT32_MAX = float(np.finfo(np.float32).max)  # Core ML reports the loss as a float: beyond this it is inf


@dataclass(frozen=True)
class Event:
    """One progress event as Core ML reports it (`epoch` / `mini_batch` 0-based, `loss` a float32 value)."""

    event: str
    epoch: int | None = None
    mini_batch: int | None = None
    loss: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.event, "epoch": self.epoch, "mini_batch": self.mini_batch, "loss": self.loss}


@dataclass(frozen=True)
class TrainingResult:
    """What an update task leaves behind: trained parameters per updatable layer, events and the final loss."""

    weights: dict[str, Params]  # updatable layer name -> {"weights", "biases"} in spec layout
    scope: tuple[str, ...]  # pipeline scope of the updatable model: () or ("model1",)
    events: tuple[Event, ...]
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
) -> PreparedJob:
    """Check the model and data, resolve parameters and compute the frozen prefix for every example once."""
    leaf, features = leaf_features(spec, examples, dtype=dtype)
    _require_updatable(spec, leaf.spec)
    resolved = resolve_parameters(spec, dict(parameters or {}))
    network = Network(leaf.spec, dtype=dtype)
    inputs = network.prepare_inputs(features)
    counts = {len(v) for v in inputs.values()}
    if len(counts) != 1 or 0 in counts:
        raise DataError(
            f"training features have different or zero example counts {sorted(counts)}",
            where="training",
            fix="give every feature the same, non-zero number of examples",
        )
    count = counts.pop()
    for name, array in inputs.items():
        if not np.all(np.isfinite(array)):
            raise DataError(f"feature {name!r} contains NaN or Inf", where=f"feature {name}", fix="clean the data")
    targets = _targets(network, features, count)
    if len(targets) != count:
        raise DataError(
            f"{len(targets)} targets for {count} examples", where="training", fix="give one target per example"
        )
    optimizer = neural_network(leaf.spec).updateParams.optimizer.WhichOneof("OptimizerType")
    # The frozen prefix runs once over the whole set: large products that BLAS threads do speed up, unlike the
    # small per-batch products of the training loop, which run single-threaded below.
    frontier = network.frozen_activations(inputs)
    return PreparedJob(network, leaf.scope, frontier, targets, count, resolved, str(optimizer))


@functools.cache
def _blas_controller() -> Any:
    # Built once: every ThreadpoolController() scans the process's loaded libraries (milliseconds per job).
    return ThreadpoolController()


def _single_threaded_blas() -> Any:
    return _blas_controller().limit(limits=1, user_api="blas")


def batch_rows(order: np.ndarray[Any, Any], index: int, size: int, partial: str) -> np.ndarray[Any, Any]:
    """Rows of mini-batch `index`: a short last batch wraps around to the start of the epoch's order."""
    start = index * size
    if partial == "short":
        return order[start : start + size]
    return order[np.arange(start, start + size) % len(order)]


def _loss(
    job: PreparedJob, env: dict[str, Array], rows: np.ndarray[Any, Any], semantics: Semantics
) -> tuple[float, Array]:
    loss = job.network.loss
    assert loss is not None
    if loss.kind == "cce":
        return categorical_cross_entropy(env[loss.input], job.targets[rows], semantics)
    return mean_squared_error(env[loss.input], job.targets[rows], semantics)


def _check_finite(value: float, params: Mapping[str, Params], epoch: int, mini_batch: int) -> None:
    if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
        raise TrainingError(
            f"the loss became {value}",
            epoch=epoch,
            mini_batch=mini_batch,
            where="training",
            fix="lower the learning rate or check the data for extreme values",
        )
    for layer, arrays in params.items():
        for name, array in arrays.items():
            if not np.all(np.isfinite(array)):
                raise TrainingError(
                    f"{layer}.{name} became NaN or Inf",
                    epoch=epoch,
                    mini_batch=mini_batch,
                    where=f"layer {layer}",
                    fix="lower the learning rate or check the data for extreme values",
                )


def _run_epoch(
    job: PreparedJob,
    epoch: int,
    order: list[int],
    params: dict[str, Params],
    trained: dict[str, Params],
    optimizer: Optimizer,
    semantics: Semantics,
    emit: Callable[[Event], None],
) -> float:
    """One epoch of ceil(N/B) mini-batches; returns the last mini-batch's loss (what epochEnd reports)."""
    network, size = job.network, int(job.parameters["miniBatchSize"])
    rows_order = np.asarray(order)
    loss = math.nan
    for k in range(math.ceil(job.count / size)):
        rows = batch_rows(rows_order, k, size, semantics.partial_batch)
        env = blob_rows(job.frontier, rows)
        caches = network.forward_live(env, params)
        raw_loss, start = _loss(job, env, rows, semantics)
        _check_finite(raw_loss, {}, epoch, k)
        optimizer.step(trained, network.backward_live(start, caches, params))
        _check_finite(raw_loss, trained, epoch, k)
        loss = float(np.float32(raw_loss))
        emit(Event("miniBatchEnd", epoch, k, loss))
    return loss


def run_prepared(
    job: PreparedJob,
    *,
    events: Collection[str] = EVENT_KINDS,
    semantics: Semantics | None = None,
    initial_weights: Mapping[str, Params] | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> TrainingResult:
    """Train a prepared job from its (or the given) initial weights; the job itself is left unchanged."""
    semantics = semantics or Semantics()
    network, p = job.network, job.parameters
    params = {name: {k: v.copy() for k, v in arrays.items()} for name, arrays in network.params.items()}
    for layer, arrays in (initial_weights or {}).items():
        params[layer] = {k: np.asarray(v, dtype=network.dtype).copy() for k, v in arrays.items()}
    trained = {name: params[name] for name in network.updatable}
    optimizer = optimizer_for(job.optimizer, p, semantics)
    epochs, shuffle = int(p["epochs"]), bool(p.get("shuffle", False))
    seed = p.get("seed")
    order = EpochOrder(
        job.count,
        shuffle=shuffle,
        engine=engine_for(int(seed) if seed is not None else None, seeded_shuffle=semantics.seeded_shuffle),
    )
    reshuffle = not semantics.reshuffle_requires_epoch_end_handler or "epochEnd" in events
    log: list[Event] = []

    def emit(event: Event) -> None:
        if event.event in events or event.event == "completion":
            log.append(event)
        if on_event is not None:  # progress display sees every event, asked for or not
            on_event(event)

    emit(Event("trainingBegin"))
    loss = math.nan
    # Overflow is detected after each step and reported as a TrainingError with its epoch and batch.
    # Per-batch matmuls are small: BLAS threads cost more than they give (and far more on a busy machine).
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), _single_threaded_blas():
        for epoch in range(epochs):
            loss = _run_epoch(job, epoch, order.order, params, trained, optimizer, semantics, emit)
            emit(Event("epochEnd", epoch, None, loss))
            if reshuffle:
                order.reshuffle()
    emit(Event("completion", None, None, loss if epochs else None))
    return TrainingResult(
        weights=trained,
        scope=job.scope,
        events=tuple(log),
        final_loss=loss if epochs else None,
        epochs_completed=epochs,
        parameters=dict(p),
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
    on_event: Callable[[Event], None] | None = None,
) -> TrainingResult:
    """Run one update task on `examples` (feature name -> array, label list or uint8 images [N, C, H, W])."""
    job = prepare(spec, examples, parameters, dtype=dtype)
    return run_prepared(job, events=events, semantics=semantics, on_event=on_event)
