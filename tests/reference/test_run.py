"""run_reference: job bundle in, contract results bundle out (read back with the project's own reader)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mlupdate.bundle import read_job, read_results, write_job
from mlupdate.bundle.golden_models import knn_pipeline, model_bytes, regressor
from mlupdate.data import SetFeature, from_arrays
from mlupdate.errors import BundleError
from mlupdate.models.spec import load_spec, neural_network
from mlupdate.reference.knn import knn_model
from mlupdate.reference.predict import predict, updated_spec
from mlupdate.reference.run import load_examples, run_reference
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.trainer import train

RNG = np.random.default_rng(9)
BOARD = SetFeature("gameboard", "multiArray", (9,), "float64")
PICK = SetFeature("pick", "string")


def _tictactoe_job(tmp_path: Path, real_models: Path) -> Path:
    model = tmp_path / "UpdatableNNClassifier.mlmodel"
    shutil.copyfile(real_models / "tictactoe" / "UpdatableNNClassifier.mlmodel", model)
    labels = [str(v) for v in load_spec(model).neuralNetworkClassifier.stringClassLabels.vector]
    boards = RNG.integers(-1, 2, (6, 9)).astype(np.float64)
    picks = [labels[i] for i in RNG.integers(0, 9, 6)]
    return write_job(
        tmp_path / "jobs",
        model_path=model,
        training=from_arrays([BOARD, PICK], {"gameboard": boards, "pick": picks}),
        probe=from_arrays([BOARD], {"gameboard": boards[:3]}),
        events=["epochEnd"],
        repeat=2,
        job_id="ttt-1",
    )


def test_network_results_hold_the_trained_weights_model_events_and_probe(tmp_path: Path, real_models: Path) -> None:
    job_path = _tictactoe_job(tmp_path, real_models)
    job = read_job(job_path)
    spec = load_spec(job.model_path)
    expected = train(spec, load_examples(job.training), events=["epochEnd"])
    results = read_results(run_reference(job_path, tmp_path / "out"), "ttt-1")
    assert results.status == "succeeded"
    assert results.producer.name == "mlupdate-reference"
    assert results.producer.semantics == Semantics().report()
    for layer, arrays in expected.weights.items():
        np.testing.assert_array_equal(results.parameters[(layer, "weights")], arrays["weights"])
        np.testing.assert_array_equal(results.parameters[(layer, "biases")], arrays["biases"])
    # the written model is the same spec with the new weights
    assert results.model_path is not None and results.model_path.name == "UpdatableNNClassifier.mlmodel"
    written = load_spec(results.model_path)
    assert written.SerializeToString() == updated_spec(spec, expected.weights).SerializeToString()
    assert [layer.name for layer in neural_network(written).layers] == [
        layer.name for layer in neural_network(spec).layers
    ]
    # events: epochEnd x 10 + completion, for each of the two tasks; both tasks train identically
    assert [task.final_loss for task in results.tasks] == [expected.final_loss] * 2
    assert results.manifest["events"]["count"] == 2 * 11
    # probe predictions are those of the trained weights
    probe = predict(spec, {"gameboard": load_examples(job.training)["gameboard"][:3]}, weights=expected.weights)
    outputs = results.probe_outputs
    by_name = {output.name: output for output in probe}
    np.testing.assert_allclose(outputs["pickProbabilities"].values, by_name["pickProbabilities"].values, rtol=1e-6)
    assert outputs["pick"].values == by_name["pick"].values


def test_knn_pipeline_results_hold_the_updated_index_and_probe_labels(tmp_path: Path) -> None:
    model = tmp_path / "Drawings.mlmodel"
    model.write_bytes(model_bytes(knn_pipeline()))
    image, label = (
        SetFeature("drawing", "image", width=4, height=4, color_space="GRAYSCALE"),
        SetFeature("label", "string"),
    )
    drawings = RNG.integers(0, 256, (4, 4, 4), dtype=np.uint8)
    job_path = write_job(
        tmp_path / "jobs",
        model_path=model,
        training=from_arrays([image, label], {"drawing": drawings, "label": ["a", "b", "c", "d"]}),
        probe=from_arrays([image], {"drawing": drawings[::-1]}),
        job_id="knn-1",
    )
    results = read_results(run_reference(job_path, tmp_path / "out"), "knn-1")
    assert results.status == "succeeded" and results.model_path is not None
    assert knn_model(load_spec(results.model_path)).labels == ("a", "b", "c", "d")
    assert results.probe_outputs["label"].values == ["d", "c", "b", "a"]


def test_divergence_is_written_as_a_failed_task_with_the_train_phase(tmp_path: Path) -> None:
    spec = regressor()
    model = tmp_path / "Diverges.mlmodel"
    model.write_bytes(model_bytes(spec))
    x = SetFeature("features", "multiArray", (3,), "float64")
    y = SetFeature("y_true", "multiArray", (1,), "float64")
    job_path = write_job(
        tmp_path / "jobs",
        model_path=model,
        training=from_arrays([x, y], {"features": RNG.normal(size=(8, 3)) * 1e6, "y_true": RNG.normal(size=(8, 1))}),
        parameters={"learningRate": 1.0},
        job_id="nan-1",
    )
    results = read_results(run_reference(job_path, tmp_path / "out"), "nan-1")
    assert results.status == "failed"
    assert results.error is not None and results.error.phase == "train" and "epoch" in results.error.message
    assert results.model_path is None and results.parameters == {}


def test_a_profile_changes_the_recorded_semantics(tmp_path: Path, real_models: Path) -> None:
    job_path = _tictactoe_job(tmp_path, real_models)
    knobs = Semantics(cce_reduction="sum")
    results = read_results(run_reference(job_path, tmp_path / "out", semantics=knobs), "ttt-1")
    assert results.producer.semantics["knobs"]["cce_reduction"] == "sum"
    assert results.producer.semantics["calibrated"]["batch_reduction"] is True


def test_missing_job_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no such bundle folder") as info:
        run_reference(tmp_path / "nope", tmp_path / "out")
    assert info.value.where == str(tmp_path / "nope")
    assert not (tmp_path / "out").exists()
