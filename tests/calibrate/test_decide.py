"""The decision rule on hand-made evidence: nearest with a margin, ambiguity, ties, confounding, mismatches."""

from __future__ import annotations

import numpy as np
import pytest

from mlharness.calibrate.decide import decide, hypothesis_label
from mlharness.calibrate.evidence import Evidence, EvidenceMismatch

MEAN = (("cce_reduction", "mean"),)
SUM = (("cce_reduction", "sum"),)


def evidence(*values: float, source: str = "e") -> Evidence:
    return Evidence(source, {"param:fc.weights": np.asarray(values, dtype=np.float64)})


def test_observation_near_one_prediction_decides_its_value() -> None:
    (decision,) = decide(
        "cce", ["cce_reduction"], evidence(1.0, 2.001), {MEAN: evidence(1.0, 2.0), SUM: evidence(4.0, 8.0)}
    )
    assert (decision.status, decision.value) == ("decided", "mean")
    assert decision.distances["cce_reduction=mean"] == pytest.approx(0.001)
    assert list(decision.distances) == ["cce_reduction=mean", "cce_reduction=sum"]


def test_observation_half_way_between_predictions_is_undecided() -> None:
    (decision,) = decide(
        "cce", ["cce_reduction"], evidence(2.5, 5.0), {MEAN: evidence(1.0, 2.0), SUM: evidence(4.0, 8.0)}
    )
    assert (decision.status, decision.value) == ("undecided", None)
    assert decision.reason.startswith("ambiguous: nearest")


def test_observation_matching_no_hypothesis_is_undecided_even_if_one_is_nearer() -> None:
    (decision,) = decide(
        "cce", ["cce_reduction"], evidence(1.0, 3.0), {MEAN: evidence(1.0, 2.0), SUM: evidence(4.0, 8.0)}
    )
    assert decision.status == "undecided"


def test_margin_is_relative_to_the_separation_of_the_predictions() -> None:
    predictions = {MEAN: evidence(1.0), SUM: evidence(2.0)}
    assert decide("p", ["cce_reduction"], evidence(1.09), predictions)[0].status == "decided"
    assert decide("p", ["cce_reduction"], evidence(1.11), predictions)[0].status == "undecided"
    assert decide("p", ["cce_reduction"], evidence(1.11), predictions, margin=0.2)[0].status == "decided"


def test_hypotheses_with_the_same_prediction_cannot_be_told_apart() -> None:
    torch, classic = (("momentum_form", "torch"),), (("momentum_form", "classic"),)
    (decision,) = decide(
        "momentum", ["momentum_form"], evidence(1.0), {torch: evidence(1.0), classic: evidence(1.0 + 1e-9)}
    )
    assert decision.status == "undecided"
    assert "cannot tell them apart" in decision.reason


def test_joint_probe_decides_the_knob_all_tied_hypotheses_agree_on() -> None:
    def h(reduction: str, scale: str) -> tuple[tuple[str, str], ...]:
        return (("batch_reduction", reduction), ("mse_scale", scale))

    predictions = {
        h("mean", "squared"): evidence(1.0),
        h("mean", "half_squared"): evidence(1.0),  # confounded with the line above in this probe
        h("sum", "squared"): evidence(4.0),
        h("sum", "half_squared"): evidence(2.0),
    }
    reduction, scale = decide("mse", ["batch_reduction", "mse_scale"], evidence(1.0), predictions)
    assert (reduction.status, reduction.value) == ("decided", "mean")
    assert scale.status == "undecided"
    assert scale.reason == "confounded: half_squared / squared predict the same result in this probe"


def test_results_of_a_different_shape_are_a_mismatch_not_a_distance() -> None:
    with pytest.raises(EvidenceMismatch, match="loss:miniBatchEnd: e has 2 value"):
        decide(
            "partial",
            ["partial_batch"],
            Evidence("e", {"loss:miniBatchEnd": np.ones(2)}),
            {(("partial_batch", "short"),): Evidence("r", {"loss:miniBatchEnd": np.ones(3)})},
        )
    with pytest.raises(EvidenceMismatch, match="missing"):
        decide("p", ["cce_reduction"], evidence(1.0), {MEAN: Evidence("r", {"loss:epochEnd": np.ones(1)})})


def test_labels_read_like_the_profile_writes_them() -> None:
    assert hypothesis_label((("adam_bias_correction", False), ("knn_tie_break", "nearest"))) == (
        "adam_bias_correction=false,knn_tie_break=nearest"
    )
