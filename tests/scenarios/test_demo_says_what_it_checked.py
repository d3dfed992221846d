"""The demo says what its dry run checks and what it cannot, and claims the reference trainer repeated itself
exactly only when a bit-for-bit comparison of the two runs found it so: a second run one float32 step away
still passes parity (within tolerance), and the demo must then say it did not repeat."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlupdate.parity.run
from mlupdate.bundle import ResultsBundle, ResultsWriter, read_results
from mlupdate.contract import ProgressEvent
from mlupdate.parity.run import run_parity
from mlupdate.reference.run import run_reference
from mlupdate.scenarios.demo import DEMO_JOB, run_demo
from mlupdate.scenarios.repeat import compare_runs

JOBS = Path(__file__).resolve().parents[1] / "data" / "contract" / "jobs"
JOB = "golden-classifier-image"  # probabilities and labels in its probe, losses of zero and of thousands


def next_float32(values: np.ndarray) -> np.ndarray:
    """The first element moved to the next float32: the smallest change a trainer can make."""
    moved = np.array(values, dtype=np.float32, copy=True)
    flat = moved.reshape(-1)
    flat[0] = np.nextafter(flat[0], np.float32(np.inf))
    return moved


def rewrite(bundle: ResultsBundle, parent: Path, *, nudge: str | None = None) -> ResultsBundle:
    """The same results written again, with one value nudged: in a `parameter`, a `loss`, or the `probe`."""
    with ResultsWriter(parent, bundle.job_id) as writer:
        events = list(bundle.events)
        if nudge == "loss":
            index = next(i for i, e in enumerate(events) if e.loss)
            loss = events[index].loss
            assert loss is not None
            events[index] = ProgressEvent(**{**vars(events[index]), "loss": float(next_float32(np.array([loss]))[0])})
        writer.add_events(events)
        for number, ((layer, kind), values) in enumerate(bundle.parameters.items()):
            writer.add_parameter(
                layer, "", kind, next_float32(values) if nudge == "parameter" and not number else values
            )
        for output in bundle.probe_outputs.values():
            values = output.values
            if nudge == "probe" and isinstance(values, np.ndarray):
                values = next_float32(values)
            writer.add_probe_output(output.name, output.type, values, output.classes)
        assert bundle.model_path is not None
        writer.add_model(bundle.model_path)
        path = writer.finish(bundle.status, bundle.error, bundle.device, bundle.tasks, bundle.producer)
    return read_results(path, bundle.job_id)


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> ResultsBundle:
    return read_results(run_reference(JOBS / JOB, tmp_path_factory.mktemp("first")), JOB)


def test_two_reference_runs_repeat_bit_for_bit(first: ResultsBundle, tmp_path: Path) -> None:
    second = read_results(run_reference(JOBS / JOB, tmp_path), JOB)
    repeat = compare_runs(first, second)
    assert repeat.exact, repeat.describe()
    assert repeat.describe() == (
        "the second reference run repeated the first bit for bit (2 parameter tensors, 14 losses, 2 probe outputs)"
    )


@pytest.mark.parametrize(
    "nudge, named",
    [
        ("parameter", "parameter dense.weights by up to"),
        ("loss", "1 loss of 16 events by up to"),
        ("probe", "probe output probs by up to"),
    ],
)
def test_one_float32_step_anywhere_is_not_a_repeat(
    first: ResultsBundle, tmp_path: Path, nudge: str, named: str
) -> None:
    repeat = compare_runs(first, rewrite(first, tmp_path, nudge=nudge))
    assert not repeat.exact
    assert len(repeat.differences) == 1
    difference = repeat.differences[0]
    assert difference.max_abs is not None and 0 < difference.max_abs < 1e-2
    assert "did not repeat the first bit for bit" in repeat.describe() and named in repeat.describe()


def test_labels_and_missing_outputs_are_differences_too(first: ResultsBundle, tmp_path: Path) -> None:
    with ResultsWriter(tmp_path, JOB) as writer:
        writer.add_events(first.events)
        for (layer, kind), values in first.parameters.items():
            writer.add_parameter(layer, "", kind, values)
        labels = first.probe_outputs["label"]
        writer.add_probe_output("label", labels.type, ["another", *labels.values[1:]])
        path = writer.finish(first.status, first.error, first.device, first.tasks, first.producer)
    described = compare_runs(first, read_results(path, JOB)).describe()
    assert "probe output label;" in described and "probe output probs is in one run only" in described


@pytest.mark.parametrize("nudge", ["loss", "probe"])
def test_a_result_one_step_off_still_passes_parity(first: ResultsBundle, tmp_path: Path, nudge: str) -> None:
    # Why the demo measures the repeat itself: parity's verdict cannot tell a bit-for-bit repeat from a near one.
    nudged = rewrite(first, tmp_path / "device", nudge=nudge)
    verdict = run_parity(nudged.path, JOBS / JOB, tmp_path / "report", reference=first.path, power=False).verdict
    assert verdict.passed, verdict.summary()
    assert not compare_runs(first, nudged).exact


def test_a_demo_whose_second_run_differs_says_so_although_parity_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real: Callable[..., Path] = mlupdate.parity.run.run_reference

    def unrepeatable(job: Any, out_parent: Path, **kwargs: Any) -> Path:
        # The reference run parity makes for itself, one float32 step away from the demo's dry run.
        trained = read_results(real(job, out_parent.parent / "exact", **kwargs), DEMO_JOB)
        return rewrite(trained, out_parent, nudge="parameter").path

    monkeypatch.setattr(mlupdate.parity.run, "run_reference", unrepeatable)
    result = run_demo(tmp_path / "demo", real_models=None, say=lambda line: None)
    assert result.passed, result.verdict.summary()
    notes = result.notes
    assert not any("repeated the first bit for bit" in note for note in notes)
    assert any("did not repeat the first bit for bit" in note and "by up to" in note for note in notes)
