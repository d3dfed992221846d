"""A mean-squared-error target whose shape the model leaves undeclared (as converters write it) takes the shape
of the loss input it is compared with, so such a model becomes a job and trains in the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlupdate._coreml import NeuralNetworkBuilder, SgdParams, datatypes
from mlupdate.bundle import write_job
from mlupdate.bundle.results_reader import read_results
from mlupdate.data import fit_training_set
from mlupdate.data.arrays import fit_array
from mlupdate.data.examples import SetFeature
from mlupdate.data.synthetic import synthetic
from mlupdate.errors import DataError
from mlupdate.models.spec import Spec, save_spec
from mlupdate.reference.run import run_reference


def _regressor(*, output_shape: bool, target_shape: bool, outputs: int = 3) -> Spec:
    declared = datatypes.Array(outputs) if output_shape else None
    builder = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("y", declared)], disable_rank5_shape_mapping=True)
    weights = np.arange(4 * outputs, dtype=np.float64).reshape(outputs, 4) / 10
    builder.add_inner_product("fc", weights, np.zeros(outputs), 4, outputs, True, "x", "y")
    builder.make_updatable(["fc"])
    builder.set_mean_squared_error_loss("mse", input_feature=("y", datatypes.Array(outputs)))
    builder.set_sgd_optimizer(SgdParams(lr=0.01, batch=4))
    builder.set_epochs(2)
    spec: Spec = builder.spec
    if not target_shape:
        del spec.description.trainingInput[1].type.multiArrayType.shape[:]
    return spec


def test_the_target_takes_the_declared_output_shape_when_only_the_target_is_undeclared() -> None:
    spec = _regressor(output_shape=True, target_shape=False)
    examples = fit_training_set(synthetic(spec, 4), spec)
    assert examples.feature("y_true").shape == (3,)
    assert all(np.shape(e["y_true"]) == (3,) for e in examples)


def test_the_target_takes_the_dry_run_shape_of_the_loss_input_when_nothing_is_declared() -> None:
    spec = _regressor(output_shape=False, target_shape=False)
    del spec.description.output[0].type.multiArrayType.shape[:]
    examples = fit_training_set(synthetic(spec, 4), spec)
    # an innerProduct of the classic layer set gives [C, 1, 1] per example
    assert examples.feature("y_true").shape == (3, 1, 1)


def test_a_model_with_undeclared_shapes_becomes_a_job_that_trains_like_the_declared_one(tmp_path: Path) -> None:
    losses = []
    for name, declared in (("declared", True), ("undeclared", False)):
        spec = _regressor(output_shape=declared, target_shape=declared)
        model = save_spec(spec, tmp_path / f"{name}.mlmodel")
        job = write_job(tmp_path / name, model_path=model, training=fit_training_set(synthetic(spec, 8), spec))
        results = run_reference(job, tmp_path / f"{name}-results")
        losses.append(read_results(results, results.name).tasks[0].final_loss)
    assert losses[0] is not None and losses[0] == losses[1]


def test_a_target_whose_loss_input_cannot_be_worked_out_is_refused_with_the_field_to_declare() -> None:
    spec = _regressor(output_shape=False, target_shape=False)
    spec.neuralNetwork.updateParams.lossLayers[0].meanSquaredErrorLossLayer.target = "elsewhere"
    spec.description.trainingInput[1].name = "elsewhere"
    spec.neuralNetwork.updateParams.lossLayers[0].meanSquaredErrorLossLayer.input = "not_a_blob"
    with pytest.raises(DataError, match="declare the shape of training input 'elsewhere'"):
        fit_training_set(synthetic(spec, 4), spec)


def test_a_scalar_fitted_to_an_empty_shape_stays_zero_dimensional() -> None:
    fitted = fit_array(2.5, SetFeature("t", "multiArray", shape=(), dtype="float64"), where="here")
    assert fitted.shape == () and fitted.dtype == np.float64
