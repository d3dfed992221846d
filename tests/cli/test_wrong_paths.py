"""The wrong kind of path gets one error that says what was given, what was expected and what to pass."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlharness.cli import main
from mlharness.process import ScriptedRunner
from mlharness.targets import Host

CONTRACT = Path(__file__).resolve().parents[1] / "data" / "contract"
JOB = CONTRACT / "jobs" / "golden-regressor"
RESULTS = CONTRACT / "results" / "succeeded"
MODEL = JOB / "model" / "TinyRegressor.mlmodel"


class NoDevices:
    """usbmuxd answers and lists no device."""

    def list_udids(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


def error_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_a_model_given_to_reference_says_to_make_a_job_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = error_of(["reference", str(MODEL), "-o", str(tmp_path / "out")], capsys)
    assert "this is a Core ML model" in err and "expected a job bundle folder" in err
    assert "mlharness job MODEL -o DIR" in err


def test_a_scenario_folder_where_a_job_goes_names_the_job_inside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "out" / "digits"
    shutil.copytree(JOB, scenario / "job" / JOB.name)
    err = error_of(["reference", str(scenario), "-o", str(tmp_path / "ref")], capsys)
    assert f"holds the job bundle {scenario / 'job' / JOB.name}" in err
    assert f"fix: pass {scenario / 'job' / JOB.name}" in err


def test_swapped_parity_arguments_are_named_as_swapped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = error_of(["parity", str(JOB), "--job", str(RESULTS), "-o", str(tmp_path / "report")], capsys)
    assert "this is a results bundle" in err and "expected a job bundle folder" in err
    assert "may be swapped" in err


def test_report_on_a_missing_folder_says_it_is_missing_and_what_goes_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = error_of(["report", str(tmp_path / "nowhere")], capsys)
    assert "no such file or folder; expected a parity report folder (report.json) or a results bundle" in err


def test_report_on_a_folder_of_results_names_the_bundles_inside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(RESULTS, tmp_path / "device" / "succeeded")
    err = error_of(["report", str(tmp_path / "device")], capsys)
    assert f"fix: pass {tmp_path / 'device' / 'succeeded'}" in err


def test_run_on_a_host_without_any_target_says_so_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = Host(runner=ScriptedRunner({}), device_port=NoDevices, is_mac=False, has_xcrun=False)
    monkeypatch.setattr("mlharness.targets.default_host", lambda *_args, **_kwargs: bare)
    err = error_of(["run", str(JOB), "--target", "00008130-0001", "-o", str(tmp_path / "out")], capsys)
    assert "no target '00008130-0001': this host sees no Simulator and no device at all" in err
    assert "mlharness doctor" in err


@pytest.mark.parametrize("command", ["validate", "inspect", "make-updatable"])
def test_a_job_bundle_given_where_a_model_goes_names_the_model_inside(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    training = ["--layers", "fc", "--loss", "mse", "--optimizer", "sgd", "--lr", "0.1", "--batch", "1", "--epochs", "1"]
    extra = [*training, "-o", str(tmp_path / "U.mlmodel")] if command == "make-updatable" else []
    err = error_of([command, str(JOB), *extra], capsys)
    assert "this is a job bundle (a folder with job.json); expected a Core ML model" in err
    assert f"fix: pass the model inside it: {MODEL}" in err


def test_a_results_bundle_given_where_a_model_goes_names_its_trained_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = error_of(["validate", str(RESULTS)], capsys)
    assert "this is a results bundle" in err and "expected a Core ML model" in err
    trained = next((RESULTS / "model").iterdir())
    assert f"fix: pass the model inside it: {trained}" in err
    assert "`mlharness inspect` reads it" in err  # the results hold a compiled model


def test_a_folder_of_scenarios_given_where_a_model_goes_names_a_model_below(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(JOB, tmp_path / "out" / "digits" / "job" / JOB.name)
    err = error_of(["inspect", str(tmp_path / "out")], capsys)
    assert f"holds the job bundle {tmp_path / 'out' / 'digits' / 'job' / JOB.name}; expected a Core ML model" in err
    assert f"fix: pass the model inside it: {tmp_path / 'out' / 'digits' / 'job' / JOB.name / 'model'}" in err


def test_a_folder_without_a_model_says_what_it_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "photos").mkdir()
    err = error_of(["validate", str(tmp_path / "photos")], capsys)
    assert "this is a folder with no bundle or report in it; expected a Core ML model" in err
    assert "fix: pass a .mlmodel file or an .mlpackage folder" in err


def test_a_model_given_where_results_go_points_to_parity_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = error_of(["parity", str(MODEL), "--job", str(JOB), "-o", str(tmp_path / "report")], capsys)
    assert "this is a Core ML model" in err and "expected a results bundle folder" in err
    assert "fix: a model your app trained is judged with `mlharness parity --model MODEL --job JOB`" in err


def test_results_given_to_reference_ask_for_their_job_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = error_of(["reference", str(RESULTS), "-o", str(tmp_path / "ref")], capsys)
    assert "this is a results bundle" in err and "expected a job bundle folder" in err
    assert "fix: pass the job bundle these results came from" in err
