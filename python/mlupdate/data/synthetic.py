"""`synthetic(spec, count)`: valid examples made from the model's own description, for a first smoke run.

Images are seeded noise of the declared size and colour space; multiArrays are seeded normal values of the
declared shape, except inputs that index a table (embedding, embeddingND, gather), which get whole numbers
below the table's size. Labels cycle through the classes (class labels, or class indices of a plain network's
CCE target); regression targets are seeded normal values. The examples go through the same fitting as real
data, so a synthetic job is exactly as valid as a job from pictures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from mlupdate.data.examples import set_feature
from mlupdate.data.sources import Label, RawExample, Source
from mlupdate.data.targets import target_mapping
from mlupdate.errors import DataError
from mlupdate.models.features import Feature, inputs, training_inputs
from mlupdate.models.spec import Spec, is_neural_network, neural_network, walk_models

ORIGIN = "<synthetic>"
_INDEXING = {"embedding": "inputDim", "embeddingND": "vocabSize"}


def synthetic(spec: Spec, count: int, *, seed: int = 0, labelled: bool = True) -> Source:
    """`count` examples for the model's (single) input, labelled for its training target when `labelled`."""
    if count < 1:
        raise DataError(f"asked for {count} synthetic examples", where=ORIGIN, fix="ask for at least one")
    model_inputs = [f for f in inputs(spec) if not f.optional]
    if len(model_inputs) != 1:
        raise DataError(
            f"the model has {len(model_inputs)} inputs ({[f.name for f in model_inputs]}); synthetic data feeds one",
            where=ORIGIN,
            fix="build the examples with mlupdate.data.from_arrays (one array per input)",
        )
    feature = model_inputs[0]
    make = _maker(spec, feature)
    labels = _labels(spec, count, seed) if labelled else [None] * count

    def produce() -> Iterator[RawExample]:
        rng = np.random.default_rng(seed)
        for index in range(count):
            yield RawExample(f"{ORIGIN}[{index}]", make(rng), labels[index])

    return Source(ORIGIN, count, produce)


def _maker(spec: Spec, feature: Feature) -> Any:
    if feature.kind == "image":
        channels = () if feature.color_space == "GRAYSCALE" else (3,)
        shape = (feature.height or 1, feature.width or 1, *channels)
        return lambda rng: rng.integers(0, 256, size=shape, dtype=np.uint8)
    if feature.kind != "multiArray":
        raise DataError(
            f"input {feature.name!r} is a {feature.kind}; synthetic data makes images and multiArrays",
            where=ORIGIN,
            fix="build the examples with mlupdate.data.from_arrays",
        )
    shape = feature.shape or (1,)
    vocabulary = _vocabulary(spec, feature.name)
    if vocabulary is not None:
        return lambda rng: rng.integers(0, vocabulary, size=shape).astype(np.float64)
    return lambda rng: rng.normal(size=shape)


def _vocabulary(spec: Spec, name: str) -> int | None:
    """The smallest table an input indexes directly (embedding inputs must be valid indices), or None."""
    sizes = []
    for scoped in walk_models(spec):
        if not is_neural_network(scoped.spec):
            continue
        for layer in neural_network(scoped.spec).layers:
            kind = layer.WhichOneof("layer")
            if kind in _INDEXING and name in layer.input:
                sizes.append(int(getattr(getattr(layer, kind), _INDEXING[kind])))
    return min(sizes) if sizes else None


def _labels(spec: Spec, count: int, seed: int) -> list[Label]:
    targets = [f for f in training_inputs(spec) if f.name not in {i.name for i in inputs(spec)}]
    if len(targets) != 1:
        raise DataError(
            f"the model declares {len(targets)} training targets; synthetic data labels one",
            where=ORIGIN,
            fix="make the model updatable first (mlharness make-updatable), or build the set with from_arrays",
        )
    mapping = target_mapping(spec, set_feature(targets[0], where=ORIGIN), None, where=ORIGIN)
    if mapping.class_labels:
        return [mapping.class_labels[i % len(mapping.class_labels)] for i in range(count)]
    if mapping.feature.kind in ("string", "int64"):  # an empty k-NN learns whatever labels it is given
        names: list[Label] = ["a", "b"] if mapping.feature.kind == "string" else [0, 1]
        return [names[i % 2] for i in range(count)]
    if mapping.feature.dtype == "int32":
        classes = mapping.class_count or 2
        return [i % classes for i in range(count)]
    rng = np.random.default_rng(seed + 1)
    return list(rng.normal(size=(count, *mapping.feature.shape)))
