"""Probe predictions of a model, with the weights an update task produced, and the updated model itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mlupdate._coreml import Model_pb2
from mlupdate.contract import ProbeOutput, ProbeType
from mlupdate.models.arrays import set_layer_weights
from mlupdate.models.spec import KNN_KIND, Spec, model_kind, neural_network, updatable_leaf, walk_models
from mlupdate.reference import knn
from mlupdate.reference.layers import Params
from mlupdate.reference.network import Network
from mlupdate.reference.pipeline import leaf_features
from mlupdate.reference.semantics import Semantics


def updated_spec(spec: Spec, weights: Mapping[str, Params]) -> Spec:
    """A copy of `spec` (pipelines keep their structure) whose updatable layers hold `weights`."""
    updated = Model_pb2.Model()
    updated.CopyFrom(spec)
    layers = {layer.name: layer for layer in neural_network(updatable_leaf(updated).spec).layers}
    for name, arrays in weights.items():
        for kind, array in arrays.items():
            set_layer_weights(layers[name], kind, np.asarray(array, dtype=np.float32))
    return updated


def predict(
    spec: Spec,
    features: Mapping[str, Any],
    *,
    weights: Mapping[str, Params] | None = None,
    semantics: Semantics | None = None,
) -> list[ProbeOutput]:
    """Every output of `spec` for the probe `features` (float32), optionally with trained `weights`."""
    leaf = list(walk_models(spec))[-1].spec
    if model_kind(leaf) == KNN_KIND:
        return _knn_outputs(spec, features, semantics)
    scoped, env = leaf_features(spec, features)
    network = Network(scoped.spec)
    for name, arrays in (weights or {}).items():
        network.params[name] = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    blobs = network.forward(network.prepare_inputs(env))
    count = len(next(iter(blobs.values())))
    labels = network.class_labels()
    description = spec.description
    outputs: list[ProbeOutput] = []
    for feature in description.output:
        if labels is not None and feature.name == description.predictedFeatureName:
            continue  # derived from the probabilities below
        if feature.name not in blobs:
            continue
        values = blobs[feature.name]
        if labels is not None and feature.name == description.predictedProbabilitiesName:
            probabilities = values.reshape(count, -1)
            outputs.append(ProbeOutput(feature.name, ProbeType.DICTIONARY, probabilities, tuple(labels)))
            predicted = [labels[i] for i in probabilities.argmax(axis=1)]
            kind = ProbeType.STRING if labels and isinstance(labels[0], str) else ProbeType.INT64
            outputs.append(ProbeOutput(description.predictedFeatureName, kind, predicted))
            continue
        shape = tuple(int(d) for d in feature.type.multiArrayType.shape) or values.shape[1:]
        outputs.append(ProbeOutput(feature.name, ProbeType.MULTI_ARRAY, values.reshape(count, *shape)))
    return outputs


def _knn_outputs(spec: Spec, features: Mapping[str, Any], semantics: Semantics | None) -> list[ProbeOutput]:
    result = knn.predict(spec, features, semantics=semantics)
    description = spec.description
    kind = ProbeType.STRING if result.classes and isinstance(result.classes[0], str) else ProbeType.INT64
    classes: Any = result.classes
    outputs = [ProbeOutput(description.predictedFeatureName, kind, result.labels)]
    if description.predictedProbabilitiesName:
        outputs.append(
            ProbeOutput(description.predictedProbabilitiesName, ProbeType.DICTIONARY, result.probabilities, classes)
        )
    return outputs
