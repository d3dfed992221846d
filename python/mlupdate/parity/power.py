"""The power of a parity check, and the likely cause of a failure.

Power: how far each known-wrong alternative (`mlupdate.parity.alternatives`: the reference with one knob
flipped) lands from the truth, in the check's own unit: spread units at trajectory level, tolerance units at
step level (the worst element's |difference| / (atol + rtol |expected|), 1 being the edge of the tolerance).
A check whose alternatives all land beyond its limit can tell each of them from the truth.

Likely cause: when a device fails, the alternative whose run its result lies nearest, provided it lies nearer
to that run than to the truth. Alternatives whose runs coincide (half-squared MSE and a gradient scale of 1
train the same weights) are told apart by the loss values the device reported, when it reported any.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlupdate.contract import ProgressEvent
from mlupdate.parity.alternatives import Alternative
from mlupdate.parity.compare import Array
from mlupdate.parity.model_params import ParameterKey
from mlupdate.parity.parameters import by_name
from mlupdate.parity.spread import finite_or_none, float32_noise, spread_of
from mlupdate.parity.tolerances import Tolerance
from mlupdate.parity.trajectory import flatten
from mlupdate.parity.verdict import Check

Parameters = Mapping[ParameterKey, Array]
# Runs whose distances agree this closely (relative) are the same run for the likely cause.
_COINCIDE = 1e-6


@dataclass(frozen=True)
class AlternativeRun:
    """A reference run under one alternative: its parameters and losses, or the error that stopped it."""

    alternative: Alternative
    parameters: Parameters | None
    losses: tuple[float, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Power:
    check: Check
    likely_cause: str | None  # e.g. "partial_batch=short (short last batch)", None when nothing explains it

    def explain(self, check: Check) -> Check:
        """`check` with the likely cause added to its message (failing checks only)."""
        if not check.failed or self.likely_cause is None:
            return check
        details = check.details | {"likely_cause": self.likely_cause}
        return Check(check.name, check.status, f"{check.message}; likely cause: {self.likely_cause}", details)


def losses_of(events: Sequence[ProgressEvent]) -> tuple[float, ...]:
    """The loss of every event of task 0 that reported one, in order (what a loss curve compares)."""
    return tuple(float(e.loss) for e in events if e.task == 0 and e.loss is not None and math.isfinite(e.loss))


def trajectory_power(
    ensemble: Sequence[Parameters],
    device: Parameters | None,
    alternatives: Sequence[AlternativeRun],
    limit: float,
    *,
    noise: tuple[Parameters, Parameters] | None = None,
    device_losses: Sequence[float] = (),
) -> Power:
    """Each alternative's distance from the ensemble centre in spread units, and the device's from each run."""
    members = [by_name(run) for run in ensemble]
    names = sorted(members[0])
    eta = 0.0
    if noise is not None:
        eta = float32_noise(flatten(by_name(noise[0]), names), flatten(by_name(noise[1]), names))
    spread = spread_of(np.stack([flatten(m, names) for m in members]), eta)
    point = flatten(by_name(device), names) if device is not None and set(by_name(device)) == set(names) else None

    def measure(run: AlternativeRun) -> tuple[float, float | None]:
        values = flatten(by_name(run.parameters or {}), names) if _complete(run, names) else None
        if values is None:
            return math.inf, None
        from_device = None if point is None else spread.units_between(point, values)
        return spread.units(values), from_device

    device_score = spread.units(point) if point is not None else None
    return _power("spread units", alternatives, measure, limit, device_score, device_losses)


def step_power(
    reference: Parameters,
    device: Parameters | None,
    alternatives: Sequence[AlternativeRun],
    tolerance: Callable[[str], Tolerance],
    *,
    device_losses: Sequence[float] = (),
) -> Power:
    """Each alternative's worst element against the reference in tolerance units, and the device's against it."""
    expected = by_name(reference)
    actual = by_name(device) if device is not None else None

    def measure(run: AlternativeRun) -> tuple[float, float | None]:
        if run.parameters is None:
            return math.inf, None
        values = by_name(run.parameters)
        from_device = None if actual is None else tolerance_units(values, actual, tolerance)
        return tolerance_units(expected, values, tolerance), from_device

    device_score = tolerance_units(expected, actual, tolerance) if actual is not None else None
    return _power("tolerance units", alternatives, measure, 1.0, device_score, device_losses)


def tolerance_units(
    expected: Mapping[str, Array], actual: Mapping[str, Array], tolerance: Callable[[str], Tolerance]
) -> float:
    """max over tensors and elements of |actual - expected| / (atol + rtol |expected|); inf if they differ in
    names or shapes, or a value is not finite."""
    if set(expected) != set(actual):
        return math.inf
    worst = 0.0
    for name in expected:
        e = np.asarray(expected[name], dtype=np.float64)
        a = np.asarray(actual[name], dtype=np.float64)
        if e.size != a.size:
            return math.inf
        tol = tolerance(name)
        with np.errstate(invalid="ignore", over="ignore"):
            ratio = np.abs(a.reshape(e.shape) - e) / (tol.atol + tol.rtol * np.abs(e))
        if ratio.size:
            top = float(np.max(ratio))
            worst = max(worst, top if math.isfinite(top) else math.inf)
    return worst


def _power(
    unit: str,
    alternatives: Sequence[AlternativeRun],
    measure: Callable[[AlternativeRun], tuple[float, float | None]],
    limit: float,
    device_score: float | None,
    device_losses: Sequence[float],
) -> Power:
    if not alternatives:
        return Power(Check("power", "skip", "power: no known-wrong alternative changes this job's training"), None)
    rows = []
    for run in alternatives:
        score, from_device = measure(run)
        rows.append(
            {
                **run.alternative.to_dict(),
                "score": finite_or_none(score),
                "device_distance": finite_or_none(from_device) if from_device is not None else None,
                "diverged": run.error,
                "loss_distance": _loss_distance(run.losses, device_losses),
            }
        )
    ranked = sorted(rows, key=lambda row: _value(row["score"]))
    weakest = ranked[0]
    within = [row for row in rows if _value(row["score"]) <= limit]
    details = {"unit": unit, "limit": limit, "alternatives": rows, "nearest": weakest["name"]}
    nearest_text = f"{weakest['name']} ({weakest['description']}) at {_text(weakest['score'])} {unit}"
    if within:
        names = ", ".join(f"{row['name']} at {_text(row['score'])}" for row in within)
        message = (
            f"power: {len(within)} of {len(rows)} known-wrong alternative(s) land within the limit {limit:g} "
            f"{unit} ({names}): this check cannot tell them from the truth"
        )
        check = Check("power", "warn", message, details)
    else:
        message = (
            f"power: all {len(rows)} known-wrong alternative(s) land beyond the limit {limit:g} {unit}; the "
            f"nearest is {nearest_text}"
        )
        check = Check("power", "pass", message, details)
    cause = _likely_cause(rows, device_score, unit)
    if cause is not None:
        details["likely_cause"] = cause
    return Power(check, cause)


def _likely_cause(rows: list[dict[str, Any]], device_score: float | None, unit: str) -> str | None:
    """The alternative(s) the device lies nearest, if nearer than to the truth; ties broken by loss curves."""
    candidates = [row for row in rows if row["device_distance"] is not None]
    if device_score is None or not candidates:
        return None
    best = min(_value(row["device_distance"]) for row in candidates)
    if not best < device_score:
        return None
    tied = [row for row in candidates if _value(row["device_distance"]) <= best * (1 + _COINCIDE) + 1e-12]
    curves = [row for row in tied if row["loss_distance"] is not None]
    if len(tied) > 1 and len(curves) == len(tied):
        closest = min(row["loss_distance"] for row in curves)
        tied = [row for row in curves if row["loss_distance"] <= closest * (1 + _COINCIDE) + 1e-12]
    names = " or ".join(f"{row['name']} ({row['description']})" for row in tied)
    suffix = " (their weights coincide)" if len(tied) > 1 else ""
    return f"{names}{suffix}: the device lies {_text(best)} {unit} from that run"


def _loss_distance(reference: Sequence[float], device: Sequence[float]) -> float | None:
    if not reference or len(reference) != len(device):
        return None
    return float(np.linalg.norm(np.asarray(reference) - np.asarray(device)))


def _complete(run: AlternativeRun, names: Sequence[str]) -> bool:
    return run.parameters is not None and set(by_name(run.parameters)) == set(names)


def _value(score: float | None) -> float:
    return math.inf if score is None else score


def _text(score: float | None) -> str:
    return "inf (diverged)" if score is None else f"{score:.3g}"
