"""Verdict value objects: one Check per question asked, one Verdict per results bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mlupdate.contract import DeviceInfo, Producer, ProducerName

# "not_recorded": the evidence a check needs is absent from the results (no event log, no probe predictions, no
# timings: an app other than the companion wrote them). Such a check neither passes nor fails the verdict.
Status = Literal["pass", "fail", "warn", "skip", "not_recorded"]
Level = Literal["step", "trajectory"]
NOT_RECORDED: Status = "not_recorded"
# How each status reads in reports: the one place the words come from.
STATUS_LABELS: dict[str, str] = {
    "pass": "pass",
    "fail": "fail",
    "warn": "warn",
    "skip": "skip",
    "not_recorded": "not recorded",
}
# Checks that inform without judging the device's training: they never carry a verdict.
INFORMATIVE_CHECKS = frozenset({"timing", "power"})

REFERENCE_PRODUCER = ProducerName.REFERENCE
# What reports name as the producer of parameters read from a trained model file (no results bundle).
NO_PRODUCER = "trained model file"
DRY_RUN_LABEL = "reference dry run - not a device result"


@dataclass(frozen=True)
class Check:
    """One parity question and its answer. `details` is JSON-ready (plots and tables read it)."""

    name: str
    status: Status
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    @property
    def recorded(self) -> bool:
        return self.status != NOT_RECORDED

    @property
    def judged(self) -> bool:
        """The check compared evidence and passed or failed on it: the verdict rests on it."""
        return self.status in ("pass", "fail") and self.name not in INFORMATIVE_CHECKS

    @classmethod
    def not_recorded(cls, name: str, what: str, details: dict[str, Any] | None = None) -> Check:
        """A check whose evidence is absent: `what` says what was not recorded."""
        return cls(name, NOT_RECORDED, f"{name}: not recorded ({what})", details or {})

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "message": self.message, "details": self.details}


@dataclass(frozen=True)
class KnobStatus:
    """One semantics knob the reference used, and whether its value was calibrated."""

    name: str
    value: Any
    calibrated: bool
    calibrated_for: str | None = None  # the OS version a calibration profile decided it for, e.g. "iOS 17.4"

    @property
    def label(self) -> str:
        if self.calibrated_for:
            return f"calibrated for {self.calibrated_for}"
        return "calibrated (calibration run, not this OS version)" if self.calibrated else "uncalibrated"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "calibrated": self.calibrated,
            "calibrated_for": self.calibrated_for,
            "label": self.label,
        }


@dataclass(frozen=True)
class SemanticsInfo:
    knobs: tuple[KnobStatus, ...]
    os: str  # the OS the result was produced on, e.g. "iOS 17.4 (21E219)"
    profile: str | None  # the calibration profile used for that OS version, None when there is none
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "knobs": [knob.to_dict() for knob in self.knobs],
            "os": self.os,
            "profile": self.profile,
            "note": self.note,
        }


@dataclass(frozen=True)
class Verdict:
    job_id: str
    case: str
    level: Level
    steps: int
    checks: tuple[Check, ...]
    semantics: SemanticsInfo
    device: DeviceInfo
    producer: Producer | None  # None: the parameters came from a trained model file, not a results bundle
    tolerances: dict[str, Any]

    @property
    def passed(self) -> bool:
        """No check failed and at least one compared evidence: a verdict resting on nothing is not a pass."""
        return not any(check.failed for check in self.checks) and bool(self.rests_on)

    @property
    def rests_on(self) -> tuple[str, ...]:
        """The checks that compared recorded evidence (passed or failed), in report order."""
        return tuple(check.name for check in self.checks if check.judged)

    @property
    def not_recorded(self) -> tuple[str, ...]:
        return tuple(check.name for check in self.checks if not check.recorded)

    @property
    def dry_run(self) -> bool:
        return self.producer is not None and self.producer.name is ProducerName.REFERENCE

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.failed]

    def check(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def basis(self) -> str:
        """What the verdict rests on, and what it could not look at, in one sentence."""
        text = f"rests on {', '.join(self.rests_on)}" if self.rests_on else "rests on nothing: no evidence recorded"
        if self.not_recorded:
            text += f"; not recorded: {', '.join(self.not_recorded)}"
        return text

    def summary(self) -> str:
        head = "PASS" if self.passed else "FAIL"
        label = f" [{DRY_RUN_LABEL}]" if self.dry_run else ""
        reasons = "; ".join(check.message for check in self.failures)
        if not self.rests_on:
            reasons = reasons or "no evidence recorded to judge"
        return (
            f"{head} {self.job_id} ({self.level} level, {self.steps} steps){label}"
            + (f": {reasons}" if reasons else "")
            + f" [verdict {self.basis()}]"
        )
