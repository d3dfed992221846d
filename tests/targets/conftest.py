"""Recorded tool output (tests/data/recorded/) and a real job bundle for the target tests."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlharness.targets.device import Container, DeveloperChannel, DeviceFacts

UDID = "00008130-001A2B3C4D5E6F70"

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded"


@pytest.fixture
def recorded() -> Path:
    return RECORDED


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    target = tmp_path / "jobs" / "tictactoe-0001"
    shutil.copytree(RECORDED / "jobs" / "tictactoe-0001", target)
    return target


class FakePort:
    """A device as a folder: the app container lives under `root`; every call is recorded."""

    def __init__(
        self,
        root: Path,
        *,
        os_version: str = "26.5",
        developer_mode: bool | None = True,
        tunneld: bool = False,
        refusals: Mapping[bool, str] | None = None,
    ) -> None:
        self.root = root
        self.facts = DeviceFacts(UDID, "Ada's iPhone", "iPhone16,1", os_version, "23F77", 0x8130, developer_mode)
        self.tunneld = tunneld
        self.refusals = dict(refusals or {})
        self.calls: list[str] = []
        self.channel: DeveloperChannel | None = None
        self.running_pid = 0
        self.killed: list[int] = []
        self.memory_waived: list[int] = []
        self.containers: list[Container] = []

    def list_udids(self) -> list[str]:
        return [UDID]

    def connect(self, udid: str) -> DeviceFacts:
        self.calls.append("connect")
        return self.facts

    def developer_image_mounted(self) -> bool:
        return True

    def close(self) -> None:
        self.calls.append("close")

    def mount_developer_image(self) -> None:
        self.calls.append("mount")

    def tunneld_running(self) -> bool:
        return self.tunneld

    def open_developer_channel(self, channel: DeveloperChannel) -> None:
        self.channel = channel

    def install(self, app: Path) -> None:
        self.calls.append(f"install {app.name}")

    def vend_refusal(self, container: Container) -> str:
        self.containers.append(container)
        return self.refusals.get(container.documents_only, "")

    def _path(self, container: Container, path: str) -> Path:
        assert path.startswith("/Documents/"), path
        return self.root / path.lstrip("/")

    def remove(self, container: Container, path: str) -> None:
        shutil.rmtree(self._path(container, path), ignore_errors=True)

    def makedirs(self, container: Container, path: str) -> None:
        self._path(container, path).mkdir(parents=True, exist_ok=True)

    def push(self, container: Container, local_dir: Path, remote_parent: str) -> None:
        shutil.copytree(local_dir, self._path(container, remote_parent) / local_dir.name)

    def exists(self, container: Container, path: str) -> bool:
        return self._path(container, path).exists()

    def read(self, container: Container, path: str) -> bytes | None:
        file = self._path(container, path)
        return file.read_bytes() if file.is_file() else None

    def pull(self, container: Container, remote_dir: str, local_parent: Path) -> None:
        source = self._path(container, remote_dir)
        shutil.copytree(source, local_parent / source.name)

    def launch(self, bundle_id: str, arguments: Sequence[str], environment: Mapping[str, str]) -> int:
        self.calls.append(f"launch {' '.join(arguments)} {dict(environment)}")
        self.running_pid = 912
        return 912

    def pid_for(self, bundle_id: str) -> int:
        return self.running_pid

    def kill(self, pid: int) -> None:
        self.killed.append(pid)
        self.running_pid = 0

    def disable_memory_limit(self, pid: int) -> None:
        self.memory_waived.append(pid)

    def start_syslog(self, subsystem: str) -> None:
        self.calls.append(f"syslog {subsystem}")

    def syslog(self) -> list[tuple[datetime, str]]:
        now = datetime.now(UTC)
        return [(now - timedelta(hours=1), "yesterday's news"), (now, "job tictactoe-0001: task 0 resumed")]


@pytest.fixture
def make_port() -> type[FakePort]:
    return FakePort
