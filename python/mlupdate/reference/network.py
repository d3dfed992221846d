"""A neural-network spec as a graph of reference layers: inputs, preprocessing, forward, backward, frozen prefix.

The frozen prefix is every layer whose inputs do not depend on an updatable layer. Its activations cannot
change during an update task, so the trainer computes them once per job (`frozen_activations`) and every
mini-batch runs only the live part of the graph (`forward_live` / `backward_live`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlupdate.errors import DataError, UnsupportedError
from mlupdate.models.spec import Spec, class_labels, neural_network
from mlupdate.reference.layers import Array, Layer, Params
from mlupdate.reference.spec_layers import layer_from_spec

_CHUNK = 64  # examples per frozen-prefix chunk: bounds input conversion and im2col temporaries (~7 MB for 32x14x14 3x3)
_RGB_BIASES = ("redBias", "greenBias", "blueBias")


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
    """A multiArray feature `[N, *shape]` in the `[N, C, H, W]` layout (Core ML's rank-5 mapping)."""
    array = np.asarray(values, dtype=dtype)
    shape = array.shape[1:]
    while len(shape) > 3 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) == 1:
        return array.reshape(array.shape[0], shape[0], 1, 1)
    if len(shape) == 3:
        return array.reshape(array.shape[0], *shape)
    if len(shape) == 0:
        return array.reshape(array.shape[0], 1, 1, 1)
    raise UnsupportedError(
        f"feature {name!r} has per-example shape {list(array.shape[1:])}; neural networks take [C] or [C, H, W]",
        where=f"feature {name}",
        fix="reshape the feature to [C] or [C, H, W] as the model declares it",
    )


class Network:
    """One neural-network (sub-)model: its layers in spec order, parameters per layer, loss and preprocessing."""

    def __init__(self, spec: Spec, *, dtype: type[np.floating[Any]] = np.float32) -> None:
        self.spec = spec
        self.dtype = np.dtype(dtype)
        message = neural_network(spec)
        self.layers: list[Layer] = []
        self.params: dict[str, Params] = {}
        for layer_message in message.layers:
            layer, params = layer_from_spec(layer_message)
            self.layers.append(layer)
            self.params[layer.name] = {k: v.astype(self.dtype) for k, v in params.items()}
        self.updatable = tuple(layer.name for layer in message.layers if layer.isUpdatable)
        self.preprocessing = {p.featureName: p for p in message.preprocessing}
        self.loss = self._loss_spec(message)
        live = self._live_layers()
        self.live = tuple(layer for layer in self.layers if layer.name in live)
        self.frozen = tuple(layer for layer in self.layers if layer.name not in live)
        # Fixed per network, used every mini-batch: the live layers a step runs forward (the CCE softmax is
        # fused into the loss) and the blobs they produce (only those receive gradients).
        self._step_layers = tuple(layer for layer in self.live if self.loss is None or layer.name != self.loss.softmax)
        self._produced_live = frozenset(layer.output for layer in self.live)

    # --- structure ------------------------------------------------------------------------------------

    def _loss_spec(self, message: Any) -> LossSpec | None:
        if not message.HasField("updateParams") or not message.updateParams.lossLayers:
            return None
        loss = message.updateParams.lossLayers[0]
        which = loss.WhichOneof("LossLayerType")
        if which == "categoricalCrossEntropyLossLayer":
            cce = loss.categoricalCrossEntropyLossLayer
            producer = next((layer for layer in self.layers if layer.output == cce.input), None)
            if producer is None or producer.kind != "softmax":
                raise UnsupportedError(
                    f"the CCE loss input {cce.input!r} is not the output of a softmax layer",
                    where=f"loss layer {loss.name}",
                    fix="feed the categorical cross-entropy loss directly from a softmax layer",
                )
            return LossSpec(loss.name, "cce", cce.input, cce.target, producer.inputs[0], producer.name)
        if which == "meanSquaredErrorLossLayer":
            mse = loss.meanSquaredErrorLossLayer
            return LossSpec(loss.name, "mse", mse.input, mse.target, None, None)
        raise UnsupportedError(
            f"loss layer type {which!r}", where=f"loss layer {loss.name}", fix="use a CCE or MSE loss layer"
        )

    def _live_layers(self) -> set[str]:
        """Layers that depend on an updatable layer and lead to the loss: the part every mini-batch runs."""
        tainted: set[str] = set()
        dependent: list[Layer] = []
        for layer in self.layers:
            if layer.name in self.updatable or any(blob in tainted for blob in layer.inputs):
                tainted.add(layer.output)
                dependent.append(layer)
        if self.loss is None:
            return {layer.name for layer in dependent}
        needed = {self.loss.input}
        live: set[str] = set()
        for layer in reversed(dependent):
            if layer.output in needed:
                live.add(layer.name)
                needed.update(layer.inputs)
        return live

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
        """Model inputs as network arrays: images get the spec's scale/bias preprocessing, arrays the layout."""
        prepared: dict[str, Array] = {}
        for feature in self.spec.description.input:
            values = self._input(features, feature.name)
            if feature.type.WhichOneof("Type") == "imageType":
                prepared[feature.name] = self._preprocess_image(feature, np.asarray(values))
            else:
                prepared[feature.name] = as_network_array(values, name=feature.name, dtype=self.dtype)
        return prepared

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
    def _inputs_of(layer: Layer, env: Mapping[str, Array]) -> list[Array]:
        try:
            return [env[blob] for blob in layer.inputs]
        except KeyError as missing:
            raise UnsupportedError(
                f"layer {layer.name!r} reads blob {missing.args[0]!r}, which no input or earlier layer provides",
                where=f"layer {layer.name}",
                fix="check the layer order and the model's input names",
            ) from None

    def forward(self, inputs: Mapping[str, Array]) -> dict[str, Array]:
        """Every blob of the network for already prepared inputs (inference)."""
        env = dict(inputs)
        self.run(self.layers, env)
        return env

    def frontier(self) -> tuple[str, ...]:
        """Blobs the live layers read from the frozen part or from the inputs."""
        produced_live = {layer.output for layer in self.live}
        blobs: list[str] = []
        for layer in self.live:
            blobs += [b for b in layer.inputs if b not in produced_live and b not in blobs]
        return tuple(blobs)

    def frozen_activations(self, features: Mapping[str, Any]) -> dict[str, Array]:
        """The frontier blobs for all examples, computed once from the raw features (as `prepare_inputs` takes
        them), one chunk of examples at a time.

        Each chunk is converted to the network's dtype and preprocessed on its own, and the frozen layers keep
        no backward caches and drop every blob once its last reader has run, so beyond the frontier arrays
        (allocated once, filled chunk by chunk) the peak is one chunk's temporaries."""
        count = self.example_count(features)
        raw = {f.name: _sliceable(self._input(features, f.name)) for f in self.spec.description.input}
        wanted = self.frontier()
        last_reader = {blob: i for i, layer in enumerate(self.frozen) for blob in layer.inputs}
        out: dict[str, Array] = {}
        for start in range(0, count, _CHUNK):
            env = self.prepare_inputs({name: values[start : start + _CHUNK] for name, values in raw.items()})
            for name, array in env.items():
                if not np.all(np.isfinite(array)):
                    raise DataError(
                        f"feature {name!r} contains NaN or Inf", where=f"feature {name}", fix="clean the data"
                    )
            for i, layer in enumerate(self.frozen):
                env[layer.output] = layer.infer(self._inputs_of(layer, env), self.params[layer.name])
                for blob in layer.inputs:
                    if last_reader[blob] == i and blob not in wanted:
                        env.pop(blob, None)
            for blob in wanted:
                part = env[blob]
                if blob not in out:
                    out[blob] = np.empty((count, *part.shape[1:]), dtype=part.dtype)
                out[blob][start : start + len(part)] = part
        return out

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
