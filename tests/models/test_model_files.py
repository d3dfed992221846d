"""Every model path a user brings opens through one function: `.mlmodel`, `.mlpackage` and `.mlmodelc`, and
each broken one (a package without a model, a half-copied compiled folder, a compiled ML Program) is refused
with its own message naming the path."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlupdate._coreml import coremltools
from mlupdate.compiled import read_compiled
from mlupdate.errors import CompiledModelError, ModelLoadError
from mlupdate.models.files import open_model
from mlupdate.models.spec import Spec, load_spec

UPDATABLE = "tictactoe/UpdatableNNClassifier.mlmodel"
COMPILED = "mnist-classifier/MNISTClassifier.mlmodelc"


def save_package(spec: Spec, path: Path) -> Path:
    """A package as coremltools writes it (Manifest.json + Data/com.apple.CoreML/model.mlmodel)."""
    coremltools.models.utils.save_spec(spec, str(path))
    return path


@pytest.fixture
def package(real_models: Path, tmp_path: Path) -> Path:
    return save_package(load_spec(real_models / UPDATABLE), tmp_path / "Updatable.mlpackage")


def test_a_package_opens_to_the_same_spec_as_its_mlmodel(real_models: Path, package: Path) -> None:
    original = load_spec(real_models / UPDATABLE)
    assert load_spec(package) == original
    opened = open_model(package)
    assert (opened.format, opened.kind) == ("mlpackage", "neuralNetworkClassifier")
    assert opened.require_spec("training") == original


def test_a_package_renamed_without_its_suffix_is_still_recognised(package: Path, tmp_path: Path) -> None:
    renamed = package.rename(tmp_path / "folder")
    assert open_model(renamed).format == "mlpackage"


def test_mlmodel_and_compiled_folder_open_in_their_formats(real_models: Path) -> None:
    assert open_model(real_models / UPDATABLE).format == "mlmodel"
    compiled = open_model(real_models / COMPILED)
    assert compiled.format == "mlmodelc" and compiled.compiled is not None
    assert compiled.kind == "neuralNetworkClassifier"
    with pytest.raises(ModelLoadError, match="needs the model spec") as info:
        compiled.require_spec("make-updatable")
    assert "make-updatable" in info.value.what and info.value.fix is not None and ".mlpackage" in info.value.fix


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no such file or folder"):
        open_model(tmp_path / "Absent.mlpackage")


def _manifest(package: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((package / "Manifest.json").read_text())
    return loaded


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / "Manifest.json").unlink(), "Manifest.json is missing"),
        (lambda p: shutil.rmtree(p / "Data"), "which is missing"),
        (
            lambda p: (p / "Manifest.json").write_text(json.dumps({**_manifest(p), "rootModelIdentifier": "gone"})),
            "names no root model",
        ),
        (lambda p: (p / "Manifest.json").write_text("{"), "not valid JSON"),
    ],
    ids=["no-manifest", "no-data", "no-root", "broken-manifest"],
)
def test_a_package_without_a_model_inside_is_refused(
    package: Path, damage: Callable[[Path], None], message: str
) -> None:
    damage(package)
    with pytest.raises(ModelLoadError, match=message) as info:
        open_model(package)
    assert info.value.where is not None and str(package) in info.value.where
    assert info.value.fix is not None and ".mlpackage" in info.value.fix


def test_an_empty_package_folder_says_it_holds_no_model(tmp_path: Path) -> None:
    empty = tmp_path / "Empty.mlpackage"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="the package has no model inside"):
        load_spec(empty)


@pytest.mark.parametrize("name", ["model.espresso.weights", "model.espresso.net"])
def test_a_half_copied_compiled_folder_is_named_incomplete(real_model_copy: Callable[[str], Path], name: str) -> None:
    folder = real_model_copy(COMPILED)
    (folder / name).unlink()
    with pytest.raises(CompiledModelError, match=f"incomplete: {name} missing") as info:
        open_model(folder)
    assert info.value.where == str(folder / name)


def test_a_compiled_folder_without_its_description_is_named_incomplete(
    real_model_copy: Callable[[str], Path],
) -> None:
    folder = real_model_copy(COMPILED)
    (folder / "coremldata.bin").unlink()
    with pytest.raises(CompiledModelError, match=r"incomplete: its top-level coremldata\.bin is missing"):
        read_compiled(folder)


@pytest.mark.parametrize("stage", [".", "model0"])
def test_a_compiled_ml_program_is_refused_as_one(tmp_path: Path, stage: str) -> None:
    folder = tmp_path / "Program.mlmodelc"
    (folder / stage / "weights").mkdir(parents=True)
    (folder / "coremldata.bin").write_bytes(b"\0" * 128)
    (folder / stage / "model.mil").write_text("program(1.0)\n")
    (folder / stage / "weights" / "weight.bin").write_bytes(b"\0" * 64)
    with pytest.raises(CompiledModelError, match="compiled ML Program") as info:
        open_model(folder)
    assert info.value.fix is not None and "neuralnetwork" in info.value.fix


def test_a_package_becomes_a_job_carrying_its_spec_as_an_mlmodel(package: Path, tmp_path: Path) -> None:
    from mlupdate.bundle import read_job, write_job
    from mlupdate.data import SetFeature, from_arrays

    boards = np.eye(2, 9)
    features = [SetFeature("gameboard", "multiArray", (9,), "float64"), SetFeature("pick", "string")]
    training = from_arrays(features, {"gameboard": boards, "pick": ["0", "4"]})
    job = read_job(write_job(tmp_path / "jobs", model_path=package, training=training, job_id="package"))
    assert job.model_path.name == "Updatable.mlmodel"
    assert load_spec(job.model_path) == load_spec(package)


def test_inspect_and_validate_accept_a_package(package: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlharness.cli import main

    assert main(["inspect", str(package)]) == 0
    assert "kind: neuralNetworkClassifier (spec version 4), updatable" in capsys.readouterr().out
    assert main(["validate", str(package)]) == 0
    assert "valid updatable model" in capsys.readouterr().out


def test_make_updatable_writes_a_package_when_asked_for_one(real_models: Path, tmp_path: Path) -> None:
    from mlharness.cli import main

    target = tmp_path / "Updatable.mlpackage"
    source = real_models / "tictactoe/NNClassifier.mlmodel"
    args = [
        "make-updatable",
        str(source),
        "--layers",
        "dense_4",
        "--loss",
        "cce",
        "--optimizer",
        "sgd",
        "--epochs",
        "1",
    ]
    assert main([*args, "-o", str(target)]) == 0
    assert open_model(target).format == "mlpackage" and load_spec(target).isUpdatable
    # coremltools reads the package we wrote
    assert coremltools.models.utils.load_spec(str(target)) == load_spec(target)
    assert main([*args, "-o", str(target)]) == 2  # an existing package is never replaced
