"""Can the reference run this model? Asked before any training: `check_reference(spec)`.

Every layer of every network in the model must have a reference implementation (`forward`), the graph must
build (the loss fed by a softmax, the layers after the updatable ones back-propagable), and two synthetic
examples made from the model's own input description must run through it. The dry run also gives each blob's
per-example shape, which `mlharness inspect` shows beside every layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlupdate.errors import MlupdateError
from mlupdate.models.spec import KNN_KIND, Spec, is_neural_network, model_kind, walk_models
from mlupdate.reference.forward import unsupported_layers


@dataclass(frozen=True)
class ReferenceCheck:
    """`ready`, or the problems (each names its layer and why); blob shapes of the dry run (scoped names)."""

    problems: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        if self.ready:
            return "reference: ready (every layer runs in the reference trainer)"
        return "reference: cannot run this model:\n" + "\n".join(f"  - {problem}" for problem in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {"ready": self.ready, "problems": list(self.problems)}


def check_reference(spec: Spec) -> ReferenceCheck:
    """Whether the reference can run (and train) `spec`, with the reasons when it cannot."""
    kinds = [model_kind(m.spec) for m in walk_models(spec) if not _container(m.spec)]
    foreign = [kind for kind in kinds if kind != KNN_KIND and not is_neural_network_kind(kind)]
    if foreign:
        return ReferenceCheck(
            (f"the reference runs neural networks and k-NN classifiers; this model holds {', '.join(foreign)}",)
        )
    blockers = unsupported_layers(spec)
    if blockers:
        return ReferenceCheck(tuple(str(blocker) for blocker in blockers))
    try:
        shapes = _dry_run(spec)
    except MlupdateError as exc:
        return ReferenceCheck((exc.message,))
    return ReferenceCheck((), shapes)


def is_neural_network_kind(kind: str) -> bool:
    return kind in ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor")


def _container(spec: Spec) -> bool:
    return model_kind(spec) in ("pipeline", "pipelineClassifier", "pipelineRegressor")


def _dry_run(spec: Spec) -> dict[str, tuple[int, ...]]:
    """Two synthetic examples through every network of the model: each blob's per-example shape."""
    from mlupdate.data.fit import fit_probe_set
    from mlupdate.data.synthetic import synthetic
    from mlupdate.reference.network import Network
    from mlupdate.reference.pipeline import leaf_features

    examples = list(fit_probe_set(synthetic(spec, 2, labelled=False), spec))
    features = {name: np.stack([np.asarray(e[name]) for e in examples]) for name in examples[0]}
    features = {name: _as_images(spec, name, values) for name, values in features.items()}
    leaf, env = leaf_features(spec, features)
    if not is_neural_network(leaf.spec):
        return {}
    network = Network(leaf.spec)
    blobs = network.forward(network.prepare_inputs(env))
    prefix = "".join(f"{name}." for name in leaf.scope)
    return {f"{prefix}{name}": tuple(int(d) for d in np.shape(value)[1:]) for name, value in blobs.items()}


def _as_images(spec: Spec, name: str, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Fitted images are `[N, H, W(, 3)]` uint8; networks take `[N, C, H, W]`."""
    for feature in spec.description.input:
        if feature.name == name and feature.type.WhichOneof("Type") == "imageType":
            return values[:, None] if values.ndim == 3 else values.transpose(0, 3, 1, 2)
    return values
