"""Verdict value objects: one Check per question asked, one Verdict per results bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "warn", "skip"]
Level = Literal["step", "trajectory"]

REFERENCE_PRODUCER = "mlupdate-reference"
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
    device: dict[str, Any]
    producer: dict[str, Any]
    tolerances: dict[str, Any]

    @property
    def passed(self) -> bool:
        return not any(check.failed for check in self.checks)

    @property
    def dry_run(self) -> bool:
        return self.producer.get("name") == REFERENCE_PRODUCER

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.failed]

    def check(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def summary(self) -> str:
        head = "PASS" if self.passed else "FAIL"
        label = f" [{DRY_RUN_LABEL}]" if self.dry_run else ""
        reasons = "; ".join(check.message for check in self.failures)
        return f"{head} {self.job_id} ({self.level} level, {self.steps} steps){label}" + (
            f": {reasons}" if reasons else ""
        )
