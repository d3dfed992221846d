"""End to end with the real reference trainer: a reference dry run passes and is labelled, at step level and
at trajectory level (with a real perturbed ensemble), and a perturbed result fails at trajectory level."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from mlharness.cli import main
from mlupdate.bundle import ResultsBundle, ResultsWriter, read_results
from mlupdate.parity.run import run_parity
from mlupdate.parity.tolerances import for_case
from mlupdate.reference.run import run_reference

JOBS = Path(__file__).resolve().parents[1] / "data" / "contract" / "jobs"


def reference_results(job: str, tmp_path: Path) -> Path:
    return run_reference(JOBS / job, tmp_path / "dry-run")


def rewrite(bundle: ResultsBundle, parent: Path, *, scale: float) -> Path:
    """The same results with every updated parameter multiplied by `scale` (a device that trained elsewhere)."""
    with ResultsWriter(parent, bundle.job_id) as writer:
        writer.add_events(bundle.events)
        for (layer, kind), values in bundle.parameters.items():
            writer.add_parameter(layer, "", kind, values * scale)
        assert bundle.model_path is not None
        writer.add_model(bundle.model_path)
        return writer.finish(bundle.status, bundle.error, bundle.device, bundle.tasks, bundle.producer)


@pytest.mark.parametrize("job", ["golden-index-classifier", "golden-regressor", "golden-knn-pipeline"])
def test_reference_dry_run_through_the_cli_passes_and_is_labelled(job: str, tmp_path: Path, capsys: Any) -> None:
    results = reference_results(job, tmp_path)
    code = main(["parity", str(results), "--job", str(JOBS / job), "-o", str(tmp_path / "report")])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "reference dry run - not a device result" in printed
    assert (tmp_path / "report" / "reference" / job / "DONE").is_file()


def test_knn_dry_run_has_no_parameters_to_compare(tmp_path: Path) -> None:
    results = reference_results("golden-knn-pipeline", tmp_path)
    run = run_parity(results, JOBS / "golden-knn-pipeline", tmp_path / "report")
    assert run.verdict.steps == 0
    assert run.verdict.check("parameters").status == "skip"
    assert run.verdict.check("probe:label").status == "pass"


def trajectory_tolerances() -> Any:
    # The golden jobs are short; a one-step horizon sends them to the trajectory level with a real ensemble.
    return dataclasses.replace(for_case("default"), step_level_max_steps=1)


def test_trajectory_level_dry_run_passes_inside_the_ensemble(tmp_path: Path) -> None:
    results = reference_results("golden-regressor", tmp_path)
    run = run_parity(
        results, JOBS / "golden-regressor", tmp_path / "report", ensemble=5, tolerances=trajectory_tolerances()
    )
    assert run.verdict.level == "trajectory"
    check = run.verdict.check("trajectory")
    assert check.status == "pass", check.message
    assert len(check.details["member_scores"]) == 5
    assert "<svg" in run.reports.html.read_text()


def test_trajectory_level_result_far_from_the_ensemble_fails(tmp_path: Path) -> None:
    results = reference_results("golden-regressor", tmp_path)
    device = rewrite(read_results(results, "golden-regressor"), tmp_path / "device", scale=1.5)
    run = run_parity(
        device,
        JOBS / "golden-regressor",
        tmp_path / "report",
        ensemble=4,
        reference=results,
        tolerances=trajectory_tolerances(),
    )
    check = run.verdict.check("trajectory")
    assert check.status == "fail"
    assert check.details["score"] > 3
    assert not run.verdict.passed


def test_a_semantics_profile_runs_the_reference_with_it_and_is_named(tmp_path: Path) -> None:
    results = reference_results("golden-index-classifier", tmp_path)  # trained with the default (mean) CCE
    profile = tmp_path / "profile.json"
    profile.write_text('{"cce_reduction": "sum"}')
    run = run_parity(results, JOBS / "golden-index-classifier", tmp_path / "report", semantics_profile=profile)
    knobs = {knob.name: knob for knob in run.verdict.semantics.knobs}
    assert knobs["cce_reduction"].value == "sum"
    assert knobs["cce_reduction"].label == "uncalibrated"
    assert run.verdict.semantics.profile == str(profile)
    # A summed loss is B times the mean: the first mini-batch's loss already differs.
    assert run.verdict.check("events").status == "fail"
