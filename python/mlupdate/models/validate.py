"""Core ML's rules for updatable models, ported from its C++ spec validator.

coremltools on Linux validates nothing (the validator ships only in its macOS library), so a model that
Core ML will refuse is only discovered on the phone. This module applies the same rules on any OS and
reports each failure in Core ML's own words (sources: coremltools `mlmodel/src/Model.cpp`,
`Validation/NeuralNetwork/UpdatableNeuralNetworkValidator.cpp`, `NeuralNetworkValidatorGraph.hpp`,
`ParameterValidator.cpp`, `InterfaceValidators.cpp`, `PipelineValidator.cpp`,
`KNearestNeighborsClassifierValidator.cpp`; summarised in the semantics notes, section 2).

Core ML stops at the first failure; `validate` reports every failure it can find, one `ValidationIssue` per
broken rule, so a user fixes them in one pass. Rules without a Core ML message of their own (`not-updatable`,
`loss-missing`, `weights-fp16`) say so in their text; `pipeline-names` words Core ML's two name checks as one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mlupdate.errors import ModelInvalidError
from mlupdate.models.spec import (
    KNN_KIND,
    NEURAL_NETWORK_KINDS,
    PIPELINE_KINDS,
    Spec,
    is_pipeline,
    model_kind,
    neural_network,
    pipeline_message,
    pipeline_names,
)

MINIMUM_UPDATABLE_SPEC_VERSION = 4
UPDATABLE_MODEL_KINDS = (*NEURAL_NETWORK_KINDS, KNN_KIND, *PIPELINE_KINDS)
# UpdatableNeuralNetworkValidator accepts uniDirectionalLSTM too, although its message names only the other two.
UPDATABLE_LAYER_KINDS = frozenset({"convolution", "innerProduct", "uniDirectionalLSTM"})
# isLayerSupportedForBackprop (NeuralNetworkValidatorGraph.hpp, coremltools 9.0).
BACKPROPAGABLE_LAYER_KINDS = frozenset(
    {"convolution", "innerProduct", "uniDirectionalLSTM", "flatten", "pooling", "batchnorm"}
)
BACKPROPAGABLE_ACTIVATIONS = frozenset({"ReLU", "sigmoid", "tanh"})
CCE = "categoricalCrossEntropyLossLayer"
MSE = "meanSquaredErrorLossLayer"


@dataclass(frozen=True)
class ValidationIssue:
    """One broken rule: a stable id, where it is broken, Core ML's message and a one-line fix."""

    rule: str
    where: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message} (fix: {self.fix})"

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "where": self.where, "message": self.message, "fix": self.fix}


def validate(spec: Spec) -> list[ValidationIssue]:
    """Every rule Core ML would enforce before running MLUpdateTask on `spec`; [] for a valid updatable model."""
    if not spec.isUpdatable:
        not_updatable = ValidationIssue(
            "not-updatable",
            "isUpdatable",
            "The model is not marked as updatable (isUpdatable is false), so MLUpdateTask refuses it.",
            not_updatable_fix(spec),
        )
        return [not_updatable, *check_pipeline_flags(spec, ())]
    return _validate_updatable(spec, ())


_TRAINABLE = ("innerProduct", "convolution")
ML_PROGRAM_ROUTE = (
    "ML Programs cannot be updated on device: convert the source model again with "
    "coremltools.convert(..., convert_to='neuralnetwork', minimum_deployment_target=ct.target.iOS14), then "
    "`mlharness make-updatable` that model"
)


def not_updatable_fix(spec: Spec) -> str:
    """The fix that works for this model: which layers to pass to make-updatable, or why there is none."""
    leaf = spec
    while is_pipeline(leaf) and pipeline_message(leaf).models:
        leaf = pipeline_message(leaf).models[-1]
    kind = model_kind(leaf)
    if kind in NEURAL_NETWORK_KINDS:
        layers = [layer.name for layer in neural_network(leaf).layers if layer.WhichOneof("layer") in _TRAINABLE]
        if not layers:
            return (
                "the network has no innerProduct or convolution layer to train: give it a dense head "
                "(mlupdate.models.build) and make that updatable"
            )
        loss = "cce" if any(layer.WhichOneof("layer") == "softmax" for layer in neural_network(leaf).layers) else "mse"
        return (
            f"make it updatable: `mlharness make-updatable MODEL --layers {layers[-1]} --loss {loss} --optimizer sgd "
            f"--lr 0.01 --batch 8 --epochs 10 -o Updatable.mlmodel` (trainable layers, last ones: "
            f"{', '.join(layers[-4:])})"
        )
    if kind == KNN_KIND:
        return "set isUpdatable on the k-NN classifier (mlupdate.models.knn.knn_classifier builds updatable ones)"
    if kind == "mlProgram":
        return ML_PROGRAM_ROUTE
    where = "its last model is" if leaf is not spec else "it is"
    return (
        f"{where} a {kind}, which Core ML cannot update on device (only neural networks, k-NN classifiers and "
        "pipelines ending in one are updatable): retrain it off-device, or put an updatable k-NN or network over "
        "its features (mlupdate.models.knn)"
    )


def ensure_valid(spec: Spec, where: str) -> None:
    """Raise ModelInvalidError(where, issues) unless `spec` is a valid updatable model."""
    issues = validate(spec)
    if issues:
        raise ModelInvalidError(where, issues)


def is_updatable(spec: Spec) -> bool:
    return bool(spec.isUpdatable)


def _at(scope: tuple[str, ...], *parts: str) -> str:
    return "/".join((*scope, *parts))


def _validate_updatable(spec: Spec, scope: tuple[str, ...]) -> list[ValidationIssue]:
    issues = check_spec_version(spec, scope)
    kind = model_kind(spec)
    if kind not in UPDATABLE_MODEL_KINDS:
        return [*issues, *check_model_kind(spec, scope)]
    if is_pipeline(spec):
        issues += check_pipeline_flags(spec, scope)
        issues += check_pipeline_wiring(spec, scope)
        models = pipeline_message(spec).models
        if models and models[-1].isUpdatable:
            issues += _validate_updatable(models[-1], (*scope, pipeline_names(spec)[-1]))
    elif kind == KNN_KIND:
        issues += check_knn(spec, scope)
    else:
        issues += _validate_network(spec, scope)
    return issues


# --- rules 1-2: spec version and model type ------------------------------------------------------------------


def check_spec_version(spec: Spec, scope: tuple[str, ...]) -> list[ValidationIssue]:
    if spec.specificationVersion >= MINIMUM_UPDATABLE_SPEC_VERSION:
        return []
    return [
        ValidationIssue(
            "spec-version",
            _at(scope, "specificationVersion"),
            "Model specification version for an updatable model must be '4' or above.",
            f"set specificationVersion to 4 or above (it is {spec.specificationVersion})",
        )
    ]


def check_model_kind(spec: Spec, scope: tuple[str, ...]) -> list[ValidationIssue]:
    kind = model_kind(spec)
    fix = (
        ML_PROGRAM_ROUTE
        if kind == "mlProgram"
        else "use a neural network, k-NN classifier or a pipeline ending in one, or clear isUpdatable"
    )
    return [
        ValidationIssue("model-type", _at(scope, kind), "This model type is not supported for on-device update.", fix)
    ]


# --- rule 3: pipelines ------------------------------------------------------------------------------------------


def check_pipeline_flags(spec: Spec, scope: tuple[str, ...]) -> list[ValidationIssue]:
    """Only the last model of an updatable pipeline is updatable, and it must be; none in a frozen pipeline."""
    if not is_pipeline(spec):
        return []
    models = list(pipeline_message(spec).models)
    names = pipeline_names(spec)
    if not models:
        return [
            ValidationIssue(
                "pipeline-empty", _at(scope, "pipeline"), "Pipeline must contain one or more models.", "add models"
            )
        ]
    issues: list[ValidationIssue] = []
    if spec.isUpdatable:
        for index, model in enumerate(models[:-1]):
            if model.isUpdatable:
                issues.append(
                    ValidationIssue(
                        "pipeline-only-last-updatable",
                        _at(scope, names[index]),
                        "Only the last model in the pipeline can be updatable. "
                        f"Model at position '{index}' is marked as updatable.",
                        f"clear isUpdatable on {names[index]}; only the last model is trained",
                    )
                )
        if not models[-1].isUpdatable:
            issues.append(
                ValidationIssue(
                    "pipeline-last-not-updatable",
                    _at(scope, names[-1]),
                    "Last model in an updatable pipeline model should be marked as updatable.",
                    f"make {names[-1]} updatable (make_updatable does this for the whole pipeline)",
                )
            )
    else:
        issues += [
            ValidationIssue(
                "pipeline-updatable-in-frozen",
                _at(scope, names[index]),
                f"Found an updatable model at '{index}' inside a non-updatable pipeline.",
                "set isUpdatable on the pipeline too, or clear it on the sub-model",
            )
            for index, model in enumerate(models)
            if model.isUpdatable
        ]
    return issues


def check_pipeline_wiring(spec: Spec, scope: tuple[str, ...]) -> list[ValidationIssue]:
    """Each sub-model's inputs come from the pipeline inputs or an earlier model, with the same type; names unique."""
    known = {d.name: d.type for d in spec.description.input}
    issues: list[ValidationIssue] = []
    for name, model in zip(pipeline_names(spec), pipeline_message(spec).models, strict=True):
        for feature in model.description.input:
            if feature.name not in known:
                issues.append(
                    ValidationIssue(
                        "pipeline-wiring",
                        _at(scope, name, "input", feature.name),
                        f"Pipeline: the input '{feature.name}' of model '{name}' does not present in pipeline input "
                        "or previous model.",
                        f"feed {feature.name!r} from the pipeline inputs or an earlier model's output",
                    )
                )
            elif known[feature.name] != feature.type:
                issues.append(
                    ValidationIssue(
                        "pipeline-wiring",
                        _at(scope, name, "input", feature.name),
                        f"Pipeline: the input '{feature.name}' of model '{name}' does not match the type previously "
                        "specified by the pipeline input or the output of a previous model.",
                        "give the input exactly the type (and shape) of the feature that feeds it",
                    )
                )
        known.update({d.name: d.type for d in model.description.output})
    names = list(pipeline_message(spec).names)
    if names and (len(names) != len(pipeline_message(spec).models) or len(set(names)) != len(names)):
        issues.append(
            ValidationIssue(
                "pipeline-names",
                _at(scope, "pipeline", "names"),
                f"The pipeline model names {names} must be unique and one per model.",
                "give every sub-model one unique name, or clear Pipeline.names",
            )
        )
    return issues


# --- rules 4-14: updatable neural networks ----------------------------------------------------------------------


def _validate_network(spec: Spec, scope: tuple[str, ...]) -> list[ValidationIssue]:
    network = neural_network(spec)
    issues = check_updatable_layers(network, scope)
    issues += check_weight_counts(network, scope)
    issues += check_unique_names(network, scope)
    issues += check_loss_count(network, scope)
    graph = _Graph.of(network)
    issues += check_loss_layers(network, graph, scope)
    issues += check_optimizer(network, scope)
    issues += check_epochs_and_seed(network, scope)
    issues += check_backprop_path(network, graph, scope)
    issues += check_training_inputs(spec, scope)
    return issues


def _layer_kind(layer: Any) -> str:
    return str(layer.WhichOneof("layer"))


def check_updatable_layers(network: Any, scope: tuple[str, ...]) -> list[ValidationIssue]:
    """Rules 4-5: some layer updatable; only conv/innerProduct(/LSTM); their weights flagged, float32, unquantized."""
    issues: list[ValidationIssue] = []
    updatable = [layer for layer in network.layers if layer.isUpdatable]
    if not updatable:
        return [
            ValidationIssue(
                "no-updatable-layer",
                _at(scope, "layers"),
                "The model is marked as updatable, but none of the layers are updatable.",
                "mark at least one innerProduct or convolution layer updatable",
            )
        ]
    for layer in updatable:
        where = _at(scope, "layers", layer.name)
        kind = _layer_kind(layer)
        if kind not in UPDATABLE_LAYER_KINDS:
            issues.append(
                ValidationIssue(
                    "updatable-layer-type",
                    where,
                    f"The layer named '{layer.name}' is marked as updatable, however, it is not supported as the "
                    "type of this layer is neither convolution nor inner-product.",
                    f"clear isUpdatable on {layer.name!r} ({kind}); only innerProduct/convolution layers train",
                )
            )
        elif kind != "uniDirectionalLSTM":
            issues += _weight_param_issues(layer, getattr(layer, kind), where)
    return issues


def _weight_param_issues(layer: Any, params: Any, where: str) -> list[ValidationIssue]:
    blobs = [params.weights, params.bias] if params.hasBias else [params.weights]
    if any(blob.HasField("quantization") for blob in blobs):
        return [
            ValidationIssue(
                "weights-quantized",
                where,
                f"An updatable layer, named '{layer.name}', has quantized weights/bias param. "
                "Quantized weights/bias not supported for update.",
                "keep updatable layers in float32 (quantize only frozen layers)",
            )
        ]
    issues = []
    if any(len(blob.float16Value) or (blob.rawValue and not len(blob.floatValue)) for blob in blobs):
        issues.append(
            ValidationIssue(
                "weights-fp16",
                where,
                f"An updatable layer, named '{layer.name}', stores FP16 weights/bias; update trains float32 weights "
                "(coremltools' make_updatable refuses such layers; not a Core ML message).",
                "store the layer's weights and bias as float32 (floatValue)",
            )
        )
    if not all(blob.isUpdatable for blob in blobs):
        issues.append(
            ValidationIssue(
                "weights-not-updatable",
                where,
                f"An updatable layer, named '{layer.name}', has a weight/bias param which is not marked as updatable.",
                "set isUpdatable on the layer's weights and (if it has one) its bias",
            )
        )
    return issues


def _blob_count(blob: Any) -> int | None:
    """How many values a WeightParams holds (None when quantized: its count depends on the bit width)."""
    if blob.HasField("quantization"):
        return None
    if len(blob.floatValue):
        return len(blob.floatValue)
    if len(blob.float16Value):
        return len(blob.float16Value) // 2
    return len(blob.rawValue) // 4


def _expected_counts(layer: Any) -> list[tuple[str, Any, int]]:
    """(name, WeightParams, values its sizes need) for the layer kinds whose sizes the spec states."""
    kind = _layer_kind(layer)
    if kind == "innerProduct":
        params = layer.innerProduct
        found = [("weights", params.weights, params.inputChannels * params.outputChannels)]
        return found + ([("bias", params.bias, params.outputChannels)] if params.hasBias else [])
    if kind == "convolution":
        params = layer.convolution
        height, width = (*params.kernelSize, 3, 3)[:2]  # Core ML defaults an absent size to 3 x 3
        groups = max(params.nGroups, 1)
        if params.isDeconvolution:
            weights = params.kernelChannels * (params.outputChannels // groups) * height * width
        else:
            weights = params.outputChannels * params.kernelChannels * height * width
        found = [("weights", params.weights, weights)]
        return found + ([("bias", params.bias, params.outputChannels)] if params.hasBias else [])
    if kind == "batchnorm":
        params = layer.batchnorm
        return [(name, getattr(params, name), params.channels) for name in ("gamma", "beta", "mean", "variance")]
    return []


def check_weight_counts(network: Any, scope: tuple[str, ...]) -> list[ValidationIssue]:
    """Every layer's weights hold as many values as its sizes say (Core ML refuses to compile a model whose
    counts disagree; a reader sizing arrays from them would misread or crash)."""
    issues = []
    for layer in network.layers:
        for name, blob, expected in _expected_counts(layer):
            count = _blob_count(blob)
            if count is not None and count != expected:
                issues.append(
                    ValidationIssue(
                        "weight-count",
                        _at(scope, "layers", layer.name, name),
                        f"The {_layer_kind(layer)} layer '{layer.name}' holds {count} {name} values, but its sizes "
                        f"need {expected}.",
                        "re-export the model: its weights do not match the layer's declared sizes "
                        "(a truncated or hand-edited file)",
                    )
                )
    return issues


def check_unique_names(network: Any, scope: tuple[str, ...]) -> list[ValidationIssue]:
    """Rule 6: layer and loss-layer names are unique together."""
    names = [layer.name for layer in network.layers] + [loss.name for loss in network.updateParams.lossLayers]
    seen: set[str] = set()
    duplicates: list[str] = []
    for name in names:
        if name in seen and name not in duplicates:
            duplicates.append(name)
        seen.add(name)
    return [
        ValidationIssue(
            "name-collision",
            _at(scope, "layers", name),
            f"The updatable model has a name collision for: '{name}', i.e., there are more than one layers or loss "
            "layers with this name.",
            f"rename one of the layers/loss layers called {name!r}",
        )
        for name in duplicates
    ]


def check_loss_count(network: Any, scope: tuple[str, ...]) -> list[ValidationIssue]:
    """Rule 7: exactly one loss layer (Core ML's own check is 'at most one'; none leaves nothing to train)."""
    count = len(network.updateParams.lossLayers)
    where = _at(scope, "updateParams", "lossLayers")
    if count > 1:
        return [
            ValidationIssue(
                "one-loss",
                where,
                "This model has more than one loss layers specified, which is not supported at the moment.",
                "keep exactly one loss layer",
            )
        ]
    if count == 0:
        return [
            ValidationIssue(
                "loss-missing",
                where,
                "The updatable model has no loss layer (no Core ML message: its validator reads the first loss "
                "layer without checking that there is one).",
                "add one loss layer: categorical cross-entropy on a softmax output, or MSE",
            )
        ]
    return []


@dataclass
class _Node:
    """A layer or loss layer of the validator's graph (NeuralNetworkValidatorGraph's LayerNode)."""

    name: str
    kind: str | None  # layer type, None for a loss layer
    loss_kind: str | None
    inputs: list[str]
    outputs: list[str]
    updatable: bool
    backpropagable: bool
    parents: list[_Node] = field(default_factory=list)


@dataclass
class _Graph:
    nodes: dict[str, _Node]
    producers: dict[str, _Node]

    @classmethod
    def of(cls, network: Any) -> _Graph:
        graph = cls({}, {})
        for layer in network.layers:
            graph.insert(_layer_node(layer))
        for loss in network.updateParams.lossLayers:
            graph.insert(_loss_node(loss))
        return graph

    def insert(self, node: _Node) -> None:
        # Parents are whatever produced each input blob *so far*, exactly as the C++ graph is built.
        node.parents = [self.producers[name] for name in node.inputs if name in self.producers]
        for name in node.outputs:
            self.producers[name] = node
        self.nodes[node.name] = node


def _layer_node(layer: Any) -> _Node:
    kind = _layer_kind(layer)
    backpropagable = kind in BACKPROPAGABLE_LAYER_KINDS or (
        kind == "activation" and layer.activation.WhichOneof("NonlinearityType") in BACKPROPAGABLE_ACTIVATIONS
    )
    return _Node(layer.name, kind, None, list(layer.input), list(layer.output), bool(layer.isUpdatable), backpropagable)


def _loss_node(loss: Any) -> _Node:
    loss_kind = loss.WhichOneof("LossLayerType")
    inputs = [getattr(loss, loss_kind).input] if loss_kind else []
    return _Node(loss.name, None, loss_kind, inputs, [], False, False)


def check_loss_layers(network: Any, graph: _Graph, scope: tuple[str, ...]) -> list[ValidationIssue]:
    """Rules 8-9: CCE input straight from a `softmax`; MSE input produced in the graph; targets from outside."""
    issues: list[ValidationIssue] = []
    for loss in network.updateParams.lossLayers:
        node = _loss_node(loss)
        node.parents = [graph.producers[name] for name in node.inputs if name in graph.producers]
        issues += _loss_issues(loss, node, graph, _at(scope, "updateParams", "lossLayers", loss.name))
    return issues


def _loss_issues(loss: Any, node: _Node, graph: _Graph, where: str) -> list[ValidationIssue]:
    if node.loss_kind == CCE:
        params = loss.categoricalCrossEntropyLossLayer
        softmax = next((parent for parent in node.parents if parent.kind == "softmax"), None)
        issues = []
        if softmax is None or softmax.outputs[:1] != [params.input]:
            issues.append(
                ValidationIssue(
                    "cce-input-softmax",
                    where,
                    f"For the categorical cross entropy loss layer named '{loss.name}', input is not generated from "
                    "a softmax output.",
                    "feed the loss the output of a `softmax` layer (not softmaxND), with no layer in between",
                )
            )
        if params.target in graph.producers:
            issues.append(_target_in_graph("cce-target-in-graph", "cross entropy", loss.name, params.target, where))
        return issues
    if node.loss_kind == MSE:
        params = loss.meanSquaredErrorLossLayer
        issues = []
        if params.input not in graph.producers:
            issues.append(
                ValidationIssue(
                    "mse-input-not-in-graph",
                    where,
                    f"For the MSE loss layer named '{loss.name}', input is not generated within the graph.",
                    f"point the loss input at a blob a layer produces ({params.input!r} is not one)",
                )
            )
        if params.target in graph.producers:
            issues.append(_target_in_graph("mse-target-in-graph", "MSE", loss.name, params.target, where))
        return issues
    return [
        ValidationIssue(
            "loss-type",
            where,
            f"Loss function is not recognized in the loss layer named '{loss.name}', only cross entropy loss and MSE "
            "are supported.",
            "use categoricalCrossEntropyLossLayer or meanSquaredErrorLossLayer",
        )
    ]


def _target_in_graph(rule: str, label: str, loss: str, target: str, where: str) -> ValidationIssue:
    return ValidationIssue(
        rule,
        where,
        f"For the {label} loss layer named '{loss}', target is generated within the graph.",
        f"name the target a new training input (e.g. '<input>_true'), not the layer output {target!r}",
    )


def check_optimizer(network: Any, scope: tuple[str, ...]) -> list[ValidationIssue]:
    """Rule 10 (+12): SGD needs learningRate and miniBatchSize; Adam also beta1, beta2, eps; defaults allowed."""
    optimizer = network.updateParams.optimizer
    which = optimizer.WhichOneof("OptimizerType")
    where = _at(scope, "updateParams", "optimizer")
    if which is None:
        return [
            ValidationIssue("optimizer-missing", where, "Optimizer is not recognized.", "set an SGD or Adam optimizer")
        ]
    label = "SGD" if which == "sgdOptimizer" else "ADAM"
    required = ["learningRate", "miniBatchSize"] + ([] if which == "sgdOptimizer" else ["beta1", "beta2", "eps"])
    params = getattr(optimizer, which)
    issues: list[ValidationIssue] = []
    for key in required:
        field_where = f"{where}/{which}/{key}"
        if not params.HasField(key):
            shown = "eps (epslion)" if key == "eps" else key
            issues.append(
                ValidationIssue(
                    "optimizer-field-missing",
                    field_where,
                    f"{label} optimizer should include {shown} parameter.",
                    f"set {key} (a default and its allowed range/set)",
                )
            )
        elif key == "miniBatchSize":
            issues += int64_parameter_issues(key, params.miniBatchSize, True, field_where)
        else:
            issues += double_parameter_issues(key, getattr(params, key), field_where)
    if which == "sgdOptimizer" and params.HasField("momentum"):
        issues += double_parameter_issues("momentum", params.momentum, f"{where}/{which}/momentum")
    return issues


def check_epochs_and_seed(network: Any, scope: tuple[str, ...]) -> list[ValidationIssue]:
    """Rules 11-12: epochs present and positive; seed (optional) inside its range/set."""
    params = network.updateParams
    where = _at(scope, "updateParams")
    if not params.HasField("epochs"):
        issues = [
            ValidationIssue(
                "epochs-missing",
                f"{where}/epochs",
                "Epochs should be included in neural network update parameters.",
                "set epochs (a positive default and its allowed set/range)",
            )
        ]
    else:
        issues = int64_parameter_issues("epochs", params.epochs, True, f"{where}/epochs")
    if params.HasField("seed"):
        issues += int64_parameter_issues("seed", params.seed, False, f"{where}/seed")
    return issues


def int64_parameter_issues(name: str, message: Any, positive: bool, where: str) -> list[ValidationIssue]:
    """ParameterValidator::validateInt64Parameter: positive default, default inside the set or range."""
    default = int(message.defaultValue)
    if positive and default <= 0:
        return [
            ValidationIssue(
                "parameter-not-positive",
                where,
                f"Default Value ({default}) for '{name}' expected to be a positive value.",
                f"set {name} to a positive default",
            )
        ]
    which = message.WhichOneof("AllowedValues")
    if which == "set":
        for value in message.set.values:
            if value == default:
                return []
            if value <= 0 and positive:
                return [
                    ValidationIssue(
                        "parameter-set-not-positive",
                        where,
                        f"Non-positive value ({value}) in Allowed Values Set for '{name}' is not allowed.",
                        f"remove {value} from the allowed set of {name}",
                    )
                ]
        return [
            ValidationIssue(
                "parameter-not-in-set",
                where,
                f"Specified Default Value ({default}) not found in Allowed Values Set for '{name}'",
                f"add {default} to the allowed set of {name}, or choose a default from the set",
            )
        ]
    if which == "range":
        low, high = int(message.range.minValue), int(message.range.maxValue)
        for label, bound in (("min", low), ("max", high)):
            if bound <= 0 and positive:
                return [
                    ValidationIssue(
                        "parameter-range-not-positive",
                        where,
                        f"Non-positive {label} value ({bound}) in Allowed Value Range for '{name}' is not allowed.",
                        f"make the allowed range of {name} positive",
                    )
                ]
        # Core ML also rejects min > max, but only after this check, which such a range always fails first.
        if not low <= default <= high:
            return [_out_of_range(name, str(default), where)]
    return []


def double_parameter_issues(name: str, message: Any, where: str) -> list[ValidationIssue]:
    """ParameterValidator::validateDoubleParameter: the default inside its range (unbounded without one)."""
    default = float(message.defaultValue)
    if message.HasField("range") and not message.range.minValue <= default <= message.range.maxValue:
        return [_out_of_range(name, f"{default:f}", where)]  # std::to_string(double) prints six decimals
    return []


def _out_of_range(name: str, shown: str, where: str) -> ValidationIssue:
    return ValidationIssue(
        "parameter-out-of-range",
        where,
        f"Specified Default Value ({shown}) out of Allowed Value Range for '{name}'",
        f"choose a default for {name} inside its allowed range, or widen the range",
    )


def check_backprop_path(network: Any, graph: _Graph, scope: tuple[str, ...]) -> list[ValidationIssue]:
    """Rule 13: a BFS from each loss towards the inputs, exactly as Core ML walks it.

    Core ML's walk is breadth-first with one flag per loss: once any non-back-propagable layer has been seen,
    the next updatable layer reached anywhere fails, and the message names the last non-back-propagable layer
    seen. A `softmax` feeding a CCE loss directly is exempt.
    """
    visited: set[str] = set()
    for loss in network.updateParams.lossLayers:
        queue: deque[str] = deque([loss.name])
        blocker: str | None = None
        while queue:
            current = graph.nodes.get(queue.popleft())
            if current is None:
                continue
            for parent in current.parents:
                if parent.name in visited:
                    continue
                visited.add(parent.name)
                queue.append(parent.name)
                if parent.updatable and blocker is not None:
                    return [
                        ValidationIssue(
                            "backprop-path",
                            _at(scope, "layers", blocker),
                            f"There is a layer ({blocker}), which does not support backpropagation, between an "
                            "updatable marked layer and the loss function.",
                            "between the loss and the updatable layers use only innerProduct, convolution, flatten, "
                            "pooling, batchnorm and ReLU/sigmoid/tanh activations (rebuild the head otherwise)",
                        )
                    ]
                if not parent.backpropagable:
                    if parent.kind == "softmax" and current.loss_kind == CCE:
                        continue
                    blocker = parent.name
    return []


def _equivalent(a: Any, b: Any) -> bool:
    return bool(a.name == b.name and a.type == b.type)


def check_training_inputs(spec: Spec, scope: tuple[str, ...]) -> list[ValidationIssue]:
    """Rule 14 (validateTrainingInputs): a model input and the loss target (or a classifier's label) are given."""
    description = spec.description
    training = list(description.trainingInput)
    where = _at(scope, "description", "trainingInput")
    if len(training) <= 1:
        return [
            ValidationIssue(
                "training-inputs-count",
                where,
                "Must provide training inputs for updatable neural network (expecting both input and target for "
                "loss function).",
                "list the model inputs used in training plus the loss target as trainingInput",
            )
        ]
    exclusive = [t for t in training if not any(_equivalent(t, i) for i in description.input)]
    if not exclusive:
        return [
            ValidationIssue(
                "training-inputs-no-target",
                where,
                "Training inputs don't describe required inputs for the loss (needs both the input and the target).",
                "add the loss target (or the classifier's label) to trainingInput",
            )
        ]
    if len(training) == len(exclusive):
        return [
            ValidationIssue(
                "training-inputs-no-model-input",
                where,
                "The training inputs must include at least one input from the model itself as required for training "
                "(should have at least one input in common with those used for prediction).",
                "add the model inputs (same name and type) to trainingInput",
            )
        ]
    return _target_issues(spec, exclusive, where)


def _loss_target(spec: Spec) -> str:
    losses = neural_network(spec).updateParams.lossLayers
    if not losses:
        return ""
    which = losses[0].WhichOneof("LossLayerType")
    return str(getattr(losses[0], which).target) if which else ""


def _type_label(feature_type: Any) -> str:
    return "Int64" if feature_type.HasField("int64Type") else "String"


def _target_issues(spec: Spec, exclusive: Iterable[Any], where: str) -> list[ValidationIssue]:
    description = spec.description
    target = _loss_target(spec)
    if not target:
        return []  # no usable loss layer: already reported (loss-missing / loss-type)
    classifier = model_kind(spec) == "neuralNetworkClassifier"
    outputs = {o.name: o for o in description.output}
    for feature in exclusive:
        label_output = outputs.get(feature.name)
        if classifier and feature.name == description.predictedFeatureName and label_output is not None:
            if feature.type == label_output.type:
                return []
            return [
                ValidationIssue(
                    "training-target-type",
                    where,
                    f"The type of the training input provided: {feature.name} doesn't match the expected type of the "
                    f"classifier. Found: {_type_label(feature.type)}, expected: {_type_label(label_output.type)}.",
                    f"give training input {feature.name!r} the type of the classifier's label output",
                )
            ]
        if feature.name == target:
            return []
    if classifier:
        message = f"The training inputs don't include the target of the classifier: {description.predictedFeatureName}"
    else:
        message = f"The training inputs don't include the loss layer's target: {target}"
    return [
        ValidationIssue(
            "training-target-missing", where, message, "add the loss target (or the classifier label) to trainingInput"
        )
    ]


# --- rule 15: k-NN ------------------------------------------------------------------------------------------------


def check_knn(spec: Spec, scope: tuple[str, ...]) -> list[ValidationIssue]:
    """KNearestNeighborsClassifierValidator: k, weighting, labels vs default label, samples, index, distance."""
    knn = spec.kNearestNeighborsClassifier
    at = _at(scope, "kNearestNeighborsClassifier")
    issues = int64_parameter_issues("numberOfNeighbors", knn.numberOfNeighbors, True, f"{at}/numberOfNeighbors")
    if knn.WhichOneof("WeightingScheme") is None:
        issues.append(_knn("knn-weighting", at, "requires a weighting scheme to be set.", "set uniform or inverse"))
    issues += _knn_label_issues(knn, at)
    issues += _knn_index_issues(knn, at)
    return issues


def _knn(rule: str, where: str, text: str, fix: str) -> ValidationIssue:
    return ValidationIssue(rule, where, f"KNearestNeighborsClassifier {text}", fix)


def _label_count(knn: Any) -> int:
    which = knn.WhichOneof("ClassLabels")
    return len(getattr(knn, which).vector) if which else 0


def _knn_label_issues(knn: Any, at: str) -> list[ValidationIssue]:
    labels = knn.WhichOneof("ClassLabels")
    default = knn.WhichOneof("DefaultClassLabel")
    if default is None:
        if _label_count(knn) == 0:
            return [
                _knn(
                    "knn-default-label",
                    at,
                    "should specify default class labels when class labels are not specified.",
                    "set a default label (predicted while the model holds no examples)",
                )
            ]
        return []
    expected = "stringClassLabels" if default == "defaultStringLabel" else "int64ClassLabels"
    if labels is not None and labels != expected:
        return [
            ValidationIssue(
                "knn-default-label",
                at,
                "KNearestNeighborsClassifier's class label and default class label have different types.",
                "use String labels with a String default label, or Int64 with Int64",
            )
        ]
    return []


def _knn_index_issues(knn: Any, at: str) -> list[ValidationIssue]:
    index = knn.nearestNeighborsIndex
    where = f"{at}/nearestNeighborsIndex"
    issues = []
    labels, samples = _label_count(knn), len(index.floatSamples)
    if samples == 0 and labels != 0:
        issues.append(_knn("knn-samples", where, "has no data points.", "add one sample per label"))
    elif samples != labels:
        issues.append(
            ValidationIssue(
                "knn-samples",
                where,
                f'Unexpected number of labels "{labels}" for the given number of examples: "{samples}.',
                "keep exactly one label per stored sample",
            )
        )
    if any(len(sample.vector) != index.numberOfDimensions for sample in index.floatSamples):
        issues.append(
            ValidationIssue(
                "knn-dimension",
                where,
                f'Unexpected length "{samples}" given the provided number of dimensions "{index.numberOfDimensions}.',
                f"give every stored sample exactly {index.numberOfDimensions} values",
            )
        )
    which = index.WhichOneof("IndexType")
    if which is None:
        issues.append(_knn("knn-index", where, "has no index type specified.", "set a linear or kd-tree index"))
    elif which == "singleKdTreeIndex" and index.singleKdTreeIndex.leafSize <= 0:
        issues.append(_knn("knn-leaf-size", where, "requires leaf size to be a positive integer.", "set leafSize > 0"))
    if index.WhichOneof("DistanceFunction") is None:
        issues.append(
            _knn(
                "knn-distance",
                where,
                "requires a distance function to be set.",
                "set squaredEuclideanDistance (the only one Core ML supports)",
            )
        )
    return issues
