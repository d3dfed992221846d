"""Which semantics knobs the reference used, and whether each was calibrated for the result's OS version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlupdate.parity.verdict import KnobStatus, SemanticsInfo


def os_label(device: Mapping[str, Any]) -> str:
    name, version, build = device.get("os_name", "?"), device.get("os_version", "?"), device.get("os_build", "")
    return f"{name} {version}" + (f" ({build})" if build else "")


def semantics_info(
    reference_producer: Mapping[str, Any], device: Mapping[str, Any], *, profile: str | None = None
) -> SemanticsInfo:
    """`reference_producer["semantics"]` is `{"knobs": {...}, "calibrated": {...}}` as the reference records it.

    `profile` names the calibration profile that was loaded for this OS version; without one, a knob marked
    calibrated is calibrated against the project's one calibration run, not against this OS version.
    """
    recorded = reference_producer.get("semantics") or {}
    knobs = recorded.get("knobs", {}) if isinstance(recorded, Mapping) else {}
    calibrated = recorded.get("calibrated", {}) if isinstance(recorded, Mapping) else {}
    statuses = tuple(
        KnobStatus(name, value, bool(calibrated.get(name, False))) for name, value in sorted(knobs.items())
    )
    os = os_label(device)
    if not statuses:
        note = "the reference recorded no semantics knobs: every behaviour counts as uncalibrated"
    elif profile is None:
        note = (
            f"no calibration profile for {os}: knobs marked calibrated were calibrated on the project's calibration "
            "run (DESIGN.md), not on this OS version; uncalibrated knobs are documented guesses"
        )
    else:
        note = f"calibration profile {profile} for {os}"
    return SemanticsInfo(knobs=statuses, os=os, profile=profile, note=note)
