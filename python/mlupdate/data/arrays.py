"""multiArray values cast to a model's declared shape and element type, refusing NaN/Inf and lossy casts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlupdate.data.examples import NUMPY_DTYPES, SetFeature
from mlupdate.errors import DataError

_INT32 = np.iinfo(np.int32)


def fit_array(value: Any, feature: SetFeature, *, where: str) -> np.ndarray:
    """`value` (array-like) reshaped to the feature's shape and cast to its dtype."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"not an array: {exc}", where=where, fix="pass numbers") from None
    if array.dtype.kind not in "biuf":
        raise DataError(
            f"feature {feature.name!r} needs numbers, got {array.dtype} values",
            where=where,
            fix="convert the values to numbers (ints or floats)",
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise DataError(f"feature {feature.name!r} holds NaN or Inf", where=where, fix="drop or repair this example")
    if array.size != math.prod(feature.shape):
        raise DataError(
            f"feature {feature.name!r} has {array.size} values (shape {list(array.shape)}), "
            f"the model declares shape {list(feature.shape)}",
            where=where,
            fix="pass exactly as many values as the model's declared shape holds",
        )
    dtype = NUMPY_DTYPES[feature.dtype or "float32"]
    if dtype.kind == "i":
        _check_integral(array, feature, where)
    # Reshaped after the copy: ascontiguousarray turns a 0-d array into a 1-d one.
    return np.ascontiguousarray(array, dtype=dtype).reshape(feature.shape)


def _check_integral(array: np.ndarray, feature: SetFeature, where: str) -> None:
    if array.dtype.kind == "f" and not np.equal(np.round(array), array).all():
        raise DataError(
            f"feature {feature.name!r} is INT32 but holds fractional values",
            where=where,
            fix="pass whole numbers",
        )
    if array.size and (array.min() < _INT32.min or array.max() > _INT32.max):
        raise DataError(
            f"feature {feature.name!r} holds values outside INT32",
            where=where,
            fix=f"keep values within [{_INT32.min}, {_INT32.max}] or declare the feature DOUBLE",
        )
