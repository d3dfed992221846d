"""The pymobiledevice3 target's decisions, driven through a fake DevicePort (no device, no usbmuxd)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlharness.errors import TargetError, TargetUnavailable
from mlharness.targets.device import DeveloperChannel, DeviceTarget, choose_channel

UDID = "00008130-001A2B3C4D5E6F70"

MakePort = Callable[..., Any]  # the FakePort class from conftest.py


@pytest.mark.parametrize(
    ("version", "tunneld", "channel"),
    [
        ("16.7.10", False, DeveloperChannel.LOCKDOWN),
        ("16.7.10", True, DeveloperChannel.LOCKDOWN),
        ("17.2", True, DeveloperChannel.TUNNELD),
        ("17.4", False, DeveloperChannel.USERSPACE),
        ("26.5", True, DeveloperChannel.TUNNELD),
    ],
)
def test_the_developer_channel_follows_the_ios_version(version: str, tunneld: bool, channel: DeveloperChannel) -> None:
    assert choose_channel(version, tunneld_running=tunneld) is channel


def test_ios_17_before_17_4_without_tunneld_says_to_start_tunneld() -> None:
    with pytest.raises(TargetUnavailable) as caught:
        choose_channel("17.3.1", tunneld_running=False)
    assert "sudo pymobiledevice3 remote tunneld" in caught.value.message


def test_a_session_mounts_the_image_opens_the_channel_and_closes(make_port: MakePort, tmp_path: Path) -> None:
    port = make_port(tmp_path, os_version="16.7.10")

    with DeviceTarget(UDID, port).session() as target:
        assert target.info().chip == "A17 Pro"

    assert port.calls == ["connect", "mount", "close"]
    assert port.channel is DeveloperChannel.LOCKDOWN


def test_developer_mode_off_stops_the_session_with_the_fix_and_still_closes(
    make_port: MakePort, tmp_path: Path
) -> None:
    port = make_port(tmp_path, developer_mode=False)

    with pytest.raises(TargetUnavailable, match="Developer Mode is off") as caught, DeviceTarget(UDID, port).session():
        pass

    assert "amfi reveal-developer-mode" in caught.value.message
    assert port.calls[-1] == "close"
    assert "mount" not in port.calls


def test_a_job_round_trip_through_the_container(make_port: MakePort, tmp_path: Path, job_dir: Path) -> None:
    port = make_port(tmp_path / "device")
    target = DeviceTarget(UDID, port)
    outbox = tmp_path / "device" / "Documents" / "outbox" / "tictactoe-0001"
    outbox.mkdir(parents=True)
    (outbox / "stale").write_text("old", encoding="utf-8")

    with target.session():
        target.push_job(job_dir, "tictactoe-0001")
        assert not outbox.exists(), "an old outbox must be gone before the launch"
        pid = target.launch("tictactoe-0001", arguments=["--job", "tictactoe-0001"], environment={"MLHARNESS_JOB": "x"})
        partial = tmp_path / "device" / "Documents" / "outbox" / ".tictactoe-0001.partial"
        partial.mkdir()
        (partial / "events.jsonl").write_text('{"event": "trainingBegin"}\n', encoding="utf-8")
        assert target.read_partial_events("tictactoe-0001") == '{"event": "trainingBegin"}\n'
        assert target.poll("tictactoe-0001").alive is True
        partial.rename(outbox)
        (outbox / "DONE").write_text("tictactoe-0001\n", encoding="utf-8")
        assert target.poll("tictactoe-0001").done is True
        pulled = target.pull_results("tictactoe-0001", tmp_path / "out")
        target.cleanup("tictactoe-0001")

    assert pid == 912
    assert port.memory_waived == [912]
    assert (pulled / "DONE").is_file()
    assert (tmp_path / "device" / "Documents" / "inbox").is_dir()
    assert not (tmp_path / "device" / "Documents" / "inbox" / "tictactoe-0001").exists()
    assert port.killed == [912], "cleanup stops an app that still runs"


def test_a_job_folder_named_otherwise_is_pushed_under_its_job_id(
    make_port: MakePort, tmp_path: Path, job_dir: Path
) -> None:
    renamed = job_dir.rename(job_dir.parent / "my-job")
    port = make_port(tmp_path / "device")

    with DeviceTarget(UDID, port).session() as target:
        target.push_job(renamed, "tictactoe-0001")

    assert (tmp_path / "device" / "Documents" / "inbox" / "tictactoe-0001" / "job.json").is_file()


def test_a_refused_vend_container_falls_back_to_vend_documents(
    make_port: MakePort, tmp_path: Path, job_dir: Path
) -> None:
    port = make_port(tmp_path / "device", refusals={False: "InstallationLookupFailed"})

    with DeviceTarget(UDID, port).session() as target:
        target.push_job(job_dir, "tictactoe-0001")

    assert [c.documents_only for c in port.containers] == [False, True]


def test_both_vends_refused_names_signing_and_file_sharing(make_port: MakePort, tmp_path: Path, job_dir: Path) -> None:
    port = make_port(
        tmp_path / "device", refusals={False: "InstallationLookupFailed", True: "InstallationLookupFailed"}
    )

    with pytest.raises(TargetError) as caught, DeviceTarget(UDID, port).session() as target:
        target.push_job(job_dir, "tictactoe-0001")

    assert "development-signed" in caught.value.message
    assert "UIFileSharingEnabled" in caught.value.message


def test_an_app_that_exited_is_not_alive(make_port: MakePort, tmp_path: Path) -> None:
    port = make_port(tmp_path / "device")
    with DeviceTarget(UDID, port).session() as target:
        target.launch("j", arguments=[], environment={})
        port.running_pid = 0
        assert target.poll("j").alive is False


def test_logs_are_limited_to_the_run(make_port: MakePort, tmp_path: Path) -> None:
    target = DeviceTarget(UDID, make_port(tmp_path))
    logs = target.collect_logs(datetime.now(UTC) - timedelta(minutes=5))
    assert logs.endswith("task 0 resumed")
    assert "yesterday" not in logs


def test_a_session_inside_a_session_connects_and_closes_once(make_port: MakePort, tmp_path: Path) -> None:
    port = make_port(tmp_path)
    target = DeviceTarget(UDID, port)

    with target.session(), target.session():
        pass

    assert port.calls == ["connect", "mount", "close"]
