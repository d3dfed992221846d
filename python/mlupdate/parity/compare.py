"""The one comparison helper: names and count, then shape, then dtype, then values; it names the worst element.

Every array comparison in parity goes through `compare_arrays`, so every failing verdict reads the same way:
what differed (a missing tensor, a shape, a dtype, or the element furthest outside the tolerance). Elements
are ranked by their error in units of their own allowance (atol + rtol |expected|), so a tiny weight and a
large one are judged on the same footing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mlupdate.parity.tolerances import Tolerance

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class Worst:
    """The element whose error is the largest multiple of its allowance (outside the tolerance above 1)."""

    tensor: str
    index: tuple[int, ...]
    expected: float
    actual: float

    @property
    def abs_error(self) -> float:
        return abs(self.actual - self.expected)

    @property
    def rel_error(self) -> float:
        return self.abs_error / abs(self.expected) if self.expected else float("inf") if self.abs_error else 0.0

    def describe(self) -> str:
        index = ",".join(str(i) for i in self.index)
        return (
            f"{self.tensor}[{index}]: expected {self.expected:.9g}, got {self.actual:.9g} "
            f"(abs {self.abs_error:.3g}, rel {self.rel_error:.3g})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "tensor": self.tensor,
            "index": list(self.index),
            "expected": self.expected,
            "actual": self.actual,
            "abs_error": self.abs_error,
            "rel_error": _finite(self.rel_error),
        }


@dataclass(frozen=True)
class TensorError:
    """Per-tensor error figures, for the report's per-layer error bars."""

    max_abs: float
    max_rel: float
    rms: float
    ref_rms: float


@dataclass(frozen=True)
class Comparison:
    passed: bool
    message: str
    worst: Worst | None = None
    errors: dict[str, TensorError] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "message": self.message,
            "worst": self.worst.to_dict() if self.worst else None,
            "errors": {name: vars(err) | {"max_rel": _finite(err.max_rel)} for name, err in self.errors.items()},
        }


def compare_arrays(
    expected: Mapping[str, Array],
    actual: Mapping[str, Array],
    tolerance: Tolerance | Callable[[str], Tolerance],
    *,
    what: str,
) -> Comparison:
    """Compare two sets of named arrays; `tolerance` may depend on the tensor name."""
    problem = structure_problem(expected, actual, what=what)
    if problem is not None:
        return Comparison(False, problem)
    errors: dict[str, TensorError] = {}
    worst: tuple[float, Worst] | None = None
    failing = 0
    for name in sorted(expected):
        tol = tolerance(name) if callable(tolerance) else tolerance
        exp = np.asarray(expected[name], dtype=np.float64)
        act = np.asarray(actual[name], dtype=np.float64)
        if exp.size == 0:
            errors[name] = TensorError(0.0, 0.0, 0.0, 0.0)
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(act - exp)
        magnitude = np.abs(exp)
        errors[name] = _errors(diff, magnitude)
        excess = _excess(exp, act, diff, magnitude, tol)
        flat = int(np.argmax(excess))
        score = float(excess.ravel()[flat])
        index = tuple(int(i) for i in np.unravel_index(flat, exp.shape))
        candidate = Worst(name, index, float(exp[index]), float(act[index]))
        failing += int(score > 1)
        if worst is None or score > worst[0]:
            worst = (score, candidate)
    if worst is None:
        return Comparison(True, f"{what}: {len(expected)} tensor(s), all empty", None, errors)
    if worst[0] > 1:
        return Comparison(
            False,
            f"{what}: {failing} of {len(expected)} tensor(s) outside tolerance; worst {worst[1].describe()}",
            worst[1],
            errors,
        )
    if all(error.max_abs == 0 for error in errors.values()):
        return Comparison(True, f"{what}: {len(expected)} tensor(s), all values identical", worst[1], errors)
    return Comparison(
        True,
        f"{what}: {len(expected)} tensor(s) within tolerance; closest to it {worst[1].describe()}",
        worst[1],
        errors,
    )


def structure_problem(expected: Mapping[str, Array], actual: Mapping[str, Array], *, what: str) -> str | None:
    """The first of: names/count differ, a shape differs, a dtype differs; None when the structure agrees."""
    missing, extra = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
    if missing or extra:
        parts = [f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else ""]
        listed = "; ".join(part for part in parts if part)
        return f"{what}: {len(actual)} tensor(s) instead of {len(expected)}; {listed}"
    for name in sorted(expected):
        exp, act = np.asarray(expected[name]), np.asarray(actual[name])
        if exp.shape != act.shape:
            return f"{what}: {name} has shape {list(act.shape)}, expected {list(exp.shape)}"
        if exp.dtype != act.dtype:
            return f"{what}: {name} has dtype {act.dtype}, expected {exp.dtype}"
    return None


def _excess(expected: Array, actual: Array, diff: Array, magnitude: Array, tol: Tolerance) -> Array:
    """Each element's error in units of its allowance (atol + rtol |expected|): above 1 is outside. Zero
    allowance makes any error infinite; a non-finite value on one side only (or two different ones) too."""
    allowed = tol.atol + tol.rtol * magnitude
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ratio = np.where(allowed > 0, diff / np.where(allowed > 0, allowed, 1.0), np.where(diff == 0, 0.0, np.inf))
    finite = np.isfinite(ratio)
    if finite.all():
        return ratio
    same_nonfinite = (~np.isfinite(expected) & (expected == actual)) | (np.isnan(expected) & np.isnan(actual))
    return np.where(same_nonfinite, 0.0, np.where(finite, ratio, np.inf))


def _errors(diff: Array, magnitude: Array) -> TensorError:
    finite = diff[np.isfinite(diff)]
    nonzero = magnitude != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = diff[nonzero] / magnitude[nonzero]
    # An error where the reference is exactly zero has no finite relative size.
    zero_ref_error = bool(np.any(diff[~nonzero] != 0))
    max_rel = float("inf") if zero_ref_error else float(np.nanmax(relative)) if relative.size else 0.0
    return TensorError(
        max_abs=float(finite.max()) if finite.size == diff.size else float("inf"),
        max_rel=max_rel,
        rms=float(np.sqrt(np.mean(finite**2))) if finite.size else float("inf"),
        ref_rms=float(np.sqrt(np.mean(magnitude**2))),
    )


def _finite(value: float) -> float | None:
    """JSON has no Infinity: an infinite figure is written as null."""
    return value if np.isfinite(value) else None
