"""The checks can fail: each perturbation of a results bundle gives a failing verdict naming what differed,
and the unperturbed results pass."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlupdate.contract import DeviceInfo
from mlupdate.errors import ParityError
from mlupdate.parity import evaluate


def test_unperturbed_device_results_pass(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    reference = write_results(reference_ingredients, "reference")
    device = write_results(device_ingredients, "device")
    verdict = evaluate(reference, device)
    assert verdict.passed, verdict.summary()
    assert verdict.level == "step"
    assert verdict.steps == 6
    assert {c.name for c in verdict.checks} >= {"status", "events", "parameters", "dump-vs-model", "timing"}
    assert verdict.check("dump-vs-model").status == "pass"
    assert not verdict.dry_run


def test_reference_dry_run_passes_and_says_so(write_results: Any, reference_ingredients: Any) -> None:
    reference = write_results(reference_ingredients, "reference")
    verdict = evaluate(reference, reference)
    assert verdict.passed, verdict.summary()
    assert verdict.dry_run
    assert "reference dry run - not a device result" in verdict.summary()


def test_one_changed_weight_fails_naming_layer_and_element(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    perturbed = device_ingredients.copy()
    perturbed.parameters[("drawing_dense1_fwd", "weights")][3, 7] += 1e-3
    verdict = evaluate(write_results(reference_ingredients, "r"), write_results(perturbed, "d"))
    assert not verdict.passed
    message = verdict.check("parameters").message
    assert "drawing_dense1_fwd.weights[3,7]" in message
    assert verdict.check("parameters").details["worst"]["index"] == [3, 7]
    # The dump no longer matches the compiled model the "app" wrote, and that check names the same element.
    assert "drawing_dense1_fwd.weights[3,7]" in verdict.check("dump-vs-model").message


def test_a_weight_change_within_the_step_tolerance_passes(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    reference = reference_ingredients.copy()
    reference.parameters[("drawing_dense1_fwd", "weights")][3, 7] *= np.float32(1 + 2e-6)
    verdict = evaluate(write_results(reference, "r"), write_results(device_ingredients, "d"))
    assert verdict.check("parameters").status == "pass"


def test_one_changed_event_loss_fails_naming_the_event(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    perturbed = device_ingredients.copy()
    perturbed.events[3]["loss"] += 0.01
    verdict = evaluate(write_results(reference_ingredients, "r"), write_results(perturbed, "d"))
    check = verdict.check("events")
    assert check.status == "fail"
    assert "task 0: event #3 miniBatchEnd(epoch=0, mini_batch=2)" in check.message


def test_a_missing_event_fails_on_count_and_order(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    perturbed = device_ingredients.copy()
    del perturbed.events[2]
    verdict = evaluate(write_results(reference_ingredients, "r"), write_results(perturbed, "d"))
    message = verdict.check("events").message
    assert "9 event(s), expected 10" in message
    assert "event #2 is miniBatchEnd(epoch=0, mini_batch=2), expected miniBatchEnd(epoch=0, mini_batch=1)" in message


def test_swapped_probe_predictions_fail_naming_the_example(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    perturbed = device_ingredients.copy()
    labels = perturbed.labels
    first, second = 0, next(i for i, v in enumerate(labels) if v != labels[0])
    labels[first], labels[second] = labels[second], labels[first]
    verdict = evaluate(write_results(reference_ingredients, "r"), write_results(perturbed, "d"))
    check = verdict.check("probe:classLabel")
    assert check.status == "fail"
    assert f"example 0 predicts {labels[0]!r}, expected {labels[second]!r}" in check.message


def test_swapped_probability_rows_fail_on_top1(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    perturbed = device_ingredients.copy()
    perturbed.probabilities[[0, 1]] = perturbed.probabilities[[1, 0]]
    verdict = evaluate(write_results(reference_ingredients, "r"), write_results(perturbed, "d"))
    check = verdict.check("probe:labelProbabilities")
    assert check.status == "fail"
    assert "labelProbabilities[0," in check.message


def test_a_missing_layer_fails_naming_it(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    perturbed = device_ingredients.copy()
    del perturbed.parameters[("drawing_dense0_fwd", "biases")]
    verdict = evaluate(write_results(reference_ingredients, "r"), write_results(perturbed, "d"))
    assert "missing ['drawing_dense0_fwd.biases']" in verdict.check("parameters").message


def test_a_truncated_compiled_weights_file_fails_naming_the_file(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any, tmp_path: Path
) -> None:
    broken = tmp_path / "pulled" / "MNISTClassifier.mlmodelc"
    shutil.copytree(device_ingredients.model, broken)
    weights = broken / "model.espresso.weights"
    weights.chmod(0o644)
    weights.write_bytes(weights.read_bytes()[:-4096])
    verdict = evaluate(
        write_results(reference_ingredients, "r"), write_results(device_ingredients.copy(model=broken), "d")
    )
    check = verdict.check("dump-vs-model")
    assert check.status == "fail"
    assert "truncated" in check.message
    assert check.details["error"]["where"].endswith("MNISTClassifier.mlmodelc/model.espresso.weights")


def test_a_failed_device_task_fails_with_its_error(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    error = {"phase": "train", "domain": "com.apple.CoreML", "code": 0, "message": "BNNS error"}
    failed = device_ingredients.copy(status="failed", error=error)
    failed.tasks[0] |= {"status": "failed", "error": error}
    verdict = evaluate(write_results(reference_ingredients, "r"), write_results(failed, "d"))
    assert verdict.check("status").message == "status: failed in phase train: BNNS error"
    assert verdict.check("training").status == "skip"


def test_every_verdict_names_the_knobs_and_whether_they_are_calibrated(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    verdict = evaluate(write_results(reference_ingredients, "r"), write_results(device_ingredients, "d"))
    labels = {knob.name: knob.label for knob in verdict.semantics.knobs}
    assert labels == {
        "batch_reduction": "calibrated (calibration run, not this OS version)",
        "cce_reduction": "uncalibrated",
        "momentum_form": "uncalibrated",
    }
    assert verdict.semantics.os == "iOS 17.4 (21E219)"
    assert "no calibration profile for iOS 17.4" in verdict.semantics.note


def test_memory_growth_across_tasks_warns_without_failing(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    verdict = evaluate(write_results(reference_ingredients, "r"), write_results(device_ingredients, "d"))
    timing = verdict.check("timing")
    assert timing.status == "warn"
    assert "+250.0 MB per task over 2 tasks" in timing.message
    assert verdict.passed


def test_a_failed_reference_run_is_a_parity_error(write_results: Any, reference_ingredients: Any) -> None:
    error = {"phase": "train", "domain": "mlupdate", "code": 1, "message": "diverged"}
    reference = reference_ingredients.copy(status="failed", error=error)
    bundle = write_results(reference, "r")
    with pytest.raises(ParityError, match="reference run did not succeed"):
        evaluate(bundle, bundle)


def test_a_calibration_profile_for_the_results_os_marks_its_decided_knobs(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    profile = {
        "os_name": "iOS",
        "os_version": "17.4",
        "knobs": {"cce_reduction": "mean"},
        "undecided": ["momentum_form"],
    }
    verdict = evaluate(
        write_results(reference_ingredients, "r"),
        write_results(device_ingredients, "d"),
        profile="semantics-iOS-17.4-iPhone.json",
        profile_document=profile,
    )
    labels = {knob.name: knob.label for knob in verdict.semantics.knobs}
    assert labels["cce_reduction"] == "calibrated for iOS 17.4"
    assert labels["momentum_form"] == "uncalibrated"
    assert verdict.semantics.note == "calibration profile semantics-iOS-17.4-iPhone.json for iOS 17.4"


def test_a_calibration_profile_for_another_os_says_so(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    profile = {"os_name": "iOS", "os_version": "18.0", "knobs": {"cce_reduction": "mean"}}
    verdict = evaluate(
        write_results(reference_ingredients, "r"),
        write_results(device_ingredients, "d"),
        profile="p.json",
        profile_document=profile,
    )
    assert "is for iOS 18.0, but these results come from iOS 17.4" in verdict.semantics.note


def test_absent_events_probes_and_timings_are_not_recorded_and_the_verdict_rests_on_the_rest(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    untimed = {
        "index": 0,
        "status": "succeeded",
        "error": None,
        "epochs_completed": 2,
        "final_loss": None,
        **dict.fromkeys([f"{p}_seconds" for p in ("compile", "load", "train", "write", "probe")]),
        **dict.fromkeys(["memory_before_bytes", "memory_after_bytes"]),
    }
    bare = device_ingredients.copy(events=[], with_probe=False, tasks=[untimed])
    verdict = evaluate(write_results(reference_ingredients, "r"), write_results(bare, "d"))
    assert verdict.passed, verdict.summary()
    absent = ("events", "probe:classLabel", "probe:labelProbabilities", "timing")
    assert all(verdict.check(name).status == "not_recorded" for name in absent)
    assert set(verdict.not_recorded) == set(absent)
    assert verdict.rests_on == ("status", "parameters", "dump-vs-model")
    assert "not recorded: events" in verdict.summary()


def test_absent_evidence_does_not_hide_a_failure_of_what_is_there(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any
) -> None:
    bare = device_ingredients.copy(events=[], with_probe=False)
    bare.parameters[("drawing_dense1_fwd", "weights")][0, 0] += 1e-2
    verdict = evaluate(write_results(reference_ingredients, "r"), write_results(bare, "d"))
    assert not verdict.passed
    assert verdict.check("events").status == "not_recorded"
    assert verdict.check("parameters").status == "fail"


def test_a_verdict_resting_on_nothing_does_not_pass() -> None:
    from mlupdate.parity.verdict import Check, SemanticsInfo, Verdict

    checks = (Check.not_recorded("events", "no events"), Check("timing", "pass", "timing: 1 s"))
    device = DeviceInfo("d", "m", "iOS", "18", "", is_simulator=False)
    verdict = Verdict("j", "default", "step", 1, checks, SemanticsInfo((), "?", None, ""), device, None, {})
    assert not verdict.passed
    assert verdict.rests_on == ()
    assert "rests on nothing" in verdict.summary()
