"""Pipelines: every model before the updatable leaf runs once, frozen, as a feature extractor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlupdate.errors import UnsupportedError
from mlupdate.models.spec import ScopedModel, Spec, is_neural_network, is_pipeline, pipeline_message, updatable_leaf
from mlupdate.reference.network import Network


def _prefix_models(spec: Spec) -> list[Spec]:
    models: list[Spec] = []
    while is_pipeline(spec):
        children = list(pipeline_message(spec).models)
        models += children[:-1]
        spec = children[-1]
    return models


def leaf_features(
    spec: Spec, features: Mapping[str, Any], *, dtype: type[np.floating[Any]] = np.float32
) -> tuple[ScopedModel, dict[str, Any]]:
    """The updatable leaf and the features it sees: the pipeline's inputs plus every earlier model's outputs."""
    env: dict[str, Any] = dict(features)
    for model in _prefix_models(spec):
        if is_pipeline(model) or not is_neural_network(model):
            raise UnsupportedError(
                f"pipeline stage of type {model.WhichOneof('Type')!r} cannot run in the reference trainer",
                where="pipeline",
                fix="use neural-network feature extractors before the updatable model",
            )
        network = Network(model, dtype=dtype)
        blobs = network.forward(network.prepare_inputs(env))
        for output in model.description.output:
            if output.name in blobs:
                env[output.name] = blobs[output.name]
    return updatable_leaf(spec), env
