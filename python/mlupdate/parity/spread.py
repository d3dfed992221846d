"""Spread units: how far a result lies from an ensemble of reference runs. The one definition every report,
check and plot uses (trajectory parameters, per-tensor scores, per-event losses, the power of a check).

An ensemble of n runs x_1..x_n (each flattened to a vector) has centre c = mean(x_i) and spread
s = sqrt(sum |x_i - c|^2 / (n - 1)), an estimate of sqrt(trace of the covariance). The members start from
initial weights perturbed by a relative 1e-7 and each sums its mini-batches in its own order, so s holds what
float32 rounding does to this job as well as how far chaos carries a tiny change.

The float32 noise of the job is measured on its own: two runs from the same initial weights that differ only in
summation order lie |a - b| apart, so one run's rounding carries it eta = |a - b| / sqrt(2) from where exact
arithmetic would go. The unit is u = max(s, eta): never smaller than what float32 rounding alone does to one
run, even when a small ensemble happens to measure a small spread. A point's distance is |y - c| / u; a fresh
member of the ensemble's own distribution scores about sqrt(1 + 1/n).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

Float64 = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class EnsembleSpread:
    centre: Float64
    spread: float  # s: the members' RMS distance from their centre (n - 1 in the denominator)
    float32_noise: float  # eta: what float32 rounding alone moves one run, 0 when not measured
    members: int

    @property
    def unit(self) -> float:
        return max(self.spread, self.float32_noise)

    def distance(self, point: Any) -> float:
        return float(np.linalg.norm(np.asarray(point, dtype=np.float64).ravel() - self.centre))

    def units(self, point: Any) -> float:
        """|point - c| / u: the distance in spread units (inf when the unit is 0 and the point is elsewhere)."""
        return self._in_units(self.distance(point))

    def units_between(self, a: Any, b: Any) -> float:
        """|a - b| / u: how far apart two results lie in this ensemble's spread units (a device from the run of
        a known-wrong alternative, when naming the likely cause)."""
        difference = np.asarray(a, dtype=np.float64).ravel() - np.asarray(b, dtype=np.float64).ravel()
        return self._in_units(float(np.linalg.norm(difference)))

    def _in_units(self, distance: float) -> float:
        if self.unit == 0.0:
            return 0.0 if distance == 0.0 else math.inf
        return distance / self.unit

    def to_dict(self) -> dict[str, float | int]:
        return {
            "spread": self.spread,
            "float32_noise": self.float32_noise,
            "unit": self.unit,
            "members": self.members,
        }


def float32_noise(a: Any, b: Any) -> float:
    """eta from two runs that differ only in float32 summation order: |a - b| / sqrt(2)."""
    difference = np.asarray(a, dtype=np.float64).ravel() - np.asarray(b, dtype=np.float64).ravel()
    return float(np.linalg.norm(difference)) / math.sqrt(2.0)


def spread_of(members: Any, noise: float = 0.0) -> EnsembleSpread:
    """The spread of `members` ([n, d], or [n] for scalars such as one event's loss) with the job's noise."""
    matrix = np.asarray(members, dtype=np.float64).reshape(len(members), -1)
    if len(matrix) < 2:
        raise ValueError("a spread needs at least two members")
    centre = matrix.mean(axis=0)
    spread = float(np.sqrt(np.sum((matrix - centre) ** 2) / (len(matrix) - 1)))
    return EnsembleSpread(centre, spread, noise, len(matrix))


def leave_one_out(members: Any, noise: float = 0.0) -> list[float]:
    """Each member's distance from the others, in their spread units: on the same footing as a device's."""
    matrix = np.asarray(members, dtype=np.float64).reshape(len(members), -1)
    return [spread_of(np.delete(matrix, i, axis=0), noise).units(matrix[i]) for i in range(len(matrix))]


def finite_or_none(value: float) -> float | None:
    """A distance for a JSON report: inf (a run that diverged, a unit of 0) becomes null."""
    return value if math.isfinite(value) else None
