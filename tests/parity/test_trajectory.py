"""Trajectory level: a device inside the ensemble's spread passes, one far outside fails; the unit is the
members' spread, never below the job's measured float32 noise (one definition: `mlupdate.parity.spread`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlupdate.errors import ParityError
from mlupdate.parity.spread import float32_noise, leave_one_out, spread_of
from mlupdate.parity.tolerances import for_case
from mlupdate.parity.trajectory import compare_trajectory

KEY = ("dense", "weights")


def members(count: int, rng: np.random.Generator, centre: np.ndarray, sigma: float) -> list[dict]:
    return [{KEY: (centre + rng.normal(0, sigma, centre.shape)).astype(np.float32)} for _ in range(count)]


def test_a_fresh_member_of_the_distribution_scores_near_sqrt_one_plus_one_over_n() -> None:
    rng = np.random.default_rng(0)
    scores = [spread_of(rng.normal(0, 1, (8, 200))).units(rng.normal(0, 1, 200)) for _ in range(50)]
    assert np.median(scores) == pytest.approx(np.sqrt(1 + 1 / 8), rel=0.1)


def test_the_unit_is_the_spread_floored_at_the_measured_float32_noise() -> None:
    ensemble = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.0]])
    assert spread_of(ensemble).spread == pytest.approx(1.0)  # sqrt((1 + 1 + 0) / 2)
    assert spread_of(ensemble, noise=0.5).unit == pytest.approx(1.0)
    assert spread_of(ensemble, noise=4.0).unit == 4.0
    assert spread_of(ensemble, noise=4.0).units([9.0, 0.0]) == pytest.approx(2.0)
    # two runs 2 apart: each carries sqrt(2) of rounding from where exact arithmetic would go
    assert float32_noise([0.0, 0.0], [2.0, 0.0]) == pytest.approx(math.sqrt(2))
    # scalars (one event's loss) use the same definition
    assert spread_of([1.0, 3.0]).units(5.0) == pytest.approx(3 / math.sqrt(2))
    # and so does the distance between two results (a device and a known-wrong alternative's run)
    assert spread_of(ensemble, noise=4.0).units_between([9.0, 0.0], [9.0, 3.0]) == pytest.approx(0.75)
    assert spread_of(np.zeros((2, 2))).units_between([1.0, 0.0], [1.0, 0.0]) == 0.0
    assert spread_of(np.zeros((2, 2))).units_between([1.0, 0.0], [2.0, 0.0]) == math.inf


def test_members_score_leave_one_out() -> None:
    scores = leave_one_out(np.array([[0.0], [1.0], [2.0], [10.0]]))
    assert scores[3] > 5 > max(scores[:3])


def test_device_inside_the_ensemble_spread_passes() -> None:
    rng = np.random.default_rng(1)
    centre = rng.normal(size=(16, 8))
    ensemble = members(8, rng, centre, 0.05)
    device = members(1, rng, centre, 0.05)[0]
    check = compare_trajectory(
        ensemble, device, for_case("default"), ensemble_final_losses=[0.5, 0.52, 0.49], device_final_loss=0.51
    )
    assert check.status == "pass", check.message
    assert len(check.details["member_scores"]) == 8
    assert check.details["final_loss"]["device"] == 0.51


def test_device_far_outside_the_ensemble_spread_fails_with_its_score() -> None:
    rng = np.random.default_rng(2)
    centre = rng.normal(size=(16, 8))
    ensemble = members(8, rng, centre, 0.05)
    device = {KEY: (centre + 0.5).astype(np.float32)}
    check = compare_trajectory(ensemble, device, for_case("default"))
    assert check.status == "fail"
    assert check.details["score"] > 3
    assert "spread units from the ensemble centre" in check.message


def test_measured_float32_noise_keeps_a_tight_ensemble_from_failing_a_rounding_difference() -> None:
    # Members that agree to 1e-9 (a run whose perturbations shrank) against a device 1e-6 away: without the
    # float32 noise the device is hundreds of spread units out; with it (two runs 1e-6 apart) it is inside.
    rng = np.random.default_rng(3)
    centre = rng.normal(size=(16, 8))
    ensemble = members(8, rng, centre, 1e-9)
    device = {KEY: (centre + rng.normal(0, 1e-6 / 11, centre.shape)).astype(np.float64)}
    alone = compare_trajectory(ensemble, device, for_case("default"))
    pair = (members(1, rng, centre, 1e-6 / 11)[0], members(1, rng, centre, 1e-6 / 11)[0])
    with_noise = compare_trajectory(ensemble, device, for_case("default"), noise=pair)
    assert alone.status == "fail"
    assert with_noise.status == "pass", with_noise.message
    assert with_noise.details["float32_noise"] > with_noise.details["spread"]


def test_too_small_an_ensemble_is_a_parity_error() -> None:
    rng = np.random.default_rng(3)
    with pytest.raises(ParityError, match="at least 3"):
        compare_trajectory(members(2, rng, np.zeros(3), 1.0), {KEY: np.zeros(3, np.float32)}, for_case("default"))
