"""Real iPhones and iPads through pymobiledevice3 (macOS or Linux, USB).

`DeviceTarget` holds the decisions: which developer channel the OS version needs (lockdown before iOS 17, an
RSD tunnel from 17: tunneld when it runs, else the no-root userspace tunnel from 17.4), VendContainer with the
VendDocuments fallback, liveness by the app's pid, cleanup. It talks to the device only through the small
`DevicePort` protocol, so all of that is tested with a fake port. `Pmd3Port` implements the port; it is the
only code that calls pymobiledevice3 (11.45's asyncio API, run on a private event loop thread).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import shutil
import tempfile
import threading
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

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

    def list_udids(self) -> list[str]: ...
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


def choose_channel(os_version: str, *, tunneld_running: bool) -> DeveloperChannel:
    """The way to reach developer services (DVT) for this iOS version."""
    version = parse_version(os_version)
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
    """One USB device driven through a `DevicePort`."""

    def __init__(self, udid: str, port: DevicePort, *, bundle_id: str = COMPANION_BUNDLE_ID) -> None:
        self._udid = udid
        self._port = port
        self._bundle_id = bundle_id
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
            self._port.mount_developer_image()
            channel = choose_channel(facts.os_version, tunneld_running=self._port.tunneld_running())
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


class Pmd3Port:
    """`DevicePort` over pymobiledevice3 11.45. Every call runs on a private event loop with a deadline."""

    def __init__(self, *, timeout: float = 120.0) -> None:
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stack = AsyncExitStack()
        self._lockdown: Any = None
        self._process_control: Any = None
        self._syslog_task: concurrent.futures.Future[None] | None = None
        self._lines: list[tuple[datetime, str]] = []
        self._udid = ""

    def list_udids(self) -> list[str]:
        from pymobiledevice3.usbmux import list_devices

        devices = self._call(list_devices(), "list usbmux devices")
        return [str(d.serial) for d in devices if d.is_usb]

    def connect(self, udid: str) -> DeviceFacts:
        from pymobiledevice3.lockdown import create_using_usbmux

        self._udid = udid
        self._lockdown = self._call(self._stack.enter_async_context(_Closing(create_using_usbmux(serial=udid))), udid)
        lockdown = self._lockdown
        developer_mode = (
            self._call(lockdown.get_developer_mode_status(), "developer mode") if lockdown.has_developer_mode else None
        )
        return DeviceFacts(
            udid=str(lockdown.udid),
            name=str(lockdown.all_values.get("DeviceName", lockdown.udid)),
            product_type=str(lockdown.product_type),
            os_version=str(lockdown.product_version),
            os_build=str(lockdown.product_build_version or ""),
            chip_id=lockdown.chip_id,
            developer_mode=developer_mode,
        )

    def developer_image_mounted(self) -> bool:
        from pymobiledevice3.services.mobile_image_mounter import MobileImageMounterService

        image = "Personalized" if parse_version(str(self._lockdown.product_version)) >= RSD_FROM else "Developer"

        async def query() -> bool:
            async with MobileImageMounterService(lockdown=self._lockdown) as mounter:
                return bool(await mounter.is_image_mounted(image))

        return self._call(query(), "query the developer disk image")

    def close(self) -> None:
        """Close every connection and stop the event loop thread; the port can be connected again later."""
        if self._loop is None:
            return
        if self._syslog_task is not None:
            self._syslog_task.cancel()
            self._syslog_task = None
        try:
            self._call(self._stack.aclose(), "close the device connections")
        finally:
            self._stack = AsyncExitStack()
            self._lockdown = self._process_control = None
            loop, thread = self._loop, self._thread
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(self._timeout)
            loop.close()
            self._loop = self._thread = None

    def mount_developer_image(self) -> None:
        from pymobiledevice3.exceptions import AlreadyMountedError
        from pymobiledevice3.services.mobile_image_mounter import auto_mount

        async def mount() -> None:
            with suppress(AlreadyMountedError):
                await auto_mount(self._lockdown)

        self._call(mount(), "mount the developer disk image")

    def tunneld_running(self) -> bool:
        from pymobiledevice3.exceptions import TunneldConnectionError
        from pymobiledevice3.tunneld.api import get_tunneld_device_by_udid

        async def probe() -> bool:
            try:
                rsd = await get_tunneld_device_by_udid(self._udid)
            except TunneldConnectionError:
                return False
            if rsd is None:
                return False
            await rsd.close()
            return True

        return self._call(probe(), "ask tunneld")

    def open_developer_channel(self, channel: DeveloperChannel) -> None:
        from pymobiledevice3.remote.userspace_tunnel import UserspaceRsdTunnel
        from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
        from pymobiledevice3.services.dvt.instruments.process_control import ProcessControl
        from pymobiledevice3.tunneld.api import get_tunneld_device_by_udid

        async def open_channel() -> Any:
            provider = self._lockdown
            if channel is DeveloperChannel.TUNNELD:
                provider = await self._stack.enter_async_context(_Closing(get_tunneld_device_by_udid(self._udid)))
            elif channel is DeveloperChannel.USERSPACE:
                provider = await self._stack.enter_async_context(UserspaceRsdTunnel(serial=self._udid))
            dvt = await self._stack.enter_async_context(DvtProvider(provider))
            return await self._stack.enter_async_context(ProcessControl(dvt))

        self._process_control = self._call(open_channel(), f"open developer services over {channel.value}")

    def install(self, app: Path) -> None:
        from pymobiledevice3.services.installation_proxy import InstallationProxyService

        async def install() -> None:
            async with InstallationProxyService(lockdown=self._lockdown) as proxy:
                await proxy.install_from_local(app)

        self._call(install(), f"install {app.name}", timeout=max(self._timeout, 600.0))

    def vend_refusal(self, container: Container) -> str:
        from pymobiledevice3.exceptions import AppNotInstalledError, PyMobileDevice3Exception

        async def vend() -> str:
            try:
                service = await self._house_arrest(container)
            except AppNotInstalledError:
                raise
            except PyMobileDevice3Exception as exc:
                return str(exc) or type(exc).__name__
            await service.close()
            return ""

        return self._call(vend(), f"open the container of {container.bundle_id}")

    def remove(self, container: Container, path: str) -> None:
        self._afc(container, lambda afc: afc.rm(path, force=True), f"remove {path}")

    def makedirs(self, container: Container, path: str) -> None:
        self._afc(container, lambda afc: afc.makedirs(path), f"create {path}")

    def push(self, container: Container, local_dir: Path, remote_parent: str) -> None:
        what = f"push {local_dir.name} to {remote_parent}"
        self._afc(container, lambda afc: afc.push(str(local_dir), remote_parent, progress_bar=False), what)

    def exists(self, container: Container, path: str) -> bool:
        return bool(self._afc(container, lambda afc: afc.exists(path), f"look for {path}"))

    def read(self, container: Container, path: str) -> bytes | None:
        from pymobiledevice3.exceptions import AfcFileNotFoundError

        async def read(afc: Any) -> bytes | None:
            try:
                return bytes(await afc.get_file_contents(path))
            except AfcFileNotFoundError:
                return None

        result: bytes | None = self._afc(container, read, f"read {path}")
        return result

    def pull(self, container: Container, remote_dir: str, local_parent: Path) -> None:
        what = f"pull {remote_dir}"
        self._afc(container, lambda afc: afc.pull(remote_dir, str(local_parent), progress_bar=False), what)

    def launch(self, bundle_id: str, arguments: Sequence[str], environment: Mapping[str, str]) -> int:
        control = self._require_process_control()
        coroutine = control.launch(bundle_id, arguments=list(arguments), environment=dict(environment))
        return int(self._call(coroutine, f"launch {bundle_id}"))

    def pid_for(self, bundle_id: str) -> int:
        control = self._require_process_control()
        return int(self._call(control.process_identifier_for_bundle_identifier(bundle_id), "look up the app's pid"))

    def kill(self, pid: int) -> None:
        self._call(self._require_process_control().kill(pid), f"kill pid {pid}")

    def disable_memory_limit(self, pid: int) -> None:
        self._call(self._require_process_control().disable_memory_limit_for_pid(pid), "lift the memory limit")

    def start_syslog(self, subsystem: str) -> None:
        if self._syslog_task is None:
            self._syslog_task = asyncio.run_coroutine_threadsafe(self._follow_syslog(subsystem), self._running_loop())

    def syslog(self) -> list[tuple[datetime, str]]:
        return list(self._lines)

    async def _follow_syslog(self, subsystem: str) -> None:
        from pymobiledevice3.lockdown import create_using_usbmux
        from pymobiledevice3.services.os_trace import OsTraceService

        # Its own lockdown connection: the stream runs alongside the file and process calls.
        async with await create_using_usbmux(serial=self._udid) as lockdown, OsTraceService(lockdown) as trace:
            async for entry in trace.syslog():
                if entry.label is not None and entry.label.subsystem == subsystem:
                    when = entry.timestamp.astimezone(UTC)
                    self._lines.append((when, f"{when.isoformat()} {entry.image_name}[{entry.pid}] {entry.message}"))

    async def _house_arrest(self, container: Container) -> Any:
        from pymobiledevice3.services.house_arrest import HouseArrestService

        return await HouseArrestService.create(
            self._lockdown, container.bundle_id, documents_only=container.documents_only
        )

    def _afc(self, container: Container, action: Any, what: str) -> Any:
        async def run() -> Any:
            # One house_arrest connection per operation: the service takes one vend command per connection.
            service = await self._house_arrest(container)
            try:
                return await action(service)
            finally:
                await service.close()

        return self._call(run(), what)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        # pymobiledevice3 is asyncio-only; its connections live on one loop in a thread of their own.
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="mlharness-pmd3", daemon=True)
            self._thread.start()
        return self._loop

    def _require_process_control(self) -> Any:
        if self._process_control is None:
            raise TargetError("developer services are not open", target=self._udid, step="launch")
        return self._process_control

    def _call(self, coroutine: Coroutine[Any, Any, T], what: str, *, timeout: float | None = None) -> T:
        seconds = timeout or self._timeout
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, seconds), self._running_loop())
        try:
            return future.result()
        except TimeoutError as exc:
            raise TargetError(
                f"could not {what} within {seconds:g} s", target=self._udid or "usbmux", step=what
            ) from exc
        except Exception as exc:
            raise translate(exc, udid=self._udid, what=what) from exc


class _Closing:
    """`async with` over a coroutine that returns something with an async `close()`."""

    def __init__(self, opening: Coroutine[Any, Any, Any]) -> None:
        self._opening = opening
        self._value: Any = None

    async def __aenter__(self) -> Any:
        self._value = await self._opening
        if self._value is None:
            raise TargetUnavailable(
                "tunneld has no tunnel for this device",
                where="pymobiledevice3 remote tunneld",
                fix="plug the device in by USB and unlock it; tunneld picks it up within seconds",
            )
        return self._value

    async def __aexit__(self, *_: object) -> None:
        await self._value.close()


# pymobiledevice3 exception name -> (unavailable?, what it means, fix)
_KNOWN: Mapping[str, tuple[bool, str, str]] = {
    "ConnectionFailedToUsbmuxdError": (
        True,
        "usbmuxd is not running",
        "Linux: sudo apt install usbmuxd (it starts when a device is plugged in); macOS: it ships with the OS",
    ),
    "NoDeviceConnectedError": (True, "no device is connected", "plug the device in by USB and unlock it"),
    "DeviceNotFoundError": (True, "the device is not connected", "plug it in, or pick a UDID from `mlharness targets`"),
    "PasswordRequiredError": (True, "the device is locked", "unlock the device and keep it awake"),
    "PairingDialogResponsePendingError": (True, "the Trust dialog is waiting", "tap Trust on the device"),
    "UserDeniedPairingError": (True, "pairing was denied", "unplug, plug in again and tap Trust"),
    "NotPairedError": (True, "the device is not paired", "pymobiledevice3 lockdown pair, then tap Trust"),
    "DeveloperModeIsNotEnabledError": (
        True,
        "Developer Mode is off",
        "Settings › Privacy & Security › Developer Mode (pymobiledevice3 amfi reveal-developer-mode shows it)",
    ),
    "TunneldConnectionError": (True, "tunneld is not running", "sudo pymobiledevice3 remote tunneld -d"),
    "UserspaceTunnelUnavailableError": (
        True,
        "the no-root tunnel needs iOS 17.4+",
        "sudo pymobiledevice3 remote tunneld -d",
    ),
    "InvalidServiceError": (
        False,
        "the device does not offer this service (developer disk image not mounted, or iOS 17+ without a tunnel)",
        "pymobiledevice3 mounter auto-mount; for iOS 17+: sudo pymobiledevice3 remote tunneld -d",
    ),
    "AppNotInstalledError": (False, "the companion app is not installed", "mlharness run ... --app <path to .app>"),
    "AppInstallError": (
        False,
        "the device refused the app",
        "sign it for this device: a development profile that lists its UDID (make app-device DEVELOPMENT_TEAM=...)",
    ),
    "ConnectionTerminatedError": (True, "the connection dropped", "check the cable; keep the device unlocked"),
}


def translate(exc: BaseException, *, udid: str, what: str) -> HarnessError:
    """A pymobiledevice3 (or transport) failure as a harness error that says what it means and the fix."""
    if isinstance(exc, HarnessError):
        return exc
    for cls in type(exc).__mro__:
        known = _KNOWN.get(cls.__name__)
        if known is not None:
            unavailable, meaning, fix = known
            detail = f"{meaning}: {exc}" if str(exc) else meaning
            if unavailable:
                return TargetUnavailable(detail, where=udid or "usbmux", fix=fix)
            return TargetError(detail, target=udid or "usbmux", step=what, fix=fix)
    return TargetError(f"{type(exc).__name__}: {exc}", target=udid or "usbmux", step=what)
