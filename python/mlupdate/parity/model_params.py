"""Trainable parameters of a written model (`.mlmodelc` or `.mlmodel`) keyed like the results bundle's dump."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlupdate.compiled.layers import FloatArray, StoragePrecision
from mlupdate.models.files import open_model
from mlupdate.models.spec import Spec, is_neural_network, neural_network, walk_models

ParameterKey = tuple[str, str]  # (scoped layer, "weights" | "biases")


def model_parameters(path: Path) -> tuple[dict[ParameterKey, FloatArray], dict[ParameterKey, StoragePrecision]]:
    """(parameters, storage precision per parameter) of a `.mlmodel`, `.mlpackage` or `.mlmodelc`."""
    model = open_model(path)
    if model.compiled is not None:
        compiled = model.compiled
        precision = {
            (layer.scoped_name, kind): layer.storage(kind) for layer in compiled.layers for kind in layer.weights
        }
        return compiled.parameters(), precision
    return _spec_parameters(model.require_spec("reading the trained parameters"))


def _spec_parameters(spec: Spec) -> tuple[dict[ParameterKey, FloatArray], dict[ParameterKey, StoragePrecision]]:
    out: dict[ParameterKey, FloatArray] = {}
    precision: dict[ParameterKey, StoragePrecision] = {}
    for scoped in walk_models(spec):
        if not is_neural_network(scoped.spec):
            continue
        for layer in neural_network(scoped.spec).layers:
            kind = layer.WhichOneof("layer")
            if kind not in ("innerProduct", "convolution"):
                continue
            body = getattr(layer, kind)
            name = scoped.scope_prefix + layer.name
            out[(name, "weights")], precision[(name, "weights")] = _values(body.weights, _weight_shape(kind, body))
            if body.hasBias:
                out[(name, "biases")], precision[(name, "biases")] = _values(body.bias, (-1,))
    return out, precision


def _weight_shape(kind: str, body: Any) -> tuple[int, ...]:
    if kind == "innerProduct":
        return int(body.outputChannels), int(body.inputChannels)
    return int(body.outputChannels), int(body.kernelChannels), *(int(k) for k in body.kernelSize)


def _values(weights: Any, shape: tuple[int, ...]) -> tuple[FloatArray, StoragePrecision]:
    if len(weights.floatValue):
        return np.asarray(weights.floatValue, dtype=np.float32).reshape(shape), "float32"
    half = np.frombuffer(weights.float16Value, dtype="<f2")
    return half.astype(np.float32).reshape(shape), "float16"
