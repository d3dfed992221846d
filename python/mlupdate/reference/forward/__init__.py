"""Forward-only reference layers: every NeuralNetwork layer a frozen prefix may hold.

The part of a network before (and beside) its updatable layers only runs forward on the device, and Core ML
allows any layer there. `forward_layer(message)` binds one spec layer to its numpy computation; a layer the
reference cannot run raises UnsupportedError naming it, before any training starts. `unsupported_layers(spec)`
lists those of a model (what `mlharness inspect` / `validate` report as "reference: ...").

Layouts and axes: see `base`. Which layers exist and how each is checked: docs/layers.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlupdate.errors import UnsupportedError
from mlupdate.models.spec import Spec, is_neural_network, neural_network, walk_models
from mlupdate.reference.forward import activations, classic, nd, recurrent  # noqa: F401  (they register)
from mlupdate.reference.forward.base import REGISTRY, Array, ForwardLayer
from mlupdate.reference.forward.shared import SHARED_KINDS, shared_run

# Why the remaining layer types do not run; everything else in NeuralNetwork.proto does.
NOT_SUPPORTED: dict[str, str] = {
    "custom": "it runs the app's own MLCustomLayer code, which only the app has",
    **dict.fromkeys(
        ("branch", "loop", "loopBreak", "loopContinue"),
        "control flow is not implemented (converters emit it only for data-dependent loops)",
    ),
    **dict.fromkeys(
        (
            "randomNormalLike",
            "randomNormalStatic",
            "randomNormalDynamic",
            "randomUniformLike",
            "randomUniformStatic",
            "randomUniformDynamic",
            "randomBernoulliLike",
            "randomBernoulliStatic",
            "randomBernoulliDynamic",
            "categoricalDistribution",
        ),
        "it draws from Core ML's own random generator, which the reference cannot reproduce",
    ),
    **dict.fromkeys(
        ("convolution3d", "pooling3d", "globalPooling3d", "cropResize", "NonMaximumSuppression"),
        "not implemented yet: no converter puts it in the frozen prefix of an updatable classifier we know of",
    ),
}


def forward_layer(layer: Any, dtype: type[np.floating[Any]] = np.float32) -> ForwardLayer:
    """The forward computation of one `NeuralNetworkLayer`; UnsupportedError names the layer and why not.

    Kinds the trainer also runs use its layers (parameters in `dtype`), so a layer computes the same bits
    frozen or live."""
    kind = str(layer.WhichOneof("layer"))
    run = shared_run(layer, np.dtype(dtype)) if kind in SHARED_KINDS else None
    if run is not None:
        return ForwardLayer(layer.name, kind, tuple(layer.input), tuple(layer.output), run)
    builder = REGISTRY.get(kind)
    if builder is None:
        reason = NOT_SUPPORTED.get(kind, "this layer type is unknown to the reference")
        raise UnsupportedError(
            f"the reference cannot run layer {layer.name!r} of type {kind}: {reason}",
            where=f"layer {layer.name}",
            fix="see docs/layers.md for the layers the reference runs; until then, train this model on a device only",
        )
    return ForwardLayer(layer.name, kind, tuple(layer.input), tuple(layer.output), builder(layer))


@dataclass(frozen=True)
class Blocker:
    """A layer the reference cannot run: where it is, its type and why."""

    scope: str
    layer: str
    kind: str
    reason: str

    def __str__(self) -> str:
        name = f"{self.scope}.{self.layer}" if self.scope else self.layer
        return f"{name} ({self.kind}): {self.reason}"

    def to_dict(self) -> dict[str, str]:
        return {"scope": self.scope, "layer": self.layer, "type": self.kind, "reason": self.reason}


def unsupported_layers(spec: Spec) -> list[Blocker]:
    """Every layer of every network in `spec` that the reference cannot build (empty: it can run the model)."""
    found: list[Blocker] = []
    for scoped in walk_models(spec):
        if not is_neural_network(scoped.spec):
            continue
        for layer in neural_network(scoped.spec).layers:
            try:
                forward_layer(layer)
            except UnsupportedError as exc:
                found.append(Blocker(".".join(scoped.scope), layer.name, str(layer.WhichOneof("layer")), exc.what))
    return found


def supported_kinds() -> list[str]:
    return sorted(REGISTRY)


__all__ = [
    "NOT_SUPPORTED",
    "Array",
    "Blocker",
    "ForwardLayer",
    "forward_layer",
    "supported_kinds",
    "unsupported_layers",
]
