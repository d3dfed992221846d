"""The seed scenarios build reproducibly, tell the story their seed tells, and fail clearly without fixtures."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from mlharness.cli import main
from mlupdate.bundle import read_job, read_results
from mlupdate.errors import InputError
from mlupdate.models.spec import load_spec
from mlupdate.models.validate import validate
from mlupdate.reference.run import run_reference
from mlupdate.scenarios import build_scenario
from mlupdate.scenarios.demo import CANNOT_NOTE, CHECKED_NOTE


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def lunch(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return build_scenario("lunch", tmp_path_factory.mktemp("lunch"))


def test_digits_builds_the_seed_job_from_real_digits_reproducibly(real_models: Path, tmp_path: Path) -> None:
    first = build_scenario("digits", tmp_path / "a", real_models=real_models)
    second = build_scenario("digits", tmp_path / "b", real_models=real_models)
    assert tree_digest(first.folder) == tree_digest(second.folder)
    job = read_job(first.jobs[0])
    assert job.parameters == {"epochs": 10, "learningRate": 0.02}
    labels = job.training.load("classLabel")
    assert sorted(set(labels)) == list(range(10))
    assert all(labels.count(d) == 10 for d in range(10))
    assert job.training.load("image").shape == (100, 1, 28, 28)
    assert validate(load_spec(first.model)) == []


def test_stickers_knn_recognises_fresh_drawings_after_three_per_sticker(real_models: Path, tmp_path: Path) -> None:
    result = build_scenario("stickers", tmp_path, real_models=real_models)
    job = read_job(result.jobs[0])
    assert job.training.count == 9
    bundle = read_results(run_reference(result.jobs[0], tmp_path / "results"), job.job_id)
    predicted = bundle.probe_outputs["label"].values
    assert predicted[:6] == ["star", "heart", "house", "star", "heart", "house"]


def test_lunch_retraining_moves_the_photo_like_the_seed_and_both_jobs_start_from_the_shipped_model(
    lunch, tmp_path: Path
) -> None:
    shipped_before = hashlib.sha256(lunch.model.read_bytes()).hexdigest()
    assert lunch.facts["shipped_sha256"] == shipped_before
    before = lunch.facts["probability_before"]
    assert 0.9 < before < 0.999
    outputs = []
    for job_path in lunch.jobs:
        bundle = read_results(run_reference(job_path, tmp_path / job_path.name), job_path.name)
        outputs.append(bundle.probe_outputs["output"])
    first, again = outputs
    np.testing.assert_array_equal(first.values, again.values)
    column = list(first.classes).index(lunch.facts["predicted_before"])
    after = float(first.values[0, column])
    assert 0.5 < after < before - 0.05  # still the same class, visibly less sure (the seed: 95% -> 85%)
    assert hashlib.sha256(lunch.model.read_bytes()).hexdigest() == shipped_before


def test_lunch_readme_says_what_is_generated(lunch) -> None:
    text = lunch.readme.read_text()
    assert "**Generated**" in text
    assert "pretrained here by the reference trainer" in text


def test_catdog_relabels_each_picture_with_the_opposite_prediction(tmp_path: Path) -> None:
    result = build_scenario("catdog", tmp_path)
    assert result.facts["held_out_accuracy"] >= 0.9
    job = read_job(result.jobs[0])
    expected = ["Dog" if p == "Cat" else "Cat" for p in result.facts["predicted_before"]]
    assert job.probe is not None and job.probe.count == 10
    # The probe keeps the pictures in prediction order; the training set is grouped by label, so pair by pixels.
    probe_images = job.probe.load("image")
    for image, label in zip(job.training.load("image"), job.training.load("classLabel"), strict=True):
        (index,) = [i for i, probe in enumerate(probe_images) if np.array_equal(probe, image)]
        assert label == expected[index]


def test_scenario_needing_real_models_names_the_fix_when_absent(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="MNISTClassifier") as caught:
        build_scenario("digits", tmp_path, real_models=tmp_path / "nowhere")
    assert "MLUPDATE_REAL_MODELS" in (caught.value.fix or "")


def test_unknown_scenario_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown scenario"):
        build_scenario("pets", tmp_path)


def test_scenario_cli_prints_the_bundles_it_built(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "lunch", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "lunch" / "jobs" / "lunch-retrain") in out
    assert "1 examples" in out


def test_scenario_cli_missing_fixtures_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scenario", "digits", "-o", str(tmp_path), "--real-models", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


def test_scenario_cli_output_that_is_a_file_exits_2_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    occupied = tmp_path / "notes.txt"
    occupied.write_text("not a folder")
    assert main(["scenario", "lunch", "-o", str(occupied)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {occupied / 'lunch'}:") and "a file stands where a folder is needed" in err


def test_demo_refuses_to_replace_a_folder_it_did_not_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "thesis.tex").write_text("keep me")
    assert main(["demo", "-o", str(tmp_path)]) == 2
    assert (
        "refusing to replace a folder `mlharness demo` did not write (it holds thesis.tex)" in capsys.readouterr().err
    )
    assert (tmp_path / "thesis.tex").read_text() == "keep me"


def test_demo_output_that_is_a_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    occupied = tmp_path / "demo"
    occupied.write_text("")
    assert main(["demo", "-o", str(occupied)]) == 2
    assert "a file stands where a folder is needed" in capsys.readouterr().err


def test_demo_runs_reference_parity_and_report_and_labels_the_dry_run(
    real_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--real-models", str(real_models)]) == 0
    printed = capsys.readouterr().out
    assert "verdict         PASS" in printed
    # What the dry run checked, what it measured and what it cannot check, each said once.
    for note in (CHECKED_NOTE, "the second reference run repeated the first bit for bit (", CANNOT_NOTE):
        assert printed.count(note) == 1, note
    html = (out / "report" / "report.html").read_text()
    assert "not a device result" in html
    for name in ("stickers", "digits", "catdog", "lunch"):
        assert (out / "scenarios" / name / "README.md").is_file()
