"""Which semantics knobs the reference used, and whether each was calibrated for the result's OS version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlupdate.contract import DeviceInfo, Producer
from mlupdate.parity.verdict import KnobStatus, SemanticsInfo


def os_label(device: DeviceInfo) -> str:
    build = device.os_build
    return f"{device.os_name} {device.os_version}" + (f" ({build})" if build else "")


def semantics_info(
    reference_producer: Producer | None,
    device: DeviceInfo,
    *,
    profile: str | None = None,
    profile_document: Mapping[str, Any] | None = None,
) -> SemanticsInfo:
    """`reference_producer.semantics` is `{"knobs": {...}, "calibrated": {...}}` as the reference records it.

    `profile` names the calibration profile the reference ran with and `profile_document` is its JSON (as
    `mlharness calibrate` writes it: `os_name`, `os_version`, decided `knobs`). A knob the profile decided, with
    the value the reference used, is calibrated for the profile's OS version. Without a profile a knob marked
    calibrated was calibrated on the project's calibration run, not on this OS version.
    """
    recorded = (reference_producer.semantics if reference_producer else None) or {}
    knobs = recorded.get("knobs", {}) if isinstance(recorded, Mapping) else {}
    calibrated = recorded.get("calibrated", {}) if isinstance(recorded, Mapping) else {}
    decided = dict(profile_document.get("knobs", {})) if profile_document else {}
    profile_os = _profile_os(profile_document)
    statuses = tuple(
        KnobStatus(
            name,
            value,
            bool(calibrated.get(name, False)) or (name in decided and decided[name] == value),
            profile_os if name in decided and decided[name] == value else None,
        )
        for name, value in sorted(knobs.items())
    )
    os = os_label(device)
    return SemanticsInfo(knobs=statuses, os=os, profile=profile, note=_note(statuses, os, profile, profile_os, device))


def _profile_os(document: Mapping[str, Any] | None) -> str | None:
    if not document or "os_name" not in document or "os_version" not in document:
        return None
    return f"{document['os_name']} {document['os_version']}"


def _note(
    statuses: tuple[KnobStatus, ...], os: str, profile: str | None, profile_os: str | None, device: DeviceInfo
) -> str:
    if not statuses:
        return "the reference recorded no semantics knobs: every behaviour counts as uncalibrated"
    if profile is None:
        return (
            f"no calibration profile for {os}: knobs marked calibrated were calibrated on the project's calibration "
            "run (docs/semantics.md), not on this OS version; uncalibrated knobs are documented guesses"
        )
    device_os = f"{device.os_name} {device.os_version}"
    if profile_os is None:
        return f"calibration profile {profile} (it names no OS version) for results from {os}"
    if profile_os != device_os:
        return f"calibration profile {profile} is for {profile_os}, but these results come from {os}"
    return f"calibration profile {profile} for {profile_os}"
