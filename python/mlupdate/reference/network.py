"""A neural-network spec as a graph of reference layers: inputs, preprocessing, forward, backward, frozen prefix.

The frozen prefix is every layer whose inputs do not depend on an updatable layer. Its activations cannot
change during an update task, so the trainer computes them once per job (`frozen_activations`) and every
mini-batch runs only the live part of the graph (`forward_live` / `backward_live`): the layers between the
updatable ones and the loss. Layers that depend on an updatable layer but do not lead to the loss (the tail,
e.g. an identity renaming the output) run only for predictions.

Two layouts meet here. The frozen prefix runs any NeuralNetwork layer forward (`mlupdate.reference.forward`)
on each example's Core ML tensor (`[N, *shape]`, its rank the model's: rank 5 for the legacy mapping, the
declared shape for EXACT_ARRAY_MAPPING). The live part trains on `[N, C, H, W]`; `as_network_array` turns the
blobs crossing over into that layout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlupdate.errors import DataError, UnsupportedError
from mlupdate.models.spec import Spec, class_labels, neural_network
from mlupdate.reference.forward import ForwardLayer, forward_layer
from mlupdate.reference.layers import Array, Layer, Params
from mlupdate.reference.spec_layers import layer_from_spec

_CHUNK = 64  # examples per frozen-prefix chunk: bounds input conversion and im2col temporaries (~7 MB for 32x14x14 3x3)
_RGB_BIASES = ("redBias", "greenBias", "blueBias")
_EXACT_ARRAYS = 1  # NeuralNetworkMultiArrayShapeMapping.EXACT_ARRAY_MAPPING
_RANK4_IMAGES = 1  # NeuralNetworkImageShapeMapping.RANK4_IMAGE_MAPPING
# Element-wise layers run the same on any layout, so the tail may hold them.
_TAIL_KINDS = frozenset({"activation", "copy", "unary", "clip", "add", "multiply", "softmax"})


@dataclass(frozen=True)
class LossSpec:
    """The model's loss layer: `cce` on a softmax output (with the softmax's own input) or `mse`."""

    name: str
    kind: str  # "cce" | "mse"
    input: str
    target: str
    logits: str | None  # input of the softmax feeding a CCE loss
    softmax: str | None


def as_network_array(values: Any, *, name: str, dtype: np.dtype[Any]) -> Array:
    """Per-example tensors `[N, *shape]` in the live part's `[N, C, H, W]` layout.

    Leading unit axes go (a Core ML `[1, 1, C, H, W]` or `[1, D]` is one example's `[C, H, W]` or vector); what
    is left must be a vector `[C]` (-> `[C, 1, 1]`) or at most `[C, H, W]`.
    """
    array = np.asarray(values, dtype=dtype)
    shape = list(array.shape[1:])
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) <= 1:
        return array.reshape(array.shape[0], shape[0] if shape else 1, 1, 1)
    if len(shape) <= 3:
        return array.reshape(array.shape[0], *([1] * (3 - len(shape))), *shape)
    raise UnsupportedError(
        f"{name!r} has per-example shape {list(array.shape[1:])}; the trained part of a network takes [C] or "
        "[C, H, W] (leading axes of size 1 allowed)",
        where=f"blob {name}",
        fix="make the updatable layers read a vector or a [C, H, W] tensor",
    )


def _dependents(messages: Sequence[Any], updatable: set[str]) -> list[Any]:
    """Layers that read (directly or not) the output of an updatable layer, in spec order."""
    tainted: set[str] = set()
    found = []
    for message in messages:
        if message.name in updatable or any(blob in tainted for blob in message.input):
            tainted.update(message.output)
            found.append(message)
    return found


def _needed(dependents: Sequence[Any], blob: str) -> set[str]:
    """Names of the `dependents` on the path to `blob`."""
    needed, names = {blob}, set()
    for message in reversed(dependents):
        if any(out in needed for out in message.output):
            names.add(message.name)
            needed.update(message.input)
    return names


class Network:
    """One neural-network (sub-)model: its layers in spec order, parameters per layer, loss and preprocessing."""

    def __init__(self, spec: Spec, *, dtype: type[np.floating[Any]] = np.float32) -> None:
        self.spec = spec
        self.dtype = np.dtype(dtype)
        message = neural_network(spec)
        messages = list(message.layers)
        self.updatable = tuple(layer.name for layer in messages if layer.isUpdatable)
        self.preprocessing = {p.featureName: p for p in message.preprocessing}
        self.exact_arrays = message.arrayInputShapeMapping == _EXACT_ARRAYS
        self.rank4_images = message.imageInputShapeMapping == _RANK4_IMAGES
        self.loss = self._loss_spec(message, messages)
        dependents = _dependents(messages, set(self.updatable))
        live = {m.name for m in dependents} if self.loss is None else _needed(dependents, self.loss.input)
        tail = {m.name for m in dependents} - live
        self.layers: list[Layer] = []
        self.params: dict[str, Params] = {}
        for layer_message in (m for m in messages if m.name in live):
            layer, params = layer_from_spec(layer_message)
            self.layers.append(layer)
            self.params[layer.name] = {k: v.astype(self.dtype) for k, v in params.items()}
        self.live = tuple(self.layers)
        # Fixed per network, used every mini-batch: the live layers a step runs forward (the CCE softmax is
        # fused into the loss) and the blobs they produce (only those receive gradients).
        self._step_layers = tuple(layer for layer in self.live if self.loss is None or layer.name != self.loss.softmax)
        self._produced_live = frozenset(layer.output for layer in self.live)
        self.frozen: tuple[ForwardLayer, ...] = tuple(
            forward_layer(m, dtype) for m in messages if m.name not in live and m.name not in tail
        )
        self.tail: tuple[ForwardLayer, ...] = tuple(forward_layer(m, dtype) for m in messages if m.name in tail)
        for forward in self.tail:
            if forward.kind not in _TAIL_KINDS:
                raise UnsupportedError(
                    f"layer {forward.name!r} ({forward.kind}) reads the trained part but does not lead to the loss; "
                    "the reference runs only element-wise layers there",
                    where=f"layer {forward.name}",
                    fix="move it before the updatable layers or remove it from the model",
                )

    # --- structure ------------------------------------------------------------------------------------

    def _loss_spec(self, message: Any, messages: Sequence[Any]) -> LossSpec | None:
        if not message.HasField("updateParams") or not message.updateParams.lossLayers:
            return None
        loss = message.updateParams.lossLayers[0]
        which = loss.WhichOneof("LossLayerType")
        if which == "categoricalCrossEntropyLossLayer":
            cce = loss.categoricalCrossEntropyLossLayer
            producer = next((m for m in messages if cce.input in m.output), None)
            if producer is None or producer.WhichOneof("layer") != "softmax":
                raise UnsupportedError(
                    f"the CCE loss input {cce.input!r} is not the output of a softmax layer",
                    where=f"loss layer {loss.name}",
                    fix="feed the categorical cross-entropy loss directly from a softmax layer",
                )
            return LossSpec(loss.name, "cce", cce.input, cce.target, producer.input[0], producer.name)
        if which == "meanSquaredErrorLossLayer":
            mse = loss.meanSquaredErrorLossLayer
            return LossSpec(loss.name, "mse", mse.input, mse.target, None, None)
        raise UnsupportedError(
            f"loss layer type {which!r}", where=f"loss layer {loss.name}", fix="use a CCE or MSE loss layer"
        )

    def class_labels(self) -> list[str] | list[int] | None:
        return class_labels(self.spec)

    # --- inputs ---------------------------------------------------------------------------------------

    def _input(self, features: Mapping[str, Any], name: str) -> Any:
        if name not in features:
            raise DataError(
                f"the model input {name!r} is missing from the examples",
                where=f"feature {name}",
                fix="provide every model input",
            )
        return features[name]

    def example_count(self, features: Mapping[str, Any]) -> int:
        """The number of examples every model input holds (they must agree, and not be zero)."""
        counts = {len(self._input(features, feature.name)) for feature in self.spec.description.input}
        if len(counts) != 1 or 0 in counts:
            raise DataError(
                f"training features have different or zero example counts {sorted(counts)}",
                where="training",
                fix="give every feature the same, non-zero number of examples",
            )
        return counts.pop()

    def prepare_inputs(self, features: Mapping[str, Any]) -> dict[str, Array]:
        """Model inputs as Core ML tensors `[N, *shape]`: images preprocessed, arrays mapped as the spec says."""
        prepared: dict[str, Array] = {}
        for feature in self.spec.description.input:
            values = self._input(features, feature.name)
            if feature.type.WhichOneof("Type") == "imageType":
                image = self._preprocess_image(feature, np.asarray(values))
                lead = (1,) if self.rank4_images else (1, 1)
                prepared[feature.name] = image.reshape(image.shape[0], *lead, *image.shape[1:])
            else:
                prepared[feature.name] = self._array_tensor(feature, values)
        return prepared

    def _array_tensor(self, feature: Any, values: Any) -> Array:
        array = np.asarray(values, dtype=self.dtype)
        declared = [int(d) for d in feature.type.multiArrayType.shape]
        count = array.shape[0] if array.ndim else 1
        if declared and int(np.prod(declared)) * count == array.size:
            array = array.reshape(count, *declared)  # e.g. an earlier pipeline stage's [N, 1, 1, C, 1, 1]
        shape = list(array.shape[1:])
        if self.exact_arrays or len(shape) not in (1, 3):
            return array if shape else array.reshape(count, 1)
        c, h, w = (shape[0], 1, 1) if len(shape) == 1 else shape
        return array.reshape(count, 1, 1, c, h, w)

    def _preprocess_image(self, feature: Any, images: np.ndarray[Any, Any]) -> Array:
        if images.ndim != 4:
            raise DataError(
                f"image feature {feature.name!r} must be [N, C, H, W], got shape {list(images.shape)}",
                where=f"feature {feature.name}",
                fix="load images with mlupdate.bundle, which returns [N, C, H, W] in the model's channel order",
            )
        x = images.astype(self.dtype)
        pre = self.preprocessing.get(feature.name) or self.preprocessing.get("")
        if pre is None:
            return x
        if pre.WhichOneof("preprocessor") == "meanImage":
            mean = np.asarray(pre.meanImage.meanImage, dtype=self.dtype).reshape(x.shape[1:])
            return x - mean
        scaler = pre.scaler
        scale = self.dtype.type(scaler.channelScale if scaler.channelScale != 0 else 1.0)
        if x.shape[1] == 1:
            bias = np.asarray([scaler.grayBias], dtype=self.dtype)
        else:
            names = _RGB_BIASES if feature.type.imageType.colorSpace != 30 else _RGB_BIASES[::-1]  # 30 = BGR
            bias = np.asarray([getattr(scaler, n) for n in names], dtype=self.dtype)
        scaled: Array = x * scale + bias[None, :, None, None]
        return scaled

    # --- running --------------------------------------------------------------------------------------

    def run(
        self, layers: Iterable[Layer], env: dict[str, Array], params: Mapping[str, Params] | None = None
    ) -> dict[str, Any]:
        """Run `layers` in order over the blobs in `env` (updated in place); returns each layer's cache."""
        params = self.params if params is None else params
        caches: dict[str, Any] = {}
        for layer in layers:
            env[layer.output], caches[layer.name] = layer.forward(self._inputs_of(layer, env), params[layer.name])
        return caches

    @staticmethod
    def _inputs_of(layer: Layer | ForwardLayer, env: Mapping[str, Array]) -> list[Array]:
        try:
            return [env[blob] for blob in layer.inputs]
        except KeyError as missing:
            raise UnsupportedError(
                f"layer {layer.name!r} reads blob {missing.args[0]!r}, which no input or earlier layer provides",
                where=f"layer {layer.name}",
                fix="check the layer order and the model's input names",
            ) from None

    def run_forward(self, layers: Iterable[ForwardLayer], env: dict[str, Array], count: int) -> None:
        """Run forward-only layers over `env` (updated in place) for `count` examples."""
        for layer in layers:
            xs = self._inputs_of(layer, env)
            with np.errstate(all="ignore"):  # NaN and Inf flow on as they do in Core ML; the trainer checks its own
                outputs = layer.run(xs, count)
            if len(outputs) < len(layer.outputs):
                raise UnsupportedError(
                    f"layer {layer.name!r} ({layer.kind}) names {len(layer.outputs)} outputs; it produces "
                    f"{len(outputs)}",
                    where=f"layer {layer.name}",
                    fix="check the layer's outputs against NeuralNetwork.proto",
                )
            env.update(zip(layer.outputs, outputs, strict=False))

    def _trained_layout(self, env: Mapping[str, Array], blobs: Iterable[str]) -> dict[str, Array]:
        return {blob: as_network_array(env[blob], name=blob, dtype=self.dtype) for blob in blobs if blob in env}

    def forward(self, inputs: Mapping[str, Array]) -> dict[str, Array]:
        """Every blob of the network for already prepared inputs (inference): frozen, live, then tail."""
        env = dict(inputs)
        count = len(next(iter(inputs.values()))) if inputs else 1
        self.run_forward(self.frozen, env, count)
        live = self._trained_layout(env, self.frontier())
        self.run(self.layers, live)
        tail = self._trained_layout(env, (b for layer in self.tail for b in layer.inputs if b not in live)) | live
        self.run_forward(self.tail, tail, count)
        return env | {blob: value for blob, value in tail.items() if blob not in env}

    def frontier(self) -> tuple[str, ...]:
        """Blobs the live layers read from the frozen part or from the inputs."""
        produced_live = {layer.output for layer in self.live}
        blobs: list[str] = []
        for layer in self.live:
            blobs += [b for b in layer.inputs if b not in produced_live and b not in blobs]
        return tuple(blobs)

    def frozen_activations(self, features: Mapping[str, Any]) -> dict[str, Array]:
        """The frontier blobs for all examples, computed once from the raw features (as `prepare_inputs` takes
        them), one chunk of examples at a time, in the live part's `[N, C, H, W]` layout.

        Each chunk is converted to the network's dtype and preprocessed on its own, only the frozen layers on
        the way to the frontier run, and every blob is dropped once its last reader has run, so beyond the
        frontier arrays (allocated once, filled chunk by chunk) the peak is one chunk's temporaries."""
        count = self.example_count(features)
        raw = {f.name: _sliceable(self._input(features, f.name)) for f in self.spec.description.input}
        wanted = self.frontier()
        needed = self._needed_frozen(wanted)
        last_reader = {blob: i for i, layer in enumerate(needed) for blob in layer.inputs}
        out: dict[str, Array] = {}
        for start in range(0, count, _CHUNK):
            env = self.prepare_inputs({name: values[start : start + _CHUNK] for name, values in raw.items()})
            for name, array in env.items():
                if not np.all(np.isfinite(array)):
                    raise DataError(
                        f"feature {name!r} contains NaN or Inf", where=f"feature {name}", fix="clean the data"
                    )
            chunk = len(next(iter(env.values())))
            for i, layer in enumerate(needed):
                self.run_forward((layer,), env, chunk)
                for blob in layer.inputs:
                    if last_reader[blob] == i and blob not in wanted:
                        env.pop(blob, None)
            for blob, part in self._trained_layout(env, wanted).items():
                if blob not in out:
                    out[blob] = np.empty((count, *part.shape[1:]), dtype=part.dtype)
                out[blob][start : start + len(part)] = part
        return out

    def _needed_frozen(self, blobs: Iterable[str]) -> list[ForwardLayer]:
        """The frozen layers on the way to `blobs` (a branch nobody reads is not computed)."""
        wanted, kept = set(blobs), []
        for layer in reversed(self.frozen):
            if any(out in wanted for out in layer.outputs):
                kept.append(layer)
                wanted.update(layer.inputs)
        return kept[::-1]

    def forward_live(self, env: dict[str, Array], params: Mapping[str, Params] | None = None) -> dict[str, Any]:
        caches = self.run(self._step_layers, env, params)
        if self.loss is not None and self.loss.kind == "cce":
            logits = env[self.loss.logits or ""]
            exp = np.exp(logits - logits.max(axis=1, keepdims=True))
            env[self.loss.input] = exp / exp.sum(axis=1, keepdims=True)
        return caches

    def backward_live(
        self, start: Array, caches: Mapping[str, Any], params: Mapping[str, Params] | None = None
    ) -> dict[str, Params]:
        """Gradients of the updatable layers' parameters, from dL/d(start blob).

        The start blob is the softmax input for CCE (the fused softmax + CCE gradient) and the loss input for
        MSE. Gradients flow only into blobs that live layers produced.
        """
        if self.loss is None:
            raise UnsupportedError(
                "the model has no loss layer", where="updateParams.lossLayers", fix="add a CCE or MSE loss layer"
            )
        params = self.params if params is None else params
        start_blob = self.loss.logits if self.loss.kind == "cce" else self.loss.input
        grads: dict[str, Array] = {start_blob or "": start}
        produced = self._produced_live
        out: dict[str, Params] = {}
        for layer in reversed(self.live):
            if layer.name == self.loss.softmax or layer.output not in grads:
                continue
            dy = grads.pop(layer.output)
            if not any(blob in produced for blob in layer.inputs):
                # nothing upstream trains: skip the input gradient (the costly half of the first live layer)
                dparams = layer.param_backward(dy, caches[layer.name], params[layer.name])
            else:
                dxs, dparams = layer.backward(dy, caches[layer.name], params[layer.name])
                for blob, dx in zip(layer.inputs, dxs, strict=True):
                    if blob in produced:
                        grads[blob] = grads[blob] + dx if blob in grads else dx
            if layer.name in self.updatable:
                out[layer.name] = dparams
        return out


def _sliceable(values: Any) -> Any:
    """Raw feature values that slice by example without copying: arrays as they are, anything else as one array."""
    return values if isinstance(values, np.ndarray) else np.asarray(values)


def blob_rows(blobs: Mapping[str, Array], rows: Sequence[int] | np.ndarray[Any, Any]) -> dict[str, Array]:
    return {name: array[rows] for name, array in blobs.items()}
