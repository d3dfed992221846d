"""The knobs of Core ML's update semantics that the reference trainer reproduces, in one value object.

Some knobs were calibrated against a real Core ML training run (see DESIGN.md "Core ML update semantics");
their defaults are the calibrated values. The others are named guesses that the calibration suite settles
later and stores as a semantics profile (JSON written by `Semantics.to_dict`). Results record the knobs used.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlupdate.errors import InputError

Reduction = Literal["mean", "sum"]
MseScale = Literal["squared", "half_squared"]
PartialBatch = Literal["wrap_around", "short", "stale"]
MseGradientFactor = Literal[2, 1]
ShuffleEngine = Literal["libcxx_minstd", "numpy_pcg64"]
ShuffleSchedule = Literal["every_epoch", "once", "never"]
MomentumForm = Literal["torch", "classic"]
SeededShuffle = Literal["seed_seq", "direct"]
VectorReduction = Literal["sum", "mean"]
CceReportedLoss = Literal["log_softmax", "clipped_1e-7", "clipped_float_min", "float32_probability"]
KnnTieBreak = Literal["nearest", "first_label"]
KnnProbabilities = Literal["normalized_weights", "vote_fraction"]

# knob -> (allowed values, calibrated?, note). One table, so docs, validation and reports agree.
KNOBS: dict[str, tuple[tuple[Any, ...], bool, str]] = {
    "batch_reduction": (
        ("mean", "sum"),
        True,
        "MSE mini-batch loss = mean over the B examples (calibrated)",
    ),
    "mse_scale": (
        ("squared", "half_squared"),
        True,
        "MSE per example (y - t)^2, so with the batch mean dL/dy = 2(y - t)/B (calibrated: 'squared')",
    ),
    "mse_gradient_factor": (
        (2, 1),
        True,
        "dL/dy = factor * scale * (y - t) / B for an MSE loss of scale * (y - t)^2: 2 is the loss's own derivative "
        "(calibrated); 1 is a gradient half as large as the reported loss implies",
    ),
    "partial_batch": (
        ("wrap_around", "short", "stale"),
        True,
        "the last short batch is filled by wrapping around to the start of the epoch's order (calibrated); "
        "'short' trains on the remainder alone, 'stale' keeps the previous batch's examples in the empty slots",
    ),
    "shuffle_engine": (
        ("libcxx_minstd", "numpy_pcg64"),
        True,
        "libc++ std::shuffle with std::minstd_rand, seed 1 when the model has none, same engine continuing "
        "(calibrated); 'numpy_pcg64' permutes with numpy's generator from the same seed instead",
    ),
    "shuffle_schedule": (
        ("every_epoch", "once", "never"),
        True,
        "with shuffle on, the order is shuffled when the task starts and again after every epoch (calibrated); "
        "'once' keeps the first order for every epoch, 'never' trains in the stored order",
    ),
    "cce_reduction": (
        ("mean", "sum"),
        False,
        "CCE mini-batch loss reduction; gradient (p - onehot)/B for 'mean' (uncalibrated)",
    ),
    "cce_reported_loss": (
        ("log_softmax", "clipped_1e-7", "clipped_float_min", "float32_probability"),
        False,
        "the CCE loss value Core ML reports: -log_softmax(logits)[target] exactly, -log p with p clipped from "
        "below at 1e-7 (Keras' epsilon) or at the float32 minimum, or -log of the float32 softmax output unclipped "
        "(inf, written as null, where it underflows to 0); only saturated examples differ, and the gradient "
        "p - onehot is the same under every value (uncalibrated)",
    ),
    "mse_vector_reduction": (
        ("sum", "mean"),
        False,
        "how a multi-element MSE output is reduced per example (uncalibrated; calibration used one output)",
    ),
    "momentum_form": (
        ("torch", "classic"),
        False,
        "torch: v = mu*v + g, w -= lr*v | classic: v = mu*v - lr*g, w += v (uncalibrated; equal for constant lr)",
    ),
    "adam_bias_correction": ((True, False), False, "Adam divides m and v by (1 - beta^t) (uncalibrated)"),
    "seeded_shuffle": (
        ("seed_seq", "direct"),
        False,
        "a model/config seed seeds minstd_rand via seed_seq{seed} (4 words, word[3] mod (2^31-1), 0 -> 1) "
        "or directly with seed mod (2^31-1) (uncalibrated)",
    ),
    "reshuffle_requires_epoch_end_handler": (
        (False, True),
        False,
        "re-shuffle after an epoch only when the job registered an epochEnd handler (uncalibrated)",
    ),
    "knn_tie_break": (
        ("nearest", "first_label"),
        False,
        "k-NN vote tie: label of the nearest tied neighbour, or the tied label listed first (uncalibrated)",
    ),
    "knn_probabilities": (
        ("normalized_weights", "vote_fraction"),
        False,
        "k-NN probabilities: vote weights normalised to sum 1, or votes / k (uncalibrated)",
    ),
}


@dataclass(frozen=True)
class Semantics:
    """Every choice the reference makes where Core ML's behaviour had to be measured or guessed."""

    batch_reduction: Reduction = "mean"
    mse_scale: MseScale = "squared"
    mse_gradient_factor: MseGradientFactor = 2
    partial_batch: PartialBatch = "wrap_around"
    shuffle_engine: ShuffleEngine = "libcxx_minstd"
    shuffle_schedule: ShuffleSchedule = "every_epoch"
    cce_reduction: Reduction = "mean"
    cce_reported_loss: CceReportedLoss = "log_softmax"
    mse_vector_reduction: VectorReduction = "sum"
    momentum_form: MomentumForm = "torch"
    adam_bias_correction: bool = True
    seeded_shuffle: SeededShuffle = "seed_seq"
    reshuffle_requires_epoch_end_handler: bool = False
    knn_tie_break: KnnTieBreak = "nearest"
    knn_probabilities: KnnProbabilities = "normalized_weights"

    def __post_init__(self) -> None:
        for name in KNOBS:
            _check_knob(name, getattr(self, name), where="semantics")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "semantics") -> Semantics:
        unknown = sorted(set(data) - set(KNOBS))
        if unknown:
            raise InputError(
                f"unknown semantics knob(s) {unknown}",
                where=where,
                fix=f"use only {sorted(KNOBS)}",
            )
        for name, value in data.items():
            _check_knob(name, value, where=where)
        return cls(**data)

    def calibrated_knobs(self) -> dict[str, bool]:
        """knob -> whether its default was calibrated; a knob moved off a calibrated default counts as not."""
        default = Semantics()
        return {
            name: calibrated and getattr(self, name) == getattr(default, name)
            for name, (_, calibrated, _) in KNOBS.items()
        }

    def report(self) -> dict[str, Any]:
        """What results bundles record: the values and which of them are calibrated."""
        return {"knobs": self.to_dict(), "calibrated": self.calibrated_knobs()}


def _check_knob(name: str, value: Any, *, where: str) -> None:
    allowed = KNOBS[name][0]
    if value not in allowed or type(value) is not type(allowed[0]):
        raise InputError(
            f"semantics knob {name!r} = {value!r} is not one of {list(allowed)}",
            where=f"{where}: {name}",
            fix=f"use one of {list(allowed)}",
        )


def load_profile(path: str | Path) -> Semantics:
    """A semantics profile JSON: either the knob object itself or `{"knobs": {...}, ...}` as results record it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such semantics profile", where=str(path), fix="check the path") from None
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot read the semantics profile: {exc}", where=str(path), fix="pass a JSON object of knob values"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("knobs"), dict):
        data = data["knobs"]
    if not isinstance(data, dict):
        raise InputError("a semantics profile must be a JSON object", where=str(path), fix="write {knob: value}")
    return Semantics.from_dict(data, where=str(path))
