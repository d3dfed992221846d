"""Every tolerance entry reaches a check.

Every field of `Tolerances` is read while parity judges results (step level with every kind of probe output and
a float16 model, trajectory level with an ensemble), not only copied into the report. And every override in the
tolerance table changes a verdict: for each (case, entry) a result that lies between the default and the case's
value passes under the case, fails under the default, and fails under the case with that one entry put back to
its default (so it is that entry, not another of the case, that lets it through). `test_tolerance_cases.py`
shows the job's `case` field selects the case; this shows the case reaches the checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from mlupdate.bundle import read_job, read_results
from mlupdate.parity import evaluate
from mlupdate.parity.parameters import compare_dump_with_model
from mlupdate.parity.tolerances import DEFAULT, OVERRIDES, Tolerances, for_case
from mlupdate.reference.run import run_reference

JOBS = Path(__file__).resolve().parents[1] / "data" / "contract" / "jobs"
FIELDS = frozenset(field.name for field in dataclasses.fields(Tolerances))

PROBS = "probe:labelProbabilities"
Perturb = Callable[[Any, Any], None]  # (reference ingredients, device ingredients) changed in place


def weights_off(reference: Any, device: Any) -> None:
    # 2e-4 relative: past 6 SGD steps' 6e-5 (plus the absolute floor) for the larger weights, inside Adam's 6e-4.
    for key in device.parameters:
        device.parameters[key] = device.parameters[key] * np.float32(1 + 2e-4)


def losses_off(reference: Any, device: Any) -> None:
    # 5e-5 relative: past 1e-5 per step at the first steps, inside Adam's 1e-4 per step.
    for event in device.events:
        if event["loss"] is not None:
            event["loss"] *= 1 + 5e-5


def probabilities_off(reference: Any, device: Any) -> None:
    # 5e-3 moved between two classes of a clear-cut example: past 2e-3, inside the drawing classifier's 1e-2.
    row = int(np.argmax(np.ptp(reference.probabilities, axis=1)))
    top, bottom = int(reference.probabilities[row].argmax()), int(reference.probabilities[row].argmin())
    device.probabilities[row, top] -= 5e-3
    device.probabilities[row, bottom] += 5e-3


def close_call_flipped(reference: Any, device: Any) -> None:
    # An example whose two best classes are 5e-3 apart, flipped on the device: top-1 must agree when the
    # margin exceeds 2e-3 but may flip within the drawing classifier's 1e-2 (both sides within 1e-2).
    first, second = 0.5025, 0.4975
    reference.probabilities[0] = 0.0
    reference.probabilities[0, :2] = first, second
    device.probabilities[0] = reference.probabilities[0]
    device.probabilities[0, :2] = second, first


CASES: dict[tuple[str, str], tuple[Perturb, str]] = {
    ("adam", "weight_rtol_per_step"): (weights_off, "parameters"),
    ("adam", "loss_rtol_per_step"): (losses_off, "events"),
    ("sketches", "probe_probability_atol"): (probabilities_off, PROBS),
    ("sketches", "probe_top1_margin"): (close_call_flipped, PROBS),
}


class Recording(Tolerances):
    """Tolerances that note which fields the checks read (copying them into the report does not count)."""

    read: ClassVar[set[str]] = set()
    copying: ClassVar[bool] = False

    def __getattribute__(self, name: str) -> Any:
        if name in FIELDS and not Recording.copying:
            Recording.read.add(name)
        return super().__getattribute__(name)

    def to_dict(self) -> dict[str, float | int]:
        with copying():
            return super().to_dict()


@contextmanager
def copying() -> Iterator[None]:
    Recording.copying = True
    try:
        yield
    finally:
        Recording.copying = False


def recording(**changes: Any) -> Recording:
    return Recording(**(dataclasses.asdict(DEFAULT) | changes))


def read_by(judge: Callable[[], object]) -> set[str]:
    Recording.read = set()
    judge()
    return set(Recording.read)


def step_level(write_results: Any, reference_ingredients: Any, device_ingredients: Any) -> Callable[[], object]:
    """Probabilities and labels in the probe, the compiled model's dump, two timed tasks."""
    reference, device = write_results(reference_ingredients, "r"), write_results(device_ingredients, "d")
    return lambda: evaluate(reference, device, tolerances=recording())


def trajectory_level(write_results: Any, reference_ingredients: Any) -> Callable[[], object]:
    """A one-step horizon sends the same results to the trajectory level, judged against a small ensemble."""
    reference = write_results(reference_ingredients, "trajectory-reference")
    members = []
    for index in range(4):
        member = reference_ingredients.copy()
        for key, values in member.parameters.items():
            member.parameters[key] = values * np.float32(1 + 1e-3 * (index - 1.5))
        members.append(write_results(member, f"member-{index}"))
    return lambda: evaluate(reference, reference, ensemble=members, tolerances=recording(step_level_max_steps=1))


def test_every_tolerance_field_is_read_by_a_check(
    write_results: Any, reference_ingredients: Any, device_ingredients: Any, written_model: Any, tmp_path: Path
) -> None:
    at_step_level = read_by(step_level(write_results, reference_ingredients, device_ingredients))
    at_trajectory_level = read_by(trajectory_level(write_results, reference_ingredients))
    job = read_job(JOBS / "golden-index-classifier")  # its probe output is a multiArray
    arrays = read_results(run_reference(job.path, tmp_path / "ref"), job.job_id)
    steps = -(-job.training.count // int(job.parameters["miniBatchSize"]))
    array_probe = read_by(lambda: evaluate(arrays, arrays, steps_per_epoch=steps, tolerances=recording()))
    parameters = reference_ingredients.parameters
    half = written_model("Half.mlmodel", parameters, float16=True)
    float16_dump = read_by(lambda: compare_dump_with_model(half, parameters, recording()))
    assert at_step_level | at_trajectory_level | array_probe | float16_dump == FIELDS
    # Each way of judging reaches its own entries: the recording is not reading everything every time.
    assert "trajectory_max_spread_units" not in at_step_level and "trajectory_max_spread_units" in at_trajectory_level
    assert "probe_value_rtol" in array_probe - at_step_level
    assert "dump_rtol_float16" in float16_dump - at_step_level


def test_copying_the_tolerances_into_the_report_reads_nothing() -> None:
    assert read_by(lambda: recording().to_dict()) == set()
    assert read_by(lambda: recording().weights(3)) == {"weight_rtol_per_step", "weight_atol_per_step"}


def test_every_override_has_a_case_here() -> None:
    assert sorted(CASES) == sorted((case, key) for case, entries in OVERRIDES.items() for key in entries)


@pytest.mark.parametrize("case, key", sorted(CASES), ids=lambda value: str(value))
def test_the_override_lets_through_what_the_default_refuses(
    case: str, key: str, write_results: Any, reference_ingredients: Any
) -> None:
    perturb, check_name = CASES[(case, key)]
    reference, device = reference_ingredients.copy(), reference_ingredients.copy()
    perturb(reference, device)
    judged = write_results(reference, "reference"), write_results(device, "device")

    def status(**how: Any) -> str:
        return str(evaluate(*judged, **how).check(check_name).status)

    assert status(case=case) == "pass"
    assert status(case="default") == "fail"
    without = dataclasses.replace(for_case(case), **{key: getattr(DEFAULT, key)})
    assert status(case=case, tolerances=without) == "fail"
