"""The Semantics value object and profiles; ensembles and their spread; predictions of regressors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlupdate.bundle.golden_models import regressor
from mlupdate.errors import InputError, TrainingError
from mlupdate.parity.spread import spread_of
from mlupdate.reference.ensemble import member_initial_weights, member_summation_seeds, run_ensemble
from mlupdate.reference.predict import predict
from mlupdate.reference.semantics import KNOBS, Semantics, load_profile
from mlupdate.reference.trainer import prepare, run_prepared

RNG = np.random.default_rng(21)


def test_defaults_are_the_calibrated_values() -> None:
    semantics = Semantics()
    assert (semantics.batch_reduction, semantics.mse_scale, semantics.partial_batch) == (
        "mean",
        "squared",
        "wrap_around",
    )
    calibrated = semantics.calibrated_knobs()
    assert {k for k, v in calibrated.items() if v} == {
        "batch_reduction",
        "mse_scale",
        "partial_batch",
        "shuffle_engine",
        "shuffle_schedule",
        "mse_gradient_factor",
    }
    assert set(KNOBS) == set(semantics.to_dict())


def test_moving_a_calibrated_knob_marks_it_uncalibrated() -> None:
    assert Semantics(partial_batch="short").calibrated_knobs()["partial_batch"] is False


def test_round_trip_and_profile_files(tmp_path: Path) -> None:
    semantics = Semantics(momentum_form="classic", adam_bias_correction=False)
    assert Semantics.from_dict(semantics.to_dict()) == semantics
    plain, recorded = tmp_path / "plain.json", tmp_path / "recorded.json"
    plain.write_text(json.dumps(semantics.to_dict()))
    recorded.write_text(json.dumps(semantics.report()))
    assert load_profile(plain) == load_profile(recorded) == semantics


@pytest.mark.parametrize(
    ("data", "match"), [({"cce_reduction": "median"}, "cce_reduction"), ({"typo_knob": 1}, "typo_knob")]
)
def test_bad_knobs_are_refused_with_the_allowed_values(tmp_path: Path, data: dict[str, object], match: str) -> None:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=match):
        load_profile(path)


def test_bool_knob_refuses_a_string() -> None:
    with pytest.raises(InputError, match="adam_bias_correction"):
        Semantics(adam_bias_correction="yes")  # type: ignore[arg-type]


def _regression_job(epochs: int = 2) -> object:
    spec = regressor()
    examples = {"features": RNG.normal(size=(12, 3)), "y_true": RNG.normal(size=(12, 1))}
    return spec, prepare(spec, examples, {"learningRate": 0.05}, dtype=np.float64)


def test_ensemble_spread_grows_from_the_perturbation_and_measures_distance() -> None:
    _, job = _regression_job()
    ensemble = run_ensemble(job, runs=5, epsilon=1e-4, seed=3)  # type: ignore[arg-type]
    assert len(ensemble.runs) == 5
    spread = ensemble.spread["dense"]["weights"]
    assert np.all(spread > 0) and np.all(spread < 1e-2)
    again = run_ensemble(job, runs=5, epsilon=1e-4, seed=3)  # type: ignore[arg-type]
    np.testing.assert_array_equal(again.mean["dense"]["weights"], ensemble.mean["dense"]["weights"])
    unperturbed = run_prepared(job)  # type: ignore[arg-type]
    members = np.stack([run.weights["dense"]["weights"].ravel() for run in ensemble.runs])
    assert spread_of(members).units(unperturbed.weights["dense"]["weights"].ravel()) < 5
    assert spread_of(members).units(unperturbed.weights["dense"]["weights"].ravel() + 1.0) > 100


def test_ensemble_needs_two_runs() -> None:
    _, job = _regression_job()
    with pytest.raises(InputError, match="at least two"):
        run_ensemble(job, runs=1)  # type: ignore[arg-type]


def test_regressor_prediction_uses_the_given_weights() -> None:
    spec = regressor()
    x = RNG.normal(size=(4, 3))
    weights = {"dense": {"weights": np.array([[1.0, 2.0, 3.0]]), "biases": np.array([0.5])}}
    (output,) = predict(spec, {"features": x}, weights=weights)
    assert output.name == "y" and output.type == "multiArray" and output.values.shape == (4, 1)
    np.testing.assert_allclose(output.values[:, 0], x @ [1.0, 2.0, 3.0] + 0.5, rtol=1e-6, atol=1e-5)  # float32


def test_parallel_ensemble_members_are_bit_identical_to_sequential_ones_and_to_a_member_run_alone() -> None:
    spec = regressor()
    examples = {"features": RNG.normal(size=(40, 3)), "y_true": RNG.normal(size=(40, 1))}
    job = prepare(spec, examples, {"learningRate": 0.05}, dtype=np.float32)
    parallel = run_ensemble(job, runs=4, epsilon=1e-4, seed=9, workers=2)
    sequential = run_ensemble(job, runs=4, epsilon=1e-4, seed=9, workers=1)
    alone = run_prepared(
        job,
        initial_weights=member_initial_weights(job, 4, 1e-4, 9)[2],
        blas_threads=1,
        summation_seed=member_summation_seeds(4, 9)[2],
    )
    for a, b in zip(parallel.runs, sequential.runs, strict=True):
        for kind in ("weights", "biases"):
            assert a.weights["dense"][kind].tobytes() == b.weights["dense"][kind].tobytes()
        assert a.events == b.events
    assert alone.weights["dense"]["weights"].tobytes() == parallel.runs[2].weights["dense"]["weights"].tobytes()
    assert len({r.weights["dense"]["weights"].tobytes() for r in parallel.runs}) == 4  # perturbed apart


def test_a_member_that_diverges_in_a_worker_raises_its_training_error_here() -> None:
    spec = regressor()
    examples = {"features": RNG.normal(size=(8, 3)) * 1e18, "y_true": RNG.normal(size=(8, 1))}
    job = prepare(spec, examples, {"learningRate": 0.05}, dtype=np.float32)
    with pytest.raises(TrainingError) as caught:
        run_ensemble(job, runs=2, workers=2)
    with pytest.raises(TrainingError) as here:
        run_ensemble(job, runs=2, workers=1)
    assert str(caught.value) == str(here.value) and "epoch 0" in str(here.value)
