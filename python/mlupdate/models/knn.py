"""Updatable k-NN classifiers and the drawing-classifier pipeline (frozen embedding network + k-NN).

    embedding = cut_embedding(load_spec("MNISTClassifier.mlmodel"), "drawing_dense0_relu_fwd")  # 128-d
    spec = drawing_classifier(embedding, default_label="unknown", k=3, weighting="inverse_distance")

This is the shape of Apple's updatable drawing classifier: the pipeline takes the drawing image and, for
training, the label; an update task stores each example's embedding with its label in the k-NN index.
An empty k-NN predicts `default_label`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from mlupdate._coreml import Model_pb2
from mlupdate.errors import ModelBuildError
from mlupdate.models.spec import Spec, is_neural_network, model_kind, neural_network
from mlupdate.models.validate import MINIMUM_UPDATABLE_SPEC_VERSION, ensure_valid

Weighting = Literal["uniform", "inverse_distance"]
IndexKind = Literal["linear", "kd_tree"]
_FLOAT32, _DOUBLE = 65568, 65600
_DTYPES = {"float32": _FLOAT32, "double": _DOUBLE}
# Layers that keep the width of their input, so an embedding's size can be read from the layer before them.
_WIDTH_PRESERVING = ("activation", "batchnorm", "softmax")


def knn_classifier(
    dimension: int,
    default_label: str | int,
    *,
    k: int = 3,
    k_range: tuple[int, int] | None = (1, 1000),
    k_set: Sequence[int] | None = None,
    weighting: Weighting = "uniform",
    index: IndexKind = "linear",
    leaf_size: int = 30,
    input_name: str = "input",
    output_name: str = "label",
    input_dtype: Literal["float32", "double"] = "float32",
) -> Spec:
    """An empty, updatable k-NN classifier; labels are String or Int64 as `default_label` is.

    `k` is bounded by `k_set` when given, else by `k_range` (None: unbounded).
    """
    _check_knn_arguments(dimension, k, k_range, k_set, weighting, index, leaf_size)
    spec = Model_pb2.Model()
    spec.specificationVersion = MINIMUM_UPDATABLE_SPEC_VERSION
    spec.isUpdatable = True
    knn = spec.kNearestNeighborsClassifier
    knn.numberOfNeighbors.defaultValue = k
    if k_set is not None:
        knn.numberOfNeighbors.set.values.extend(k_set)
    elif k_range is not None:
        knn.numberOfNeighbors.range.minValue, knn.numberOfNeighbors.range.maxValue = k_range
    (knn.uniformWeighting if weighting == "uniform" else knn.inverseDistanceWeighting).SetInParent()
    index_message = knn.nearestNeighborsIndex
    index_message.numberOfDimensions = dimension
    if index == "linear":
        index_message.linearIndex.SetInParent()
    else:
        index_message.singleKdTreeIndex.leafSize = leaf_size
    index_message.squaredEuclideanDistance.SetInParent()
    string_labels = isinstance(default_label, str)
    if string_labels:
        knn.defaultStringLabel = default_label
        knn.stringClassLabels.SetInParent()
    else:
        knn.defaultInt64Label = int(default_label)
        knn.int64ClassLabels.SetInParent()
    _describe_knn(spec.description, dimension, input_name, output_name, _DTYPES[input_dtype], string_labels)
    ensure_valid(spec, "knn_classifier result")
    return spec


def _check_knn_arguments(
    dimension: int,
    k: int,
    k_range: tuple[int, int] | None,
    k_set: Sequence[int] | None,
    weighting: str,
    index: str,
    leaf_size: int,
) -> None:
    problems = []
    if dimension <= 0:
        problems.append(("dimension", f"dimension={dimension} is not positive", "pass the embedding width (> 0)"))
    if k_set is not None and (k not in k_set or any(v <= 0 for v in k_set)):
        problems.append(("k", f"k={k} with allowed set {list(k_set)}", "use a set of positive values containing k"))
    if k_set is None and k_range is not None and not 0 < k_range[0] <= k <= k_range[1]:
        problems.append(("k", f"k={k} with allowed range {list(k_range)}", "use a positive range containing k"))
    if k <= 0:
        problems.append(("k", f"k={k} is not positive", "pass k >= 1"))
    if weighting not in ("uniform", "inverse_distance"):
        problems.append(("weighting", f"unknown weighting {weighting!r}", "use 'uniform' or 'inverse_distance'"))
    if index not in ("linear", "kd_tree"):
        problems.append(("index", f"unknown index {index!r}", "use 'linear' or 'kd_tree'"))
    if index == "kd_tree" and leaf_size <= 0:
        problems.append(("leaf_size", f"leaf_size={leaf_size} is not positive", "pass leaf_size >= 1"))
    if problems:
        where, what, fix = problems[0]
        raise ModelBuildError(what, where=f"knn_classifier.{where}", fix=fix)


def _describe_knn(
    description: Any, dimension: int, input_name: str, output_name: str, dtype: int, string_labels: bool
) -> None:
    feature = description.input.add()
    feature.name = input_name
    feature.type.multiArrayType.shape.append(dimension)
    feature.type.multiArrayType.dataType = dtype
    label = description.output.add()
    label.name = output_name
    (label.type.stringType if string_labels else label.type.int64Type).SetInParent()
    probabilities = description.output.add()
    probabilities.name = f"{output_name}Probs"
    dictionary = probabilities.type.dictionaryType
    (dictionary.stringKeyType if string_labels else dictionary.int64KeyType).SetInParent()
    description.predictedFeatureName = output_name
    description.predictedProbabilitiesName = probabilities.name
    description.trainingInput.extend([feature, label])


def cut_embedding(spec: Spec, at_layer: str, *, output_name: str = "embedding", dimension: int | None = None) -> Spec:
    """A frozen `neuralNetwork` computing `at_layer`'s output as a FLOAT32 multiArray [d] named `output_name`.

    Only the layers `at_layer` depends on are kept; the inputs and their image preprocessing are unchanged.
    `d` is read from the innerProduct that produces (possibly through an activation) the layer's output;
    pass `dimension` for other layers.
    """
    if not is_neural_network(spec):
        raise ModelBuildError(
            f"can only cut a neural network, got {model_kind(spec)}", where=model_kind(spec), fix="pass a network"
        )
    source = neural_network(spec)
    layers = list(source.layers)
    names = [layer.name for layer in layers]
    if at_layer not in names:
        raise ModelBuildError(
            f"no layer named {at_layer!r}; the model's layers are: {', '.join(names)}",
            where=f"layers/{at_layer}",
            fix="choose one of the listed layers",
        )
    kept = _ancestors(layers[: names.index(at_layer) + 1])
    width = dimension if dimension is not None else _width(kept)
    result = Model_pb2.Model()
    result.specificationVersion = spec.specificationVersion
    result.description.input.extend(spec.description.input)
    result.description.metadata.CopyFrom(spec.description.metadata)
    result.description.metadata.shortDescription = f"Frozen embedding: {at_layer} of the original model"
    network = result.neuralNetwork
    network.layers.extend(kept)
    network.preprocessing.extend(source.preprocessing)
    network.arrayInputShapeMapping = source.arrayInputShapeMapping
    network.imageInputShapeMapping = source.imageInputShapeMapping
    _freeze(network)
    network.layers[-1].output[0] = output_name
    output = result.description.output.add()
    output.name = output_name
    output.type.multiArrayType.shape.append(width)
    output.type.multiArrayType.dataType = _FLOAT32
    return result


def _ancestors(layers: list[Any]) -> list[Any]:
    """The layers the last one depends on, in their original order."""
    needed = set(layers[-1].input)
    kept = [layers[-1]]
    for layer in reversed(layers[:-1]):
        if needed.intersection(layer.output):
            kept.append(layer)
            needed.update(layer.input)
    return list(reversed(kept))


def _width(layers: list[Any]) -> int:
    producers = {name: layer for layer in layers for name in layer.output}
    layer = layers[-1]
    while layer.WhichOneof("layer") in _WIDTH_PRESERVING and layer.input[0] in producers:
        layer = producers[layer.input[0]]
    if layer.WhichOneof("layer") == "innerProduct":
        return int(layer.innerProduct.outputChannels)
    raise ModelBuildError(
        f"cannot tell the width of {layers[-1].name!r}'s output (it does not come from an innerProduct layer)",
        where=f"layers/{layers[-1].name}",
        fix="pass dimension= (the number of values the layer outputs)",
    )


def _freeze(network: Any) -> None:
    for layer in network.layers:
        layer.isUpdatable = False
        kind = layer.WhichOneof("layer")
        if kind in ("innerProduct", "convolution"):
            getattr(layer, kind).weights.isUpdatable = False
            getattr(layer, kind).bias.isUpdatable = False


def drawing_classifier(
    embedding: Spec,
    *,
    default_label: str | int = "unknown",
    k: int = 3,
    k_range: tuple[int, int] | None = (1, 1000),
    k_set: Sequence[int] | None = None,
    weighting: Weighting = "inverse_distance",
    index: IndexKind = "linear",
    leaf_size: int = 30,
    label_name: str = "label",
) -> Spec:
    """PipelineClassifier(embedding, k-NN): spec v4, updatable, trainingInput = the embedding inputs + label."""
    outputs = list(embedding.description.output)
    if (
        len(outputs) != 1
        or not outputs[0].type.HasField("multiArrayType")
        or len(outputs[0].type.multiArrayType.shape) != 1
    ):
        raise ModelBuildError(
            "the embedding model must have exactly one output, a multiArray of shape [d]",
            where="embedding.description.output",
            fix="cut the embedding with cut_embedding(spec, layer)",
        )
    array = outputs[0].type.multiArrayType
    dtype: Literal["float32", "double"] = "double" if array.dataType == _DOUBLE else "float32"
    knn = knn_classifier(
        int(array.shape[0]),
        default_label,
        k=k,
        k_range=k_range,
        k_set=k_set,
        weighting=weighting,
        index=index,
        leaf_size=leaf_size,
        input_name=outputs[0].name,
        output_name=label_name,
        input_dtype=dtype,
    )
    frozen = Model_pb2.Model()
    frozen.CopyFrom(embedding)
    frozen.isUpdatable = False
    spec = Model_pb2.Model()
    spec.specificationVersion = MINIMUM_UPDATABLE_SPEC_VERSION
    spec.isUpdatable = True
    spec.pipelineClassifier.pipeline.models.extend([frozen, knn])
    description = spec.description
    description.input.extend(frozen.description.input)
    description.output.extend(knn.description.output)
    description.predictedFeatureName = knn.description.predictedFeatureName
    description.predictedProbabilitiesName = knn.description.predictedProbabilitiesName
    label = next(f for f in knn.description.trainingInput if f.name == label_name)
    description.trainingInput.extend([*frozen.description.input, label])
    ensure_valid(spec, "drawing_classifier result")
    return spec
