"""The power of a check and the likely cause of a failure, through `mlharness parity` end to end: the reference
runs under every known-wrong alternative that changes the job; a device trained under one of them fails and the
report names its knob; a correct device passes and the report says how far the nearest alternative lands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlupdate.bundle import write_job
from mlupdate.data.examples import from_arrays, set_feature
from mlupdate.models.build import ArrayInput, Dense, Loss, Regressor, SequentialNetwork, Sgd, build_network
from mlupdate.models.features import training_inputs
from mlupdate.models.spec import save_spec
from mlupdate.parity.alternatives import JobShape, alternatives_for
from mlupdate.parity.power import tolerance_units
from mlupdate.parity.run import run_parity
from mlupdate.parity.tolerances import Tolerance
from mlupdate.reference.run import run_reference
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.trainer import prepare


def regression_job(folder: Path, *, count: int, epochs: int, shuffle: bool = True) -> Path:
    network = SequentialNetwork(
        inputs=[ArrayInput("x", (3,))],
        layers=[Dense("fc", 1, updatable=True)],
        head=Regressor(),
        loss=Loss("mse"),
        optimizer=Sgd(lr=0.05, batch=4),
        epochs=epochs,
        shuffle=shuffle,
    )
    spec = build_network(network, seed=0)
    model = save_spec(spec, folder / "model" / "Regressor.mlmodel")
    features = [set_feature(f, where="test") for f in training_inputs(spec)]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(count, 3))
    values = {features[0].name: x, features[1].name: x @ [[1.0], [-2.0], [0.5]] + 0.1 * rng.normal(size=(count, 1))}
    return write_job(
        folder / "job",
        model_path=model,
        training=from_arrays(features, values, origin="test"),
        events=("epochEnd", "miniBatchEnd"),
        job_id=f"power-{count}-{epochs}",
    )


@pytest.fixture(scope="module")
def step_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return regression_job(tmp_path_factory.mktemp("step"), count=10, epochs=3)  # 3 batches an epoch, 9 steps


def device_results(job: Path, folder: Path, **knobs: object) -> Path:
    """A "device" that trained the job under other semantics: the reference's results under them."""
    return run_reference(job, folder, semantics=Semantics(**knobs))  # type: ignore[arg-type]


def test_alternatives_are_those_that_change_the_job() -> None:
    with_remainder = JobShape(10, 4, 3, True, None, "mse", "sgdOptimizer", 0.0, 1, frozenset({"epochEnd"}), False)
    names = {a.name for a in alternatives_for(with_remainder, Semantics())}
    assert {"partial_batch=short", "partial_batch=stale", "shuffle_schedule=once", "seed=2"} <= names
    assert {"batch_reduction=sum", "mse_scale=half_squared", "mse_gradient_factor=1"} <= names
    assert not any(n.startswith(("cce_", "mse_vector", "momentum", "adam", "reshuffle_requires")) for n in names)
    exact = JobShape(8, 4, 1, False, None, "cce", "sgdOptimizer", 0.0, 1, frozenset(), False)
    assert [a.name for a in alternatives_for(exact, Semantics())] == ["cce_reduction=sum"]
    momentum = JobShape(8, 4, 2, False, None, "mse", "sgdOptimizer", 0.9, 1, frozenset({"epochEnd"}), True)
    assert "momentum_form=classic" in {a.name for a in alternatives_for(momentum, Semantics())}
    constant = JobShape(8, 4, 2, False, None, "mse", "sgdOptimizer", 0.9, 1, frozenset({"epochEnd"}), False)
    assert "momentum_form=classic" not in {a.name for a in alternatives_for(constant, Semantics())}
    # One mini-batch holding every example once: no order changes its mean, so no shuffle alternative is run
    # (it would land at 0 and make the power check warn about a difference that cannot exist).
    one_batch = JobShape(4, 4, 2, True, None, "mse", "sgdOptimizer", 0.0, 1, frozenset({"epochEnd"}), False)
    assert {a.name for a in alternatives_for(one_batch, Semantics())} == {
        "batch_reduction=sum",
        "mse_scale=half_squared",
        "mse_gradient_factor=1",
    }
    wrapped = JobShape(3, 4, 2, True, None, "mse", "sgdOptimizer", 0.0, 1, frozenset({"epochEnd"}), False)
    assert {"shuffle_schedule=once", "shuffle_engine=numpy_pcg64", "seed=2"} <= {
        a.name for a in alternatives_for(wrapped, Semantics())
    }  # fewer examples than the batch: the order decides which ones fill it twice
    # Flipped relative to the semantics in use: a profile that says "short" makes "wrap_around" the alternative.
    flipped = {a.name for a in alternatives_for(with_remainder, Semantics(partial_batch="short"))}
    assert "partial_batch=wrap_around" in flipped and "partial_batch=short" not in flipped


def test_tolerance_units_are_the_worst_elements_excess() -> None:
    tol = Tolerance(rtol=0.1, atol=0.0)
    assert tolerance_units({"w": np.array([1.0, 10.0])}, {"w": np.array([1.05, 12.0])}, lambda _: tol) == 2.0
    assert tolerance_units({"w": np.ones(2)}, {"v": np.ones(2)}, lambda _: tol) == np.inf


def test_a_correct_device_passes_and_the_report_states_the_power(step_job: Path, tmp_path: Path) -> None:
    device = device_results(step_job, tmp_path / "device")
    run = run_parity(device, step_job, tmp_path / "report")
    verdict = run.verdict
    assert verdict.passed, verdict.summary()
    assert "Power: known-wrong alternatives (tolerance units" in run.reports.html.read_text()
    power = verdict.check("power")
    assert power.status == "pass", power.message
    assert power.details["unit"] == "tolerance units"
    assert all(row["score"] is None or row["score"] > 1 for row in power.details["alternatives"])
    assert "power" not in verdict.rests_on  # it informs, it does not judge


@pytest.mark.parametrize(
    "knobs, cause",
    [
        ({"partial_batch": "short"}, "partial_batch=short"),
        ({"partial_batch": "stale"}, "partial_batch=stale"),
        ({"shuffle_schedule": "once"}, "shuffle_schedule=once"),
        ({"batch_reduction": "sum"}, "batch_reduction=sum"),
        ({"mse_scale": "half_squared"}, "mse_scale=half_squared"),
    ],
)
def test_a_device_with_one_knob_flipped_fails_naming_it(
    step_job: Path, tmp_path: Path, knobs: dict[str, object], cause: str
) -> None:
    device = device_results(step_job, tmp_path / "device", **knobs)
    verdict = run_parity(device, step_job, tmp_path / "report").verdict
    assert not verdict.passed
    parameters = verdict.check("parameters")
    assert parameters.status == "fail"
    assert f"likely cause: {cause}" in parameters.message
    # with events, half-squared MSE and gradient scale 1 (the same weights) are told apart by the losses
    assert " or " not in parameters.details["likely_cause"]


def test_at_trajectory_level_a_wrong_last_batch_fails_naming_it(tmp_path: Path) -> None:
    job = regression_job(tmp_path, count=30, epochs=30)  # 8 batches an epoch: 240 steps
    device = device_results(job, tmp_path / "device", partial_batch="stale")
    verdict = run_parity(device, job, tmp_path / "report", ensemble=4).verdict
    assert verdict.level == "trajectory"
    trajectory = verdict.check("trajectory")
    assert trajectory.status == "fail"
    assert "likely cause: partial_batch=stale" in trajectory.message
    assert verdict.check("power").details["unit"] == "spread units"


def test_no_power_runs_nothing_extra(step_job: Path, tmp_path: Path) -> None:
    device = device_results(step_job, tmp_path / "device")
    verdict = run_parity(device, step_job, tmp_path / "report", power=False).verdict
    assert verdict.passed
    assert "power" not in {check.name for check in verdict.checks}


def test_job_shape_reads_the_prepared_job(step_job: Path) -> None:
    from mlupdate.bundle import read_job
    from mlupdate.models.spec import load_spec
    from mlupdate.reference.run import load_examples

    job = read_job(step_job)
    shape = JobShape.of(prepare(load_spec(job.model_path), load_examples(job.training), job.parameters), job.events)
    assert (shape.count, shape.batch, shape.epochs, shape.shuffle, shape.loss) == (10, 4, 3, True, "mse")
