"""Real iPhones and iPads (macOS or Linux): the device policy, for a device on USB or one behind another host's
tunneld (a remote device: `DeviceTarget(..., remote=TunneldHost)`, iOS 17+, always over that tunnel).

`DeviceTarget` holds the decisions: which developer channel the OS version needs (lockdown before iOS 17, an
RSD tunnel from 17: tunneld when it runs, else the no-root userspace tunnel from 17.4), VendContainer with the
VendDocuments fallback, liveness by the app's pid, cleanup. It talks to the device only through the small
`DevicePort` protocol, so all of that is tested with a fake port. `mlharness.targets.pmd3.Pmd3Port` implements
the port over pymobiledevice3; this module never imports pymobiledevice3.
"""

from __future__ import annotations

import enum
import logging
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from mlharness.errors import HarnessError, TargetError, TargetUnavailable
from mlharness.targets.base import (
    COMPANION_BUNDLE_ID,
    COMPANION_LOG_SUBSYSTEM,
    Capability,
    JobStatus,
    SessionCount,
    Target,
    TargetInfo,
    inbox_path,
    outbox_path,
    parse_version,
    partial_path,
)
from mlharness.tunneld import TunneldHost

log = logging.getLogger(__name__)

T = TypeVar("T")

# Developer services moved behind RSD tunnels in iOS 17; the no-root userspace tunnel needs 17.4's CoreDeviceProxy.
RSD_FROM = (17,)
USERSPACE_TUNNEL_FROM = (17, 4)

# Marketing names for the chips of devices that can run MLUpdateTask (iOS 13+); pymobiledevice3 only knows ids.
CHIPS: Mapping[int, str] = {
    0x8020: "A12 Bionic",
    0x8027: "A12X/Z Bionic",
    0x8030: "A13 Bionic",
    0x8101: "A14 Bionic",
    0x8103: "M1",
    0x8110: "A15 Bionic",
    0x8112: "M2",
    0x8120: "A16 Bionic",
    0x8122: "M3",
    0x8130: "A17 Pro",
    0x8132: "M4",
    0x8140: "A18 / A18 Pro",
}


class DeveloperChannel(enum.Enum):
    LOCKDOWN = "lockdown"  # iOS < 17: developer services straight over usbmux
    TUNNELD = "tunneld"  # iOS 17+: a tunnel kept by `sudo pymobiledevice3 remote tunneld`
    USERSPACE = "userspace"  # iOS 17.4+: a no-root tunnel inside this process (one per process)


@dataclass(frozen=True)
class DeviceFacts:
    """What lockdown says about a connected device."""

    udid: str
    name: str
    product_type: str
    os_version: str
    os_build: str
    chip_id: int | None
    developer_mode: bool | None  # None before iOS 16, which has no Developer Mode


@dataclass(frozen=True)
class Container:
    """The app container to open: the whole data container (VendContainer) or only Documents (VendDocuments)."""

    bundle_id: str
    documents_only: bool


class DevicePort(Protocol):
    """Everything the device target needs from a device, one device per port. Paths are container paths."""

    def list_udids(self) -> list[str]:
        """The devices this port reaches: usbmux's USB devices, or the tunnels a remote tunneld serves."""
        ...

    def connect(self, udid: str) -> DeviceFacts: ...
    def developer_image_mounted(self) -> bool: ...
    def close(self) -> None: ...
    def mount_developer_image(self) -> None: ...
    def tunneld_running(self) -> bool: ...
    def open_developer_channel(self, channel: DeveloperChannel) -> None: ...
    def install(self, app: Path) -> None: ...
    def vend_refusal(self, container: Container) -> str:
        """ "" when the device opens the container, else the device's refusal text."""
        ...

    def remove(self, container: Container, path: str) -> None: ...
    def makedirs(self, container: Container, path: str) -> None: ...
    def push(self, container: Container, local_dir: Path, remote_parent: str) -> None:
        """Copy `local_dir` to `remote_parent/<local_dir.name>`."""
        ...

    def exists(self, container: Container, path: str) -> bool: ...
    def read(self, container: Container, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        ...

    def pull(self, container: Container, remote_dir: str, local_parent: Path) -> None:
        """Copy `remote_dir` to `local_parent/<basename>`."""
        ...

    def launch(self, bundle_id: str, arguments: Sequence[str], environment: Mapping[str, str]) -> int: ...
    def pid_for(self, bundle_id: str) -> int:
        """The running app's pid, 0 when it is not running."""
        ...

    def kill(self, pid: int) -> None: ...
    def disable_memory_limit(self, pid: int) -> None: ...
    def start_syslog(self, subsystem: str) -> None: ...
    def syslog(self) -> list[tuple[datetime, str]]: ...


def choose_channel(os_version: str, *, tunneld_running: bool, remote: TunneldHost | None = None) -> DeveloperChannel:
    """The way to reach developer services (DVT) for this iOS version; a remote device only has its tunnel."""
    version = parse_version(os_version)
    if remote is not None:
        if version < RSD_FROM:
            raise TargetUnavailable(
                f"iOS {os_version} cannot be used remotely: tunneld serves RSD tunnels, which start with iOS 17",
                where=f"tunneld at {remote}",
                fix="update the device to iOS 17 or later, or plug it into this host and use a local `device` cell",
            )
        return DeveloperChannel.TUNNELD
    if version < RSD_FROM:
        return DeveloperChannel.LOCKDOWN
    if tunneld_running:
        return DeveloperChannel.TUNNELD
    if version >= USERSPACE_TUNNEL_FROM:
        return DeveloperChannel.USERSPACE
    raise TargetUnavailable(
        f"iOS {os_version} needs a tunnel for developer services, and below 17.4 only tunneld can make one",
        where="pymobiledevice3 tunnel",
        fix="start it once and leave it running: sudo pymobiledevice3 remote tunneld -d",
    )


def _root(path: str) -> str:
    return f"/{path}"


class DeviceTarget:
    """One device driven through a `DevicePort`: on this host's USB, or remote (`remote`: the tunneld serving it)."""

    def __init__(
        self,
        udid: str,
        port: DevicePort,
        *,
        bundle_id: str = COMPANION_BUNDLE_ID,
        remote: TunneldHost | None = None,
    ) -> None:
        self._udid = udid
        self._port = port
        self._bundle_id = bundle_id
        self._remote = remote
        self._facts: DeviceFacts | None = None
        self._container: Container | None = None
        self._pid: int | None = None
        self._sessions = SessionCount()

    def info(self) -> TargetInfo:
        facts = self._connected()
        return TargetInfo(
            name=facts.name,
            kind="device",
            udid=facts.udid,
            os_name="iOS",
            os_version=facts.os_version,
            model=facts.product_type,
            chip=CHIPS.get(facts.chip_id) if facts.chip_id is not None else None,
            is_simulator=False,
            extra={"os_build": facts.os_build},
            host=str(self._remote) if self._remote is not None else None,
        )

    def supports(self, feature: Capability) -> bool:
        # Partial events through AFC, os_trace logs, the jetsam waiver, and it is real hardware.
        return feature in set(Capability)

    @contextmanager
    def session(self) -> Iterator[Target]:
        with self._sessions.enter(self._open_session):
            yield self

    @contextmanager
    def _open_session(self) -> Iterator[None]:
        self._facts = None  # a new connection reads the device afresh
        try:
            facts = self._connected()
            if facts.developer_mode is False:
                raise TargetUnavailable(
                    f"Developer Mode is off on {facts.name}",
                    where=facts.udid,
                    fix="pymobiledevice3 amfi reveal-developer-mode, then Settings › Privacy & Security › "
                    "Developer Mode › On, restart, and confirm",
                )
            # Chosen first: a device that cannot have a channel is refused before its image is mounted.
            channel = choose_channel(
                facts.os_version, tunneld_running=self._port.tunneld_running(), remote=self._remote
            )
            self._port.mount_developer_image()
            log.info("%s: developer services over %s", facts.udid, channel.value)
            self._port.open_developer_channel(channel)
            yield
        finally:
            self._port.close()

    def install(self, app: Path) -> None:
        self._port.install(app)
        self._container = None

    def push_job(self, job_dir: Path, job_id: str) -> None:
        container = self._open_container()
        for folder in (outbox_path(job_id), partial_path(job_id), inbox_path(job_id)):
            self._port.remove(container, _root(folder))
        parent = _root(inbox_path(job_id)).rsplit("/", 1)[0]
        self._port.makedirs(container, parent)
        if job_dir.name == job_id:
            self._port.push(container, job_dir, parent)
            return
        # AFC names the pushed folder after the local one: stage a copy under the job id.
        with tempfile.TemporaryDirectory(prefix="mlharness-push-") as scratch:
            staged = Path(scratch) / job_id
            shutil.copytree(job_dir, staged)
            self._port.push(container, staged, parent)

    def launch(self, job_id: str, *, arguments: Sequence[str], environment: Mapping[str, str]) -> int:
        self._port.start_syslog(COMPANION_LOG_SUBSYSTEM)
        self._pid = self._port.launch(self._bundle_id, arguments, environment)
        log.info("job %s: companion app running on %s as pid %d", job_id, self._udid, self._pid)
        try:
            # Update tasks on large models can pass the app's jetsam limit; lifting it is best effort.
            self._port.disable_memory_limit(self._pid)
        except HarnessError as exc:
            log.warning("could not lift the memory limit of pid %d: %s", self._pid, exc)
        return self._pid

    def poll(self, job_id: str) -> JobStatus:
        done = self._port.exists(self._open_container(), _root(f"{outbox_path(job_id)}/DONE"))
        alive = self._pid is not None and self._port.pid_for(self._bundle_id) == self._pid
        return JobStatus(done=done, alive=alive)

    def read_partial_events(self, job_id: str) -> str:
        data = self._port.read(self._open_container(), _root(f"{partial_path(job_id)}/events.jsonl"))
        return data.decode("utf-8", errors="replace") if data is not None else ""

    def pull_results(self, job_id: str, dest: Path) -> Path:
        self._port.pull(self._open_container(), _root(outbox_path(job_id)), dest)
        return dest / job_id

    def collect_logs(self, since: datetime) -> str:
        return "\n".join(line for when, line in self._port.syslog() if when >= since)

    def cleanup(self, job_id: str) -> None:
        if self._pid is not None and self._port.pid_for(self._bundle_id) == self._pid:
            self._port.kill(self._pid)
        self._pid = None
        container = self._open_container()
        for folder in (inbox_path(job_id), outbox_path(job_id), partial_path(job_id)):
            self._port.remove(container, _root(folder))

    def _connected(self) -> DeviceFacts:
        if self._facts is None:
            self._facts = self._port.connect(self._udid)
        return self._facts

    def _open_container(self) -> Container:
        if self._container is not None:
            return self._container
        whole = Container(self._bundle_id, documents_only=False)
        refused = self._port.vend_refusal(whole)
        if not refused:
            self._container = whole
            return whole
        # VendContainer needs a development-signed app; VendDocuments needs UIFileSharingEnabled instead.
        documents = Container(self._bundle_id, documents_only=True)
        refused_too = self._port.vend_refusal(documents)
        if refused_too:
            raise TargetError(
                f"the device refused the app's container ({refused}) and its Documents ({refused_too})",
                target=self._udid,
                step="open container",
                fix="install a development-signed build (make app-device) or set UIFileSharingEnabled in Info.plist",
            )
        log.warning("VendContainer refused (%s); using VendDocuments", refused)
        self._container = documents
        return documents
