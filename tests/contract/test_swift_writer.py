"""The Swift side of the contract, seen from Python: results bundles written by CompanionKit's atomic writer
(through the `companion-cli` target) pass `mlupdate.bundle.read_results`, and the Swift readers refuse every
invalid golden bundle. Skips when no Swift toolchain is on PATH."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mlupdate.bundle import read_job, read_results
from mlupdate.errors import HashMismatchError

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "ios_app"
CONTRACT = REPO / "tests" / "data" / "contract"
GOLDEN_JOBS = sorted(p.name for p in (CONTRACT / "jobs").iterdir()) if (CONTRACT / "jobs").is_dir() else []
INVALID = json.loads((CONTRACT / "invalid" / "expected.json").read_text()) if CONTRACT.is_dir() else {}
BUILD_TIMEOUT = 1800
RUN_TIMEOUT = 120

# The Swift refusal kinds (CompanionError) that name the same rule as each Python error class.
SAME_RULE = {
    "SchemaError": {"unsupportedSchemaVersion", "invalidManifest", "invalidNpy"},
    "IncompleteBundleError": {"missingFile", "jobIDMismatch"},
    "UnsafePathError": {"unsafePath"},
    "HashMismatchError": {"hashMismatch", "unlistedFile"},
}


def run_cli(cli: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)


def write_results(cli: Path, job_id: str, outbox: Path, status: str = "succeeded") -> Path:
    job_dir = CONTRACT / "jobs" / job_id
    done = run_cli(cli, "write-results", "--job", str(job_dir), "--out", str(outbox), "--status", status)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(outbox / job_id)
    return outbox / job_id


@pytest.mark.parametrize("job_id", GOLDEN_JOBS)
def test_swift_results_pass_the_python_reader_with_the_jobs_tasks_events_and_parameters(
    companion_cli: Path, tmp_path: Path, job_id: str
) -> None:
    job = read_job(CONTRACT / "jobs" / job_id)
    manifest = json.loads((CONTRACT / "jobs" / job_id / "job.json").read_text())
    results = read_results(write_results(companion_cli, job_id, tmp_path / "outbox"), job_id)

    assert results.job_id == job.job_id == job_id
    assert results.producer.name == "companion-cli"
    assert results.status == "succeeded"
    assert [task.index for task in results.tasks] == list(range(manifest["repeat"]))
    # Only the events the job asked for, plus one completion per task, in task order.
    assert {e.event for e in results.events} <= {*manifest["events"], "completion"}
    assert Counter(e.event for e in results.events)["completion"] == manifest["repeat"]
    assert [e.task for e in results.events] == sorted(e.task for e in results.events)
    for task in range(manifest["repeat"]):
        times = [e.t for e in results.events if e.task == task]
        assert times == sorted(times), "t is monotonic within a task"
    layers = manifest["model"]["updatable_layers"]
    scope = manifest["model"]["update_scope"]
    scoped = [f"{scope}.{layer}" if scope else layer for layer in layers]
    assert set(results.parameters) == {(name, kind) for name in scoped for kind in ("weights", "biases")}
    assert all(array.dtype == np.float32 for array in results.parameters.values())


def test_swift_events_follow_the_jobs_epochs_and_requested_handlers(companion_cli: Path, tmp_path: Path) -> None:
    # golden-classifier-image: epochs 2, no miniBatchSize (one batch per epoch), all three handlers, repeat 2.
    results = read_results(write_results(companion_cli, "golden-classifier-image", tmp_path), "golden-classifier-image")
    per_task = [[(e.event, e.epoch, e.mini_batch) for e in results.events if e.task == task] for task in (0, 1)]
    expected = [
        ("trainingBegin", None, None),
        ("miniBatchEnd", 0, 0),
        ("epochEnd", 0, None),
        ("miniBatchEnd", 1, 0),
        ("epochEnd", 1, None),
        ("completion", None, None),
    ]
    assert per_task == [expected, expected]
    assert [task.epochs_completed for task in results.tasks] == [2, 2]
    completion = [e for e in results.events if e.event == "completion"]
    assert [task.final_loss for task in results.tasks] == [e.loss for e in completion]


def test_swift_probe_outputs_are_read_as_labels_and_class_probabilities(companion_cli: Path, tmp_path: Path) -> None:
    results = read_results(write_results(companion_cli, "golden-classifier-image", tmp_path), "golden-classifier-image")
    labels = json.loads((CONTRACT / "jobs" / "golden-classifier-image" / "train" / "label.json").read_text())
    outputs = results.probe_outputs
    assert outputs["label"].type == "string"
    assert len(outputs["label"].values) == 2
    assert set(outputs["label"].values) <= set(labels)
    probabilities = outputs["labelProbability"]
    assert probabilities.type == "dictionary"
    assert probabilities.classes == tuple(sorted(set(labels)))
    assert isinstance(probabilities.values, np.ndarray)
    assert probabilities.values.shape == (2, len(set(labels)))
    np.testing.assert_allclose(probabilities.values.sum(axis=1), 1.0, rtol=1e-6)


def test_swift_regression_probe_is_skipped_without_a_probe_set(companion_cli: Path, tmp_path: Path) -> None:
    results = read_results(write_results(companion_cli, "golden-regressor", tmp_path), "golden-regressor")
    assert results.manifest["probe"] is None
    assert results.probe_outputs == {}


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_swift_unfinished_runs_have_no_completion_and_no_artifacts(
    companion_cli: Path, tmp_path: Path, status: str
) -> None:
    results = read_results(
        write_results(companion_cli, "golden-classifier-image", tmp_path, status), "golden-classifier-image"
    )
    assert results.status == status
    assert all(task.status == status for task in results.tasks)
    assert all(task.error is not None for task in results.tasks)
    assert not any(e.event == "completion" for e in results.events)
    assert results.parameters == {}
    assert results.manifest["probe"] is None


def test_python_reader_refuses_a_swift_bundle_changed_after_writing(companion_cli: Path, tmp_path: Path) -> None:
    bundle = write_results(companion_cli, "golden-index-classifier", tmp_path)
    weights = bundle / "parameters" / "dense.weights.npy"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(HashMismatchError):
        read_results(bundle, "golden-index-classifier")


def test_swift_writer_refuses_to_replace_an_existing_results_bundle(companion_cli: Path, tmp_path: Path) -> None:
    bundle = write_results(companion_cli, "golden-regressor", tmp_path)
    before = (bundle / "results.json").read_bytes()
    again = run_cli(
        companion_cli, "write-results", "--job", str(CONTRACT / "jobs" / "golden-regressor"), "--out", str(tmp_path)
    )
    assert again.returncode == 2
    assert again.stderr.startswith("refused: outboxOccupied")
    assert (bundle / "results.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["golden-regressor"]


@pytest.mark.parametrize("job_id", GOLDEN_JOBS)
def test_swift_validate_job_accepts_each_golden_job(companion_cli: Path, job_id: str) -> None:
    done = run_cli(companion_cli, "validate-job", str(CONTRACT / "jobs" / job_id), "--job-id", job_id)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ok {job_id}:")


@pytest.mark.parametrize("name", sorted(INVALID))
def test_swift_readers_refuse_each_invalid_golden_bundle_for_the_same_rule(companion_cli: Path, name: str) -> None:
    entry = INVALID[name]
    command = "validate-job" if entry["reader"] == "job" else "validate-results"
    done = run_cli(companion_cli, command, str(CONTRACT / "invalid" / name), "--job-id", entry["expected_job_id"])
    assert done.returncode == 1, (done.stdout, done.stderr)
    kind = done.stderr.removeprefix("refused: ").split(":", 1)[0]
    assert kind in SAME_RULE[entry["error"]], done.stderr
