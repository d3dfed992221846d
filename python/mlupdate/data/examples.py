"""Example sets: fitted examples, streamed, described the way a job bundle stores them.

An example set is an iterable of examples (one dict per example, feature name -> fitted value) plus the
description of each feature. Iterating re-reads the source, so a set of 10,000 images never sits in memory:
only the example being written does.

Fitted values, by feature kind:

- ``image``: ``np.uint8`` array ``[H, W]`` (GRAYSCALE) or ``[H, W, 3]`` in RGB order (RGB and BGR models:
  Core ML swaps BGR itself when it builds the pixel buffer, so bundles always carry RGB);
- ``multiArray``: ``np.ndarray`` of exactly the declared shape and dtype;
- ``string`` / ``int64``: ``str`` / ``int`` (class labels of a classifier).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mlupdate.errors import DataError
from mlupdate.models.features import Feature

SetKind = Literal["image", "multiArray", "string", "int64"]
SetDType = Literal["float32", "float64", "int32"]
ImageColorSpace = Literal["GRAYSCALE", "RGB", "BGR"]

NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
    "int32": np.dtype("<i4"),
}

Example = dict[str, Any]


@dataclass(frozen=True)
class SetFeature:
    """One feature of an example set, as `job.json` describes it (see docs/contract.md)."""

    name: str
    kind: SetKind
    shape: tuple[int, ...] = ()  # multiArray: per-example shape
    dtype: SetDType | None = None  # multiArray: element type of the file
    width: int | None = None  # image
    height: int | None = None
    color_space: ImageColorSpace | None = None

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The shape of one fitted image value: [H, W] for grayscale, [H, W, 3] otherwise."""
        if self.kind != "image" or self.width is None or self.height is None:
            raise DataError(
                f"feature {self.name!r} is not an image", where=self.name, fix="ask image_shape only of image features"
            )
        if self.color_space == "GRAYSCALE":
            return (self.height, self.width)
        return (self.height, self.width, 3)

    def check_value(self, value: Any, where: str) -> Any:
        """Check that `value` is a fitted value of this feature; return it (arrays as contiguous arrays)."""
        if self.kind == "image":
            return _check_array(value, self.image_shape, np.dtype(np.uint8), self.name, where)
        if self.kind == "multiArray":
            if self.dtype is None:
                raise DataError(
                    f"multiArray feature {self.name!r} has no dtype",
                    where=where,
                    fix="give the model's multiArray feature a data type (DOUBLE, FLOAT32 or INT32)",
                )
            array = _check_array(value, self.shape, NUMPY_DTYPES[self.dtype], self.name, where)
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise DataError(
                    f"feature {self.name!r} holds NaN or Inf", where=where, fix="drop or repair that example"
                )
            return array
        if self.kind == "string" and isinstance(value, str):
            return value
        if self.kind == "int64" and isinstance(value, int | np.integer) and not isinstance(value, bool):
            return int(value)
        raise DataError(
            f"feature {self.name!r} expects a {self.kind} value, got {type(value).__name__}",
            where=where,
            fix="fit the examples with mlupdate.data.fit_training_set / fit_probe_set",
        )


def set_feature(feature: Feature, *, where: str) -> SetFeature:
    """How a model feature is stored in a bundle (the SetFeature a fitted example set must carry)."""
    if feature.kind == "image" and feature.color_space in ("GRAYSCALE", "RGB", "BGR"):
        return SetFeature(
            feature.name, "image", width=feature.width, height=feature.height, color_space=feature.color_space
        )
    if feature.kind == "multiArray" and feature.dtype in NUMPY_DTYPES:
        return SetFeature(feature.name, "multiArray", shape=feature.shape, dtype=feature.dtype)  # type: ignore[arg-type]
    if feature.kind in ("string", "int64"):
        return SetFeature(feature.name, feature.kind)
    raise DataError(
        f"feature {feature.name!r} ({feature.kind}, {feature.dtype or feature.color_space or ''}) cannot be "
        "carried by a job bundle",
        where=where,
        fix="bundles carry 8-bit GRAYSCALE/RGB/BGR images, FLOAT32/DOUBLE/INT32 multiArrays, String and Int64",
    )


def _check_array(value: Any, shape: tuple[int, ...], dtype: np.dtype[Any], name: str, where: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise DataError(
            f"feature {name!r} expects an array, got {type(value).__name__}",
            where=where,
            fix="pass a numpy array (fitted with fit_value)",
        )
    if value.shape != shape:
        raise DataError(
            f"feature {name!r} has shape {list(value.shape)}, the model declares {list(shape)}",
            where=where,
            fix="fit the examples to the model with mlupdate.data (it resizes and reshapes them)",
        )
    if value.dtype != dtype:
        raise DataError(
            f"feature {name!r} has dtype {value.dtype}, expected {dtype}",
            where=where,
            fix="fit the examples to the model with mlupdate.data (it casts them)",
        )
    return np.ascontiguousarray(value)


@dataclass(frozen=True)
class ExampleSet:
    """A re-iterable, streamed set of `count` fitted examples with the given features."""

    features: tuple[SetFeature, ...]
    count: int
    produce: Callable[[], Iterator[Example]]
    origin: str = "<examples>"

    def __iter__(self) -> Iterator[Example]:
        return self.produce()

    def __len__(self) -> int:
        return self.count

    def feature(self, name: str) -> SetFeature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise DataError(
            f"the example set has no feature {name!r} (it has {[f.name for f in self.features]})",
            where=self.origin,
            fix="name one of the set's features, or add the feature to the data",
        )


def from_arrays(
    features: tuple[SetFeature, ...] | list[SetFeature],
    values: Mapping[str, np.ndarray | list[Any]],
    *,
    origin: str = "<arrays>",
) -> ExampleSet:
    """An example set over already-fitted values held in memory: one array [N, ...] or list of N per feature."""
    features = tuple(features)
    if not features:
        raise DataError(
            "an example set needs at least one feature", where=origin, fix="pass the model's input and target features"
        )
    missing = [f.name for f in features if f.name not in values]
    extra = sorted(set(values) - {f.name for f in features})
    if missing or extra:
        raise DataError(
            f"values do not match the features: missing {missing}, unexpected {extra}",
            where=origin,
            fix="pass exactly one array or list per feature",
        )
    counts = {f.name: len(values[f.name]) for f in features}
    if len(set(counts.values())) != 1:
        raise DataError(
            f"features hold different numbers of examples: {counts}",
            where=origin,
            fix="give every feature one value per example",
        )
    count = next(iter(counts.values()))
    if count == 0:
        raise DataError("the example set is empty", where=origin, fix="pass at least one example")

    def produce() -> Iterator[Example]:
        for index in range(count):
            yield {f.name: _item(values[f.name], index) for f in features}

    return ExampleSet(features, count, produce, origin)


def _item(column: np.ndarray | list[Any], index: int) -> Any:
    item = column[index]
    return int(item) if isinstance(item, np.integer) else item
