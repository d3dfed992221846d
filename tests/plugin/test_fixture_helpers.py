"""Small pieces of the fixtures: report folder names, the companion app's location, opening a cell."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlharness.errors import ConfigError
from mlharness.matrix import CellStatus, DeviceCell
from mlharness.pytest_plugin.fixtures import companion_app, open_target, report_folder_name


def test_report_folder_names_are_safe_and_stay_unique_when_shortened() -> None:
    assert report_folder_name("tests/device/test_a.py::test_x[sim-1]") == "tests_device_test_a.py_test_x_sim-1"
    long_a = "tests/device/test_a.py::test_" + "x" * 200 + "[sim-1]"
    long_b = "tests/device/test_a.py::test_" + "x" * 200 + "[sim-2]"
    assert len(report_folder_name(long_a)) == 120
    assert report_folder_name(long_a) != report_folder_name(long_b)


def test_missing_companion_app_names_the_build_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as simulator:
        companion_app(tmp_path, DeviceCell("sim", "simulator", udid="S"))
    assert simulator.value.fix == "run `make app` first"
    assert "Debug-iphonesimulator/MLHarnessCompanion.app" in (simulator.value.where or "")
    with pytest.raises(ConfigError) as device:
        companion_app(tmp_path, DeviceCell("dev", "device", udid="D"))
    assert "make app-device DEVELOPMENT_TEAM=" in (device.value.fix or "")


def test_built_companion_app_is_found_per_platform(tmp_path: Path) -> None:
    app = tmp_path / "ios_app/DerivedData/Build/Products/Debug-iphoneos/MLHarnessCompanion.app"
    app.mkdir(parents=True)
    assert companion_app(tmp_path, DeviceCell("dev", "devicectl", udid="D")) == app


def test_a_cell_without_a_udid_cannot_be_opened() -> None:
    status = CellStatus(DeviceCell("sim", "simulator", runtime="r", devicetype="d"), None, True)
    with pytest.raises(ConfigError, match="resolved to no udid"):
        open_target(status)
