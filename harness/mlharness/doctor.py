"""`mlharness doctor`: what this host has and lacks for running jobs, each gap with its meaning and its fix.

The checks only look; none of them changes the host or a device (no pairing, no mounting, no installing).
"""

from __future__ import annotations

import importlib.metadata
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mlharness.errors import HarnessError
from mlharness.targets import Host
from mlharness.targets.base import COMPANION_APP_NAME, parse_version
from mlharness.targets.device import RSD_FROM, DevicePort
from mlharness.targets.devicectl import Devicectl
from mlharness.targets.mac import BUILD_COMMAND
from mlharness.targets.simulator import Simctl

Status = Literal["ok", "missing", "info"]

PYMOBILEDEVICE3_RANGE = ((11, 45), (12,))  # the 11.x API the device port was written against
TUNNELD_ADDRESS = ("127.0.0.1", 49151)
USBMUXD_SOCKET = Path("/var/run/usbmuxd")


@dataclass(frozen=True)
class HostCheck:
    """One finding: what was checked, what was found, and for a gap what it means and the command that fixes it."""

    name: str
    status: Status
    found: str
    meaning: str = ""
    fix: str = ""


@dataclass(frozen=True)
class Checkup:
    """Where the doctor looks besides the tool host: the app build folder, usbmuxd's socket, tunneld."""

    app_search_root: Path
    usbmuxd_socket: Path = USBMUXD_SOCKET
    tunneld_listening: Callable[[], bool] = lambda: _listening(TUNNELD_ADDRESS)


def run_checks(host: Host, checkup: Checkup) -> list[HostCheck]:
    """Every check, in the order a user would fix things."""
    checks = [_host_os(host), *_xcode_checks(host), *_mac_checks(host), _usbmuxd(checkup), _pymobiledevice3()]
    checks.append(_tunneld(checkup))
    checks.extend(_device_checks(host.device_port))
    checks.extend(_app_checks(checkup.app_search_root))
    return checks


def verdict(checks: list[HostCheck]) -> str:
    """One sentence: can this host run a job, and if not, why."""
    simulators = any(c.name == "simctl" and c.status == "ok" for c in checks)
    devices = any(c.name.startswith("device ") and c.status == "ok" for c in checks)
    if any(c.name == "companion-macos" and c.status == "ok" for c in checks) and not (simulators or devices):
        return "Jobs can run on this Mac with companion-macos (the mac target); no Simulator or device is ready."
    app = any(c.name.startswith("companion app") and c.status == "ok" for c in checks)
    missing = sum(c.status == "missing" for c in checks)
    if not (simulators or devices):
        return (
            f"No job can run on this host yet ({missing} missing piece(s)): there is no Simulator (they need macOS "
            "with Xcode) and no usable device. Building models and jobs, the reference trainer and parity need "
            "none of it."
        )
    if not app:
        return f"Targets are reachable, but the companion app is not built ({missing} missing piece(s))."
    return "Jobs can run here." if not missing else f"Jobs can run here; {missing} optional piece(s) missing."


def _host_os(host: Host) -> HostCheck:
    if host.is_mac:
        return HostCheck("host", "ok", "macOS: Simulators, devicectl and pymobiledevice3 can all work here")
    return HostCheck(
        "host",
        "info",
        "not macOS: no Simulators and no devicectl here; real devices work over USB with pymobiledevice3",
        meaning="Simulator jobs need a Mac with Xcode (or a macOS CI runner)",
        fix="run Simulator jobs on a Mac, or in CI with .github/workflows/simulator.yml",
    )


def _mac_checks(host: Host) -> list[HostCheck]:
    """On a Mac: companion-macos runs jobs with the Mac's own Core ML (the `mac` target), no Simulator needed."""
    if not host.is_mac:
        return []
    if host.companion_macos is None:
        return [
            HostCheck(
                "companion-macos",
                "info",
                "companion-macos is not built",
                meaning="no mac target (the quickest real MLUpdateTask: no Simulator, no device)",
                fix=f"{BUILD_COMMAND} (or set MLHARNESS_COMPANION_MACOS to one built elsewhere)",
            )
        ]
    return [HostCheck("companion-macos", "ok", f"{host.companion_macos}: mac target available")]


def _xcode_checks(host: Host) -> list[HostCheck]:
    no_xcode = "Simulators need Xcode's simctl; devicectl needs Xcode 15+"
    install = "install Xcode, then: sudo xcode-select -s /Applications/Xcode.app && sudo xcodebuild -runFirstLaunch"
    if not (host.is_mac and host.has_xcrun):
        found = "no xcrun on this host" if host.is_mac else "not available off macOS"
        return [
            HostCheck("xcode", "missing", found, meaning=no_xcode, fix=install if host.is_mac else "use a Mac"),
            HostCheck("simctl", "missing", found, meaning="no Simulator targets", fix=install if host.is_mac else ""),
            HostCheck("devicectl", "missing", found, meaning="no devicectl targets (pymobiledevice3 still works)"),
        ]
    checks: list[HostCheck] = []
    try:
        developer_dir = host.developer_dir or host.runner.run(["xcode-select", "-p"], timeout=30).stdout.strip()
        version = host.runner.run(["xcrun", "xcodebuild", "-version"], timeout=60).stdout.splitlines()[0]
        checks.append(HostCheck("xcode", "ok", f"{version} at {developer_dir}"))
    except HarnessError as exc:
        checks.append(HostCheck("xcode", "missing", exc.what, meaning=no_xcode, fix=install))
    checks.append(_simctl(host))
    checks.append(_devicectl(host))
    return checks


def _simctl(host: Host) -> HostCheck:
    try:
        runtimes = [r for r in Simctl(host.runner, developer_dir=host.developer_dir).runtimes() if r.available]
    except HarnessError as exc:
        return HostCheck(
            "simctl", "missing", exc.what, meaning="no Simulator targets", fix="sudo xcodebuild -runFirstLaunch"
        )
    ios = [r.name for r in runtimes if r.name.startswith("iOS")]
    if not ios:
        return HostCheck(
            "simctl",
            "missing",
            "no iOS Simulator runtime installed",
            meaning="no iOS Simulator can boot",
            fix="xcodebuild -downloadPlatform iOS",
        )
    return HostCheck("simctl", "ok", "iOS runtimes: " + ", ".join(ios))


def _devicectl(host: Host) -> HostCheck:
    try:
        devices = Devicectl(host.runner, developer_dir=host.developer_dir).devices()
    except HarnessError as exc:
        return HostCheck(
            "devicectl",
            "missing",
            exc.what,
            meaning="no devicectl targets (pymobiledevice3 still works)",
            fix="install Xcode 15 or later",
        )
    return HostCheck("devicectl", "ok", f"{len(devices)} device(s) known to CoreDevice")


def _usbmuxd(checkup: Checkup) -> HostCheck:
    if checkup.usbmuxd_socket.exists():
        return HostCheck("usbmuxd", "ok", f"socket at {checkup.usbmuxd_socket}")
    return HostCheck(
        "usbmuxd",
        "missing",
        f"no socket at {checkup.usbmuxd_socket}",
        meaning="pymobiledevice3 cannot see USB devices",
        fix="Linux: sudo apt install usbmuxd (udev starts it when a device is plugged in); macOS: part of the OS",
    )


def _pymobiledevice3() -> HostCheck:
    try:
        version = importlib.metadata.version("pymobiledevice3")
    except importlib.metadata.PackageNotFoundError:
        return HostCheck("pymobiledevice3", "missing", "not installed", meaning="no device targets", fix="make setup")
    low, high = PYMOBILEDEVICE3_RANGE
    if not low <= parse_version(version) < high:
        return HostCheck(
            "pymobiledevice3",
            "missing",
            f"{version} (the device port was written against 11.45 to 11.x)",
            meaning="its async API changes between releases; calls may fail",
            fix='pip install "pymobiledevice3>=11.45,<12"',
        )
    return HostCheck("pymobiledevice3", "ok", version)


def _tunneld(checkup: Checkup) -> HostCheck:
    if checkup.tunneld_listening():
        return HostCheck("tunneld", "ok", f"listening on {TUNNELD_ADDRESS[0]}:{TUNNELD_ADDRESS[1]}")
    return HostCheck(
        "tunneld",
        "info",
        "not running",
        meaning="iOS 17.0-17.3 devices need it; 17.4+ use a no-root tunnel inside mlharness instead",
        fix="sudo pymobiledevice3 remote tunneld -d",
    )


def _device_checks(port_factory: Callable[[], DevicePort]) -> Iterable[HostCheck]:
    port = port_factory()
    try:
        udids = port.list_udids()
    except HarnessError as exc:
        yield HostCheck("devices", "missing", exc.what, meaning="no device targets", fix=exc.fix or "")
        port.close()
        return
    if not udids:
        yield HostCheck(
            "devices",
            "missing",
            "no USB device connected",
            meaning="no device targets",
            fix="plug in an iPhone or iPad, unlock it and tap Trust",
        )
    try:
        for udid in udids:
            yield from _one_device(port, udid)
    finally:
        port.close()


def _one_device(port: DevicePort, udid: str) -> Iterable[HostCheck]:
    try:
        facts = port.connect(udid)
    except HarnessError as exc:
        yield HostCheck(f"device {udid}", "missing", exc.what, meaning="not usable", fix=exc.fix or "")
        return
    label = f"device {facts.name}"
    yield HostCheck(label, "ok", f"paired; {facts.product_type}, iOS {facts.os_version} ({facts.os_build})")
    if facts.developer_mode is False:
        yield HostCheck(
            f"{label}: Developer Mode",
            "missing",
            "off",
            meaning="the companion app cannot be launched",
            fix="pymobiledevice3 amfi reveal-developer-mode; then Settings › Privacy & Security › Developer Mode",
        )
        return
    try:
        mounted = port.developer_image_mounted()
    except HarnessError as exc:
        yield HostCheck(f"{label}: developer disk image", "missing", exc.what, fix="pymobiledevice3 mounter auto-mount")
        return
    image = "personalized image" if parse_version(facts.os_version) >= RSD_FROM else "developer disk image"
    if mounted:
        yield HostCheck(f"{label}: developer disk image", "ok", f"{image} mounted")
    else:
        yield HostCheck(
            f"{label}: developer disk image",
            "info",
            f"{image} not mounted (it is lost on every reboot)",
            meaning="mlharness mounts it when a job starts; the first mount needs the network",
            fix="pymobiledevice3 mounter auto-mount",
        )


def _app_checks(root: Path) -> list[HostCheck]:
    builds = sorted(root.glob(f"DerivedData/Build/Products/*/{COMPANION_APP_NAME}"))
    if not builds:
        return [
            HostCheck(
                "companion app",
                "missing",
                f"no {COMPANION_APP_NAME} under {root}/DerivedData",
                meaning="there is nothing to install; jobs need the app built for the target",
                fix="on a Mac: make app (Simulator) or make app-device DEVELOPMENT_TEAM=<team id> (device)",
            )
        ]
    return [_app_check(app) for app in builds]


def _app_check(app: Path) -> HostCheck:
    kind = app.parent.name  # e.g. Debug-iphonesimulator, Debug-iphoneos
    if kind.endswith("-iphoneos"):
        if not (app / "embedded.mobileprovision").is_file() or not (app / "_CodeSignature").is_dir():
            return HostCheck(
                f"companion app ({kind})",
                "missing",
                f"{app} is not signed with a provisioning profile",
                meaning="a device refuses to install it (ApplicationVerificationFailed 0xe8008015)",
                fix="make app-device DEVELOPMENT_TEAM=<team id>",
            )
        return HostCheck(f"companion app ({kind})", "ok", f"{app}, development-signed")
    return HostCheck(f"companion app ({kind})", "ok", str(app))


def _listening(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1.0):
            return True
    except OSError:
        return False
