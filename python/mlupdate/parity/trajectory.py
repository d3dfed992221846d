"""Trajectory level: how far the device's trained parameters lie from an ensemble of reference runs started
from tiny perturbations, in spread units (`mlupdate.parity.spread`: the members' spread, never smaller than the
job's measured float32 noise). Per-tensor scores and the final-loss position are reported; the members' own
scores are computed leave-one-out, so they are on the same footing as the device's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlupdate.errors import ParityError
from mlupdate.parity.compare import Array
from mlupdate.parity.model_params import ParameterKey
from mlupdate.parity.parameters import by_name
from mlupdate.parity.spread import Float64, finite_or_none, float32_noise, leave_one_out, spread_of
from mlupdate.parity.tolerances import Tolerances
from mlupdate.parity.verdict import Check

Parameters = Mapping[ParameterKey, Array]


def flatten(parameters: Mapping[str, Array], names: Sequence[str]) -> Float64:
    return np.concatenate([np.asarray(parameters[name], dtype=np.float64).ravel() for name in names])


def compare_trajectory(
    ensemble: Sequence[Parameters],
    device: Parameters,
    tolerances: Tolerances,
    *,
    noise: tuple[Parameters, Parameters] | None = None,
    ensemble_final_losses: Sequence[float] = (),
    device_final_loss: float | None = None,
) -> Check:
    """Gate on the whole-model score. `noise` is two reference runs from the same initial weights that differ
    only in float32 summation order: the job's measured float32 noise, the floor of the unit."""
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
    matrix = np.stack([flatten(member, names) for member in members])
    pair = (by_name(noise[0]), by_name(noise[1])) if noise is not None else None
    eta = float32_noise(flatten(pair[0], names), flatten(pair[1], names)) if pair is not None else 0.0
    spread = spread_of(matrix, eta)
    score = spread.units(flatten(got, names))
    limit = tolerances.trajectory_max_spread_units
    details: dict[str, Any] = {
        "score": finite_or_none(score),
        "distance": spread.distance(flatten(got, names)),
        **spread.to_dict(),
        "member_scores": [finite_or_none(s) for s in leave_one_out(matrix, eta)],
        "limit": limit,
        "per_tensor": _per_tensor(members, got, names, pair),
    }
    if ensemble_final_losses and device_final_loss is not None:
        losses = np.asarray(ensemble_final_losses, dtype=np.float64)
        details["final_loss"] = {
            "device": device_final_loss,
            "ensemble": [float(v) for v in losses],
            "score": finite_or_none(spread_of(losses).units(device_final_loss)) if len(losses) > 1 else None,
        }
    text = (
        f"trajectory: {score:.2f} spread units from the ensemble centre (limit {limit}, {len(members)} runs; "
        f"unit {spread.unit:.3g} = max(spread {spread.spread:.3g}, float32 noise {spread.float32_noise:.3g}))"
    )
    if spread.unit == 0.0:
        text += "; the ensemble has no spread (perturbation too small for this run)"
    return Check("trajectory", "pass" if score <= limit else "fail", text, details)


def _per_tensor(
    members: list[dict[str, Array]],
    got: dict[str, Array],
    names: list[str],
    pair: tuple[dict[str, Array], dict[str, Array]] | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        eta = float32_noise(pair[0][name], pair[1][name]) if pair is not None else 0.0
        spread = spread_of(np.stack([np.asarray(m[name], dtype=np.float64).ravel() for m in members]), eta)
        point = np.asarray(got[name], dtype=np.float64).ravel()
        out[name] = {
            "score": finite_or_none(spread.units(point)),
            "distance": spread.distance(point),
            "spread": spread.unit,
        }
    return out
