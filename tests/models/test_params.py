"""Update parameters as models declare them, and overrides checked as Core ML checks configuration.parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlupdate.errors import ParameterError
from mlupdate.models.params import UpdateParameter, resolve_parameters, update_parameters
from mlupdate.models.spec import load_spec, neural_network


def test_adam_model_declares_its_optimizer_epochs_and_shuffle(real_models: Path) -> None:
    spec = load_spec(real_models / "prayer-auto-advance/PrayerAutoAdvance.mlmodel")
    declared = update_parameters(spec)
    assert list(declared) == ["learningRate", "miniBatchSize", "beta1", "beta2", "eps", "epochs", "shuffle"]
    assert declared["learningRate"] == UpdateParameter("learningRate", "double", 0.005, (0.0, 1.0), None)
    assert declared["epochs"] == UpdateParameter("epochs", "int64", 3, None, (3,))


def test_non_updatable_model_declares_nothing(real_models: Path) -> None:
    assert update_parameters(load_spec(real_models / "tictactoe/NNClassifier.mlmodel")) == {}


def test_defaults_are_resolved_and_overrides_applied(cce: Any) -> None:
    neural_network(cce).updateParams.optimizer.sgdOptimizer.miniBatchSize.set.values.extend([4, 8])
    resolved = resolve_parameters(cce, {"learningRate": 0.5, "miniBatchSize": 8, "shuffle": False, "momentum": 0})
    assert resolved == {"learningRate": 0.5, "miniBatchSize": 8, "momentum": 0.0, "epochs": 2, "shuffle": False}
    assert "seed" not in resolved


def test_declared_seed_is_resolved_and_may_be_negative(cce: Any) -> None:
    neural_network(cce).updateParams.seed.defaultValue = 3
    assert resolve_parameters(cce, {"seed": -7})["seed"] == -7


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"learningRate": 1.5}, r"learningRate=1.5 is outside .* in \[0, 1\]"),
        ({"miniBatchSize": 3}, r"miniBatchSize=3 is outside .* one of \{2\}"),
        ({"epochs": 5}, r"epochs=5 is outside .* one of \{2\}"),
        ({"learningRate": "fast"}, "wrong type"),
        ({"miniBatchSize": 2.0}, "wrong type"),
        ({"shuffle": 1}, "wrong type"),
        ({"epochs": True}, "wrong type"),
        ({"learningRate": float("nan")}, "not a finite number"),
        ({"beta1": 0.9}, "'beta1' is not declared by this model"),
        ({"learning_rate": 0.1}, "'learning_rate' is not an update parameter key"),
    ],
)
def test_overrides_core_ml_would_refuse_raise_parameter_error(
    cce: Any, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ParameterError, match=message) as caught:
        resolve_parameters(cce, overrides)
    key = next(iter(overrides))
    assert caught.value.where == f"parameters.{key}"
    assert caught.value.fix


def test_unbounded_positive_parameters_still_refuse_zero(cce: Any) -> None:
    neural_network(cce).updateParams.epochs.ClearField("set")
    assert resolve_parameters(cce, {"epochs": 100})["epochs"] == 100
    with pytest.raises(ParameterError, match="a positive integer"):
        resolve_parameters(cce, {"epochs": 0})


def test_knn_number_of_neighbors_is_checked_against_its_range(knn: Any, pipeline: Any) -> None:
    assert resolve_parameters(knn, {"numberOfNeighbors": 7}) == {"numberOfNeighbors": 7}
    with pytest.raises(ParameterError, match=r"in \[1, 1000\]"):
        resolve_parameters(pipeline, {"numberOfNeighbors": 1001})
