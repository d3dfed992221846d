"""The calibration decision recovers every knob from results the reference trainer produced under that knob.

No device: the "target" is the reference trainer run in-process under a chosen semantics. Every hypothesis of
every probe must be recovered, the momentum form included: its probe lowers the learning rate mid-task (a
schedule applied from the epochEnd handler), where the two forms part.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlharness.calibrate import (
    Evidence,
    calibrate,
    decide,
    default_probes,
    evidence_from_results,
    profile_key,
    reference_results,
    write_profile,
)
from mlharness.calibrate.decide import Hypothesis
from mlharness.calibrate.probes import Probe
from mlharness.targets.base import TargetInfo
from mlupdate.reference.semantics import KNOBS, Semantics, load_profile

PROBES = {probe.name: probe for probe in default_probes()}
NOT_IDENTIFIABLE: set[str] = set()  # every open knob has a probe that separates its values
CASES = [(name, hypothesis) for name, probe in PROBES.items() for hypothesis in probe.hypotheses()]
# Device and reference differ in float32 rounding; a relative wobble of this size must not change a decision.
DEVICE_NOISE = 1e-6

Observe = Callable[[Probe, Semantics, str], Evidence]


@pytest.fixture(scope="module")
def observe(tmp_path_factory: pytest.TempPathFactory) -> Observe:
    """Evidence of a probe's jobs as the reference produces it under `semantics`, kept per (probe, label)."""
    root = tmp_path_factory.mktemp("calibration")
    seen: dict[tuple[str, str], Evidence] = {}

    def run(probe: Probe, semantics: Semantics, label: str) -> Evidence:
        if (probe.name, label) not in seen:
            seen[probe.name, label] = train(probe, semantics, label)
        return seen[probe.name, label]

    def train(probe: Probe, semantics: Semantics, label: str) -> Evidence:
        components = {}
        for index, job in enumerate(probe.jobs):
            folder = root / probe.name / label / job.name
            results = reference_results(job.build(folder / "job"), folder / "results", semantics)
            for name, values in evidence_from_results(results, label, job.labels).components.items():
                components[f"{index}/{name}"] = values
        return Evidence(label, components)

    return run


def with_noise(evidence: Evidence, seed: int) -> Evidence:
    rng = np.random.default_rng(seed)
    return Evidence(
        evidence.source,
        {k: v * (1 + DEVICE_NOISE * rng.standard_normal(v.shape)) for k, v in evidence.components.items()},
    )


def label(hypothesis: Hypothesis) -> str:
    return ",".join(f"{k}={v}" for k, v in hypothesis)


def test_every_open_knob_has_a_probe() -> None:
    probed = {knob for probe in PROBES.values() for knob in probe.knobs}
    open_knobs = {name for name, (values, _, _) in KNOBS.items() if len(values) > 1}
    assert probed == open_knobs


@pytest.mark.parametrize(("probe_name", "hypothesis"), CASES, ids=[f"{p}-{label(h)}" for p, h in CASES])
def test_decision_recovers_the_hypothesis_the_reference_trained_under(
    observe: Observe, probe_name: str, hypothesis: Hypothesis
) -> None:
    probe = PROBES[probe_name]
    truth = dataclasses.replace(Semantics(), **dict(hypothesis))
    observed = with_noise(observe(probe, truth, f"device-{label(hypothesis)}"), seed=len(CASES))
    predictions = {
        h: observe(probe, dataclasses.replace(Semantics(), **dict(h)), f"reference-{label(h)}")
        for h in probe.hypotheses()
    }
    for decision in decide(probe.name, probe.knobs, observed, predictions):
        if decision.knob in NOT_IDENTIFIABLE:
            assert decision.status == "undecided"
            assert "cannot tell them apart" in decision.reason
        else:
            assert (decision.status, decision.value) == ("decided", dict(hypothesis)[decision.knob]), decision.reason


def test_observation_between_two_hypotheses_is_left_undecided(observe: Observe) -> None:
    probe = PROBES["cce-reduction"]
    mean, total = (observe(probe, Semantics(cce_reduction=v), f"mid-{v}") for v in ("mean", "sum"))
    halfway = Evidence("device", {k: (mean.components[k] + total.components[k]) / 2 for k in mean.components})
    predictions = {(("cce_reduction", "mean"),): mean, (("cce_reduction", "sum"),): total}
    (decision,) = decide(probe.name, probe.knobs, halfway, predictions)
    assert decision.status == "undecided"
    assert decision.reason.startswith("ambiguous")


FLIPPED = Semantics(
    batch_reduction="sum",
    mse_scale="half_squared",
    partial_batch="short",
    cce_reduction="sum",
    mse_vector_reduction="mean",
    momentum_form="classic",
    mse_gradient_factor=1,
    cce_reported_loss="clipped_1e-7",
    adam_bias_correction=False,
    seeded_shuffle="direct",
    reshuffle_requires_epoch_end_handler=True,
    knn_tie_break="first_label",
    knn_probabilities="vote_fraction",
)


@pytest.mark.parametrize("truth", [Semantics(), FLIPPED], ids=["defaults", "every-knob-flipped"])
def test_full_calibration_writes_a_profile_the_reference_loads(tmp_path: Path, truth: Semantics) -> None:
    def target(job_dir: Path, out_dir: Path):  # type: ignore[no-untyped-def]
        return reference_results(job_dir, out_dir, truth)

    calibration = calibrate(target, tmp_path / "work")
    assert calibration.undecided() == ()
    info = TargetInfo("iPhone 16", "simulator", "SIM-1", "iOS", "18.5", "iPhone17,3", None, True)
    path = write_profile(calibration, info, tmp_path / profile_key(info).file_name())
    assert path.name == "semantics-iOS-18.5-simulator.json"
    assert load_profile(path) == truth
    document = json.loads(path.read_text())
    assert document["decisions"]["momentum_form"]["status"] == "decided"
    assert document["decisions"]["momentum_form"]["value"] == truth.momentum_form
    assert document["measured_on"]["udid"] == "SIM-1"
