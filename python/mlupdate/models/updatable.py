"""Make an existing network (or a pipeline ending in one) updatable, and the loss/optimizer descriptions.

    spec = load_spec("MNISTClassifier.mlmodel")
    updatable = make_updatable(spec, ["drawing_dense0_fwd", "drawing_dense1_fwd"], "cce", Sgd(lr=0.01, batch=8),
                               epochs=10)

The result is a copy (the caller's spec is never touched) that passes `validate`; otherwise ModelInvalidError.
What this does beyond coremltools' `NeuralNetworkBuilder.make_updatable`:
- optimizer values are checked against their own ranges/sets (coremltools accepts `SgdParams(lr=2.0)` with
  its default range [0, 1]; Core ML rejects that model on the device);
- pipelines: the pipeline and every nested model get spec version >= 4 (coremltools leaves pipelines at 1),
  `isUpdatable` is set on each pipeline on the path and on the last model, and each pipeline's
  `trainingInput` is its inputs plus the target of the updatable model;
- shuffle can be switched off (coremltools has no call for that) and the layer set is exact: layers not
  named lose their updatable flags;
- fp16 weights of the chosen layers are widened to float32 (coremltools refuses them; update trains float32).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mlupdate._coreml import Model_pb2
from mlupdate.errors import ModelBuildError
from mlupdate.models.arrays import layer_weights, set_layer_weights
from mlupdate.models.spec import (
    KNN_KIND,
    Spec,
    is_neural_network,
    is_pipeline,
    model_kind,
    neural_network,
    pipeline_message,
)
from mlupdate.models.validate import MINIMUM_UPDATABLE_SPEC_VERSION, ensure_valid

log = logging.getLogger(__name__)

LossKind = Literal["cce", "mse"]
TRAINABLE_LAYER_KINDS = ("innerProduct", "convolution")
_INT32, _DOUBLE = 131104, 65600  # ArrayFeatureType.ArrayDataType values


@dataclass(frozen=True)
class Loss:
    """`cce` (categorical cross-entropy, fed by a softmax output) or `mse`; `input` defaults to the head."""

    kind: LossKind
    input: str | None = None
    name: str = "lossLayer"

    def __post_init__(self) -> None:
        if self.kind not in ("cce", "mse"):
            raise ModelBuildError(f"unknown loss {self.kind!r}", where="Loss.kind", fix="use 'cce' or 'mse'")


def _check_value(owner: str, name: str, value: float, bounds: tuple[float, float]) -> None:
    low, high = bounds
    if not (math.isfinite(value) and math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ModelBuildError(
            f"{name}={value!r} with allowed range {list(bounds)} is not a finite value with min <= max",
            where=f"{owner}.{name}",
            fix=f"pass finite numbers and a range with min <= max for {name}",
        )
    if not low <= value <= high:
        # coremltools accepts this (it checks only min < max); Core ML refuses the model on the device.
        raise ModelBuildError(
            f"{name}={value!r} is outside its allowed range [{low}, {high}]; Core ML would reject the model",
            where=f"{owner}.{name}",
            fix=f"choose {name} inside [{low}, {high}] or widen the range ({name}_range=...)",
        )


def _check_batch(owner: str, batch: int, allowed: tuple[int, ...] | None) -> None:
    values = allowed if allowed is not None else (batch,)
    if batch <= 0 or any(v <= 0 for v in values) or len(set(values)) != len(values) or batch not in values:
        raise ModelBuildError(
            f"batch={batch} with allowed set {list(values)} is invalid: sizes must be positive, unique, and "
            "include the default",
            where=f"{owner}.batch",
            fix="pass a positive batch and a set of unique positive sizes that contains it",
        )


@dataclass(frozen=True)
class Sgd:
    """SGD: default learning rate, mini-batch size and momentum, with their allowed ranges / set."""

    lr: float = 0.01
    batch: int = 10
    momentum: float = 0.0
    lr_range: tuple[float, float] = (0.0, 1.0)
    momentum_range: tuple[float, float] = (0.0, 1.0)
    batch_set: tuple[int, ...] | None = None  # None: only `batch`

    def __post_init__(self) -> None:
        _check_value("Sgd", "lr", self.lr, self.lr_range)
        _check_value("Sgd", "momentum", self.momentum, self.momentum_range)
        _check_batch("Sgd", self.batch, self.batch_set)


@dataclass(frozen=True)
class Adam:
    """Adam: default learning rate, mini-batch size, beta1, beta2 and eps, with their allowed ranges / set."""

    lr: float = 0.01
    batch: int = 10
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    lr_range: tuple[float, float] = (0.0, 1.0)
    beta1_range: tuple[float, float] = (0.0, 1.0)
    beta2_range: tuple[float, float] = (0.0, 1.0)
    eps_range: tuple[float, float] = (0.0, 1.0)
    batch_set: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("lr", "beta1", "beta2", "eps"):
            _check_value("Adam", name, getattr(self, name), getattr(self, f"{name}_range"))
        _check_batch("Adam", self.batch, self.batch_set)


Optimizer = Sgd | Adam


def make_updatable(
    spec: Spec,
    layers: Sequence[str],
    loss: Loss | LossKind,
    optimizer: Optimizer,
    epochs: int = 1,
    shuffle: bool = True,
    seed: int | None = None,
    loss_input: str | None = None,
    *,
    epochs_set: Sequence[int] | None = None,
) -> Spec:
    """A valid updatable copy of `spec` training exactly `layers`; see the module docstring."""
    if isinstance(loss, str):
        loss = Loss(loss)
    if loss_input is not None:
        loss = Loss(loss.kind, loss_input, loss.name)
    _check_epochs(epochs, epochs_set)
    result = Model_pb2.Model()
    result.CopyFrom(spec)
    path = _pipeline_path(result)
    leaf = path[-1]
    _make_network_updatable(leaf, list(layers), loss, optimizer, epochs, epochs_set, shuffle, seed)
    for pipeline in reversed(path[:-1]):
        _make_pipeline_updatable(pipeline)
    ensure_valid(result, "make_updatable result")
    return result


def _check_epochs(epochs: int, allowed: Sequence[int] | None) -> None:
    values = list(allowed) if allowed is not None else [epochs]
    if epochs <= 0 or any(v <= 0 for v in values) or epochs not in values:
        raise ModelBuildError(
            f"epochs={epochs} with allowed set {values} is invalid",
            where="epochs",
            fix="pass a positive epoch count and an allowed set of positive counts that contains it",
        )


def _pipeline_path(spec: Spec) -> list[Spec]:
    """[outer pipeline, ..., innermost pipeline, network] following the last model of each pipeline."""
    path = [spec]
    while is_pipeline(path[-1]):
        models = pipeline_message(path[-1]).models
        if not models:
            raise ModelBuildError("the pipeline has no models", where="pipeline", fix="add models to the pipeline")
        path.append(models[-1])
    leaf_kind = model_kind(path[-1])
    if leaf_kind == KNN_KIND:
        raise ModelBuildError(
            "the updatable part is a k-NN classifier, which learns by storing examples, not by training layers",
            where=leaf_kind,
            fix="build it with mlupdate.models.knn (knn_classifier / drawing_classifier)",
        )
    if not is_neural_network(path[-1]):
        raise ModelBuildError(
            f"a {leaf_kind} model cannot be made updatable",
            where=leaf_kind,
            fix="use a neuralNetwork / neuralNetworkClassifier / neuralNetworkRegressor (or a pipeline ending in one)",
        )
    return path


def _make_pipeline_updatable(pipeline_spec: Spec) -> None:
    pipeline = pipeline_message(pipeline_spec)
    for model in pipeline.models[:-1]:
        if model.isUpdatable:
            log.info("clearing isUpdatable on a pipeline model that is not last: only the last model is trained")
            model.isUpdatable = False
    for model in pipeline.models:
        _raise_version(model)
    last = pipeline.models[-1]
    pipeline_spec.isUpdatable = True
    _raise_version(pipeline_spec)
    last_inputs = {feature.name for feature in last.description.input}
    targets = [feature for feature in last.description.trainingInput if feature.name not in last_inputs]
    description = pipeline_spec.description
    del description.trainingInput[:]
    description.trainingInput.extend([*description.input, *targets])


def _raise_version(spec: Spec) -> None:
    spec.specificationVersion = max(spec.specificationVersion, MINIMUM_UPDATABLE_SPEC_VERSION)


def _make_network_updatable(
    model: Spec,
    names: list[str],
    loss: Loss,
    optimizer: Optimizer,
    epochs: int,
    epochs_set: Sequence[int] | None,
    shuffle: bool,
    seed: int | None,
) -> None:
    network = neural_network(model)
    _mark_layers(network, names)
    if loss.kind == "cce" and loss.input is not None:
        _check_cce_input(network, loss.input)
    loss_input = loss.input or _default_loss_input(model, loss.kind)
    network.ClearField("updateParams")
    params = network.updateParams
    layer = params.lossLayers.add()
    layer.name = _unique_loss_name(network, loss.name)
    target = f"{loss_input}_true"
    head = layer.categoricalCrossEntropyLossLayer if loss.kind == "cce" else layer.meanSquaredErrorLossLayer
    head.input, head.target = loss_input, target
    _write_optimizer(params.optimizer, optimizer)
    params.epochs.defaultValue = epochs
    params.epochs.set.values.extend(list(epochs_set) if epochs_set is not None else [epochs])
    params.shuffle.defaultValue = shuffle
    if seed is not None:
        params.seed.defaultValue = seed
    _write_training_inputs(model, loss.kind, loss_input, target)
    model.isUpdatable = True
    _raise_version(model)


def _mark_layers(network: Any, names: list[str]) -> None:
    by_name = {layer.name: layer for layer in network.layers}
    trainable = [layer.name for layer in network.layers if layer.WhichOneof("layer") in TRAINABLE_LAYER_KINDS]
    if not names:
        raise ModelBuildError(
            "no layers chosen", where="layers", fix=f"name one or more of the trainable layers: {', '.join(trainable)}"
        )
    for name in names:
        if name not in by_name:
            raise ModelBuildError(
                f"no layer named {name!r}; the model's layers are: {', '.join(by_name)}",
                where=f"layers/{name}",
                fix=f"choose among the innerProduct/convolution layers: {', '.join(trainable) or '(none)'}",
            )
        kind = by_name[name].WhichOneof("layer")
        if kind not in TRAINABLE_LAYER_KINDS:
            raise ModelBuildError(
                f"layer {name!r} is a {kind} layer; only innerProduct and convolution layers can be updated",
                where=f"layers/{name}",
                fix=f"choose among the innerProduct/convolution layers: {', '.join(trainable)}",
            )
    for layer in network.layers:
        _set_layer_flag(layer, layer.name in names)


def _set_layer_flag(layer: Any, updatable: bool) -> None:
    layer.isUpdatable = updatable
    kind = layer.WhichOneof("layer")
    if kind not in TRAINABLE_LAYER_KINDS:
        return
    params = getattr(layer, kind)
    if updatable and any(blob.HasField("quantization") for blob in (params.weights, params.bias)):
        raise ModelBuildError(
            f"layer {layer.name!r} has quantized weights, which Core ML cannot update",
            where=f"layers/{layer.name}",
            fix="use the model's float32 version, or choose unquantized layers",
        )
    if updatable and (params.weights.float16Value or params.bias.float16Value):
        log.info("widening fp16 weights of %s to float32 (update trains float32)", layer.name)
        for name, array in layer_weights(layer).items():
            set_layer_weights(layer, name, array)
    params.weights.isUpdatable = updatable
    if params.hasBias:
        params.bias.isUpdatable = updatable


def _softmax_outputs(network: Any) -> list[str]:
    return [str(layer.output[0]) for layer in network.layers if layer.WhichOneof("layer") == "softmax"]


def _check_cce_input(network: Any, name: str) -> None:
    # Said here, by name: validation would only report that the loss input "is not generated from a softmax".
    softmax_outputs = _softmax_outputs(network)
    if name not in softmax_outputs:
        raise ModelBuildError(
            f"the CCE loss input {name!r} is not the output of a `softmax` layer",
            where="loss",
            fix=f"pass one of the softmax outputs {softmax_outputs} (--loss-input), or leave it out to pick the default"
            if softmax_outputs
            else "end the network with a `softmax` layer (rebuild the head), or use the mse loss",
        )


def _default_loss_input(model: Spec, kind: LossKind) -> str:
    network = neural_network(model)
    description = model.description
    if kind == "cce":
        softmax_outputs = _softmax_outputs(network)
        if description.predictedProbabilitiesName in softmax_outputs:
            return str(description.predictedProbabilitiesName)
        if softmax_outputs:
            return str(softmax_outputs[-1])
        has_nd = any(layer.WhichOneof("layer") == "softmaxND" for layer in network.layers)
        raise ModelBuildError(
            "categorical cross-entropy needs the output of a `softmax` layer, and the network has none"
            + (" (it has softmaxND, which Core ML does not accept for the loss)" if has_nd else ""),
            where="loss",
            fix="end the network with a `softmax` layer (rebuild the head), or use the mse loss",
        )
    produced = {name for layer in network.layers for name in layer.output}
    candidates = [o.name for o in description.output if o.name in produced and o.type.HasField("multiArrayType")]
    if len(candidates) != 1:
        raise ModelBuildError(
            f"cannot choose the MSE loss input among the outputs {candidates or '(none)'}",
            where="loss",
            fix="name the multiArray output to regress with loss_input= (--loss-input)",
        )
    return str(candidates[0])


def _unique_loss_name(network: Any, wanted: str) -> str:
    taken = {layer.name for layer in network.layers}
    name, suffix = wanted, 1
    while name in taken:
        name, suffix = f"{wanted}_{suffix}", suffix + 1
    return name


def _write_optimizer(message: Any, optimizer: Optimizer) -> None:
    if isinstance(optimizer, Sgd):
        target = message.sgdOptimizer
        doubles = {
            "learningRate": (optimizer.lr, optimizer.lr_range),
            "momentum": (optimizer.momentum, optimizer.momentum_range),
        }
    else:
        target = message.adamOptimizer
        doubles = {
            "learningRate": (optimizer.lr, optimizer.lr_range),
            "beta1": (optimizer.beta1, optimizer.beta1_range),
            "beta2": (optimizer.beta2, optimizer.beta2_range),
            "eps": (optimizer.eps, optimizer.eps_range),
        }
    for key, (value, (low, high)) in doubles.items():
        field = getattr(target, key)
        field.defaultValue = value
        field.range.minValue, field.range.maxValue = low, high
    target.miniBatchSize.defaultValue = optimizer.batch
    sizes = optimizer.batch_set if optimizer.batch_set is not None else (optimizer.batch,)
    target.miniBatchSize.set.values.extend(sizes)


def _write_training_inputs(model: Spec, kind: LossKind, loss_input: str, target: str) -> None:
    description = model.description
    del description.trainingInput[:]
    description.trainingInput.extend(description.input)
    outputs = {output.name: output for output in description.output}
    label = outputs.get(description.predictedFeatureName)
    feature = description.trainingInput.add()
    if (
        kind == "cce"
        and model_kind(model) == "neuralNetworkClassifier"
        and loss_input == description.predictedProbabilitiesName
        and label is not None
    ):
        # Core ML maps the class label to its index itself; the user feeds the label, not an index.
        feature.CopyFrom(label)
        return
    feature.name = target
    array = feature.type.multiArrayType
    if kind == "cce":
        array.dataType = _INT32
        array.shape.append(1)
        return
    regressed = outputs.get(loss_input)
    if regressed is None or not regressed.type.HasField("multiArrayType"):
        raise ModelBuildError(
            f"the MSE loss input {loss_input!r} is not a multiArray output of the model, so its shape is unknown",
            where="loss",
            fix="regress a multiArray model output (--loss-input NAME)",
        )
    array.dataType = _DOUBLE
    array.shape.extend(regressed.type.multiArrayType.shape)
