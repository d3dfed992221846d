"""The app reads the updated layers twice: from `context.model` in the completion handler (the primary dump)
and from the model it wrote, loaded again (the cross-check). Parity says which read each tensor came from and
fails, with a message that names the tensor and says what it means, when the two disagree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlupdate.bundle import ResultsWriter, read_results
from mlupdate.contract import DeviceInfo, DumpSource, Producer, ProducerName, TaskRecord, TaskStatus
from mlupdate.parity import evaluate
from mlupdate.parity.parameters import compare_dump_paths
from mlupdate.parity.tolerances import DEFAULT

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "contract" / "results"


def test_golden_results_say_which_read_produced_each_tensor() -> None:
    bundle = read_results(GOLDEN / "succeeded", "golden-classifier-image")
    assert bundle.primary_dump_source == DumpSource.CONTEXT
    assert (
        sorted(bundle.parameters)
        == sorted(bundle.cross_check_parameters)
        == [
            ("dense", "biases"),
            ("dense", "weights"),
        ]
    )
    sources = {(e["kind"], e["source"]): e["path"] for e in bundle.manifest["parameters"]}
    assert sources[("weights", "reloaded")] == "parameters/reloaded/dense.weights.npy"
    check = compare_dump_paths(bundle.parameters, bundle.cross_check_parameters, DEFAULT)
    assert check.status == "pass", check.message
    assert bundle.dumps_agree is True


def test_a_producer_that_reads_once_has_nothing_to_cross_check() -> None:
    bundle = read_results(GOLDEN / "reference-knn", "golden-knn-pipeline")
    assert bundle.primary_dump_source is None and bundle.cross_check_parameters == {}
    assert bundle.dumps_agree is None
    assert compare_dump_paths(bundle.parameters, bundle.cross_check_parameters, DEFAULT).status == "skip"


def _two_reads(tmp_path: Path, reloaded_delta: float) -> Any:
    weights = np.random.default_rng(3).normal(size=(4, 6)).astype(np.float32)
    with ResultsWriter(tmp_path, "job-1") as writer:
        writer.add_parameter("dense", "", "weights", weights, source="context")
        reloaded = weights.copy()
        reloaded[2, 5] += reloaded_delta
        writer.add_parameter("dense", "", "weights", reloaded, source="reloaded")
        device = DeviceInfo("d", "m", "iOS", "18.5", "x", is_simulator=False)
        task = TaskRecord(0, TaskStatus.SUCCEEDED, epochs_completed=1, final_loss=0.5)
        final = writer.finish(TaskStatus.SUCCEEDED, None, device, [task], Producer(ProducerName.COMPANION_IOS, "1"))
    return read_results(final, "job-1")


def test_a_written_model_that_differs_from_the_trained_one_fails_with_a_clear_message(tmp_path: Path) -> None:
    bundle = _two_reads(tmp_path, reloaded_delta=1e-3)
    assert bundle.dumps_agree is False
    check = compare_dump_paths(bundle.parameters, bundle.cross_check_parameters, DEFAULT)
    assert check.status == "fail"
    assert "read from context.model in the completion handler differ from those read back" in check.message
    assert "dense.weights: max |difference| 0.001" in check.message
    assert check.details["primary"] == "context" and check.details["cross_check"] == "reloaded"


def test_one_flipped_low_bit_is_a_disagreement(tmp_path: Path) -> None:
    """Float32 values from the same model must be equal: the smallest possible change is caught."""
    bundle = _two_reads(tmp_path, reloaded_delta=0.0)
    key = ("dense", "weights")
    assert compare_dump_paths(bundle.parameters, bundle.cross_check_parameters, DEFAULT).status == "pass"
    nudged = {key: np.nextafter(bundle.cross_check_parameters[key], np.float32(np.inf))}
    assert compare_dump_paths(bundle.parameters, nudged, DEFAULT).status == "fail"


def test_evaluate_fails_parity_when_the_two_reads_disagree(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    agreeing = device_ingredients.copy(cross_check={k: v.copy() for k, v in device_ingredients.parameters.items()})
    verdict = evaluate(write_results(reference_ingredients, "r"), write_results(agreeing, "d1"))
    assert verdict.check("dump-paths").status == "pass" and verdict.passed
    tampered = {k: v.copy() for k, v in device_ingredients.parameters.items()}
    first = sorted(tampered)[0]
    tampered[first] = tampered[first] + np.float32(0.01)
    verdict = evaluate(
        write_results(reference_ingredients, "r2"), write_results(device_ingredients.copy(cross_check=tampered), "d2")
    )
    assert not verdict.passed
    assert [c.name for c in verdict.failures] == ["dump-paths"]
    assert "the written model is not the model that was trained" in verdict.check("dump-paths").message
