"""Timing figures from the event clock and task records, and the job facts parity derives its levels from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlupdate.bundle import read_job
from mlupdate.contract import ProgressEvent
from mlupdate.models.spec import load_spec
from mlupdate.parity.job_info import job_info
from mlupdate.parity.timing import Spread, epoch_durations, memory_growth_per_task, mini_batch_intervals

JOBS = Path(__file__).resolve().parents[1] / "data" / "contract" / "jobs"


def event(name: str, t: float, epoch: int | None = None) -> ProgressEvent:
    return ProgressEvent.from_json({"task": 0, "event": name, "epoch": epoch, "mini_batch": None, "loss": None, "t": t})


def test_epoch_durations_are_differences_of_epoch_end_times() -> None:
    events = [event("trainingBegin", 0.0), event("epochEnd", 0.5, 0), event("epochEnd", 1.25, 1)]
    assert epoch_durations(events) == [0.5, 0.75]


def test_no_epoch_end_events_means_no_epoch_durations() -> None:
    assert epoch_durations([event("miniBatchEnd", 0.1), event("completion", 0.2)]) == []


def test_mini_batch_intervals() -> None:
    events = [event("miniBatchEnd", 0.1), event("epochEnd", 0.15), event("miniBatchEnd", 0.3)]
    assert mini_batch_intervals(events) == pytest.approx([0.2])


def test_memory_growth_is_the_least_squares_slope_per_task() -> None:
    assert memory_growth_per_task([100e6, 350e6, 600e6]) == pytest.approx(250e6)
    assert memory_growth_per_task([100e6]) is None


def test_spread_reports_median_quartiles_and_range() -> None:
    spread = Spread.of([3.0, 1.0, 2.0, 10.0])
    assert spread is not None
    assert (spread.median, spread.minimum, spread.maximum, spread.count) == (2.5, 1.0, 10.0, 4)
    assert Spread.of([]) is None


def test_job_info_uses_overrides_then_model_defaults() -> None:
    job = read_job(JOBS / "golden-classifier-image")
    info = job_info(job.job_id, job.manifest, job.model_path)
    # 4 examples, miniBatchSize 2 (model default), epochs 2 (override).
    assert (info.optimizer, info.mini_batch_size, info.epochs, info.steps_per_epoch) == ("sgd", 2, 2, 2)


def test_job_info_of_a_knn_job_has_no_optimizer_steps() -> None:
    job = read_job(JOBS / "golden-knn-pipeline")
    assert job_info(job.job_id, job.manifest, job.model_path).steps_per_epoch == 0


def test_job_info_of_a_compiled_model_reads_its_update_parameters(real_models: Path, tmp_path: Path) -> None:
    compiled = tmp_path / "Model.mlmodelc"
    shutil.copytree(real_models / "mnist-classifier" / "MNISTClassifier.mlmodelc", compiled)
    params = load_spec(real_models / "sleep-predictor" / "SleepPredictorUpdatable.mlmodel").neuralNetwork.updateParams
    target = compiled / "updateParameters" / "NetworkUpdateParameters"
    target.mkdir(parents=True)
    (target / "coremldata.bin").write_bytes(params.SerializeToString())
    info = job_info("x", {"training": {"count": 40}, "parameters": {}}, compiled)
    # SleepPredictor: SGD, batch 16, 50 epochs -> ceil(40 / 16) = 3 steps per epoch.
    assert (info.optimizer, info.mini_batch_size, info.epochs, info.steps_per_epoch) == ("sgd", 16, 50, 3)
