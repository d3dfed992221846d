"""The golden bundles in tests/data/contract/ are what the generator writes, and readers treat them as listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mlupdate.errors
from mlupdate.bundle import read_job, read_results
from mlupdate.bundle.golden import GENERATED, generate
from mlupdate.errors import OutputFolderError

CONTRACT = Path(__file__).resolve().parents[1] / "data" / "contract"
EXPECTED = json.loads((CONTRACT / "invalid" / "expected.json").read_text("utf-8"))


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_regenerating_the_golden_bundles_gives_identical_bytes(tmp_path: Path) -> None:
    generate(tmp_path)
    for name in GENERATED:
        fresh, committed = _tree(tmp_path / name), _tree(CONTRACT / name)
        assert sorted(fresh) == sorted(committed), f"{name}: files differ; run python -m mlupdate.bundle.golden"
        changed = [entry for entry in fresh if fresh[entry] != committed[entry]]
        assert not changed, f"{name}: {changed} differ; run python -m mlupdate.bundle.golden"


def test_the_generator_keeps_a_folder_it_did_not_write_and_replaces_its_own(tmp_path: Path) -> None:
    notes = tmp_path / "jobs" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("mine")
    with pytest.raises(OutputFolderError, match="not written by the golden bundle generator"):
        generate(tmp_path)
    assert notes.read_text() == "mine"
    notes.unlink()
    generate(tmp_path)  # an empty jobs/ is not a user's content; afterwards the folder is the generator's own
    generate(tmp_path)
    assert (tmp_path / "invalid" / "expected.json").is_file()


@pytest.mark.parametrize("name", sorted(p.name for p in (CONTRACT / "jobs").iterdir()))
def test_every_golden_job_is_accepted(name: str) -> None:
    job = read_job(CONTRACT / "jobs" / name)
    assert job.job_id == name
    for view in (job.training, job.probe):
        for feature in view.features if view else ():
            assert len(view.load(feature.name)) == view.count  # type: ignore[union-attr]


@pytest.mark.parametrize("name", sorted(p.name for p in (CONTRACT / "results").iterdir()))
def test_every_golden_results_bundle_is_accepted(name: str) -> None:
    job_id = (CONTRACT / "results" / name / "DONE").read_text().splitlines()[0]
    results = read_results(CONTRACT / "results" / name, job_id)
    assert results.status in name or name == "reference-knn"
    assert len(results.events) == results.manifest["events"]["count"]


def test_golden_results_cover_success_failure_and_cancellation() -> None:
    succeeded = read_results(CONTRACT / "results" / "succeeded", "golden-classifier-image")
    assert {e.event for e in succeeded.events} == {"trainingBegin", "miniBatchEnd", "epochEnd", "completion"}
    assert succeeded.parameters[("dense", "weights")].shape == (3, 48)
    assert succeeded.probe_outputs["probs"].classes == ("cat", "dog", "fish")
    assert succeeded.model_path is not None and succeeded.model_path.is_dir()
    failed = read_results(CONTRACT / "results" / "failed", "golden-classifier-image")
    assert failed.error is not None and failed.error.phase == "train" and failed.model_path is None
    cancelled = read_results(CONTRACT / "results" / "cancelled", "golden-classifier-image")
    assert cancelled.status == "cancelled" and all(e.event != "completion" for e in cancelled.events)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_invalid_bundle_is_refused_with_the_listed_error(name: str) -> None:
    expected = EXPECTED[name]
    error_class = getattr(mlupdate.errors, expected["error"])
    with pytest.raises(error_class) as info:
        if expected["reader"] == "job":
            read_job(CONTRACT / "invalid" / name)
        else:
            read_results(CONTRACT / "invalid" / name, expected["expected_job_id"])
    assert type(info.value) is error_class
    assert str(CONTRACT / "invalid" / name) in (info.value.where or "")


def test_invalid_readme_lists_every_broken_bundle() -> None:
    readme = (CONTRACT / "invalid" / "README.md").read_text("utf-8")
    folders = {p.name for p in (CONTRACT / "invalid").iterdir() if p.is_dir()}
    assert folders == set(EXPECTED)
    assert all(f"`{name}`" in readme for name in folders)
