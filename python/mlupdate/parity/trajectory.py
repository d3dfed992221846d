"""Trajectory level: how far the device's trained parameters lie from an ensemble of reference runs started
from tiny perturbations, in units of that ensemble's own spread.

With n members x_i, centre c and spread s = sqrt(sum |x_i - c|^2 / (n - 1)) (an estimate of sqrt(trace of the
covariance)), an independent draw y from the same distribution has |y - c| / s close to sqrt(1 + 1/n). The
members' own scores are computed leave-one-out, so they are on the same footing as the device's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlupdate.errors import ParityError
from mlupdate.parity.compare import Array
from mlupdate.parity.model_params import ParameterKey
from mlupdate.parity.parameters import by_name
from mlupdate.parity.tolerances import Tolerance, Tolerances
from mlupdate.parity.verdict import Check

Float64 = np.ndarray[Any, np.dtype[np.float64]]


def spread_score(members: Float64, point: Float64, floor: Tolerance | None = None) -> tuple[float, float, float]:
    """(score, distance to the centre, spread) of `point` against `members` [n, d].

    `floor` keeps the unit from shrinking below float32 rounding: when the perturbations have not grown yet,
    the spread is the norm of the step tolerance's allowance (atol + rtol |centre|) instead.
    """
    centre = members.mean(axis=0)
    spread = float(np.sqrt(np.sum((members - centre) ** 2) / (len(members) - 1)))
    if floor is not None:
        spread = max(spread, float(np.linalg.norm(floor.atol + floor.rtol * np.abs(centre))))
    distance = float(np.linalg.norm(point - centre))
    if spread == 0.0:
        return (0.0 if distance == 0.0 else float("inf")), distance, spread
    return distance / spread, distance, spread


def _flatten(parameters: Mapping[str, Array], names: Sequence[str]) -> Float64:
    return np.concatenate([np.asarray(parameters[name], dtype=np.float64).ravel() for name in names])


def compare_trajectory(
    ensemble: Sequence[Mapping[ParameterKey, Array]],
    device: Mapping[ParameterKey, Array],
    tolerances: Tolerances,
    *,
    ensemble_final_losses: Sequence[float] = (),
    device_final_loss: float | None = None,
    rounding: Tolerance | None = None,
) -> Check:
    """Gate on the whole-model score; per-tensor scores and the final-loss position are reported."""
    if len(ensemble) < 3:
        raise ParityError(
            f"trajectory-level parity needs an ensemble of at least 3 reference runs, got {len(ensemble)}",
            where="ensemble",
            fix="run parity with --ensemble N (N >= 3; 8 is a good default)",
        )
    members = [by_name(run) for run in ensemble]
    names = sorted(members[0])
    got = by_name(device)
    if set(got) != set(names):
        return Check("trajectory", "fail", "trajectory: the device's tensors differ from the ensemble's")
    matrix = np.stack([_flatten(member, names) for member in members])
    score, distance, spread = spread_score(matrix, _flatten(got, names), rounding)
    details: dict[str, Any] = {
        "score": _json(score),
        "distance": distance,
        "spread": spread,
        "members": len(members),
        "member_scores": [_json(s) for s in _leave_one_out(matrix, rounding)],
        "limit": tolerances.trajectory_max_spread_units,
        "per_tensor": _per_tensor(members, got, names, rounding),
        "rounding_floor": rounding.to_dict() if rounding else None,
    }
    if ensemble_final_losses and device_final_loss is not None:
        losses = np.asarray(ensemble_final_losses, dtype=np.float64)
        std = float(np.std(losses, ddof=1)) if len(losses) > 1 else 0.0
        details["final_loss"] = {
            "device": device_final_loss,
            "ensemble": [float(v) for v in losses],
            "score": _json(abs(device_final_loss - float(losses.mean())) / std if std else float("inf")),
        }
    limit = tolerances.trajectory_max_spread_units
    text = f"trajectory: {score:.2f} spread units from the ensemble centre (limit {limit}, {len(members)} runs)"
    if spread == 0.0:
        text += "; the ensemble has no spread (perturbation too small for this run)"
    return Check("trajectory", "pass" if score <= limit else "fail", text, details)


def _leave_one_out(matrix: Float64, rounding: Tolerance | None) -> list[float]:
    return [spread_score(np.delete(matrix, i, axis=0), matrix[i], rounding)[0] for i in range(len(matrix))]


def _per_tensor(
    members: list[dict[str, Array]], got: dict[str, Array], names: list[str], rounding: Tolerance | None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        matrix = np.stack([np.asarray(m[name], dtype=np.float64).ravel() for m in members])
        score, distance, spread = spread_score(matrix, np.asarray(got[name], dtype=np.float64).ravel(), rounding)
        out[name] = {"score": _json(score), "distance": distance, "spread": spread}
    return out


def _json(value: float) -> float | None:
    return value if np.isfinite(value) else None
