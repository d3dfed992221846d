"""Tool output of an unexpected shape is a TargetError naming the command and the field, never a KeyError."""

from __future__ import annotations

import json

import pytest

from mlharness.errors import TargetError, ToolError
from mlharness.process import Reply, ScriptedRunner
from mlharness.targets import devicectl
from mlharness.targets.devicectl import Devicectl, parse_devices
from mlharness.targets.simulator import parse_devices as parse_simulators
from mlharness.targets.simulator import parse_runtimes


@pytest.mark.parametrize(
    ("output", "field"),
    [
        ('{"devices": {"iOS-18": [{"name": "iPhone", "state": "Booted"}]}}', "devices.iOS-18[0].udid is missing"),
        ('{"devices": {"iOS-18": {"udid": "x"}}}', "devices.iOS-18 is dict, not a list"),
        ('{"devices": []}', "devices is list, not an object"),
        ('{"devices": {"iOS-18": [{"udid": 7, "name": "n", "state": "Booted"}]}}', "devices.iOS-18[0].udid is 7"),
        ("[]", "(top level) is list, not an object"),
        ("not json", "not JSON"),
    ],
)
def test_simctl_list_devices_of_an_unknown_shape_names_the_command_and_field(output: str, field: str) -> None:
    with pytest.raises(TargetError, match="xcrun simctl list -j devices") as refused:
        parse_simulators(output)
    assert field in refused.value.what


def test_simctl_runtimes_of_an_unknown_shape_name_the_field() -> None:
    with pytest.raises(TargetError, match=r"runtimes\[0\]\.isAvailable is \"yes\""):
        parse_runtimes('{"runtimes": [{"identifier": "r", "isAvailable": "yes"}]}')


def test_devicectl_list_devices_of_an_unknown_shape_names_the_field() -> None:
    with pytest.raises(TargetError, match=r"result\.devices\[0\]\.hardwareProperties is list"):
        parse_devices({"result": {"devices": [{"hardwareProperties": []}]}})


@pytest.mark.parametrize(
    ("output", "field"),
    [
        ('{"result": {"runningProcesses": [{"processIdentifier": "912"}]}}', 'processIdentifier is "912"'),
        ('{"result": {"runningProcesses": {"processIdentifier": 1}}}', "runningProcesses is dict, not a list"),
        ('{"info": {}}', "result is missing"),
    ],
)
def test_devicectl_processes_of_an_unknown_shape_name_the_command_and_field(output: str, field: str) -> None:
    runner = ScriptedRunner({("xcrun", "devicectl", "device", "info", "processes"): Reply(json_output=output)})
    with pytest.raises(TargetError, match="xcrun devicectl device info processes") as refused:
        Devicectl(runner).running_pids("00008130-001A2B3C4D5E6F70")
    assert field in refused.value.what


def test_a_devicectl_error_payload_of_an_unknown_shape_still_reports_the_exit_code() -> None:
    failed = Reply(returncode=1, stderr="ERROR", json_output=json.dumps({"error": {"userInfo": "not an object"}}))
    runner = ScriptedRunner({("xcrun", "devicectl", "device", "process", "launch"): failed})
    with pytest.raises(ToolError) as caught:
        Devicectl(runner).launch("d", "org.mlupdate.companion", [], {})
    assert caught.value.returncode == 1 and "exited with code 1" in caught.value.message


def test_a_devicectl_json_output_larger_than_the_limit_is_refused_naming_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(devicectl, "JSON_OUTPUT_BYTES", 1024)
    huge = json.dumps({"result": {"runningProcesses": [{"processIdentifier": 1, "name": "x" * 4096}]}})
    runner = ScriptedRunner({("xcrun", "devicectl", "device", "info", "processes"): Reply(json_output=huge)})
    with pytest.raises(TargetError, match="xcrun devicectl device info processes") as refused:
        Devicectl(runner).running_pids("00008130-001A2B3C4D5E6F70")
    assert "more than the 1024 this reader accepts" in refused.value.what


def test_deeply_nested_tool_json_is_a_target_error() -> None:
    with pytest.raises(TargetError, match="not JSON"):
        parse_simulators("[" * 100_000 + "]" * 100_000)
