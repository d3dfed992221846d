"""Build updatable networks from a compact, sequential description.

    net = SequentialNetwork(
        inputs=[ArrayInput("x", (8,))],
        layers=[Dense("fc1", 16, updatable=True), Activation("relu"), Dense("fc2", 3, updatable=True), Softmax()],
        head=Classifier(("a", "b", "c")), loss=Loss("cce"), optimizer=Sgd(lr=0.05, batch=4), epochs=5,
    )
    spec = build_network(net, seed=0)

Layers run one after another from the single input; shapes are inferred (`(C,)` vectors, `(C, H, W)`
images/feature maps). The network's last blob is called `output` (the probabilities of a classifier; the
`Classifier` head adds the label output `predicted_feature_name`). When any layer is `updatable=True` the
model is made updatable with the given loss, optimizer, epochs, shuffle and seed (see `make_updatable`) and
validated against Core ML's rules; otherwise a frozen model is returned (e.g. an embedding network).

Weights are deterministic: Glorot-uniform from `seed` (biases zero), or taken from `weights`
(`{layer: {"weights": array, "biases": array}}` in spec layout: dense `[out, in]`, conv
`[out, in/groups, kh, kw]`). Layers and activations are built with coremltools' NeuralNetworkBuilder.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mlupdate._coreml import NeuralNetworkBuilder, datatypes
from mlupdate.errors import ModelBuildError
from mlupdate.models.arrays import set_layer_weights
from mlupdate.models.spec import Spec, neural_network
from mlupdate.models.updatable import Adam, Loss, Optimizer, Sgd, make_updatable

__all__ = [
    "Activation",
    "Adam",
    "ArrayInput",
    "Classifier",
    "Conv",
    "Dense",
    "Flatten",
    "ImageInput",
    "Loss",
    "Pool",
    "Regressor",
    "SequentialNetwork",
    "Sgd",
    "Softmax",
    "build_network",
]

Shape = tuple[int, ...]
ColorSpace = Literal["GRAYSCALE", "RGB", "BGR"]
Padding = Literal["valid", "same"]
_ACTIVATIONS = {"relu": "RELU", "sigmoid": "SIGMOID", "tanh": "TANH", "linear": "LINEAR"}
_ARRAY_DTYPES = {"double": 65600, "float32": 65568}


@dataclass(frozen=True)
class ArrayInput:
    """A multiArray input of `shape` ((C,) or (C, H, W)); Core ML feeds it as `dtype`."""

    name: str
    shape: Shape
    dtype: Literal["double", "float32"] = "double"


@dataclass(frozen=True)
class ImageInput:
    """An image input; pixels are scaled by `scale` then `bias` is added (one value, or one per RGB channel)."""

    name: str
    width: int
    height: int
    color_space: ColorSpace = "GRAYSCALE"
    scale: float = 1.0
    bias: tuple[float, ...] = (0.0,)

    @property
    def shape(self) -> Shape:
        return (1 if self.color_space == "GRAYSCALE" else 3, self.height, self.width)


@dataclass(frozen=True)
class Dense:
    """innerProduct with `out` outputs; its input must be a vector (put Flatten after feature maps)."""

    name: str
    out: int
    updatable: bool = False
    bias: bool = True


@dataclass(frozen=True)
class Conv:
    name: str
    out_channels: int
    kernel: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    padding: Padding = "valid"
    groups: int = 1
    updatable: bool = False
    bias: bool = True


@dataclass(frozen=True)
class Activation:
    kind: Literal["relu", "sigmoid", "tanh", "linear"] = "relu"
    name: str | None = None


@dataclass(frozen=True)
class Pool:
    kind: Literal["max", "average"] = "max"
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: Padding = "valid"
    name: str | None = None


@dataclass(frozen=True)
class Flatten:
    name: str | None = None


@dataclass(frozen=True)
class Softmax:
    name: str | None = None


@dataclass(frozen=True)
class Classifier:
    """Class labels (all str or all int) and the name of the label output."""

    labels: tuple[str, ...] | tuple[int, ...]
    predicted_feature_name: str = "label"


@dataclass(frozen=True)
class Regressor:
    """A neuralNetworkRegressor head (the last blob is the regression output)."""


Input = ArrayInput | ImageInput
Layer = Dense | Conv | Activation | Pool | Flatten | Softmax


@dataclass(frozen=True)
class SequentialNetwork:
    inputs: Sequence[Input]
    layers: Sequence[Layer]
    head: Classifier | Regressor | None = None
    loss: Loss | None = None
    optimizer: Optimizer = field(default_factory=Sgd)
    epochs: int = 1
    epochs_set: tuple[int, ...] | None = None
    shuffle: bool = True
    seed: int | None = None
    output: str = "output"


WeightMap = Mapping[str, Mapping[str, npt.ArrayLike]]


def build_network(network: SequentialNetwork, seed: int = 0, weights: WeightMap | None = None) -> Spec:
    """The spec `network` describes; updatable and validated when any layer is updatable."""
    if len(network.inputs) != 1:
        raise ModelBuildError(
            f"a sequential network has exactly one input, got {len(network.inputs)}",
            where="SequentialNetwork.inputs",
            fix="pass one ArrayInput or ImageInput",
        )
    if not network.layers:
        raise ModelBuildError("the network has no layers", where="SequentialNetwork.layers", fix="add layers")
    source = network.inputs[0]
    builder = _builder(network, source)
    rng = np.random.default_rng(seed)
    given = dict(weights or {})
    shape = source.shape
    blob = source.name
    names = _layer_names(network.layers)
    for index, (layer, name) in enumerate(zip(network.layers, names, strict=True)):
        out_blob = network.output if index == len(network.layers) - 1 else f"{name}_output"
        shape = _add_layer(builder, layer, name, blob, out_blob, shape, rng, given.pop(name, None))
        blob = out_blob
    if given:
        raise ModelBuildError(
            f"weights given for unknown layers: {', '.join(sorted(given))}",
            where="weights",
            fix="give weights only for Dense/Conv layers, under the layer's name",
        )
    spec = builder.spec
    _finish_description(builder, network, source, shape)
    updatable = [name for name, layer in zip(names, network.layers, strict=True) if getattr(layer, "updatable", False)]
    if not updatable:
        return spec
    loss = network.loss or Loss("cce" if isinstance(network.head, Classifier) else "mse")
    return make_updatable(
        spec,
        updatable,
        loss,
        network.optimizer,
        network.epochs,
        network.shuffle,
        network.seed,
        epochs_set=network.epochs_set,
    )


def _builder(network: SequentialNetwork, source: Input) -> Any:
    mode = "classifier" if isinstance(network.head, Classifier) else None
    mode = "regressor" if isinstance(network.head, Regressor) else mode
    builder = NeuralNetworkBuilder([(source.name, datatypes.Array(*source.shape))], [(network.output, None)], mode=mode)
    if isinstance(source, ImageInput):
        _set_image_input(builder, source)
    return builder


def _set_image_input(builder: Any, source: ImageInput) -> None:
    if source.width <= 0 or source.height <= 0:
        raise ModelBuildError(
            f"image size {source.width}x{source.height} is not positive",
            where=source.name,
            fix="pass width, height > 0",
        )
    channels = 1 if source.color_space == "GRAYSCALE" else 3
    bias = tuple(source.bias) * (channels if len(source.bias) == 1 else 1)
    if len(bias) != channels:
        raise ModelBuildError(
            f"{len(source.bias)} bias values for a {source.color_space} image",
            where=f"{source.name}.bias",
            fix=f"pass one bias value, or {channels}",
        )
    if channels == 1:
        builder.set_pre_processing_parameters([source.name], gray_bias=bias[0], image_scale=source.scale)
    else:
        builder.set_pre_processing_parameters(
            [source.name],
            is_bgr=source.color_space == "BGR",
            red_bias=bias[0],
            green_bias=bias[1],
            blue_bias=bias[2],
            image_scale=source.scale,
        )


def _layer_names(layers: Sequence[Layer]) -> list[str]:
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        kind = type(layer).__name__.lower()
        counts[kind] = counts.get(kind, 0) + 1
        explicit = getattr(layer, "name", None)
        names.append(explicit or f"{kind}{counts[kind]}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ModelBuildError(
            f"layer names repeat: {', '.join(duplicates)}",
            where="SequentialNetwork.layers",
            fix="give every layer a unique name",
        )
    return names


def _glorot(rng: np.random.Generator, shape: Shape, fan_in: int, fan_out: int) -> npt.NDArray[np.float32]:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def _add_layer(
    builder: Any,
    layer: Layer,
    name: str,
    blob: str,
    out_blob: str,
    shape: Shape,
    rng: np.random.Generator,
    given: Mapping[str, npt.ArrayLike] | None,
) -> Shape:
    if isinstance(layer, Dense):
        return _add_dense(builder, layer, blob, out_blob, shape, rng, given)
    if isinstance(layer, Conv):
        return _add_conv(builder, layer, blob, out_blob, shape, rng, given)
    if given is not None:
        raise ModelBuildError(f"weights given for {name!r}, which has none", where=f"weights/{name}", fix="remove them")
    if isinstance(layer, Activation):
        builder.add_activation(name, _ACTIVATIONS[layer.kind], blob, out_blob)
        return shape
    if isinstance(layer, Pool):
        channels, height, width = _feature_map(shape, name)
        builder.add_pooling(
            name, *layer.kernel, *layer.stride, layer.kind.upper(), layer.padding.upper(), blob, out_blob
        )
        return (
            channels,
            _spatial(height, layer.kernel[0], layer.stride[0], layer.padding),
            _spatial(width, layer.kernel[1], layer.stride[1], layer.padding),
        )
    if isinstance(layer, Flatten):
        builder.add_flatten(name, 0, blob, out_blob)
        return (math.prod(shape),)
    builder.add_softmax(name, blob, out_blob)
    return shape


def _feature_map(shape: Shape, name: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ModelBuildError(
            f"layer {name!r} needs a (C, H, W) input, got shape {list(shape)}",
            where=f"layers/{name}",
            fix="use an image input or a (C, H, W) array input before convolution/pooling",
        )
    return shape[0], shape[1], shape[2]


def _spatial(size: int, kernel: int, stride: int, padding: Padding) -> int:
    out = math.ceil(size / stride) if padding == "same" else (size - kernel) // stride + 1
    if out <= 0:
        raise ModelBuildError(
            f"a kernel of {kernel} does not fit into {size} pixels", where="layers", fix="use a smaller kernel"
        )
    return out


def _weights_for(
    name: str,
    shapes: Mapping[str, Shape],
    given: Mapping[str, npt.ArrayLike] | None,
    make: Mapping[str, npt.NDArray[np.float32]],
) -> dict[str, npt.NDArray[np.float32]]:
    if given is None:
        return dict(make)
    unknown = set(given) - set(shapes)
    if unknown:
        raise ModelBuildError(
            f"unknown weight names {sorted(unknown)}", where=f"weights/{name}", fix=f"use {sorted(shapes)}"
        )
    arrays = {}
    for key, shape in shapes.items():
        value = np.asarray(given.get(key, make[key]), dtype=np.float32)
        if value.shape != shape:
            raise ModelBuildError(
                f"{key} of shape {list(value.shape)} do not fit: the layer needs {list(shape)} (spec layout)",
                where=f"weights/{name}/{key}",
                fix=f"pass an array of shape {list(shape)}",
            )
        arrays[key] = value
    return arrays


def _add_dense(
    builder: Any,
    layer: Dense,
    blob: str,
    out_blob: str,
    shape: Shape,
    rng: np.random.Generator,
    given: Mapping[str, npt.ArrayLike] | None,
) -> Shape:
    if len(shape) != 1 and shape[1:] != (1, 1):
        raise ModelBuildError(
            f"Dense layer {layer.name!r} needs a vector input, got shape {list(shape)}",
            where=f"layers/{layer.name}",
            fix="insert Flatten() before it",
        )
    fan_in = shape[0]
    shapes: dict[str, Shape] = {"weights": (layer.out, fan_in)}
    made = {"weights": _glorot(rng, (layer.out, fan_in), fan_in, layer.out)}
    if layer.bias:
        shapes["biases"], made["biases"] = (layer.out,), np.zeros(layer.out, dtype=np.float32)
    arrays = _weights_for(layer.name, shapes, given, made)
    builder.add_inner_product(
        layer.name,
        W=arrays["weights"],
        b=arrays.get("biases"),
        input_channels=fan_in,
        output_channels=layer.out,
        has_bias=layer.bias,
        input_name=blob,
        output_name=out_blob,
    )
    return (layer.out,)


def _add_conv(
    builder: Any,
    layer: Conv,
    blob: str,
    out_blob: str,
    shape: Shape,
    rng: np.random.Generator,
    given: Mapping[str, npt.ArrayLike] | None,
) -> Shape:
    channels, height, width = _feature_map(shape, layer.name)
    if layer.groups <= 0 or channels % layer.groups or layer.out_channels % layer.groups:
        raise ModelBuildError(
            f"groups={layer.groups} must divide the input channels ({channels}) and output channels "
            f"({layer.out_channels})",
            where=f"layers/{layer.name}",
            fix="choose groups that divide both channel counts",
        )
    kernel_channels = channels // layer.groups
    kh, kw = layer.kernel
    w_shape = (layer.out_channels, kernel_channels, kh, kw)
    shapes: dict[str, Shape] = {"weights": w_shape}
    made = {"weights": _glorot(rng, w_shape, kernel_channels * kh * kw, layer.out_channels * kh * kw)}
    if layer.bias:
        shapes["biases"], made["biases"] = (layer.out_channels,), np.zeros(layer.out_channels, dtype=np.float32)
    arrays = _weights_for(layer.name, shapes, given, made)
    builder.add_convolution(
        layer.name,
        kernel_channels=kernel_channels,
        output_channels=layer.out_channels,
        height=kh,
        width=kw,
        stride_height=layer.stride[0],
        stride_width=layer.stride[1],
        border_mode=layer.padding,
        groups=layer.groups,
        W=arrays["weights"].transpose(2, 3, 1, 0),  # the builder takes (kh, kw, in/groups, out)
        b=arrays.get("biases"),
        has_bias=layer.bias,
        input_name=blob,
        output_name=out_blob,
    )
    # Store in spec layout ourselves, so the spec holds exactly the arrays described.
    spec_layer = neural_network(builder.spec).layers[-1]
    for key, array in arrays.items():
        set_layer_weights(spec_layer, key, array)
    return (
        layer.out_channels,
        _spatial(height, kh, layer.stride[0], layer.padding),
        _spatial(width, kw, layer.stride[1], layer.padding),
    )


def _finish_description(builder: Any, network: SequentialNetwork, source: Input, shape: Shape) -> None:
    """Input data type, output shape and class labels, which the builder leaves open."""
    description = builder.spec.description
    if isinstance(source, ArrayInput):
        description.input[0].type.multiArrayType.dataType = _ARRAY_DTYPES[source.dtype]
    head = network.head
    if isinstance(head, Classifier):
        labels = list(head.labels)
        if not labels or len(set(labels)) != len(labels) or len({type(v) for v in labels}) != 1:
            raise ModelBuildError(
                f"class labels {labels} must be non-empty, unique, and all str or all int",
                where="Classifier.labels",
                fix="pass unique labels of one type",
            )
        if shape[0] != len(labels):
            raise ModelBuildError(
                f"the network ends with {shape[0]} values but there are {len(labels)} class labels",
                where="Classifier.labels",
                fix="make the last Dense layer's `out` equal to the number of labels",
            )
        builder.set_class_labels(
            labels, predicted_feature_name=head.predicted_feature_name, prediction_blob=network.output
        )
        return
    output = description.output[0].type.multiArrayType
    del output.shape[:]
    output.shape.extend(shape)
    output.dataType = _ARRAY_DTYPES["double"]
