"""Fitting raw examples to a model: the step that makes the device see exactly what the reference sees.

`fit_training_set(source, spec)` gives an ExampleSet with every training input of the model (the model's
input plus its target); `fit_probe_set(source, spec)` gives the model inputs only. Both stream: each
example is read, fitted and handed on one at a time. Errors name the example's file (and index).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlupdate import limits
from mlupdate.data.arrays import fit_array
from mlupdate.data.examples import Example, ExampleSet, SetFeature, set_feature
from mlupdate.data.images import FIT_MODES, FitMode, fit_image, image_from_array, open_image
from mlupdate.data.sources import RawExample, Source
from mlupdate.data.targets import TargetMapping, resolved_target_feature, target_mapping
from mlupdate.errors import DataError
from mlupdate.models.features import inputs, training_inputs
from mlupdate.models.spec import Spec

Fitter = Callable[[RawExample], Any]


def fit_training_set(
    source: Source, spec: Spec, *, mode: FitMode = "scaleFill", classes: Sequence[str] | None = None
) -> ExampleSet:
    """The source fitted to the model's training inputs: its input and its target.

    `classes` names the class indices of a plain network's INT32 `<softmax>_true` target (index order), so
    string labels can be used; without it labels must be the indices themselves.
    """
    features = training_set_features(spec, where=source.origin)
    model_inputs = {f.name for f in inputs(spec)}
    input_feature = _single([f for f in features if f.name in model_inputs], "input", source.origin)
    target_feature = _single([f for f in features if f.name not in model_inputs], "target", source.origin)
    fit_input = _input_fitter(input_feature, mode)
    mapping: TargetMapping = target_mapping(spec, target_feature, classes, where=source.origin)

    def fit(raw: RawExample) -> Example:
        return {input_feature.name: fit_input(raw), target_feature.name: mapping.map(raw.label, where=raw.origin)}

    return _example_set(source, tuple(features), fit)


def training_set_features(spec: Spec, *, where: str) -> list[SetFeature]:
    """The features a training set of `spec` carries: its training inputs, a target's undeclared shape resolved
    (see mlupdate.data.targets)."""
    declared = training_inputs(spec)
    if not declared:
        raise DataError(
            "the model declares no training inputs (is it updatable?)",
            where=where,
            fix="make the model updatable first (mlharness make-updatable)",
        )
    model_inputs = {f.name for f in inputs(spec)}
    features = [set_feature(f, where=where) for f in declared]
    return [
        f if f.name in model_inputs or f.kind != "multiArray" else resolved_target_feature(spec, f, where=where)
        for f in features
    ]


def fit_probe_set(source: Source, spec: Spec, *, mode: FitMode = "scaleFill") -> ExampleSet:
    """The source fitted to the model's inputs only (labels, if any, are ignored)."""
    features = [set_feature(f, where=source.origin) for f in inputs(spec) if not f.optional]
    input_feature = _single(features, "input", source.origin)
    fit_input = _input_fitter(input_feature, mode)
    return _example_set(source, (input_feature,), lambda raw: {input_feature.name: fit_input(raw)})


def _single(features: list[SetFeature], role: str, origin: str) -> SetFeature:
    if len(features) != 1:
        raise DataError(
            f"the model has {len(features)} {role} features ({[f.name for f in features]}); sources feed one",
            where=origin,
            fix="build the example set with mlupdate.data.from_arrays (one array per feature)",
        )
    return features[0]


def _example_set(source: Source, features: tuple[SetFeature, ...], fit: Fitter) -> ExampleSet:
    if source.count == 0:
        raise DataError("the example set is empty", where=source.origin, fix="add at least one example")

    def produce() -> Iterator[Example]:
        for raw in source:
            yield fit(raw)

    return ExampleSet(features, source.count, produce, source.origin)


def _input_fitter(feature: SetFeature, mode: FitMode) -> Fitter:
    if mode not in FIT_MODES:
        raise DataError(f"unknown crop/scale mode {mode!r}", where=feature.name, fix=f"use one of {list(FIT_MODES)}")
    if feature.kind == "image":
        _check_image_size(feature)
        return lambda raw: _fit_image(raw, feature, mode)
    if feature.kind == "multiArray":
        return _array_fitter(feature)
    raise DataError(
        f"input {feature.name!r} is a {feature.kind}; sources feed images and multiArrays",
        where=feature.name,
        fix="build the example set with mlupdate.data.from_arrays",
    )


def _check_image_size(feature: SetFeature) -> None:
    """The model's declared image size, refused before any picture is scaled to it (a model declaring
    100000 x 100000 made every fitted picture a 30 GB array)."""
    width, height = feature.width or 0, feature.height or 0
    if not (
        0 < width <= limits.IMAGE_SIDE and 0 < height <= limits.IMAGE_SIDE and width * height <= limits.IMAGE_PIXELS
    ):
        raise DataError(
            f"the model declares input {feature.name!r} as a {width} x {height} image, larger than the "
            f"{limits.IMAGE_PIXELS} pixels (at most {limits.IMAGE_SIDE} a side) a picture is fitted to",
            where=f"model input {feature.name!r}",
            fix="check the model's image constraint (imageType.width/height): no Core ML model trains on such images",
        )


def _fit_image(raw: RawExample, feature: SetFeature, mode: FitMode) -> np.ndarray:
    image = open_image(raw.value) if isinstance(raw.value, Path) else image_from_array(raw.value, where=raw.origin)
    width, height, space = feature.width or 0, feature.height or 0, feature.color_space or "RGB"
    return fit_image(image, width, height, space, mode, where=raw.origin)


def _array_fitter(feature: SetFeature) -> Fitter:
    """Arrays in one set must share one shape: a change half-way is almost always a data bug."""
    first: list[tuple[int, ...]] = []

    def fit(raw: RawExample) -> np.ndarray:
        if isinstance(raw.value, Path):
            raise DataError(
                f"input {feature.name!r} is a multiArray, but the example is a file",
                where=raw.origin,
                fix="use an array or CSV source for multiArray inputs",
            )
        shape = tuple(np.shape(raw.value))
        if not first:
            first.append(shape)
        elif shape != first[0]:
            raise DataError(
                f"mixed shapes: this example has shape {list(shape)}, the first one {list(first[0])}",
                where=raw.origin,
                fix="give every example the same shape",
            )
        return fit_array(raw.value, feature, where=raw.origin)

    return fit
