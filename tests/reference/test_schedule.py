"""A learning-rate schedule: written into the job, read back, checked as the companion needs it, and reproduced by
the reference at the epoch boundary (where the two SGD momentum forms part, which is what calibration uses)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlupdate.bundle import read_job, read_results, write_job
from mlupdate.bundle.schedule import LearningRateStep
from mlupdate.data.examples import from_arrays, set_feature
from mlupdate.errors import ParameterError, SchemaError
from mlupdate.models.build import ArrayInput, Dense, Loss, Regressor, SequentialNetwork, Sgd, build_network
from mlupdate.models.features import training_inputs
from mlupdate.models.spec import Spec, save_spec
from mlupdate.reference.run import run_reference
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.trainer import prepare, run_prepared

EVENTS = ("epochEnd", "miniBatchEnd")


def regressor(momentum: float = 0.0, epochs: int = 3) -> Spec:
    network = SequentialNetwork(
        inputs=[ArrayInput("x", (3,))],
        layers=[Dense("fc", 1, updatable=True)],
        head=Regressor(),
        loss=Loss("mse"),
        optimizer=Sgd(lr=0.05, batch=2, momentum=momentum),
        epochs=epochs,
        epochs_set=tuple(range(1, epochs + 1)),
        shuffle=False,
    )
    return build_network(network, seed=0)


def examples(spec: Spec) -> dict[str, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(4, 3))
    names = [feature.name for feature in training_inputs(spec)]
    return {names[0]: x, names[1]: x @ np.array([[1.0], [-1.0], [0.5]])}


def write(tmp_path: Path, spec: Spec, schedule: tuple[LearningRateStep, ...], events: tuple[str, ...] = EVENTS) -> Path:
    model = save_spec(spec, tmp_path / "model" / "Sched.mlmodel")
    features = [set_feature(f, where="test") for f in training_inputs(spec)]
    return write_job(
        tmp_path / "jobs",
        model_path=model,
        training=from_arrays(features, examples(spec), origin="test"),
        events=events,
        job_id="schedule-1",
        schedule=schedule,
    )


def test_the_schedule_is_written_read_back_and_run_by_the_reference(tmp_path: Path) -> None:
    spec = regressor()
    job = write(tmp_path, spec, (LearningRateStep(1, 0.01), LearningRateStep(2, 0.002)))
    assert read_job(job).schedule == (LearningRateStep(1, 0.01), LearningRateStep(2, 0.002))
    results = read_results(run_reference(job, tmp_path / "out"), "schedule-1")
    # The same as three separate phases, each continuing from the last one's weights at its own rate.
    weights = None
    for rate in (0.05, 0.01, 0.002):
        phase = prepare(spec, examples(spec), {"epochs": 1, "learningRate": rate})
        weights = run_prepared(phase, initial_weights=weights).weights
    assert weights is not None
    np.testing.assert_array_equal(results.parameters[("fc", "weights")], weights["fc"]["weights"])


def test_a_schedule_changes_nothing_before_its_boundary(tmp_path: Path) -> None:
    spec = regressor()
    plain = run_prepared(prepare(spec, examples(spec), {"epochs": 1}))
    scheduled = run_prepared(prepare(spec, examples(spec), {"epochs": 1}, schedule=((1, 0.5),)))
    assert plain.weights["fc"]["weights"].tobytes() == scheduled.weights["fc"]["weights"].tobytes()


def test_the_momentum_forms_part_only_when_the_rate_changes() -> None:
    spec = regressor(momentum=0.9)

    def train(form: str, schedule: tuple[tuple[int, float], ...]) -> np.ndarray:
        job = prepare(spec, examples(spec), schedule=schedule, dtype=np.float64)
        return run_prepared(job, semantics=Semantics(momentum_form=form)).weights["fc"]["weights"]  # type: ignore[arg-type]

    np.testing.assert_allclose(train("torch", ()), train("classic", ()), rtol=1e-12)
    torch, classic = train("torch", ((1, 0.01),)), train("classic", ((1, 0.01),))
    assert np.max(np.abs(torch - classic)) > 1e-3


def test_a_schedule_past_the_last_epoch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="past the task's last epoch"):
        write(tmp_path, regressor(epochs=3), (LearningRateStep(3, 0.01),))


def test_a_schedule_without_an_epoch_end_handler_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="epochEnd"):
        write(tmp_path, regressor(), (LearningRateStep(1, 0.01),), events=("miniBatchEnd",))


def test_a_rate_outside_the_models_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="learningRate"):
        write(tmp_path, regressor(), (LearningRateStep(1, 5.0),))


def test_steps_out_of_order_are_refused_by_the_reader(tmp_path: Path) -> None:
    job = write(tmp_path, regressor(), (LearningRateStep(1, 0.01), LearningRateStep(2, 0.002)))
    manifest = job / "job.json"
    manifest.write_text(manifest.read_text().replace('"epoch": 2', '"epoch": 1'))
    with pytest.raises(SchemaError, match="schedule epochs must increase"):
        read_job(job)
