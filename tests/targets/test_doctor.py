"""The doctor's checks on a host without Xcode or devices, and on a scripted Mac with a device attached."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlharness.doctor import Checkup, HostCheck, run_checks, verdict
from mlharness.errors import TargetUnavailable
from mlharness.process import Reply, ScriptedRunner
from mlharness.targets import Host


class UnreachablePort:
    def list_udids(self) -> list[str]:
        raise TargetUnavailable("usbmuxd is not running", where="usbmux", fix="sudo apt install usbmuxd")

    def close(self) -> None:
        pass


def by_name(checks: list[HostCheck]) -> dict[str, HostCheck]:
    return {check.name: check for check in checks}


def test_a_linux_host_without_devices_is_explained_piece_by_piece(tmp_path: Path) -> None:
    host = Host(runner=ScriptedRunner({}), device_port=UnreachablePort, is_mac=False, has_xcrun=False)
    checkup = Checkup(app_search_root=tmp_path, usbmuxd_socket=tmp_path / "usbmuxd", tunneld_listening=lambda: False)

    checks = by_name(run_checks(host, checkup))

    assert checks["xcode"].status == "missing"
    assert checks["simctl"].meaning == "no Simulator targets"
    assert checks["usbmuxd"].fix.startswith("Linux: sudo apt install usbmuxd")
    assert checks["tunneld"].status == "info"
    assert checks["tunneld"].fix == "sudo pymobiledevice3 remote tunneld -d"
    assert checks["devices"].status == "missing"
    assert "make app" in checks["companion app"].fix
    assert verdict(list(checks.values())).startswith("No job can run on this host yet")


def test_a_mac_with_xcode_a_device_and_a_signed_app_can_run_jobs(
    recorded: Path, make_port: Any, tmp_path: Path
) -> None:
    runner = ScriptedRunner(
        {
            ("xcode-select", "-p"): Reply(stdout="/Applications/Xcode.app/Contents/Developer\n"),
            ("xcrun", "xcodebuild", "-version"): Reply(stdout="Xcode 26.6\nBuild version 17F42\n"),
            ("xcrun", "simctl", "list"): Reply(stdout=(recorded / "simctl" / "list-runtimes.json").read_text()),
            ("xcrun", "devicectl"): Reply(json_output=(recorded / "devicectl" / "list-devices.json").read_text()),
        }
    )
    host = Host(runner=runner, device_port=lambda: make_port(tmp_path), is_mac=True, has_xcrun=True)
    app = tmp_path / "ios_app" / "DerivedData" / "Build" / "Products" / "Debug-iphoneos" / "MLHarnessCompanion.app"
    (app / "_CodeSignature").mkdir(parents=True)
    (app / "embedded.mobileprovision").write_bytes(b"profile")
    checkup = Checkup(app_search_root=tmp_path / "ios_app", usbmuxd_socket=tmp_path, tunneld_listening=lambda: True)

    checks = by_name(run_checks(host, checkup))

    assert checks["xcode"].found == "Xcode 26.6 at /Applications/Xcode.app/Contents/Developer"
    assert checks["simctl"].found == "iOS runtimes: iOS 26.5"
    assert checks["devicectl"].found == "2 device(s) known to CoreDevice"
    assert checks["device Ada's iPhone"].status == "ok"
    assert checks["device Ada's iPhone: developer disk image"].found == "personalized image mounted"
    assert checks["companion app (Debug-iphoneos)"].found.endswith("development-signed")
    assert verdict(list(checks.values())) == "Jobs can run here."


def test_developer_mode_off_and_an_unsigned_device_build_are_reported_with_fixes(
    make_port: Any, tmp_path: Path
) -> None:
    host = Host(
        runner=ScriptedRunner({}),
        device_port=lambda: make_port(tmp_path, developer_mode=False),
        is_mac=False,
        has_xcrun=False,
    )
    app = tmp_path / "DerivedData" / "Build" / "Products" / "Debug-iphoneos" / "MLHarnessCompanion.app"
    app.mkdir(parents=True)

    checks = by_name(run_checks(host, Checkup(app_search_root=tmp_path, tunneld_listening=lambda: False)))

    assert "amfi reveal-developer-mode" in checks["device Ada's iPhone: Developer Mode"].fix
    assert "0xe8008015" in checks["companion app (Debug-iphoneos)"].meaning
