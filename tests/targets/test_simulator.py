"""The simctl layer against a scripted runner that replays recorded simctl output and error texts."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from mlharness.errors import TargetUnavailable, ToolError
from mlharness.process import Reply, ScriptedRunner
from mlharness.targets.base import Capability
from mlharness.targets.simulator import (
    Simctl,
    SimulatorTarget,
    lines_since,
    parse_devices,
    parse_launch_pid,
    parse_runtimes,
)

BOOTED = "5C1E7A2B-9D4F-4B8E-A1C3-2F6D8E0B4A17"
SHUTDOWN = "0B7F3C91-4E2A-4D6B-8F10-9A5C7E3D2B64"
BROKEN = "E2A94D17-6B3C-4F85-9C02-7D1E5B8A3F96"
XS = ("xcrun", "simctl")


def text(recorded: Path, name: str) -> str:
    return (recorded / "simctl" / name).read_text(encoding="utf-8")


def test_list_devices_keeps_the_runtime_key_and_availability(recorded: Path) -> None:
    devices = {d.udid: d for d in parse_devices(text(recorded, "list-devices.json"))}

    booted = devices[BOOTED]
    assert (booted.name, booted.state, booted.os_name, booted.os_version) == ("iPhone 17 Pro", "Booted", "iOS", "26.5")
    assert booted.model == "iPhone-17-Pro"
    assert devices[BROKEN].available is False
    assert devices[BROKEN].availability_error == "runtime profile not found"


def test_list_runtimes_reads_identifier_version_and_availability(recorded: Path) -> None:
    (runtime,) = parse_runtimes(text(recorded, "list-runtimes.json"))
    assert (runtime.identifier, runtime.version, runtime.available) == (
        "com.apple.CoreSimulator.SimRuntime.iOS-26-5",
        "26.5",
        True,
    )


def test_launch_output_gives_the_pid(recorded: Path) -> None:
    assert parse_launch_pid(text(recorded, "launch.stdout")) == 48213


def test_launch_passes_arguments_and_simctl_child_environment(recorded: Path) -> None:
    runner = ScriptedRunner({(*XS, "launch"): Reply(stdout=text(recorded, "launch.stdout"))})

    pid = Simctl(runner, developer_dir="/Applications/Xcode_26.6.app/Contents/Developer").launch(
        BOOTED, "org.mlupdate.companion", ["--job", "j1"], {"MLHARNESS_JOB": "j1"}
    )

    argv, env = runner.calls[0]
    assert pid == 48213
    assert argv == [*XS, "launch", "--terminate-running-process", BOOTED, "org.mlupdate.companion", "--job", "j1"]
    assert env == {
        "SIMCTL_CHILD_MLHARNESS_JOB": "j1",
        "DEVELOPER_DIR": "/Applications/Xcode_26.6.app/Contents/Developer",
    }


def test_install_on_a_shut_down_simulator_says_to_boot_it_first(recorded: Path) -> None:
    runner = ScriptedRunner({(*XS, "install"): Reply(stderr=text(recorded, "install-shutdown.stderr"), returncode=149)})

    with pytest.raises(ToolError) as caught:
        Simctl(runner).install(SHUTDOWN, Path("/build/MLHarnessCompanion.app"))

    assert caught.value.returncode == 149
    assert "Unable to lookup in current state: Shutdown" in caught.value.message
    assert f"xcrun simctl bootstatus {SHUTDOWN} -b" in caught.value.message


def test_shutting_down_a_shut_down_simulator_is_harmless(recorded: Path) -> None:
    runner = ScriptedRunner(
        {(*XS, "shutdown"): Reply(stderr=text(recorded, "shutdown-shutdown.stderr"), returncode=149)}
    )
    Simctl(runner).shutdown(SHUTDOWN)
    assert runner.calls[0][0] == [*XS, "shutdown", SHUTDOWN]


def test_other_shutdown_failures_are_not_swallowed() -> None:
    runner = ScriptedRunner({(*XS, "shutdown"): Reply(stderr="Invalid device: nope", returncode=148)})
    with pytest.raises(ToolError, match="Invalid device"):
        Simctl(runner).shutdown("nope")


def test_liveness_is_kill_zero_inside_the_simulator() -> None:
    runner = ScriptedRunner({(*XS, "spawn"): [Reply(), Reply(returncode=1, stderr="kill: 48213: No such process")]})
    simctl = Simctl(runner)

    assert simctl.is_running(BOOTED, 48213) is True
    assert simctl.is_running(BOOTED, 48213) is False
    assert runner.calls[0][0] == [*XS, "spawn", BOOTED, "/bin/kill", "-0", "48213"]


def test_log_lines_before_the_run_are_left_out(recorded: Path) -> None:
    lines = lines_since(text(recorded, "log-stream.txt"), datetime(2026, 11, 21, 10, 15, 3).astimezone())

    assert "task 0 resumed" not in lines
    assert "update task failed" in lines
    assert "Training kernels not enabled" in lines  # continuation line follows its entry


def scripted_simulator(recorded: Path, container: Path, *, state_file: str = "list-devices.json") -> ScriptedRunner:
    return ScriptedRunner(
        {
            (*XS, "list"): Reply(stdout=text(recorded, state_file)),
            (*XS, "bootstatus"): Reply(),
            (*XS, "install"): Reply(),
            (*XS, "get_app_container"): Reply(stdout=f"{container}\n"),
            (*XS, "launch"): Reply(stdout=text(recorded, "launch.stdout")),
            (*XS, "spawn"): Reply(),
            (*XS, "terminate"): Reply(),
            (*XS, "shutdown"): Reply(),
        },
        background=text(recorded, "log-stream.txt"),
    )


def test_a_job_goes_into_the_data_container_and_results_come_back(
    recorded: Path, job_dir: Path, tmp_path: Path
) -> None:
    container = tmp_path / "container"
    runner = scripted_simulator(recorded, container)
    target = SimulatorTarget(BOOTED, Simctl(runner))
    stale = container / "Documents" / "outbox" / "tictactoe-0001"
    stale.mkdir(parents=True)

    with target.session():
        target.push_job(job_dir, "tictactoe-0001")
        assert not stale.exists()
        assert (container / "Documents" / "inbox" / "tictactoe-0001" / "job.json").is_file()
        pid = target.launch("tictactoe-0001", arguments=["--job", "tictactoe-0001"], environment={})
        assert target.poll("tictactoe-0001").done is False
        # the app renames its partial folder into place and writes DONE last
        shutil.copytree(job_dir, stale)
        (stale / "DONE").write_text("tictactoe-0001\n", encoding="utf-8")
        assert target.poll("tictactoe-0001").done is True
        (tmp_path / "out").mkdir()  # the runner pulls into a staging folder it made
        pulled = target.pull_results("tictactoe-0001", tmp_path / "out")
        target.cleanup("tictactoe-0001")

    assert pid == 48213
    assert (pulled / "DONE").is_file()
    assert not (container / "Documents" / "inbox" / "tictactoe-0001").exists()
    assert runner.started[0].stopped, "the log stream child must be stopped by the harness"
    assert [*XS, "terminate", BOOTED, "org.mlupdate.companion"] in [argv for argv, _ in runner.calls]
    assert not any(argv[2] in ("bootstatus", "shutdown") for argv, _ in runner.calls), "it was already booted"


def test_a_shut_down_simulator_is_booted_for_the_session_and_shut_down_after(recorded: Path, tmp_path: Path) -> None:
    runner = scripted_simulator(recorded, tmp_path)

    with SimulatorTarget(SHUTDOWN, Simctl(runner)).session():
        pass

    commands = [argv[2] for argv, _ in runner.calls]
    assert commands == ["list", "bootstatus", "shutdown"]


def test_a_boot_that_hangs_is_retried_once_after_a_shutdown(recorded: Path, tmp_path: Path) -> None:
    runner = scripted_simulator(recorded, tmp_path)
    runner._rules[(*XS, "bootstatus")] = [Reply(hangs=True), Reply()]

    with SimulatorTarget(SHUTDOWN, Simctl(runner), boot_timeout=1).session():
        pass

    assert [argv[2] for argv, _ in runner.calls] == ["list", "bootstatus", "shutdown", "bootstatus", "shutdown"]


def test_a_simulator_whose_runtime_is_gone_is_unavailable_with_the_fix(recorded: Path, tmp_path: Path) -> None:
    target = SimulatorTarget(BROKEN, Simctl(scripted_simulator(recorded, tmp_path)))

    with pytest.raises(TargetUnavailable, match="runtime profile not found") as caught, target.session():
        pass

    assert "simctl delete unavailable" in caught.value.message


def test_an_unknown_udid_is_unavailable(recorded: Path, tmp_path: Path) -> None:
    with pytest.raises(TargetUnavailable, match="no Simulator with UDID"):
        SimulatorTarget("nope", Simctl(scripted_simulator(recorded, tmp_path))).info()


def test_simulator_info_and_features(recorded: Path, tmp_path: Path) -> None:
    target = SimulatorTarget(BOOTED, Simctl(scripted_simulator(recorded, tmp_path)))

    info = target.info()

    assert (info.kind, info.os_version, info.is_simulator, info.chip) == ("simulator", "26.5", True, None)
    assert target.supports(Capability.PARTIAL_EVENTS)
    assert not target.supports(Capability.REAL_HARDWARE)


def test_a_session_inside_a_session_leaves_the_simulator_to_the_outer_one(recorded: Path, tmp_path: Path) -> None:
    runner = scripted_simulator(recorded, tmp_path)
    target = SimulatorTarget(SHUTDOWN, Simctl(runner))

    with target.session():
        with target.session():
            pass
        assert "shutdown" not in [argv[2] for argv, _ in runner.calls]

    assert [argv[2] for argv, _ in runner.calls].count("shutdown") == 1
