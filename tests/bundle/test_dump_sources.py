"""The results reader keeps the app's two parameter reads apart and refuses manifests that mix them up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlupdate.bundle import ResultsWriter, read_results
from mlupdate.bundle.hashing import sha256_bytes
from mlupdate.bundle.results_writer import done_text
from mlupdate.contract import (
    RELOAD_COMPUTE_UNITS,
    ComputeUnits,
    DeviceInfo,
    Producer,
    ProducerName,
    ReloadTiming,
    RunError,
    TaskRecord,
    TaskStatus,
)
from mlupdate.errors import SchemaError

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "contract" / "results"
DEVICE = DeviceInfo("d", "m", "iOS", "18.5", "x", is_simulator=False)


def _task(**extra: Any) -> TaskRecord:
    return TaskRecord(0, TaskStatus.SUCCEEDED, epochs_completed=1, final_loss=0.5, **extra)


def _write(tmp_path: Path, sources: list[str | None], **task: Any) -> Path:
    with ResultsWriter(tmp_path, "job-1") as writer:
        for index, source in enumerate(sources):
            writer.add_parameter(f"d{index}", "", "weights", np.zeros(2), source=source)
        writer.add_reload(ReloadTiming(ComputeUnits.ALL, 0.5, None, RunError("probe", "com.apple.CoreML", 1, "x")))
        producer = Producer(ProducerName.COMPANION_MACOS, "1")
        return writer.finish(TaskStatus.SUCCEEDED, None, DEVICE, [_task(**task)], producer)


def test_golden_results_carry_reload_timings_per_compute_unit() -> None:
    bundle = read_results(GOLDEN / "succeeded", "golden-classifier-image")
    assert [r.compute_units for r in bundle.reloads] == list(RELOAD_COMPUTE_UNITS)
    assert all(r.load_seconds is not None and r.first_prediction_seconds is not None for r in bundle.reloads)
    assert [t.task_state for t in bundle.tasks] == ["completed", "completed"]
    cancelled = read_results(GOLDEN / "cancelled", "golden-classifier-image")
    state = cancelled.tasks[0].task_state
    assert state is not None and state.may_still_run


def test_reload_errors_and_task_flags_round_trip(tmp_path: Path) -> None:
    bundle = read_results(_write(tmp_path, ["reloaded"], task_state="cancelling", contaminated=True), "job-1")
    (reload,) = bundle.reloads
    assert reload.error is not None and reload.error.phase == "probe" and reload.first_prediction_seconds is None
    assert bundle.tasks[0].contaminated is True
    # Only a reloaded dump: it is the primary one, and there is nothing to cross-check.
    assert bundle.primary_dump_source == "reloaded" and list(bundle.parameters) == [("d0", "weights")]
    assert bundle.cross_check_parameters == {}


def test_a_manifest_mixing_labelled_and_unlabelled_dumps_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="every parameter names its source"):
        read_results(_write(tmp_path, ["context", None]), "job-1")


def test_the_same_tensor_dumped_twice_by_one_read_is_refused(tmp_path: Path) -> None:
    root = _write(tmp_path, ["context", "reloaded"])
    manifest = json.loads((root / "results.json").read_text())
    manifest["parameters"][1] |= {"layer": "d0", "source": "context"}
    data = json.dumps(manifest).encode()
    (root / "results.json").write_bytes(data)
    (root / "DONE").write_bytes(done_text("job-1", sha256_bytes(data)))
    with pytest.raises(SchemaError, match="dumped twice"):
        read_results(root, "job-1")


def test_an_unknown_source_is_refused_by_the_writer(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="parameter source"):
        _write(tmp_path, ["model"])
