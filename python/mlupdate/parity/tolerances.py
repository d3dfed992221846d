"""Every parity tolerance, in one reviewed place. Each entry says why it has the value it has.

A comparison passes when |actual - expected| <= atol + rtol * |expected| for every element (numpy's
`allclose` rule). Step-level tolerances grow with the number of optimizer steps: each float32 step adds
rounding that the reference (float32, but a different summation order than BNNS) does not reproduce.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mlupdate.compiled.layers import StoragePrecision
from mlupdate.errors import InputError

Precision = StoragePrecision


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    reason: str = ""

    def allows(self, expected: float, actual: float) -> bool:
        return abs(actual - expected) <= self.atol + self.rtol * abs(expected)

    def to_dict(self) -> dict[str, float | str]:
        return {"rtol": self.rtol, "atol": self.atol, "reason": self.reason}


@dataclass(frozen=True)
class Tolerances:
    """The tolerances of one parity case (see `for_case`)."""

    # Per optimizer step, relative: Core ML trains in float32 on the CPU (BNNS); the reference is float32 numpy
    # with another summation order, so each step differs by a few ulps of the gradient, ~1e-5 relative after
    # the update (coreml-update-semantics.md 6.7).
    weight_rtol_per_step: float = 1e-5
    # Absolute floor per step: weights that pass through zero have no meaningful relative error.
    weight_atol_per_step: float = 1e-6
    # Losses are read back as float32 `lossValue`; a loss is a reduction over the batch, so it inherits the
    # weights' error plus one reduction's rounding.
    loss_rtol_per_step: float = 1e-5
    loss_atol: float = 1e-6
    # Beyond this many optimizer steps a long run is chaotic (DESIGN.md: a 1e-7 change moves weights ~20% after
    # 500 epochs), so element-wise checks give way to the trajectory level.
    step_level_max_steps: int = 200
    # Trajectory level: the device's distance from the ensemble centre, in units of the ensemble's RMS spread.
    # A fresh member of the same distribution lands near 1; 3 leaves room for a small ensemble's noisy spread.
    trajectory_max_spread_units: float = 3.0
    # Past the step-level horizon each event's loss is checked against the ensemble's mean ± 3 std. A genuine
    # member of a Gaussian spread leaves that band ~0.3% of the time; with a small ensemble's noisy std estimate
    # 5% of the events may do so before the curve counts as another trajectory.
    trajectory_loss_outside_fraction: float = 0.05
    # Probe probabilities are computed by Core ML in the compute precision of the prediction (float16 on the
    # GPU/ANE), so they are compared loosely; top-1 must agree for every example whose top-2 margin exceeds
    # this probability difference (closer calls may flip with that precision).
    probe_probability_atol: float = 2e-3
    probe_top1_margin: float = 2e-3
    # Other probe outputs (regression values, raw multiArrays): float16 keeps 11 significant bits, and a few
    # layers of float16 rounding reach ~1e-2 relative.
    probe_value_rtol: float = 1e-2
    probe_value_atol: float = 1e-3
    # The parameter dump and the written .mlmodelc come from the same in-memory model: exact for float32
    # storage. float16 storage rounds to 11 significant bits (relative 2^-11).
    dump_rtol_float32: float = 0.0
    dump_rtol_float16: float = 2.0**-11
    # Memory growth across repeated tasks worth a warning (a user reports ~250 MB per update task on a device).
    memory_growth_warn_bytes_per_task: float = 50e6

    def weights(self, steps: int, precision: Precision = "float32") -> Tolerance:
        scale = max(1, steps)
        rtol, atol = self.weight_rtol_per_step * scale, self.weight_atol_per_step * scale
        reason = f"{steps} step(s) in float32: per-step rounding of BNNS vs numpy summation order"
        if precision == "float16":
            # Training runs in float32 whatever the storage; float16 storage rounds the result once more.
            rtol, atol = rtol + _FLOAT16_ROUNDING, atol + _FLOAT16_SUBNORMAL_STEP
            reason += ", then stored as float16 (one rounding to 11 significant bits)"
        return Tolerance(rtol=rtol, atol=atol, reason=reason)

    def loss(self, steps: int) -> Tolerance:
        return Tolerance(
            rtol=self.loss_rtol_per_step * max(1, steps),
            atol=self.loss_atol,
            reason=f"loss after up to {steps} step(s): float32 lossValue, one reduction's rounding",
        )

    def probe_probabilities(self) -> Tolerance:
        return Tolerance(rtol=0.0, atol=self.probe_probability_atol, reason="prediction may run in float16")

    def dump(self, precision: Precision) -> Tolerance:
        if precision == "float16":
            # Below float16's smallest normal number (6.1e-5) the rounding is absolute: half the subnormal step.
            return Tolerance(
                rtol=self.dump_rtol_float16,
                atol=_FLOAT16_SUBNORMAL_STEP,
                reason="same in-memory model, stored as float16 (one rounding to 11 significant bits)",
            )
        return Tolerance(rtol=self.dump_rtol_float32, atol=0.0, reason="same in-memory model, stored as float32")

    def to_dict(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)


# float16 keeps 11 significant bits: rounding a value to float16 moves it by at most 2^-11 relative, and by at
# most half the subnormal spacing 2^-24 near zero.
_FLOAT16_ROUNDING = 2.0**-11
_FLOAT16_SUBNORMAL_STEP = 2.0**-25

DEFAULT = Tolerances()

# The case a job runs under when its job.json names none (and its model does not train with Adam).
DEFAULT_CASE = "default"

# Per-case overrides, keyed by the case a job names in job.json's `case` field (`write_job(case=...)`); a job
# that names none runs under `adam` when its model trains with Adam, else under the defaults. Never derived from
# a job id. Each entry needs a comment giving the reason; reviewers read this table, not the call sites.
OVERRIDES: dict[str, dict[str, float | int]] = {
    # Adam divides by sqrt(v) + eps: tiny second moments amplify rounding in the first steps (PrayerAutoAdvance,
    # eps 1e-8), so allow ten times the SGD per-step error.
    "adam": {"weight_rtol_per_step": 1e-4, "loss_rtol_per_step": 1e-4},
    # The drawing classifier's frozen embedding is a large CNN evaluated by Core ML in float16 on the ANE/GPU;
    # its k-NN inputs differ by float16 rounding, so probabilities differ more than for CPU-only models (the
    # stickers scenario's job names this case).
    "sketches": {"probe_probability_atol": 1e-2, "probe_top1_margin": 1e-2},
}


def for_case(case: str, *, overrides: dict[str, dict[str, float | int]] | None = None) -> Tolerances:
    """The tolerances of `case`: the defaults with the case's overrides (from OVERRIDES unless given).
    A case the table does not know is refused: a misspelt case must not silently get the defaults."""
    table = OVERRIDES if overrides is None else overrides
    if case != DEFAULT_CASE and case not in table:
        known = ", ".join(sorted({DEFAULT_CASE, *table} - {"*"}))
        raise InputError(
            f"no parity case {case!r} in the tolerance table",
            where="job.json: case",
            fix=f"use one of {known}, or add a reviewed entry to OVERRIDES in mlupdate/parity/tolerances.py",
        )
    changes = {**table.get("*", {}), **table.get(case, {})}
    return dataclasses.replace(DEFAULT, **changes)  # type: ignore[arg-type]


def case_for(named: str | None, optimizer: str | None = None) -> str:
    """The case a job runs under: the one its job.json names, else `adam` for an Adam model, else the default."""
    if named is not None:
        return named
    return "adam" if optimizer in ("adam", "adamOptimizer") else DEFAULT_CASE
