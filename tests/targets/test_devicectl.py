"""The devicectl layer against a scripted runner that writes recorded --json-output files."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from mlharness.errors import TargetUnavailable, ToolError
from mlharness.process import Completed, Reply, ScriptedRunner
from mlharness.targets import devicectl
from mlharness.targets.devicectl import Devicectl, DevicectlTarget, parse_devices

IPHONE = "00008130-001A2B3C4D5E6F70"
IPAD = "00008101-000E1D2C3B4A5968"
DC = ("xcrun", "devicectl")


def recorded_json(recorded: Path, name: str) -> str:
    return (recorded / "devicectl" / name).read_text(encoding="utf-8")


def test_list_devices_reads_identity_os_and_readiness(recorded: Path) -> None:
    iphone, ipad = parse_devices(json.loads(recorded_json(recorded, "list-devices.json")))

    assert (iphone.udid, iphone.name, iphone.os_version, iphone.product_type) == (
        IPHONE,
        "Ada's iPhone",
        "26.5",
        "iPhone16,1",
    )
    assert iphone.problem() == ""
    assert "Developer Mode is off" in ipad.problem()


def scripted(recorded: Path, **overrides: Reply | list[Reply]) -> ScriptedRunner:
    rules: dict[tuple[str, ...], Reply | list[Reply]] = {
        (*DC, "list", "devices"): Reply(json_output=recorded_json(recorded, "list-devices.json")),
        (*DC, "device", "install"): Reply(json_output=recorded_json(recorded, "install-app.json")),
        (*DC, "device", "process", "launch"): Reply(json_output=recorded_json(recorded, "process-launch.json")),
        (*DC, "device", "process", "terminate"): Reply(json_output="{}"),
        (*DC, "device", "info", "processes"): Reply(json_output=recorded_json(recorded, "info-processes-running.json")),
        (*DC, "device", "info", "files"): Reply(json_output=recorded_json(recorded, "info-files-empty.json")),
        (*DC, "device", "copy", "to"): Reply(json_output="{}"),
        (*DC, "device", "copy", "from"): Reply(json_output="{}"),
    }
    for key, reply in overrides.items():
        rules[(*DC, *key.split("_"))] = reply
    return ScriptedRunner(rules)


def argv_of(runner: ScriptedRunner, *prefix: str) -> list[str]:
    return next(argv for argv, _ in runner.calls if argv[2 : 2 + len(prefix)] == list(prefix))


def test_launch_sends_terminate_existing_environment_json_and_arguments(recorded: Path) -> None:
    runner = scripted(recorded)

    pid = Devicectl(runner).launch(IPHONE, "org.mlupdate.companion", ["--job", "j1"], {"MLHARNESS_JOB": "j1"})

    argv = argv_of(runner, "device", "process", "launch")
    assert pid == 912
    assert argv[argv.index("--environment-variables") + 1] == '{"MLHARNESS_JOB": "j1"}'
    assert "--terminate-existing" in argv
    assert argv[argv.index("org.mlupdate.companion") :][:3] == ["org.mlupdate.companion", "--job", "j1"]
    assert "--json-output" in argv


def test_a_failed_launch_reports_the_error_from_the_json_output(recorded: Path) -> None:
    failed = Reply(returncode=1, stderr="ERROR: ...", json_output=recorded_json(recorded, "process-launch-failed.json"))
    runner = scripted(recorded, device_process_launch=failed)

    with pytest.raises(ToolError) as caught:
        Devicectl(runner).launch(IPHONE, "org.mlupdate.companion", [], {})

    assert "The application failed to launch." in caught.value.message
    assert "com.apple.dt.CoreDeviceError 10002" in caught.value.message
    assert caught.value.returncode == 1


def in_run_folder(text: str, run: str) -> str:
    """Recorded `info files` output, as the app lists it when launched with `--run <run>`."""
    return text.replace("Documents/", f"Documents/runs/{run}/")


def pushed(runner: ScriptedRunner, job_dir: Path) -> tuple[DevicectlTarget, str]:
    target = DevicectlTarget(IPHONE, Devicectl(runner))
    target.push_job(job_dir, "tictactoe-0001")
    destination = argv_of(runner, "device", "copy", "to")
    run = destination[destination.index("--destination") + 1].split("/")[2]
    return target, run


def test_poll_sees_done_and_the_running_pid(recorded: Path, job_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devicectl.secrets, "token_hex", lambda _: "0123456789ab")
    runner = scripted(
        recorded,
        device_info_files=[
            Reply(json_output=in_run_folder(recorded_json(recorded, name), "run-0123456789ab"))
            for name in ("info-files-running.json", "info-files-done.json")
        ],
        device_info_processes=[
            Reply(json_output=recorded_json(recorded, "info-processes-running.json")),
            Reply(json_output=recorded_json(recorded, "info-processes-exited.json")),
        ],
    )
    target, run = pushed(runner, job_dir)
    assert run == "run-0123456789ab"
    target.launch("tictactoe-0001", arguments=["--job", "tictactoe-0001"], environment={})

    running = target.poll("tictactoe-0001")
    finished = target.poll("tictactoe-0001")

    assert (running.done, running.alive) == (False, True)
    assert (finished.done, finished.alive) == (True, False)


def test_push_copies_the_job_into_the_inbox_of_a_fresh_run_folder(recorded: Path, job_dir: Path) -> None:
    runner = scripted(recorded)

    _, run = pushed(runner, job_dir)

    argv = argv_of(runner, "device", "copy", "to")
    assert argv[argv.index("--domain-type") + 1] == "appDataContainer"
    assert argv[argv.index("--domain-identifier") + 1] == "org.mlupdate.companion"
    assert argv[argv.index("--source") + 1] == str(job_dir)
    assert argv[argv.index("--destination") + 1] == f"Documents/runs/{run}/inbox/tictactoe-0001"


def test_the_same_job_runs_twice_in_two_run_folders_each_named_to_the_app(recorded: Path, job_dir: Path) -> None:
    # devicectl cannot delete the first run's folders; a job id already on the device used to be refused.
    runner = scripted(recorded, device_info_files=Reply(json_output=recorded_json(recorded, "info-files-done.json")))
    target = DevicectlTarget(IPHONE, Devicectl(runner))
    runs = []
    for _ in range(2):
        target.push_job(job_dir, "tictactoe-0001")
        target.launch("tictactoe-0001", arguments=["--job", "tictactoe-0001"], environment={"MLHARNESS_JOB": "x"})
        launch = [argv for argv, _ in runner.calls if argv[2:5] == ["device", "process", "launch"]][-1]
        run = launch[launch.index("--run") + 1]
        assert json.loads(launch[launch.index("--environment-variables") + 1])["MLHARNESS_RUN"] == run
        runs.append(run)
    destinations = [
        argv[argv.index("--destination") + 1] for argv, _ in runner.calls if argv[2:5] == ["device", "copy", "to"]
    ]
    assert runs[0] != runs[1]
    assert destinations == [f"Documents/runs/{run}/inbox/tictactoe-0001" for run in runs]


def test_pull_accepts_the_folder_copied_to_the_destination(recorded: Path, tmp_path: Path) -> None:
    class CopyingRunner(ScriptedRunner):
        def run(self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> Completed:
            if argv[2:5] == ["device", "copy", "from"]:
                destination = Path(argv[argv.index("--destination") + 1])
                destination.mkdir(parents=True)
                (destination / "results.json").write_text("{}", encoding="utf-8")
            return super().run(argv, timeout=timeout, env=env)

    runner = CopyingRunner({(*DC, "device", "copy"): Reply(json_output="{}")})
    target, run = pushed(runner, tmp_path)
    pulled = target.pull_results("tictactoe-0001", tmp_path)

    assert pulled == tmp_path / "tictactoe-0001"
    assert (pulled / "results.json").is_file()
    argv = argv_of(runner, "device", "copy", "from")
    assert argv[argv.index("--source") + 1] == f"Documents/runs/{run}/outbox/tictactoe-0001"


def test_a_device_with_developer_mode_off_cannot_start_a_session(recorded: Path) -> None:
    target = DevicectlTarget(IPAD, Devicectl(scripted(recorded)))

    with pytest.raises(TargetUnavailable, match="Developer Mode is off"), target.session():
        pass


def test_cleanup_terminates_the_app_only_while_it_runs(recorded: Path, job_dir: Path) -> None:
    runner = scripted(recorded)
    target, _ = pushed(runner, job_dir)
    target.launch("tictactoe-0001", arguments=[], environment={})

    target.cleanup("tictactoe-0001")
    target.cleanup("tictactoe-0001")

    terminations = [argv for argv, _ in runner.calls if argv[2:5] == ["device", "process", "terminate"]]
    assert len(terminations) == 1
    assert terminations[0][terminations[0].index("--pid") + 1] == "912"
