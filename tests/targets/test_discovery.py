"""Discovery and open_target over recorded simctl/devicectl output and a fake USB port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlharness.errors import TargetUnavailable
from mlharness.process import Reply, ScriptedRunner
from mlharness.targets import Host, discover, discover_targets, open_target
from mlharness.targets.device import DeviceTarget
from mlharness.targets.devicectl import DevicectlTarget
from mlharness.targets.simulator import SimulatorTarget


class UnreachablePort:
    """A host without usbmuxd."""

    def list_udids(self) -> list[str]:
        raise TargetUnavailable("usbmuxd is not running", where="usbmux", fix="sudo apt install usbmuxd")

    def close(self) -> None:
        pass


def mac(recorded: Path, port: Any) -> Host:
    runner = ScriptedRunner(
        {
            ("xcrun", "simctl", "list"): Reply(stdout=(recorded / "simctl" / "list-devices.json").read_text()),
            ("xcrun", "devicectl", "list", "devices"): Reply(
                json_output=(recorded / "devicectl" / "list-devices.json").read_text()
            ),
        }
    )
    return Host(runner=runner, device_port=lambda: port, is_mac=True, has_xcrun=True)


def test_a_mac_lists_simulators_devicectl_and_usb_devices_with_reasons(
    recorded: Path, make_port: Any, tmp_path: Path
) -> None:
    found = {(c.kind, c.name): c for c in discover_targets(mac(recorded, make_port(tmp_path)))}

    assert found[("simulator", "iPhone 17 Pro")].usable
    assert found[("simulator", "iPhone 17 Pro")].reason == "booted"
    assert found[("simulator", "iPad Air 11-inch (M3)")].reason == "shutdown; boots when used"
    assert not found[("simulator", "iPhone 16")].usable
    assert "runtime profile not found" in found[("simulator", "iPhone 16")].reason
    assert found[("devicectl", "Ada's iPhone")].usable
    assert "Developer Mode is off" in found[("devicectl", "Test iPad")].reason
    assert found[("device", "Ada's iPhone")].reason == "iPhone16,1, iOS 26.5"
    assert all(kind != "simulator" or "watch" not in name.lower() for kind, name in found)


def test_a_linux_host_without_usbmuxd_has_no_targets_and_says_why() -> None:
    host = Host(runner=ScriptedRunner({}), device_port=UnreachablePort, is_mac=False, has_xcrun=False)

    found = discover(host)

    assert found.candidates == ()
    assert len(found.notes) == 4
    assert "needs macOS with Xcode" in found.notes[0]
    assert "usbmuxd is not running" in found.notes[2]
    assert found.notes[3] == "mac: needs macOS 13+ and a built companion-macos; this host is not a Mac"


def test_open_target_prefers_the_simulator_then_devicectl_then_pymobiledevice3(
    recorded: Path, make_port: Any, tmp_path: Path
) -> None:
    host = mac(recorded, make_port(tmp_path))

    assert isinstance(open_target("iPhone 17 Pro", host=host), SimulatorTarget)
    assert isinstance(open_target("00008130-001A2B3C4D5E6F70", host=host), DevicectlTarget)
    assert isinstance(open_target("00008130-001A2B3C4D5E6F70", kind="device", host=host), DeviceTarget)


def test_open_target_refuses_an_unusable_target_with_its_reason(recorded: Path, make_port: Any, tmp_path: Path) -> None:
    with pytest.raises(TargetUnavailable, match="runtime profile not found"):
        open_target("iPhone 16", host=mac(recorded, make_port(tmp_path)))


def test_open_target_for_an_unknown_id_lists_what_exists_and_why_kinds_are_missing() -> None:
    host = Host(runner=ScriptedRunner({}), device_port=UnreachablePort, is_mac=False, has_xcrun=False)

    with pytest.raises(TargetUnavailable) as caught:
        open_target("iPhone 42", host=host)

    assert "this host sees no Simulator and no device at all" in caught.value.message
    assert "usbmuxd is not running" in caught.value.message


def test_a_matrix_cell_naming_runtime_and_devicetype_finds_the_discovered_simulator(
    recorded: Path, make_port: Any, tmp_path: Path
) -> None:
    from mlharness.matrix import DeviceCell, resolve_cells

    candidates = discover_targets(mac(recorded, make_port(tmp_path)))
    cell = DeviceCell(
        "sim-17-pro",
        "simulator",
        runtime="com.apple.CoreSimulator.SimRuntime.iOS-26-5",
        devicetype="com.apple.CoreSimulator.SimDeviceType.iPhone-17-Pro",
    )
    (status,) = resolve_cells([cell], candidates)
    assert status.available, status.reason
    assert status.udid == "5C1E7A2B-9D4F-4B8E-A1C3-2F6D8E0B4A17"
