"""Update parameters (`MLParameterKey`) of an updatable model, and overrides checked the way Core ML checks them.

`update_parameters(spec)` lists what the updatable sub-model declares: optimizer fields, epochs, shuffle,
seed, or k-NN's numberOfNeighbors, each with its default and allowed range or set. `resolve_parameters`
merges `MLModelConfiguration.parameters`-style overrides into those defaults and refuses every value Core ML
would refuse when it loads the model: a key the model does not declare, a value of the wrong type, a value
outside the declared range or set, and a non-positive batch size, epoch count or neighbour count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mlupdate.errors import ParameterError
from mlupdate.models.spec import KNN_KIND, Spec, is_neural_network, model_kind, neural_network, updatable_leaf

ParameterKind = Literal["double", "int64", "bool"]
ParameterValue = float | int | bool

# Every MLParameterKey Core ML accepts in MLModelConfiguration.parameters for update tasks.
KNOWN_KEYS = (
    "learningRate",
    "momentum",
    "miniBatchSize",
    "beta1",
    "beta2",
    "eps",
    "epochs",
    "shuffle",
    "seed",
    "numberOfNeighbors",
)
# Core ML validates these Int64 parameters with shouldBePositive=true (ParameterValidator.cpp).
POSITIVE_KEYS = frozenset({"miniBatchSize", "epochs", "numberOfNeighbors"})

_SGD_FIELDS = (("learningRate", "double"), ("miniBatchSize", "int64"), ("momentum", "double"))
_ADAM_FIELDS = (
    ("learningRate", "double"),
    ("miniBatchSize", "int64"),
    ("beta1", "double"),
    ("beta2", "double"),
    ("eps", "double"),
)


@dataclass(frozen=True)
class UpdateParameter:
    """One update parameter as the model declares it."""

    key: str
    kind: ParameterKind
    default: float | int | bool | None
    range: tuple[float, float] | None  # DoubleRange / Int64Range; None = unbounded (or a set)
    allowed: tuple[int, ...] | None  # Int64Set

    def allows(self, value: ParameterValue) -> bool:
        """Whether `value` (already of the right type) is inside the declared range or set."""
        if self.allowed is not None and value not in self.allowed:
            return False
        if self.range is not None and not self.range[0] <= value <= self.range[1]:
            return False
        return not (self.key in POSITIVE_KEYS and value <= 0)

    def describe_allowed(self) -> str:
        if self.allowed is not None:
            return "one of {" + ", ".join(str(v) for v in self.allowed) + "}"
        if self.range is not None:
            return f"in [{_fmt(self.range[0])}, {_fmt(self.range[1])}]"
        if self.kind == "bool":
            return "true or false"
        return "a positive integer" if self.key in POSITIVE_KEYS else f"any {self.kind} value"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "type": self.kind,
            "default": self.default,
            "range": list(self.range) if self.range is not None else None,
            "set": list(self.allowed) if self.allowed is not None else None,
        }


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def double_parameter(key: str, message: Any) -> UpdateParameter:
    """A `DoubleParameter` protobuf as an UpdateParameter."""
    bounds = (float(message.range.minValue), float(message.range.maxValue)) if message.HasField("range") else None
    return UpdateParameter(key, "double", float(message.defaultValue), bounds, None)


def int64_parameter(key: str, message: Any) -> UpdateParameter:
    """An `Int64Parameter` protobuf as an UpdateParameter."""
    which = message.WhichOneof("AllowedValues")
    bounds = (int(message.range.minValue), int(message.range.maxValue)) if which == "range" else None
    allowed = tuple(int(v) for v in message.set.values) if which == "set" else None
    return UpdateParameter(key, "int64", int(message.defaultValue), bounds, allowed)


def _network_parameters(params: Any) -> dict[str, UpdateParameter]:
    found: dict[str, UpdateParameter] = {}
    which = params.optimizer.WhichOneof("OptimizerType")
    if which is not None:
        optimizer = getattr(params.optimizer, which)
        for key, kind in _SGD_FIELDS if which == "sgdOptimizer" else _ADAM_FIELDS:
            if optimizer.HasField(key):
                message = getattr(optimizer, key)
                found[key] = double_parameter(key, message) if kind == "double" else int64_parameter(key, message)
    if params.HasField("epochs"):
        found["epochs"] = int64_parameter("epochs", params.epochs)
    if params.HasField("shuffle"):
        found["shuffle"] = UpdateParameter("shuffle", "bool", bool(params.shuffle.defaultValue), None, None)
    if params.HasField("seed"):
        found["seed"] = int64_parameter("seed", params.seed)
    return found


def update_parameters(spec: Spec) -> dict[str, UpdateParameter]:
    """The update parameters the updatable sub-model declares, keyed by MLParameterKey raw name."""
    leaf = updatable_leaf(spec).spec
    if is_neural_network(leaf):
        network = neural_network(leaf)
        return _network_parameters(network.updateParams) if network.HasField("updateParams") else {}
    if model_kind(leaf) == KNN_KIND:
        knn = leaf.kNearestNeighborsClassifier
        if knn.HasField("numberOfNeighbors"):
            return {"numberOfNeighbors": int64_parameter("numberOfNeighbors", knn.numberOfNeighbors)}
    return {}


def _checked_value(parameter: UpdateParameter, value: object) -> ParameterValue:
    """`value` converted to the parameter's type, or a ParameterError saying what type is expected."""
    fix_type = f"pass {parameter.key} as {'a number' if parameter.kind == 'double' else parameter.kind}"
    if parameter.kind == "bool":
        if isinstance(value, bool):
            return value
    elif parameter.kind == "int64":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
        raise ParameterError(
            f"{parameter.key}={value!r} is not a finite number", where=f"parameters.{parameter.key}", fix=fix_type
        )
    raise ParameterError(
        f"{parameter.key}={value!r} has the wrong type: the model declares {parameter.key} as {parameter.kind}",
        where=f"parameters.{parameter.key}",
        fix=fix_type,
    )


def resolve_parameters(spec: Spec, overrides: Mapping[str, float | int | bool]) -> dict[str, float | int | bool]:
    """Model defaults with `overrides` applied; every override checked as Core ML checks configuration.parameters.

    Keys the model does not declare and that are not overridden are omitted.
    """
    declared = update_parameters(spec)
    resolved: dict[str, ParameterValue] = {
        key: parameter.default for key, parameter in declared.items() if parameter.default is not None
    }
    for key, raw in overrides.items():
        parameter = declared.get(key)
        if parameter is None:
            known = ", ".join(sorted(declared)) or "none"
            what = "is not an update parameter key" if key not in KNOWN_KEYS else "is not declared by this model"
            raise ParameterError(
                f"{key!r} {what} (this model declares: {known})",
                where=f"parameters.{key}",
                fix=f"remove {key!r} or use one of the declared keys: {known}",
            )
        value = _checked_value(parameter, raw)
        if not parameter.allows(value):
            raise ParameterError(
                f"{key}={value!r} is outside what the model allows: {parameter.describe_allowed()}",
                where=f"parameters.{key}",
                fix=f"choose {key} {parameter.describe_allowed()}, or rebuild the model with a wider range/set",
            )
        resolved[key] = value
    return resolved
