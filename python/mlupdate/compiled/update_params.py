"""The update parameters a compiled updatable model keeps in
`updateParameters/NetworkUpdateParameters/coremldata.bin` (a plain `NetworkUpdateParameters` protobuf)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError

from mlupdate import limits
from mlupdate._coreml import NeuralNetwork_pb2
from mlupdate.errors import CompiledModelError

UPDATE_PARAMETERS_FILE = Path("updateParameters") / "NetworkUpdateParameters" / "coremldata.bin"


@dataclass(frozen=True)
class LossLayer:
    name: str
    kind: str  # "categoricalCrossEntropy" or "meanSquaredError"
    input: str
    target: str


@dataclass(frozen=True)
class UpdateParameters:
    """Losses, optimizer and the default values keyed by `MLParameterKey` raw names (as in job.json)."""

    losses: tuple[LossLayer, ...]
    optimizer: str  # "sgd", "adam" or "none"
    defaults: dict[str, float | int | bool]
    allowed: dict[str, dict[str, list[float | int]]] = field(
        default_factory=dict
    )  # {"range": [lo, hi]} | {"set": [..]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "losses": [vars(loss) for loss in self.losses],
            "optimizer": self.optimizer,
            "defaults": dict(self.defaults),
            "allowed": {name: dict(values) for name, values in self.allowed.items()},
        }


def read_update_parameters(model_dir: Path) -> UpdateParameters | None:
    """None when the model keeps no update parameters (it is not updatable)."""
    path = model_dir / UPDATE_PARAMETERS_FILE
    if not path.exists():
        return None
    data = limits.read_bounded(
        path,
        limits.COMPILED_JSON_BYTES,
        error=CompiledModelError,
        what="the update parameters",
        fix="copy the .mlmodelc again; the update parameters file is incomplete",
    )
    message = NeuralNetwork_pb2.NetworkUpdateParameters()
    try:
        message.ParseFromString(data)
    except DecodeError:
        raise CompiledModelError(
            "cannot decode the NetworkUpdateParameters protobuf (truncated or another kind of file)",
            where=str(path),
            fix="copy the .mlmodelc again; the update parameters file is incomplete",
        ) from None
    if not message.lossLayers and not message.HasField("optimizer"):
        raise CompiledModelError(
            "the update parameters name neither a loss nor an optimizer",
            where=str(path),
            fix="copy the .mlmodelc again; an updatable model always has both",
        )
    return _from_message(message)


def _from_message(message: Any) -> UpdateParameters:
    losses = tuple(_loss(layer) for layer in message.lossLayers)
    defaults: dict[str, float | int | bool] = {}
    allowed: dict[str, dict[str, list[float | int]]] = {}
    which = message.optimizer.WhichOneof("OptimizerType")
    optimizer = {"sgdOptimizer": "sgd", "adamOptimizer": "adam"}.get(str(which), "none")
    if which is not None:
        params = getattr(message.optimizer, which)
        names = ["learningRate", "miniBatchSize", "momentum", "beta1", "beta2", "eps"]
        for name in names:
            if name in params.DESCRIPTOR.fields_by_name and params.HasField(name):
                defaults[name] = _number(getattr(params, name), integer=name == "miniBatchSize")
                allowed |= _allowed(name, getattr(params, name))
    if message.HasField("epochs"):
        defaults["epochs"] = int(message.epochs.defaultValue)
        allowed |= _allowed("epochs", message.epochs)
    if message.HasField("shuffle"):
        defaults["shuffle"] = bool(message.shuffle.defaultValue)
    if message.HasField("seed"):
        defaults["seed"] = int(message.seed.defaultValue)
        allowed |= _allowed("seed", message.seed)
    return UpdateParameters(losses=losses, optimizer=optimizer, defaults=defaults, allowed=allowed)


def _allowed(name: str, parameter: Any) -> dict[str, dict[str, list[float | int]]]:
    """A Double- or Int64Parameter's allowed range or set, as the app may override it."""
    which = parameter.WhichOneof("AllowedValues") if "AllowedValues" in parameter.DESCRIPTOR.oneofs_by_name else None
    if which is None and parameter.HasField("range"):
        which = "range"
    if which == "range":
        return {name: {"range": [parameter.range.minValue, parameter.range.maxValue]}}
    if which == "set":
        return {name: {"set": [int(v) for v in parameter.set.values]}}
    return {}


def _number(parameter: Any, *, integer: bool) -> float | int:
    value = parameter.defaultValue
    return int(value) if integer else float(value)


def _loss(layer: Any) -> LossLayer:
    which = layer.WhichOneof("LossLayerType")
    if which == "categoricalCrossEntropyLossLayer":
        body = layer.categoricalCrossEntropyLossLayer
        return LossLayer(layer.name, "categoricalCrossEntropy", body.input, body.target)
    if which == "meanSquaredErrorLossLayer":
        body = layer.meanSquaredErrorLossLayer
        return LossLayer(layer.name, "meanSquaredError", body.input, body.target)
    return LossLayer(layer.name, "unknown", "", "")
