"""Trajectory level: a device inside the perturbed ensemble's spread passes, one far outside fails."""

from __future__ import annotations

import numpy as np
import pytest

from mlupdate.errors import ParityError
from mlupdate.parity.tolerances import for_case
from mlupdate.parity.trajectory import compare_trajectory, spread_score

KEY = ("dense", "weights")


def members(count: int, rng: np.random.Generator, centre: np.ndarray, sigma: float) -> list[dict]:
    return [{KEY: (centre + rng.normal(0, sigma, centre.shape)).astype(np.float32)} for _ in range(count)]


def test_a_fresh_member_of_the_distribution_scores_near_one() -> None:
    rng = np.random.default_rng(0)
    scores = []
    for _ in range(50):
        ensemble = rng.normal(0, 1, (8, 200))
        scores.append(spread_score(ensemble, rng.normal(0, 1, 200))[0])
    assert np.median(scores) == pytest.approx(np.sqrt(1 + 1 / 8), rel=0.1)


def test_device_inside_the_ensemble_spread_passes() -> None:
    rng = np.random.default_rng(1)
    centre = rng.normal(size=(16, 8))
    ensemble = members(8, rng, centre, 0.05)
    device = members(1, rng, centre, 0.05)[0]
    check = compare_trajectory(
        ensemble, device, for_case("digits"), ensemble_final_losses=[0.5, 0.52, 0.49], device_final_loss=0.51
    )
    assert check.status == "pass", check.message
    assert len(check.details["member_scores"]) == 8
    assert check.details["final_loss"]["device"] == 0.51


def test_device_far_outside_the_ensemble_spread_fails_with_its_score() -> None:
    rng = np.random.default_rng(2)
    centre = rng.normal(size=(16, 8))
    ensemble = members(8, rng, centre, 0.05)
    device = {KEY: (centre + 0.5).astype(np.float32)}
    check = compare_trajectory(ensemble, device, for_case("digits"))
    assert check.status == "fail"
    assert check.details["score"] > 3
    assert "spread units from the ensemble centre" in check.message


def test_too_small_an_ensemble_is_a_parity_error() -> None:
    rng = np.random.default_rng(3)
    with pytest.raises(ParityError, match="at least 3"):
        compare_trajectory(members(2, rng, np.zeros(3), 1.0), {KEY: np.zeros(3, np.float32)}, for_case("digits"))
