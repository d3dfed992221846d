"""Targets: where the companion app runs. See `base.Target`; one module per kind.

`discover()` asks every kind that can exist on this host what it sees and says why a kind is absent, and the
tunneld of every remote host it is given what that host serves; `discover_targets()` is its list of candidates;
`open_target(id)` builds the `Target` for a UDID or name (`remote=`: a device served by that host's tunneld).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlharness.errors import HarnessError, TargetUnavailable
from mlharness.process import ProcessRunner, SubprocessRunner
from mlharness.targets.base import (
    COMPANION_BUNDLE_ID,
    Capability,
    JobStatus,
    Target,
    TargetCandidate,
    TargetInfo,
    TargetKind,
)
from mlharness.targets.device import DevicePort, DeviceTarget
from mlharness.targets.devicectl import Devicectl, DevicectlTarget
from mlharness.targets.mac import BUILD_COMMAND, MAC_UDID, MINIMUM_MACOS, MacHost, MacTarget, find_executable
from mlharness.targets.pmd3 import Pmd3Port
from mlharness.targets.simulator import Simctl, SimulatorTarget
from mlharness.tunneld import TunneldHost

__all__ = [
    "COMPANION_BUNDLE_ID",
    "Capability",
    "Discovery",
    "Host",
    "JobStatus",
    "Target",
    "TargetCandidate",
    "TargetInfo",
    "TargetKind",
    "default_host",
    "discover",
    "discover_targets",
    "open_target",
]

_REPO = Path(__file__).resolve().parents[3]  # the checkout, for an editable install's SwiftPM build

# When one device is seen by several kinds, `open_target` prefers the first kind here.
_PREFERENCE: tuple[TargetKind, ...] = ("simulator", "devicectl", "device", "mac")


def _tunneld_port(tunneld: TunneldHost) -> DevicePort:
    return Pmd3Port(tunneld=tunneld)


@dataclass(frozen=True)
class Host:
    """How to reach the tools on this host; tests swap in a scripted runner and fake device ports."""

    runner: ProcessRunner
    device_port: Callable[[], DevicePort]
    is_mac: bool
    has_xcrun: bool
    developer_dir: str | None = None
    companion_macos: Path | None = None  # the built companion-macos executable, when there is one
    # The port to the devices another host's tunneld serves.
    remote_port: Callable[[TunneldHost], DevicePort] = _tunneld_port


def default_host(developer_dir: str | None = None) -> Host:
    """This machine: real subprocesses, pymobiledevice3, and whether it is a Mac with Xcode's xcrun."""
    return Host(
        runner=SubprocessRunner(),
        device_port=Pmd3Port,
        is_mac=sys.platform == "darwin",
        has_xcrun=shutil.which("xcrun") is not None,
        developer_dir=developer_dir,
        companion_macos=find_executable(_REPO) if sys.platform == "darwin" else None,
    )


@dataclass(frozen=True)
class Discovery:
    """What discovery found, and one line per kind it could not look at (with the reason and the fix)."""

    candidates: tuple[TargetCandidate, ...]
    notes: tuple[str, ...]


def discover(host: Host | None = None, *, tunneld: Sequence[TunneldHost] = ()) -> Discovery:
    """Every Simulator, devicectl device, usbmux device and this Mac's companion-macos, and every device the
    tunneld of each remote host in `tunneld` serves, usable now or not."""
    host = host or default_host()
    candidates: list[TargetCandidate] = []
    notes: list[str] = []
    finders: list[Callable[[Host], tuple[list[TargetCandidate], str]]] = [
        _simulators,
        _devicectl_devices,
        _usb_devices,
        _this_mac,
    ]
    finders += [_remote_finder(remote) for remote in dict.fromkeys(tunneld)]
    for finder in finders:
        found, note = finder(host)
        candidates.extend(found)
        if note:
            notes.append(note)
    return Discovery(tuple(candidates), tuple(notes))


def discover_targets(host: Host | None = None, *, tunneld: Sequence[TunneldHost] = ()) -> list[TargetCandidate]:
    """The candidates of `discover()`: usable ones and, with their reason, unusable ones."""
    return list(discover(host, tunneld=tunneld).candidates)


def open_target(
    identifier: str, *, kind: TargetKind | None = None, host: Host | None = None, remote: TunneldHost | None = None
) -> Target:
    """The target for a UDID or name (optionally of one kind; with `remote`, a device that host's tunneld
    serves). Raises `TargetUnavailable` with the reason."""
    host = host or default_host()
    if remote is not None:
        return _open_remote(identifier, host, remote)
    found = discover(host)
    matches = [c for c in found.candidates if identifier in (c.udid, c.name) and (kind is None or c.kind == kind)]
    if not matches:
        wanted = f"no target {identifier!r}" + (f" of kind {kind}" if kind else "")
        notes = "".join(f"\n  {note}" for note in found.notes)
        if not found.candidates:
            raise TargetUnavailable(
                f"{wanted}: this host sees no Simulator and no device at all",
                where="target discovery",
                fix="connect a device or install Xcode's Simulators (see `mlharness doctor`); why each kind is absent:"
                + notes,
            )
        known = ", ".join(f"{c.name} ({c.kind}, {c.udid})" for c in found.candidates)
        raise TargetUnavailable(wanted, where="target discovery", fix=f"pick one of: {known}{notes}")
    matches.sort(key=lambda c: _PREFERENCE.index(c.kind) if c.kind in _PREFERENCE else len(_PREFERENCE))
    chosen = matches[0]
    if not chosen.usable:
        raise TargetUnavailable(f"{chosen.name} cannot run jobs now: {chosen.reason}", where=chosen.udid)
    if chosen.kind == "simulator":
        return SimulatorTarget(chosen.udid, Simctl(host.runner, developer_dir=host.developer_dir))
    if chosen.kind == "devicectl":
        return DevicectlTarget(chosen.udid, Devicectl(host.runner, developer_dir=host.developer_dir))
    if chosen.kind == "mac":
        return MacTarget(MacHost(host.runner), executable=host.companion_macos)
    return DeviceTarget(chosen.udid, host.device_port())


def _this_mac(host: Host) -> tuple[list[TargetCandidate], str]:
    if not host.is_mac:
        return [], "mac: needs macOS 13+ and a built companion-macos; this host is not a Mac"
    try:
        facts = MacHost(host.runner).facts()
    except HarnessError as exc:
        return [], f"mac: could not describe this Mac: {exc.message}"
    name = f"this Mac ({facts.model})"
    if not facts.supported:
        minimum = ".".join(map(str, MINIMUM_MACOS))
        return [TargetCandidate(name, "mac", MAC_UDID, False, f"macOS {facts.os_version} is older than {minimum}")], ""
    if host.companion_macos is None:
        reason = f"companion-macos is not built: {BUILD_COMMAND} (or set MLHARNESS_COMPANION_MACOS)"
        return [TargetCandidate(name, "mac", MAC_UDID, False, reason)], ""
    reason = f"{facts.chip}, macOS {facts.os_version}, {host.companion_macos}"
    return [TargetCandidate(name, "mac", MAC_UDID, True, reason)], ""


def _simulators(host: Host) -> tuple[list[TargetCandidate], str]:
    if not (host.is_mac and host.has_xcrun):
        return [], "simulator: needs macOS with Xcode (xcrun simctl); this host has none"
    try:
        devices = Simctl(host.runner, developer_dir=host.developer_dir).devices()
    except HarnessError as exc:
        return [], f"simulator: xcrun simctl failed: {exc.message}"
    found = []
    for device in devices:
        if device.os_name != "iOS":
            continue
        if not device.available:
            reason = f"unavailable: {device.availability_error or 'runtime missing'}"
        else:
            reason = "booted" if device.state == "Booted" else f"{device.state.lower()}; boots when used"
        found.append(
            TargetCandidate(
                device.name,
                "simulator",
                device.udid,
                device.available,
                reason,
                runtime=device.runtime,
                devicetype=device.device_type,
            )
        )
    return found, ""


def _devicectl_devices(host: Host) -> tuple[list[TargetCandidate], str]:
    if not (host.is_mac and host.has_xcrun):
        return [], "devicectl: needs macOS with Xcode 15+ (xcrun devicectl); this host has none"
    try:
        devices = Devicectl(host.runner, developer_dir=host.developer_dir).devices()
    except HarnessError as exc:
        return [], f"devicectl: xcrun devicectl failed (Xcode 15+ needed): {exc.message}"
    found = []
    for device in devices:
        problem = device.problem()
        reason = problem or f"{device.marketing_name or device.product_type}, iOS {device.os_version}"
        found.append(TargetCandidate(device.name, "devicectl", device.udid, not problem, reason))
    return found, ""


def _usb_devices(host: Host) -> tuple[list[TargetCandidate], str]:
    port = host.device_port()
    try:
        udids = port.list_udids()
        if not udids:
            return [], "device: usbmuxd sees no USB device (plug one in, unlock it, tap Trust)"
        return [_describe_usb(port, udid) for udid in udids], ""
    except HarnessError as exc:
        return [], f"device (pymobiledevice3): {exc.message}"
    finally:
        port.close()


def _remote_finder(remote: TunneldHost) -> Callable[[Host], tuple[list[TargetCandidate], str]]:
    def find(host: Host) -> tuple[list[TargetCandidate], str]:
        port = host.remote_port(remote)
        try:
            udids = port.list_udids()
        except HarnessError as exc:
            return [], f"remote devices at {remote}: {exc.message}"
        finally:
            port.close()
        if not udids:
            return [], f"remote devices at {remote}: tunneld serves no device (plug one in there and unlock it)"
        reason = f"served by tunneld at {remote} (iOS 17+); connects when used"
        return [TargetCandidate(udid, "device", udid, True, reason, host=str(remote)) for udid in udids], ""

    return find


def _open_remote(udid: str, host: Host, remote: TunneldHost) -> Target:
    found, note = _remote_finder(remote)(host)
    if not any(candidate.udid == udid for candidate in found):
        served = ", ".join(candidate.udid for candidate in found) or "none"
        raise TargetUnavailable(
            f"tunneld at {remote} does not serve {udid}",
            where=f"tunneld at {remote}",
            fix=note or f"it serves: {served}; pass one of those udids",
        )
    return DeviceTarget(udid, host.remote_port(remote), remote=remote)


def _describe_usb(port: DevicePort, udid: str) -> TargetCandidate:
    try:
        facts = port.connect(udid)
    except HarnessError as exc:
        return TargetCandidate(udid, "device", udid, False, exc.message)
    if facts.developer_mode is False:
        return TargetCandidate(facts.name, "device", udid, False, "Developer Mode is off (mlharness doctor explains)")
    return TargetCandidate(facts.name, "device", udid, True, f"{facts.product_type}, iOS {facts.os_version}")
