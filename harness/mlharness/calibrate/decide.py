"""Deciding knobs from evidence: the hypothesis whose prediction the observation matches, with a margin.

For one probe, every hypothesis (a value for each knob the probe tests) has a predicted evidence vector made by
the reference trainer under that hypothesis. The observation picks the nearest prediction. It counts only if
the observation sits within `MARGIN` of the distance that separates that prediction from the nearest *different*
prediction; otherwise the probe is ambiguous (or the device does something no hypothesis describes) and every
knob stays undecided. Hypotheses whose predictions coincide cannot be told apart by the probe: a knob is
decided only when all equally good hypotheses agree on its value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mlharness.calibrate.evidence import Evidence

# The observation must lie within this fraction of the separation between the best prediction and the nearest
# different one: a tenth leaves room for float32 noise on the device while refusing half-way observations.
MARGIN = 0.1
# Predictions closer than this (relative to their size) are the same prediction: the probe cannot separate them.
SAME_PREDICTION = 1e-6

Hypothesis = tuple[tuple[str, Any], ...]  # ((knob, value), ...) in the probe's knob order
Status = Literal["decided", "undecided"]


@dataclass(frozen=True)
class Decision:
    """The verdict on one knob: its value when decided, and the evidence behind it either way."""

    knob: str
    status: Status
    value: Any
    probe: str
    reason: str
    distances: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "value": self.value,
            "probe": self.probe,
            "reason": self.reason,
            "distances": dict(self.distances),
        }


def hypothesis_label(hypothesis: Hypothesis) -> str:
    """`cce_reduction=sum` or `batch_reduction=mean,mse_scale=half_mean`."""
    return ",".join(f"{knob}={_value_text(value)}" for knob, value in hypothesis)


def decide(
    probe: str,
    knobs: Sequence[str],
    observed: Evidence,
    predictions: Mapping[Hypothesis, Evidence],
    *,
    margin: float = MARGIN,
) -> tuple[Decision, ...]:
    """Decide each of `knobs` from one probe's observation and the predictions of every hypothesis."""
    if not predictions:
        raise ValueError("decide() needs at least one prediction")
    vectors = {hypothesis: prediction.vector_like(observed) for hypothesis, prediction in predictions.items()}
    target = observed.vector()
    distances = {hypothesis: float(np.linalg.norm(target - vector)) for hypothesis, vector in vectors.items()}
    shown = {hypothesis_label(h): d for h, d in sorted(distances.items(), key=lambda item: item[1])}
    best = min(distances, key=lambda h: distances[h])
    ties = [h for h, vector in vectors.items() if _same(vector, vectors[best])]
    others = [h for h in vectors if h not in ties]
    if not others:
        reason = "every hypothesis predicts the same result for this probe: it cannot tell them apart"
        return tuple(Decision(k, "undecided", None, probe, reason, shown) for k in knobs)
    rival = min(others, key=lambda h: float(np.linalg.norm(vectors[h] - vectors[best])))
    separation = float(np.linalg.norm(vectors[rival] - vectors[best]))
    if distances[best] > margin * separation:
        reason = (
            f"ambiguous: nearest {hypothesis_label(best)} at {distances[best]:.3g} is not within {margin:g} of the "
            f"separation {separation:.3g} from {hypothesis_label(rival)}"
        )
        return tuple(Decision(k, "undecided", None, probe, reason, shown) for k in knobs)
    return tuple(_decide_knob(probe, knob, ties, distances[best], separation, shown) for knob in knobs)


def _decide_knob(
    probe: str, knob: str, ties: Sequence[Hypothesis], distance: float, separation: float, shown: Mapping[str, float]
) -> Decision:
    values = {dict(hypothesis)[knob] for hypothesis in ties}
    if len(values) > 1:
        labels = " / ".join(sorted(_value_text(v) for v in values))
        reason = f"confounded: {labels} predict the same result in this probe"
        return Decision(knob, "undecided", None, probe, reason, shown)
    (value,) = values
    reason = f"observation {distance:.3g} from this hypothesis, {separation:.3g} between it and the nearest other"
    return Decision(knob, "decided", value, probe, reason, shown)


def _same(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> bool:
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), 1.0)
    return float(np.linalg.norm(a - b)) <= SAME_PREDICTION * scale


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:g}"
    return str(value)
