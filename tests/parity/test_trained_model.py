"""`mlharness parity --model TRAINED --job JOB`: a model trained by any app is judged on its weights alone, and
every check without evidence (status, events, probes, timing, the app's dump) is reported "not recorded"."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlharness.cli import main
from mlupdate._coreml import coremltools
from mlupdate.bundle import read_results, write_job
from mlupdate.data.examples import from_arrays, set_feature
from mlupdate.models.features import training_inputs
from mlupdate.models.spec import load_spec, save_spec
from mlupdate.parity.parameters import compare_parameters
from mlupdate.parity.run import run_parity
from mlupdate.parity.tolerances import for_case
from mlupdate.parity.trained_model import read_trained_model
from mlupdate.reference.run import run_reference
from mlupdate.reference.semantics import Semantics
from mlupdate.scenarios.digits import updatable_mnist

CONTRACT_JOBS = Path(__file__).resolve().parents[1] / "data" / "contract" / "jobs"
JOB = CONTRACT_JOBS / "golden-regressor"
JOB_ID = "golden-regressor"
ABSENT = ["status", "events", "dump-vs-model", "timing"]
MNIST_DENSE = ("drawing_dense0_fwd", "drawing_dense1_fwd")


@pytest.fixture(scope="module")
def trained_by_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .mlmodel the reference trainer wrote for the golden job: what a correct app would have written."""
    out = run_reference(JOB, tmp_path_factory.mktemp("reference"))
    model = read_results(out, JOB_ID).model_path
    assert model is not None
    return model


def test_a_correctly_trained_model_passes_on_its_weights_and_marks_the_rest_not_recorded(
    trained_by_reference: Path, tmp_path: Path, capsys: Any
) -> None:
    out = tmp_path / "report"
    code = main(["parity", "--model", str(trained_by_reference), "--job", str(JOB), "-o", str(out), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document["summary"]
    assert document["rests_on"] == ["parameters"]
    statuses = {check["name"]: check["status"] for check in document["checks"]}
    assert sorted(document["not_recorded"]) == sorted(ABSENT)
    assert all(statuses[name] == "not_recorded" for name in ABSENT)
    assert "not recorded: status, events" in document["basis"]
    assert "not recorded" in (out / "summary.md").read_text()
    assert 'class="badge not_recorded">not recorded<' in (out / "report.html").read_text()


def test_a_trained_mlpackage_is_read_like_the_mlmodel_inside(trained_by_reference: Path, tmp_path: Path) -> None:
    package = tmp_path / "Trained.mlpackage"
    coremltools.models.utils.save_spec(load_spec(trained_by_reference), str(package))
    result = run_parity(None, JOB, tmp_path / "report", model=package)
    assert result.verdict.passed, result.verdict.summary()
    assert result.verdict.rests_on == ("parameters",)


def test_the_untrained_model_fails_on_its_weights(tmp_path: Path, capsys: Any) -> None:
    untrained = JOB / "model" / "TinyRegressor.mlmodel"
    code = main(["parity", "--model", str(untrained), "--job", str(JOB), "-o", str(tmp_path / "r"), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [check["name"] for check in document["checks"] if check["status"] == "fail"] == ["parameters"]
    assert "not recorded: status, events" in document["summary"]


@pytest.mark.parametrize(
    "knobs, cause",
    [
        ({"batch_reduction": "sum"}, "batch_reduction=sum (sum instead of mean): "),
        # without events the two knobs that give the same weights stay tied, and the report says so
        ({"mse_gradient_factor": 1}, "mse_scale=half_squared (half-squared MSE) or mse_gradient_factor=1"),
    ],
)
def test_a_model_written_by_a_wrong_trainer_fails_on_its_weights_naming_the_knob(
    knobs: dict[str, object], cause: str, tmp_path: Path, capsys: Any
) -> None:
    results = run_reference(JOB, tmp_path / "wrong", semantics=Semantics(**knobs))  # type: ignore[arg-type]
    wrong = read_results(results, JOB_ID).model_path
    assert wrong is not None
    code = main(["parity", "--model", str(wrong), "--job", str(JOB), "-o", str(tmp_path / "r"), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    checks = {check["name"]: check for check in document["checks"]}
    assert [name for name, check in checks.items() if check["status"] == "fail"] == ["parameters"]
    assert checks["parameters"]["details"]["likely_cause"].startswith(cause)
    assert sorted(document["not_recorded"]) == sorted(ABSENT)
    assert document["rests_on"] == ["parameters"]
    # every alternative that changes this job lands far outside the step tolerance: the check has power here
    power = checks["power"]
    assert power["status"] == "pass", power["message"]
    assert min(row["score"] for row in power["details"]["alternatives"]) > 100


def test_results_and_model_together_are_refused(trained_by_reference: Path, tmp_path: Path, capsys: Any) -> None:
    code = main(["parity", str(tmp_path), "--model", str(trained_by_reference), "--job", str(JOB)])
    assert code == 2
    assert "exactly one of them" in capsys.readouterr().err


def test_a_model_without_the_jobs_layers_is_refused_naming_what_it_has(
    real_models: Path, tmp_path: Path, capsys: Any
) -> None:
    model = real_models / "mnist-classifier" / "MNISTClassifier.mlmodel"
    code = main(["parity", "--model", str(model), "--job", str(JOB), "-o", str(tmp_path / "r")])
    assert code == 2
    assert "none of the job's updatable layers" in capsys.readouterr().err


# --- compiled models: the real Xcode-compiled MNIST classifier -------------------------------------------------


def _mnist_job(folder: Path, real_models: Path, learning_rate: float) -> Path:
    spec = updatable_mnist(real_models)
    model = save_spec(spec, folder / "model" / "UpdatableMNIST.mlmodel")
    features = [set_feature(f, where="test") for f in training_inputs(spec)]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    training = from_arrays(features, {features[0].name: images, features[1].name: [1, 7, 3, 1]}, origin="t")
    return write_job(
        folder / "job",
        model_path=model,
        training=training,
        parameters={"epochs": 1, "learningRate": learning_rate},
        events=("epochEnd",),
        job_id="mnist-any-app",
    )


@pytest.mark.parametrize("learning_rate, passes", [(0.0, True), (0.01, False)])
def test_a_compiled_model_is_judged_on_its_weights(
    learning_rate: float, passes: bool, real_models: Path, tmp_path: Path
) -> None:
    # With learning rate 0 the update leaves the weights as shipped, and the compiled fixture holds them
    # bit for bit; with 0.01 the reference moves them and the untouched compiled model must fail.
    job = _mnist_job(tmp_path, real_models, learning_rate)
    compiled = real_models / "mnist-classifier" / "MNISTClassifier.mlmodelc"
    result = run_parity(None, job, tmp_path / "report", model=compiled)
    assert result.verdict.passed is passes, result.verdict.summary()
    assert result.verdict.rests_on == ("parameters",)
    assert result.report.provenance.model_sha256 is not None


def test_float16_compiled_weights_get_the_float16_tolerance(real_models: Path, tmp_path: Path) -> None:
    job = _mnist_job(tmp_path, real_models, 0.0)
    compiled = tmp_path / "MNISTClassifier.mlmodelc"
    shutil.copytree(real_models / "mnist-classifier" / "MNISTClassifier.mlmodelc", compiled)
    _weights_to_float16(compiled)
    result = run_parity(None, job, tmp_path / "report", model=compiled)
    check = result.verdict.check("parameters")
    assert check.status == "pass", check.message
    per_tensor = check.details["tolerance_per_tensor"]
    assert "float16" in per_tensor["drawing_dense0_fwd.weights"]["reason"]
    assert "float16" not in per_tensor["drawing_dense0_fwd.biases"]["reason"]
    # Typed as float32, the same weights fail: float16 rounding (up to 2^-11 relative) is far outside one
    # float32 step's allowance.
    reference = read_results(result.reference, "mnist-any-app").parameters
    trained = read_trained_model(compiled, "mnist-any-app", reference)
    assert trained.precision[("drawing_dense0_fwd", "weights")] == "float16"
    assert trained.precision[("drawing_dense0_fwd", "biases")] == "float32"
    as_float32 = compare_parameters(reference, trained.parameters, for_case("default"), steps=1)
    assert as_float32.status == "fail"


def _weights_to_float16(compiled: Path) -> None:
    """Store the dense layers' weights as float16 blobs, as a compiler may (espresso weights: u64 count, count x
    (u64 id, u64 size), blobs in id order)."""
    net_path, weights_path = compiled / "model.espresso.net", compiled / "model.espresso.weights"
    data = weights_path.read_bytes()
    (count,) = struct.unpack_from("<Q", data, 0)
    offset, blobs = 8 + 16 * count, {}
    for index in range(count):
        blob_id, size = struct.unpack_from("<QQ", data, 8 + 16 * index)
        blobs[blob_id] = data[offset : offset + size]
        offset += size
    net = json.loads(net_path.read_text())
    for layer in net["layers"]:
        if layer["name"] in MNIST_DENSE:
            blob = layer.pop("blob_weights")
            blobs[blob] = np.frombuffer(blobs[blob], "<f4").astype("<f2").tobytes()
            layer["blob_weights_f16"] = blob
    net_path.write_text(json.dumps(net))
    ids = sorted(blobs)
    table = struct.pack("<Q", len(ids)) + b"".join(struct.pack("<QQ", i, len(blobs[i])) for i in ids)
    weights_path.write_bytes(table + b"".join(blobs[i] for i in ids))


def test_parity_runs_again_into_the_same_folder_with_a_fresh_reference(
    trained_by_reference: Path, tmp_path: Path, capsys: Any
) -> None:
    out = tmp_path / "report"
    argv = ["parity", "--model", str(trained_by_reference), "--job", str(JOB), "-o", str(out)]
    assert main(argv) == 0
    first = (out / "reference" / JOB_ID / "results.json").read_bytes()
    assert main(argv) == 0, capsys.readouterr().out
    second = (out / "reference" / JOB_ID / "results.json").read_bytes()
    assert first != second  # a new reference run (its timings differ), not the old folder left in place
