"""`mlharness reference`: exit codes and output for good, diverging and bad jobs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlharness.cli import main
from mlupdate.bundle import read_results, write_job
from mlupdate.bundle.golden_models import model_bytes, regressor
from mlupdate.data import SetFeature, from_arrays

RNG = np.random.default_rng(4)


def _job(tmp_path: Path, scale: float, job_id: str) -> Path:
    model = tmp_path / "Regressor.mlmodel"
    model.write_bytes(model_bytes(regressor()))
    x = SetFeature("features", "multiArray", (3,), "float64")
    y = SetFeature("y_true", "multiArray", (1,), "float64")
    values = {"features": RNG.normal(size=(8, 3)) * scale, "y_true": RNG.normal(size=(8, 1))}
    return write_job(
        tmp_path / "jobs",
        model_path=model,
        training=from_arrays([x, y], values),
        parameters={"learningRate": 1.0 if scale > 1 else 0.1},
        job_id=job_id,
    )


def test_reference_command_writes_results_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = _job(tmp_path, 1.0, "ok-1")
    assert main(["reference", str(job), "-o", str(tmp_path / "out")]) == 0
    assert "results:" in capsys.readouterr().out
    assert read_results(tmp_path / "out" / "ok-1", "ok-1").status == "succeeded"


def test_reference_command_uses_a_semantics_profile(tmp_path: Path) -> None:
    job = _job(tmp_path, 1.0, "prof-1")
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"kind": "mlupdate.semantics-profile", "knobs": {"mse_scale": "half_squared"}}))
    assert main(["reference", str(job), "-o", str(tmp_path / "out"), "--semantics", str(profile)]) == 0
    results = read_results(tmp_path / "out" / "prof-1", "prof-1")
    assert results.producer.semantics["knobs"]["mse_scale"] == "half_squared"


def test_diverging_training_exits_1_with_a_failed_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = _job(tmp_path, 1e6, "nan-1")  # the weights overflow float32 within the run
    assert main(["reference", str(job), "-o", str(tmp_path / "out")]) == 1
    assert "training failed" in capsys.readouterr().out


def test_bad_profile_exits_2_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = _job(tmp_path, 1.0, "bad-1")
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"knobs": {"momentum_form": "nesterov"}}))
    assert main(["reference", str(job), "-o", str(tmp_path / "out"), "--semantics", str(profile)]) == 2
    assert "profile.json" in capsys.readouterr().err
