"""`mlharness inspect / validate / make-updatable` through main([...]): exit codes, output, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlharness.cli import main
from mlupdate.models.spec import load_spec, neural_network, save_spec
from mlupdate.models.validate import validate

NN = "tictactoe/NNClassifier.mlmodel"
UPDATABLE = "tictactoe/UpdatableNNClassifier.mlmodel"
MNIST = "mnist-classifier/MNISTClassifier.mlmodel"


def test_inspect_prints_the_report(real_models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(real_models / UPDATABLE)]) == 0
    out = capsys.readouterr().out
    assert "kind: neuralNetworkClassifier (spec version 4), updatable" in out
    assert "dense_4 (innerProduct): weights [9, 9], biases [9]" in out
    assert "validation: valid updatable model" in out


def test_inspect_json_is_machine_readable(real_models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(real_models / MNIST), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "neuralNetworkClassifier" and data["class_labels"] == list(range(10))
    assert data["issues"][0]["rule"] == "not-updatable"


def test_validate_exits_0_for_a_valid_model(real_models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(real_models / UPDATABLE)]) == 0
    assert "valid updatable model" in capsys.readouterr().out


def test_validate_exits_1_and_lists_the_issues(real_models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(real_models / NN)]) == 1
    out = capsys.readouterr().out
    assert "not a valid updatable model (1 problem(s))" in out
    assert "[not-updatable]" in out and "fix:" in out


def test_validate_json(real_models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(real_models / NN), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False and data["issues"][0]["rule"] == "not-updatable"


def test_make_updatable_writes_a_valid_model_and_leaves_the_input(
    real_models: Path, real_model_copy: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = real_model_copy(MNIST)
    before = source.read_bytes()
    out = tmp_path / "out" / "Updatable.mlmodel"
    argv = [
        "make-updatable", str(source), "-o", str(out), "--layers", "drawing_dense0_fwd,drawing_dense1_fwd",
        "--loss", "cce", "--optimizer", "sgd", "--lr", "0.01", "--batch", "8", "--batch-set", "1,8,16",
        "--momentum", "0.5", "--epochs", "10", "--epochs-set", "1,10", "--no-shuffle", "--seed", "3",
    ]  # fmt: skip
    assert main(argv) == 0
    assert "wrote" in capsys.readouterr().out
    assert source.read_bytes() == before
    spec = load_spec(out)
    assert validate(spec) == []
    params = spec.neuralNetworkClassifier.updateParams
    assert list(params.optimizer.sgdOptimizer.miniBatchSize.set.values) == [1, 8, 16]
    assert params.optimizer.sgdOptimizer.momentum.defaultValue == 0.5
    assert params.shuffle.defaultValue is False and params.seed.defaultValue == 3
    assert main(["validate", str(out)]) == 0


def test_make_updatable_with_adam_and_mse(real_model_copy: Callable[[str], Path], tmp_path: Path) -> None:
    source = real_model_copy("sleep-predictor/SleepPredictorUpdatable.mlmodel")
    out = tmp_path / "Sleep.mlmodel"
    argv = ["make-updatable", str(source), "-o", str(out), "--layers", "dense2,output_layer", "--loss", "mse",
            "--loss-input", "predictedBedtimeHour",
            "--optimizer", "adam", "--lr", "0.001", "--beta1", "0.8", "--eps", "1e-7", "--batch", "16",
            "--epochs", "5"]  # fmt: skip
    assert main(argv) == 0
    params = load_spec(out).neuralNetwork.updateParams
    assert params.optimizer.adamOptimizer.beta1.defaultValue == pytest.approx(0.8)
    assert params.lossLayers[0].meanSquaredErrorLossLayer.input == "predictedBedtimeHour"


def test_make_updatable_refuses_to_overwrite_its_input(
    real_model_copy: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    source = real_model_copy(NN)
    before = source.read_bytes()
    argv = ["make-updatable", str(source), "-o", str(source), "--layers", "dense_4", "--loss", "cce",
            "--optimizer", "sgd", "--epochs", "1"]  # fmt: skip
    assert main(argv) == 2
    assert "refusing to overwrite the input model" in capsys.readouterr().err
    assert source.read_bytes() == before


def _assert_clean_error(capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err


def test_make_updatable_into_a_folder_is_exit_2_and_names_a_file_to_use(
    real_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["make-updatable", str(real_models / MNIST), "-o", str(tmp_path), "--layers", "drawing_dense1_fwd"]
    assert main([*argv, "--loss", "cce", "--optimizer", "sgd", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path}: the output is a folder")
    assert f"-o {tmp_path / 'MNISTClassifier.mlmodel'}" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["inspect", "validate"])
def test_missing_file_is_exit_2(tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, str(tmp_path / "nope.mlmodel")]) == 2
    _assert_clean_error(capsys, "nope.mlmodel", "no such file")


@pytest.mark.parametrize("command", ["inspect", "validate"])
def test_non_model_file_is_exit_2(tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.mlmodel"
    path.write_text("these are not the weights you are looking for\n")
    assert main([command, str(path)]) == 2
    _assert_clean_error(capsys, "notes.mlmodel", "not a Core ML model")


@pytest.mark.parametrize("command", ["inspect", "validate"])
def test_truncated_protobuf_is_exit_2(
    real_models: Path, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (real_models / MNIST).read_bytes()
    path = tmp_path / "Truncated.mlmodel"
    path.write_bytes(data[: len(data) // 2])
    assert main([command, str(path)]) == 2
    _assert_clean_error(capsys, "Truncated.mlmodel", "fix:")


def test_unknown_layer_for_make_updatable_is_exit_2(
    real_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.mlmodel"
    argv = ["make-updatable", str(real_models / NN), "-o", str(out), "--layers", "dense_9", "--loss", "cce",
            "--optimizer", "sgd", "--epochs", "1"]  # fmt: skip
    assert main(argv) == 2
    _assert_clean_error(capsys, "no layer named 'dense_9'", "dense_1, dense_2, dense_3, dense_4")
    assert not out.exists()


def test_learning_rate_outside_range_is_exit_2(
    real_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["make-updatable", str(real_models / NN), "-o", str(tmp_path / "x.mlmodel"), "--layers", "dense_4",
            "--loss", "cce", "--optimizer", "sgd", "--lr", "2.0", "--epochs", "1"]  # fmt: skip
    assert main(argv) == 2
    _assert_clean_error(capsys, "lr=2.0 is outside its allowed range")


def test_bad_integer_list_is_a_usage_error(real_models: Path, tmp_path: Path) -> None:
    argv = ["make-updatable", str(real_models / NN), "-o", str(tmp_path / "x.mlmodel"), "--layers", "dense_4",
            "--loss", "cce", "--optimizer", "sgd", "--epochs", "1", "--batch-set", "1,two"]  # fmt: skip
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2


def test_make_updatable_refuses_to_write_a_model_core_ml_would_reject(
    real_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A leaky ReLU cannot be backpropagated through by Core ML; only the final validation sees that it blocks dense_1.
    spec = load_spec(real_models / NN)
    activation = {layer.name: layer for layer in neural_network(spec).layers}["dense_2__activation__"].activation
    activation.leakyReLU.alpha = 0.1
    leaky = save_spec(spec, tmp_path / "leaky.mlmodel")
    out = tmp_path / "x.mlmodel"
    argv = ["make-updatable", str(leaky), "-o", str(out), "--layers", "dense_1",
            "--loss", "cce", "--optimizer", "sgd", "--epochs", "1"]  # fmt: skip
    assert main(argv) == 2
    _assert_clean_error(capsys, "[backprop-path] layers/dense_2__activation__", "does not support backpropagation")
    assert not out.exists()


def test_make_updatable_cce_loss_input_that_is_no_softmax_output_is_exit_2(
    real_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.mlmodel"
    argv = ["make-updatable", str(real_models / MNIST), "-o", str(out), "--layers", "drawing_dense1_fwd",
            "--loss", "cce", "--loss-input", "drawing_dense1_fwd", "--optimizer", "sgd", "--epochs", "1"]  # fmt: skip
    assert main(argv) == 2
    _assert_clean_error(capsys, "'drawing_dense1_fwd' is not the output of a `softmax` layer", "['labelProbabilities']")
    assert not out.exists()
