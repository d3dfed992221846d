"""The pymobiledevice3 adapter: `Pmd3Port` implements `device.DevicePort` with pymobiledevice3 11.45.

It is the only code that imports pymobiledevice3 (lazily, so nothing else pays for it). pymobiledevice3 is
asyncio-only: every call runs on one private event loop in a thread of its own (`EventLoopThread`) under a
deadline, and every pymobiledevice3 failure is translated into a harness error that says what it means and the
fix (`error_table`, keyed by pymobiledevice3's own exception classes).

A remote device (a matrix cell with `host:`) is one that `pymobiledevice3 remote tunneld` serves on another
host: `Pmd3Port(tunneld=...)` reaches it with `get_tunneld_device_by_udid(udid, (host, port), bridge=True)`,
which carries every service connection over that tunneld's WebSocket bridge, and then installs, moves files,
launches and reads logs over that one RSD session, exactly as for a local device.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
from collections.abc import Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from mlharness.errors import HarnessError, TargetError, TargetUnavailable
from mlharness.targets.base import parse_version
from mlharness.targets.device import RSD_FROM, Container, DeveloperChannel, DeviceFacts
from mlharness.tunneld import TunneldHost

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long past its own deadline a call may take before the loop itself counts as stuck (a coroutine that
# blocks the loop cannot be cancelled by `wait_for`).
_STUCK_GRACE_SECONDS = 5.0


class EventLoopThread:
    """One asyncio event loop running on a daemon thread, started on first use and stoppable and restartable.

    `call` runs a coroutine there and waits for it under a deadline: the coroutine is cancelled when the
    deadline passes, and the caller gets `TimeoutError` even when a coroutine blocks the loop itself. `close`
    cancels whatever still runs on the loop (a log stream), stops it and joins the thread.
    """

    def __init__(self, name: str, *, stuck_grace: float = _STUCK_GRACE_SECONDS) -> None:
        self._name = name
        self._stuck_grace = stuck_grace
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._loop is not None

    def call(self, coroutine: Coroutine[Any, Any, T], seconds: float) -> T:
        """The coroutine's result; `TimeoutError` after `seconds`; its own exception otherwise."""
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, seconds), self._started())
        try:
            return future.result(seconds + self._stuck_grace)
        except TimeoutError:
            if future.done():
                raise  # the coroutine's own deadline
            future.cancel()
            raise TimeoutError(f"the event loop is blocked: no answer within {seconds:g} s") from None

    def submit(self, coroutine: Coroutine[Any, Any, None]) -> concurrent.futures.Future[None]:
        """Start a coroutine that runs until it ends or `close` cancels it (a log stream)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._started())

    def close(self, seconds: float) -> None:
        """Cancel what still runs, stop the loop and join its thread; harmless when not running."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        with suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(_cancel_others(), loop).result(seconds)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(seconds)
        if thread.is_alive():
            # A coroutine blocks the loop: closing it now would raise; the daemon thread dies with the process.
            log.warning("the %s event loop did not stop within %g s; leaving it behind", self._name, seconds)
            return
        loop.close()

    def _started(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name=self._name, daemon=True)
            self._thread.start()
        return self._loop


async def _cancel_others() -> None:
    current = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not current]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


class Pmd3Port:
    """`DevicePort` over pymobiledevice3 11.45. Every call runs on a private event loop with a deadline.

    With `tunneld`, the port reaches the devices that tunneld serves on another host instead of usbmux: the
    one RSD session it opens there is the provider of every service (lockdown included), so the rest of the
    port does not care where the device is.
    """

    def __init__(self, *, timeout: float = 120.0, tunneld: TunneldHost | None = None) -> None:
        self._timeout = timeout
        self._tunneld = tunneld
        self._loop = EventLoopThread("mlharness-pmd3")
        self._stack = AsyncExitStack()
        self._lockdown: Any = None
        self._process_control: Any = None
        self._syslog_task: concurrent.futures.Future[None] | None = None
        self._lines: list[tuple[datetime, str]] = []
        self._udid = ""

    def list_udids(self) -> list[str]:
        if self._tunneld is not None:
            from pymobiledevice3.tunneld.api import get_tunneld_tunnels

            # The listing alone: connecting to every device a lab serves would open a bridge per device.
            tunnels = self._call(get_tunneld_tunnels(self._tunneld.address), f"list the tunnels of {self._tunneld}")
            return served_udids(tunnels)
        from pymobiledevice3.usbmux import list_devices

        devices = self._call(list_devices(), "list usbmux devices")
        return [str(d.serial) for d in devices if d.is_usb]

    def connect(self, udid: str) -> DeviceFacts:
        self._udid = udid
        self._lockdown = self._call(self._stack.enter_async_context(self._provider(udid)), f"connect to {udid}")
        lockdown = self._lockdown
        developer_mode = (
            self._call(lockdown.get_developer_mode_status(), "developer mode") if lockdown.has_developer_mode else None
        )
        # An RSD session (remote) keeps its lockdown client, which knows the chip, one level down.
        chip_source = getattr(lockdown, "lockdown", None) or lockdown
        return DeviceFacts(
            udid=str(lockdown.udid),
            name=str(lockdown.all_values.get("DeviceName", lockdown.udid)),
            product_type=str(lockdown.product_type),
            os_version=str(lockdown.product_version),
            os_build=str(lockdown.product_build_version or ""),
            chip_id=getattr(chip_source, "chip_id", None),
            developer_mode=developer_mode,
        )

    def _provider(self, udid: str) -> _Closing:
        """The connection every service of `udid` goes through: lockdown over usbmux, or tunneld's RSD session."""
        if self._tunneld is None:
            from pymobiledevice3.lockdown import create_using_usbmux

            return _Closing(create_using_usbmux(serial=udid))
        from pymobiledevice3.tunneld.api import get_tunneld_device_by_udid

        # bridge=True even for a loopback address: that is how an SSH port-forward to a remote tunneld looks.
        opening = get_tunneld_device_by_udid(udid, self._tunneld.address, bridge=True)
        return _Closing(opening, missing=_not_served(self._tunneld))

    def developer_image_mounted(self) -> bool:
        from pymobiledevice3.services.mobile_image_mounter import MobileImageMounterService

        image = "Personalized" if parse_version(str(self._lockdown.product_version)) >= RSD_FROM else "Developer"

        async def query() -> bool:
            async with MobileImageMounterService(lockdown=self._lockdown) as mounter:
                return bool(await mounter.is_image_mounted(image))

        return self._call(query(), "query the developer disk image")

    def close(self) -> None:
        """Close every connection and stop the event loop thread; the port can be connected again later."""
        if not self._loop.running:
            return
        self._syslog_task = None
        try:
            self._call(self._stack.aclose(), "close the device connections")
        finally:
            self._stack = AsyncExitStack()
            self._lockdown = self._process_control = None
            self._loop.close(self._timeout)

    def mount_developer_image(self) -> None:
        from pymobiledevice3.exceptions import AlreadyMountedError
        from pymobiledevice3.services.mobile_image_mounter import auto_mount

        async def mount() -> None:
            with suppress(AlreadyMountedError):
                await auto_mount(self._lockdown)

        self._call(mount(), "mount the developer disk image")

    def tunneld_running(self) -> bool:
        if self._tunneld is not None:
            return True  # the session is that tunneld's tunnel
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
            if channel is DeveloperChannel.TUNNELD and self._tunneld is not None:
                pass  # the remote session already is the tunnel
            elif channel is DeveloperChannel.TUNNELD:
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
            self._syslog_task = self._loop.submit(self._follow_syslog(subsystem))

    def syslog(self) -> list[tuple[datetime, str]]:
        return list(self._lines)

    async def _follow_syslog(self, subsystem: str) -> None:
        from pymobiledevice3.services.os_trace import OsTraceService

        # Its own connection: the stream runs alongside the file and process calls.
        async with self._provider(self._udid) as lockdown, OsTraceService(lockdown) as trace:
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

    def _require_process_control(self) -> Any:
        if self._process_control is None:
            raise TargetError("developer services are not open", target=self._udid, step="launch")
        return self._process_control

    def _call(self, coroutine: Coroutine[Any, Any, T], what: str, *, timeout: float | None = None) -> T:
        seconds = timeout or self._timeout
        try:
            return self._loop.call(coroutine, seconds)
        except TimeoutError as exc:
            raise TargetError(
                f"could not {what} within {seconds:g} s",
                target=self._where(),
                step=what,
                fix="keep the device unlocked and connected; if it persists, unplug it and plug it in again",
            ) from exc
        except Exception as exc:
            raise translate(exc, udid=self._where(), what=what, tunneld=self._tunneld) from exc

    def _where(self) -> str:
        device = self._udid or ("usbmux" if self._tunneld is None else "")
        return f"{device}@{self._tunneld}" if self._tunneld is not None else device


def served_udids(tunnels: object) -> list[str]:
    """The udids in tunneld's `GET /` listing (`{udid: [{"tunnel-address": ..., ...}, ...]}`), sorted."""
    if not isinstance(tunnels, Mapping):
        raise TargetError(
            f"tunneld answered with {type(tunnels).__name__}, not its listing of tunnels",
            target="tunneld",
            step="list tunnels",
            fix="is that port a pymobiledevice3 tunneld (11.x)? `curl http://HOST:PORT/` should print JSON by udid",
        )
    return sorted(str(udid) for udid, entries in tunnels.items() if isinstance(entries, list) and entries)


def _not_served(tunneld: TunneldHost) -> TargetUnavailable:
    return TargetUnavailable(
        f"tunneld at {tunneld} has no tunnel for this device",
        where=f"tunneld at {tunneld}",
        fix="on that host, plug the device in by USB (or pair it over Wi-Fi) and unlock it; "
        f"`curl http://{tunneld}/` lists what it serves",
    )


class _Closing:
    """`async with` over a coroutine that returns something with an async `close()`."""

    def __init__(self, opening: Coroutine[Any, Any, Any], *, missing: HarnessError | None = None) -> None:
        self._opening = opening
        self._missing = missing
        self._value: Any = None

    async def __aenter__(self) -> Any:
        self._value = await self._opening
        if self._value is None:
            raise self._missing or TargetUnavailable(
                "tunneld has no tunnel for this device",
                where="pymobiledevice3 remote tunneld",
                fix="plug the device in by USB and unlock it; tunneld picks it up within seconds",
            )
        return self._value

    async def __aexit__(self, *_: object) -> None:
        await self._value.close()


@dataclass(frozen=True)
class ErrorMeaning:
    """What a pymobiledevice3 failure means for the user, and the fix; `unavailable`: the target cannot be used
    now (raised as TargetUnavailable, a skip in device tests) rather than a step that failed (TargetError)."""

    unavailable: bool
    meaning: str
    fix: str


@functools.cache
def error_table() -> Mapping[type[BaseException], ErrorMeaning]:
    """pymobiledevice3's exception classes (the real ones, imported here) -> what each means and its fix."""
    from pymobiledevice3 import exceptions as pmd3

    tunneld = "sudo pymobiledevice3 remote tunneld -d"
    return {
        pmd3.ConnectionFailedToUsbmuxdError: ErrorMeaning(
            True,
            "usbmuxd is not running",
            "Linux: sudo apt install usbmuxd (it starts when a device is plugged in); macOS: it ships with the OS",
        ),
        pmd3.NoDeviceConnectedError: ErrorMeaning(
            True, "no device is connected", "plug the device in by USB and unlock it"
        ),
        pmd3.DeviceNotFoundError: ErrorMeaning(
            True, "the device is not connected", "plug it in, or pick a UDID from `mlharness targets`"
        ),
        pmd3.PasswordRequiredError: ErrorMeaning(True, "the device is locked", "unlock the device and keep it awake"),
        pmd3.PairingDialogResponsePendingError: ErrorMeaning(
            True, "the Trust dialog is waiting", "tap Trust on the device"
        ),
        pmd3.UserDeniedPairingError: ErrorMeaning(True, "pairing was denied", "unplug, plug in again and tap Trust"),
        pmd3.NotPairedError: ErrorMeaning(
            True, "the device is not paired", "pymobiledevice3 lockdown pair, then tap Trust"
        ),
        pmd3.DeveloperModeIsNotEnabledError: ErrorMeaning(
            True,
            "Developer Mode is off",
            "Settings › Privacy & Security › Developer Mode (pymobiledevice3 amfi reveal-developer-mode shows it)",
        ),
        pmd3.TunneldConnectionError: ErrorMeaning(True, "tunneld is not running", tunneld),
        pmd3.UserspaceTunnelUnavailableError: ErrorMeaning(True, "the no-root tunnel needs iOS 17.4+", tunneld),
        pmd3.InvalidServiceError: ErrorMeaning(
            False,
            "the device does not offer this service (developer disk image not mounted, or iOS 17+ without a tunnel)",
            f"pymobiledevice3 mounter auto-mount; for iOS 17+: {tunneld}",
        ),
        pmd3.AppNotInstalledError: ErrorMeaning(
            False, "the companion app is not installed", "mlharness run ... --app <path to .app>"
        ),
        pmd3.AppInstallError: ErrorMeaning(
            False,
            "the device refused the app",
            "sign it for this device: a development profile that lists its UDID (make app-device DEVELOPMENT_TEAM=...)",
        ),
        pmd3.ConnectionTerminatedError: ErrorMeaning(
            True, "the connection dropped", "check the cable; keep the device unlocked"
        ),
    }


def translate(exc: BaseException, *, udid: str, what: str, tunneld: TunneldHost | None = None) -> HarnessError:
    """A pymobiledevice3 (or transport) failure as a harness error that says what it means and the fix."""
    if isinstance(exc, HarnessError):
        return exc
    from pymobiledevice3.exceptions import TunneldConnectionError

    table = error_table()
    if tunneld is not None and isinstance(exc, TunneldConnectionError):
        return TargetUnavailable(
            f"tunneld at {tunneld} does not answer",
            where=udid or f"tunneld at {tunneld}",
            fix=f"on {tunneld.host}: sudo pymobiledevice3 remote tunneld -d --host 0.0.0.0 --port {tunneld.port}, "
            "and let this machine reach that port",
        )
    for cls in type(exc).__mro__:
        known = table.get(cls)
        if known is not None:
            detail = f"{known.meaning}: {exc}" if str(exc) else known.meaning
            if known.unavailable:
                return TargetUnavailable(detail, where=udid or "usbmux", fix=known.fix)
            return TargetError(detail, target=udid or "usbmux", step=what, fix=known.fix)
    return TargetError(f"{type(exc).__name__}: {exc}", target=udid or "usbmux", step=what)
