"""`mlharness doctor | targets | run` as a user runs them."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from mlharness.cli import main
from mlharness.errors import TargetUnavailable
from mlharness.process import ScriptedRunner
from mlharness.targets import Host
from mlharness.targets.fake import FAKE_DEVICE, AppOutcome, FakeTarget
from mlupdate.bundle import ResultsWriter
from mlupdate.contract import Producer, ProducerName, RunError, RunPhase, TaskRecord, TaskStatus

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded"


class UnreachablePort:
    def list_udids(self) -> list[str]:
        raise TargetUnavailable("usbmuxd is not running", where="usbmux", fix="sudo apt install usbmuxd")

    def close(self) -> None:
        pass


@pytest.fixture
def linux_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """This sandbox as the CLI sees it, made explicit so the test means the same on any machine."""
    host = Host(runner=ScriptedRunner({}), device_port=UnreachablePort, is_mac=False, has_xcrun=False)
    monkeypatch.setattr("mlharness.targets.default_host", lambda *_args, **_kwargs: host)


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    target = tmp_path / "tictactoe-0001"
    shutil.copytree(RECORDED / "jobs" / "tictactoe-0001", target)
    return target


def test_doctor_without_xcode_or_devices_explains_each_gap_and_exits_0(
    linux_host: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", "--ios-app", str(tmp_path)]) == 0

    out = capsys.readouterr().out
    assert "missing xcode: not available off macOS" in out
    assert "fix:   sudo pymobiledevice3 remote tunneld -d" in out
    assert "No job can run on this host yet" in out


def test_doctor_json_lists_every_check(linux_host: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--json", "--ios-app", str(tmp_path)]) == 0

    names = [check["name"] for check in json.loads(capsys.readouterr().out)]
    assert names[:3] == ["host", "xcode", "simctl"]
    assert "companion app" in names


def test_doctor_on_this_machine_really_runs_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--json", "--ios-app", str(tmp_path)]) == 0

    checks = {check["name"]: check for check in json.loads(capsys.readouterr().out)}
    assert checks["pymobiledevice3"]["status"] == "ok"
    if sys.platform != "darwin":
        assert checks["xcode"]["found"] == "not available off macOS"


def test_targets_with_none_usable_says_why_and_exits_0(linux_host: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["targets"]) == 0

    out = capsys.readouterr().out
    assert "0 usable target(s)." in out
    assert "simulator: needs macOS with Xcode" in out
    assert "usbmuxd is not running" in out


def test_targets_json(linux_host: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["targets", "--json"]) == 0

    payload = json.loads(capsys.readouterr().out)
    assert payload["targets"] == []
    assert len(payload["notes"]) == 4  # simulator, devicectl, usb, mac: each kind says why it is missing


def test_targets_remote_lists_what_that_hosts_tunneld_serves(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Served:
        def list_udids(self) -> list[str]:
            return ["00008112-000C1D2E3F40801E"]

        def close(self) -> None:
            pass

    asked: list[str] = []

    def remote_port(host: object) -> Served:
        asked.append(str(host))
        return Served()

    host = Host(
        runner=ScriptedRunner({}), device_port=UnreachablePort, is_mac=False, has_xcrun=False, remote_port=remote_port
    )
    monkeypatch.setattr("mlharness.targets.default_host", lambda *_args, **_kwargs: host)

    assert main(["targets", "--json", "--remote", "lab-mac.local"]) == 0

    (served,) = json.loads(capsys.readouterr().out)["targets"]
    assert (served["udid"], served["host"], served["usable"]) == (
        "00008112-000C1D2E3F40801E",
        "lab-mac.local:49151",
        True,
    )
    assert asked == ["lab-mac.local:49151"]


def test_a_bad_remote_host_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["targets", "--remote", "http://lab-mac.local"])
    assert caught.value.code == 2
    assert "not a host name" in capsys.readouterr().err


def use_target(monkeypatch: pytest.MonkeyPatch, target: FakeTarget) -> None:
    monkeypatch.setattr("mlharness.targets.open_target", lambda *_args, **_kwargs: target)


def test_run_pulls_verified_results_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, job_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    use_target(monkeypatch, FakeTarget(tmp_path / "device"))

    assert main(["run", str(job_dir), "--target", "fake", "-o", str(tmp_path / "out")]) == 0

    captured = capsys.readouterr()
    assert (tmp_path / "out" / "tictactoe-0001" / "DONE").is_file()
    assert "job tictactoe-0001 on fake (fake): succeeded" in captured.out
    assert "task 0  trainingBegin" in captured.err


def test_run_of_a_job_the_device_reports_failed_exits_1(
    monkeypatch: pytest.MonkeyPatch, job_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing_app(job: Path, outbox: Path, job_id: str) -> None:
        error = RunError(RunPhase.TRAIN, "com.apple.CoreML", 0, "Training kernels not enabled")
        task = TaskRecord(0, TaskStatus.FAILED, error=error)
        with ResultsWriter(outbox, job_id) as writer:
            writer.finish(TaskStatus.FAILED, error, FAKE_DEVICE, [task], Producer(ProducerName.REFERENCE, "test"))

    use_target(monkeypatch, FakeTarget(tmp_path / "device", app=failing_app))

    assert main(["run", str(job_dir), "--target", "fake", "-o", str(tmp_path / "out")]) == 1

    assert "error (train): Training kernels not enabled" in capsys.readouterr().out


def test_run_that_fails_exits_2_and_leaves_the_diagnostics(
    monkeypatch: pytest.MonkeyPatch, job_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    use_target(monkeypatch, FakeTarget(tmp_path / "device", outcome=AppOutcome.CRASHES))

    assert main(["run", str(job_dir), "--target", "fake", "-o", str(tmp_path / "out")]) == 2

    err = capsys.readouterr().err
    assert "the companion app exited before it wrote DONE" in err
    assert "EXC_BAD_ACCESS" in err
    report = json.loads((tmp_path / "out" / "run-failure.json").read_text())
    assert report["state"] == "running"
    assert report["diagnostics"]["last_events"][0]["event"] == "trainingBegin"
    assert not (tmp_path / "out" / "tictactoe-0001").exists()


def test_run_on_an_unknown_target_is_a_clear_error(
    linux_host: None, job_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(job_dir), "--target", "iPhone 42", "-o", str(tmp_path / "out")]) == 2

    assert "no target 'iPhone 42'" in capsys.readouterr().err


@pytest.mark.parametrize("deadline", ["-5", "0", "inf", "soon", "1e9"])
def test_run_rejects_a_deadline_that_is_not_a_positive_number_of_seconds(
    job_dir: Path, tmp_path: Path, deadline: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(job_dir), "--target", "x", "-o", str(tmp_path / "out"), "--deadline", deadline])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "expected a positive number of seconds up to 604800 (a week)" in err and f"(got '{deadline}')" in err
