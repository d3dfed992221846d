"""The real third-party models, and an .mlpackage made from one, go from a user's data to a job bundle and a
reference run with the command line only; bad inputs get their own one-line error, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlharness.cli import main
from mlupdate._coreml import NeuralNetworkBuilder, coremltools, datatypes
from mlupdate.bundle import read_job, read_results
from mlupdate.models.spec import load_spec, save_spec
from mlupdate.models.updatable import Loss, Sgd, make_updatable

pytestmark = pytest.mark.slow
RNG = np.random.default_rng(41)
BOARD = ["topLeft", "top", "topRight", "midLeft", "mid", "midRight", "bottomLeft", "bottom", "bottomRight"]


def _job_and_reference(args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    job_dir = tmp_path / "job"
    assert main(["job", *args, "-o", str(job_dir)]) == 0, capsys.readouterr().err
    job = read_job(job_dir)
    assert main(["reference", str(job_dir), "-o", str(tmp_path / "out")]) == 0, capsys.readouterr()
    assert read_results(tmp_path / "out" / job.job_id, job.job_id).status == "succeeded"
    return job.job_id


def test_tictactoe_trains_from_a_headerless_semicolon_csv(
    real_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "games.csv"
    rows = [";".join([*(f"{v:g}" for v in RNG.integers(-1, 2, 9)), BOARD[i % 9]]) for i in range(12)]
    table.write_text("\n".join(rows) + "\n")
    model = real_models / "tictactoe/UpdatableNNClassifier.mlmodel"
    _job_and_reference([str(model), "--csv", str(table), "--no-header", "--delimiter", ";"], tmp_path, capsys)


def test_prayer_model_trains_from_arrays_and_a_labels_file(
    real_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "x.npy", RNG.normal(size=(8, 10)))
    (tmp_path / "y.json").write_text(json.dumps([0, 1] * 4))
    model = real_models / "prayer-auto-advance/PrayerAutoAdvance.mlmodel"
    args = [str(model), "--arrays", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.json")]
    _job_and_reference([*args, "--set", "epochs=3", "--events", "epochEnd"], tmp_path, capsys)


def test_sleep_predictor_trains_on_synthetic_examples_with_an_override(
    real_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = real_models / "sleep-predictor/SleepPredictorUpdatable.mlmodel"
    _job_and_reference([str(model), "--synthetic", "16", "--set", "learningRate=0.001"], tmp_path, capsys)
    assert read_job(tmp_path / "job").parameters == {"learningRate": 0.001}


def test_a_model_not_yet_updatable_is_made_updatable_then_trained(
    real_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    updatable = tmp_path / "Updatable.mlmodel"
    source = real_models / "tictactoe/NNClassifier.mlmodel"
    assert main(["make-updatable", str(source), "--layers", "dense_4", "--loss", "cce", "--optimizer", "sgd",
                 "--epochs", "2", "--batch", "4", "-o", str(updatable)]) == 0  # fmt: skip
    _job_and_reference([str(updatable), "--synthetic", "9", "--probe-synthetic", "2"], tmp_path, capsys)


def _digit_pictures(folder: Path, per_label: int, named: bool) -> Path:
    folder.mkdir()
    for label in range(3):
        for index in range(per_label):
            pixels = (RNG.random((28, 28)) * 255).astype(np.uint8)
            if named:
                Image.fromarray(pixels).save(folder / f"{label}_{index}.png")
            else:
                (folder / str(label)).mkdir(exist_ok=True)
                Image.fromarray(pixels).save(folder / str(label) / f"{index}.png")
    return folder


def _mnist_updatable(real_models: Path) -> object:
    spec = load_spec(real_models / "mnist-classifier/MNISTClassifier.mlmodel")
    return make_updatable(spec, ["drawing_dense1_fwd"], Loss("cce"), Sgd(lr=0.01, batch=4), epochs=2)


def test_mnist_trains_from_labelled_pictures_with_a_probe_folder(
    real_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = save_spec(_mnist_updatable(real_models), tmp_path / "Digits.mlmodel")
    pictures = _digit_pictures(tmp_path / "pictures", 3, named=True)
    probe = tmp_path / "probe"
    probe.mkdir()
    for path in sorted(pictures.iterdir())[:2]:
        shutil.copyfile(path, probe / path.name)
    _job_and_reference([str(model), "--labelled-files", str(pictures), "--probe", str(probe)], tmp_path, capsys)


def test_an_mlpackage_made_from_a_real_model_trains_from_an_image_folder(
    real_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = tmp_path / "Digits.mlpackage"
    coremltools.models.utils.save_spec(_mnist_updatable(real_models), str(package))
    pictures = _digit_pictures(tmp_path / "by-label", 2, named=False)
    job_id = _job_and_reference([str(package), "--images", str(pictures)], tmp_path, capsys)
    assert read_job(tmp_path / "job").model_path.name == "Digits.mlmodel" and job_id.startswith("Digits")


def test_an_existing_folder_the_job_command_did_not_write_is_refused(
    real_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    model = real_models / "sleep-predictor/SleepPredictorUpdatable.mlmodel"
    assert main(["job", str(model), "--synthetic", "4", "-o", str(mine)]) == 2
    assert "error:" in capsys.readouterr().err and (mine / "notes.txt").read_text() == "keep me"


def test_a_layer_the_reference_cannot_run_is_named_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    builder = NeuralNetworkBuilder([("x", datatypes.Array(3))], [("y", datatypes.Array(1))])
    layer = builder.nn_spec.layers.add()
    layer.name, layer.custom.className = "vendorLayer", "VendorsOwnLayer"
    layer.input.append("x")
    layer.output.append("h")
    builder.add_inner_product("head", np.ones((1, 3)), np.zeros(1), 3, 1, True, "h", "y")
    spec = make_updatable(builder.spec, ["head"], Loss("mse"), Sgd(lr=0.01, batch=2), epochs=1)
    model = save_spec(spec, tmp_path / "Vendor.mlmodel")
    assert main(["job", str(model), "--synthetic", "4", "-o", str(tmp_path / "job")]) == 0
    capsys.readouterr()
    assert main(["reference", str(tmp_path / "job"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "layer 'vendorLayer' of type custom" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("package-without-model", "the package has no model inside"),
        ("half-copied-compiled", "the compiled folder is incomplete"),
        ("compiled-ml-program", "compiled ML Program"),
    ],
)
def test_bad_model_folders_get_their_own_message(
    damage: str, message: str, real_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if damage == "package-without-model":
        path = tmp_path / "Empty.mlpackage"
        path.mkdir()
        (path / "Manifest.json").write_text(json.dumps({"fileFormatVersion": "1.0.0", "itemInfoEntries": {}}))
    elif damage == "half-copied-compiled":
        path = tmp_path / "Half.mlmodelc"
        shutil.copytree(real_models / "mnist-classifier/MNISTClassifier.mlmodelc", path)
        (path / "model.espresso.weights").unlink()
    else:
        path = tmp_path / "Program.mlmodelc"
        path.mkdir()
        (path / "coremldata.bin").write_bytes(b"\0" * 64)
        (path / "model.mil").write_text("program(1.0)\n")
    for command in (["inspect", str(path)], ["job", str(path), "--synthetic", "2", "-o", str(tmp_path / "j")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
