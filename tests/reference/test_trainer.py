"""The trainer on real third-party models, on Core ML's event rules, and on bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlupdate._coreml import NeuralNetworkBuilder, SgdParams, datatypes
from mlupdate.contract import ProgressEvent
from mlupdate.errors import DataError, ModelInvalidError, ParameterError, TrainingError, UnsupportedError
from mlupdate.models.spec import load_spec, neural_network
from mlupdate.reference import parallelism, trainer
from mlupdate.reference.network import Network
from mlupdate.reference.semantics import Semantics
from mlupdate.reference.trainer import batch_rows, blas_threads_for, prepare, train

RNG = np.random.default_rng(3)


def _tictactoe_examples(spec: Any, n: int) -> dict[str, Any]:
    labels = [str(v) for v in spec.neuralNetworkClassifier.stringClassLabels.vector]
    return {"gameboard": RNG.integers(-1, 2, (n, 9)).astype(float), "pick": [labels[i] for i in RNG.integers(0, 9, n)]}


def test_tictactoe_trains_all_four_updatable_layers_with_cce(real_models: Path) -> None:
    spec = load_spec(real_models / "tictactoe" / "UpdatableNNClassifier.mlmodel")
    before = {name: params["weights"].copy() for name, params in Network(spec).params.items() if params}
    result = train(spec, _tictactoe_examples(spec, 12))
    assert sorted(result.weights) == ["dense_1", "dense_2", "dense_3", "dense_4"]
    for name, params in result.weights.items():
        assert params["weights"].dtype == np.float32
        assert not np.array_equal(params["weights"], before[name]), name
    # batch 1, 12 examples, 10 epochs: trainingBegin + 120 miniBatchEnd + 10 epochEnd + completion
    kinds = [e.event for e in result.events]
    assert kinds.count("miniBatchEnd") == 120 and kinds.count("epochEnd") == 10
    assert kinds[0] == "trainingBegin" and kinds[-1] == "completion"


def test_epoch_end_reports_the_last_mini_batch_loss(real_models: Path) -> None:
    spec = load_spec(real_models / "tictactoe" / "UpdatableNNClassifier.mlmodel")
    result = train(spec, _tictactoe_examples(spec, 5))
    last_batch: dict[int, float] = {}
    for event in result.events:
        if event.event == "miniBatchEnd":
            assert event.epoch is not None and event.mini_batch is not None and event.loss is not None
            last_batch[event.epoch] = event.loss
            assert event.loss == float(np.float32(event.loss))  # Core ML reports float32 losses
        if event.event == "epochEnd":
            assert event.loss == last_batch[event.epoch or 0]
    assert result.final_loss == last_batch[9]
    assert [e.mini_batch for e in result.events if e.event == "miniBatchEnd" and e.epoch == 0] == [0, 1, 2, 3, 4]


def test_only_requested_events_are_recorded_plus_completion(real_models: Path) -> None:
    spec = load_spec(real_models / "tictactoe" / "UpdatableNNClassifier.mlmodel")
    seen: list[ProgressEvent] = []
    result = train(spec, _tictactoe_examples(spec, 3), events=["epochEnd"], on_event=seen.append)
    assert {e.event for e in result.events} == {"epochEnd", "completion"}
    # the progress callback sees everything, the unrequested events included, and the same recorded ones
    assert {e.event for e in seen} == {"trainingBegin", "miniBatchEnd", "epochEnd", "completion"}
    assert [e for e in seen if e.event in ("epochEnd", "completion")] == list(result.events)


def test_prayer_auto_advance_trains_with_adam_and_int32_class_index_targets(real_models: Path) -> None:
    spec = load_spec(real_models / "prayer-auto-advance" / "PrayerAutoAdvance.mlmodel")
    examples = {"features": RNG.normal(size=(9, 10)), "probabilities_true": RNG.integers(0, 2, (9, 1), dtype=np.int32)}
    result = train(spec, examples)
    assert sorted(result.weights) == ["hidden1", "hidden2", "logits"]
    assert result.parameters["learningRate"] == pytest.approx(0.005) and result.epochs_completed == 3
    assert result.final_loss is not None and np.isfinite(result.final_loss)


def test_sleep_predictor_updates_only_its_last_layer_with_mse(real_models: Path) -> None:
    spec = load_spec(real_models / "sleep-predictor" / "SleepPredictorUpdatable.mlmodel")
    network = Network(spec)
    assert [layer.name for layer in network.live] == ["output_layer"]  # the rest is the frozen prefix
    examples = {"features": RNG.uniform(0, 0.2, (20, 21)), "predictedBedtimeHour_true": RNG.uniform(20, 26, (20, 1))}
    # The frozen features give the last layer's MSE a curvature of ~280: lr 0.01 (the model's default) times
    # that exceeds 2, so plain SGD diverges with dL/dy = 2(y - t)/B; 0.005 is inside the model's range and stable.
    result = train(spec, examples, parameters={"learningRate": 0.005})
    assert list(result.weights) == ["output_layer"]
    losses = [e.loss or 0.0 for e in result.events if e.event == "miniBatchEnd"]
    assert len(losses) == 100 and losses[-1] < losses[0] / 5


def test_sleep_predictor_at_its_default_learning_rate_diverges(real_models: Path) -> None:
    spec = load_spec(real_models / "sleep-predictor" / "SleepPredictorUpdatable.mlmodel")
    examples = {"features": RNG.uniform(0, 0.2, (20, 21)), "predictedBedtimeHour_true": RNG.uniform(20, 26, (20, 1))}
    result = train(spec, examples)
    losses = [e.loss or 0.0 for e in result.events if e.event == "miniBatchEnd"]
    assert losses[-1] > 1e6 * losses[0]


def test_wrap_around_fills_the_last_batch_from_the_start_of_the_epoch_order() -> None:
    order = np.array([4, 2, 0, 1, 3])
    assert batch_rows(order, 1, 4, "wrap_around").tolist() == [3, 4, 2, 0]
    assert batch_rows(order, 1, 4, "short").tolist() == [3]
    assert batch_rows(order, 0, 7, "wrap_around").tolist() == [4, 2, 0, 1, 3, 4, 2]


def _mse_model(lr: float = 0.1, epochs: int = 4) -> Any:
    builder = NeuralNetworkBuilder([("x", datatypes.Array(3))], [("y", datatypes.Array(1))])
    builder.add_inner_product("dense", RNG.normal(size=(1, 3)), np.zeros(1), 3, 1, True, "x", "y")
    builder.make_updatable(["dense"])
    builder.set_mean_squared_error_loss("loss", input_feature=("y", datatypes.Array(1)))
    params = SgdParams(lr=lr, batch=2)
    params.set_batch(2, [1, 2, 4])
    builder.set_sgd_optimizer(params)
    builder.set_epochs(epochs, [1, 2, 3, 4, 5, 10])
    return builder.spec


def test_reshuffle_can_be_made_to_depend_on_an_epoch_end_handler() -> None:
    spec = _mse_model()
    examples = {"x": RNG.normal(size=(6, 3)), "y_true": RNG.normal(size=(6, 1))}
    knob = Semantics(reshuffle_requires_epoch_end_handler=True)
    with_handler = train(spec, examples, semantics=knob, events=["epochEnd", "miniBatchEnd"])
    without = train(spec, examples, semantics=knob, events=["miniBatchEnd"])
    default = train(spec, examples, events=["miniBatchEnd"])
    np.testing.assert_array_equal(with_handler.weights["dense"]["weights"], default.weights["dense"]["weights"])
    assert not np.array_equal(without.weights["dense"]["weights"], default.weights["dense"]["weights"])


def test_nan_during_training_names_the_epoch_and_mini_batch() -> None:
    spec = _mse_model(lr=1.0, epochs=10)
    examples = {"x": RNG.normal(size=(8, 3)) * 30, "y_true": RNG.normal(size=(8, 1))}
    seen: list[ProgressEvent] = []
    with pytest.raises(TrainingError) as caught:
        train(spec, examples, on_event=seen.append)
    batches = [(e.epoch, e.mini_batch) for e in seen if e.event == "miniBatchEnd"]
    epoch, batch = batches[-1] if batches else (0, -1)
    assert epoch is not None and batch is not None
    expected = (epoch + 1, 0) if batch == 3 else (epoch, batch + 1)  # 8 examples / batch 2 = 4 batches
    error = caught.value
    assert (error.epoch, error.mini_batch) == expected
    assert f"epoch {error.epoch}, mini-batch {error.mini_batch}" in str(error)


def test_a_model_that_is_not_updatable_is_refused(real_models: Path) -> None:
    spec = load_spec(real_models / "tictactoe" / "NNClassifier.mlmodel")
    with pytest.raises(ModelInvalidError, match="not updatable"):
        train(spec, _tictactoe_examples(spec, 3))


def test_an_unsupported_layer_is_named_with_its_type() -> None:
    spec = _mse_model()
    layer = neural_network(spec).layers.add()
    layer.name, layer.custom.className = "odd", "MyAppsLayer"
    layer.input.append("x")
    layer.output.append("odd_out")
    with pytest.raises(UnsupportedError, match=r"layer 'odd' of type custom"):
        train(spec, {"x": RNG.normal(size=(4, 3)), "y_true": RNG.normal(size=(4, 1))})


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"learningRate": 2.0}, "learningRate"),
        ({"miniBatchSize": 3}, "miniBatchSize"),
        ({"epochs": 7}, "epochs"),
        ({"beta1": 0.9}, "beta1"),
    ],
)
def test_overrides_outside_the_allowed_range_or_set_are_refused(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        train(_mse_model(), {"x": RNG.normal(size=(4, 3)), "y_true": RNG.normal(size=(4, 1))}, parameters=overrides)


def test_overrides_inside_the_allowed_set_change_the_run() -> None:
    examples = {"x": RNG.normal(size=(4, 3)), "y_true": RNG.normal(size=(4, 1))}
    result = train(_mse_model(), examples, parameters={"miniBatchSize": 4, "epochs": 2, "shuffle": False})
    assert [e.mini_batch for e in result.events if e.event == "miniBatchEnd"] == [0, 0]


def test_job_and_model_mismatch_is_a_data_error(real_models: Path) -> None:
    spec = load_spec(real_models / "tictactoe" / "UpdatableNNClassifier.mlmodel")
    with pytest.raises(DataError, match="gameboard"):
        train(spec, {"board": np.zeros((2, 9)), "pick": ["top", "top"]})
    with pytest.raises(DataError, match="not one of the model's class labels"):
        train(spec, {"gameboard": np.zeros((2, 9)), "pick": ["top", "middle-ish"]})
    with pytest.raises(DataError, match="NaN"):
        train(spec, {"gameboard": np.full((2, 9), np.nan), "pick": ["top", "top"]})


def test_a_weight_that_overflows_while_the_loss_stays_finite_is_named_at_its_mini_batch() -> None:
    """The trainer checks one scalar (the loss) per step and the weights at the end; a weight that overflows
    to -inf behind a ReLU (which turns -inf into 0) keeps every later loss finite, and the error must still
    name the mini-batch whose update overflowed, not the end of training."""
    builder = NeuralNetworkBuilder([("x", datatypes.Array(3))], [("y", datatypes.Array(1))])
    builder.add_inner_product("dense1", np.full((1, 3), 0.1), np.array([0.1]), 3, 1, True, "x", "h")
    builder.add_activation("relu", "RELU", "h", "hr")
    builder.add_inner_product("dense2", np.ones((1, 1)), np.zeros(1), 1, 1, True, "hr", "y")
    builder.make_updatable(["dense1"])
    builder.set_mean_squared_error_loss("loss", input_feature=("y", datatypes.Array(1)))
    params = SgdParams(lr=1e21, batch=1)
    params.set_lr(1e21, 0.0, 1e30)
    builder.set_sgd_optimizer(params)
    builder.set_epochs(2)
    neural_network(builder.spec).updateParams.shuffle.defaultValue = False
    # example 0 pulls dense1 to -inf in one step (its loss, 1e36, is still finite); after that h = -inf -> 0
    examples = {"x": np.ones((3, 3)), "y_true": np.array([[-1e18], [0.0], [0.0]])}
    seen: list[ProgressEvent] = []
    with pytest.raises(TrainingError) as caught:
        train(builder.spec, examples, on_event=seen.append)
    assert (caught.value.epoch, caught.value.mini_batch) == (0, 0)
    assert "dense1.weights became NaN or Inf" in str(caught.value)
    # the fast path ran on with finite losses before the end-of-run check sent it back to find the step
    losses = [e.loss for e in seen if e.event == "miniBatchEnd"]
    assert len(losses) == 6 and all(loss is not None and np.isfinite(loss) for loss in losses)


@pytest.mark.parametrize(("others", "threads"), [(0.0, 2), (0.4, 2), (0.6, 1), (1.3, 1), (9.5, 1)])
def test_blas_threads_go_to_large_float32_products_only_on_cores_other_programs_leave_idle(
    others: float, threads: int, real_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`others`: the cores other programs keep busy (`OtherLoad`)."""
    spec = load_spec(real_models / "tictactoe" / "UpdatableNNClassifier.mlmodel")
    small = prepare(spec, _tictactoe_examples(spec, 4))
    large = dataclasses.replace(small, largest_product=trainer.THREADED_PRODUCT_MIN)
    monkeypatch.setattr(parallelism, "blas_threads_available", lambda: 2)
    monkeypatch.setattr(parallelism.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(parallelism, "_OTHER_LOAD", lambda: others)
    assert blas_threads_for(small) == 1  # below the crossover: one thread whatever the load
    assert blas_threads_for(large) == threads
    float64 = dataclasses.replace(large, network=Network(spec, dtype=np.float64))
    assert blas_threads_for(float64) == 1


@pytest.mark.parametrize("chain", [True, False], ids=["dense_chain", "generic_step"])
def test_training_leaves_the_prepared_job_as_it_was_and_holds_frozen_layers_once(
    chain: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task trains copies of the updatable layers only: frozen layers (a feature extractor can be most of a
    model) are read from the job's own arrays, and after training every array of the job is bit for bit what it
    was, so the job trains again from the same start."""
    if not chain:
        monkeypatch.setattr(trainer.DenseChain, "plan", classmethod(lambda cls, *args: None))
    builder = NeuralNetworkBuilder([("x", datatypes.Array(6))], [("probs", None)], mode="classifier")
    builder.add_inner_product("frozen", RNG.normal(size=(5, 6)), RNG.normal(size=5), 6, 5, True, "x", "h")
    builder.add_activation("relu", "RELU", "h", "hr")
    builder.add_inner_product("head", RNG.normal(size=(3, 5)), RNG.normal(size=3), 5, 3, True, "hr", "logits")
    builder.add_inner_product("frozen_mid", RNG.normal(size=(3, 3)), np.zeros(3), 3, 3, True, "logits", "z")
    builder.add_softmax("sm", "z", "probs")
    builder.set_class_labels([0, 1, 2], predicted_feature_name="label", prediction_blob="probs")
    builder.make_updatable(["head"])
    builder.set_categorical_cross_entropy_loss("loss", input="probs")
    builder.set_sgd_optimizer(SgdParams(lr=0.1, batch=4, momentum=0.5))
    builder.set_epochs(3)
    job = prepare(builder.spec, {"x": RNG.normal(size=(10, 6)), "label": list(RNG.integers(0, 3, 10))})
    before = {
        (layer, kind): array.copy() for layer, arrays in job.network.params.items() for kind, array in arrays.items()
    }
    shared: list[dict[str, Any]] = []
    task_class = trainer._Task

    class Spy(task_class):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            shared.append(self.params)

    monkeypatch.setattr(trainer, "_Task", Spy)
    first = trainer.run_prepared(job)
    again = trainer.run_prepared(job)
    for (layer, kind), array in before.items():
        assert job.network.params[layer][kind].tobytes() == array.tobytes(), f"{layer}.{kind} changed"
    params = shared[0]
    assert params["frozen_mid"]["weights"] is job.network.params["frozen_mid"]["weights"]
    assert params["head"]["weights"] is not job.network.params["head"]["weights"]
    assert first.weights["head"]["weights"].tobytes() == again.weights["head"]["weights"].tobytes()
    assert not np.array_equal(first.weights["head"]["weights"], before[("head", "weights")])
