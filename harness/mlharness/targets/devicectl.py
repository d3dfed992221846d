"""Real devices through Apple's `xcrun devicectl` (macOS with Xcode 15+), the official path.

Every command runs with `--json-output <file>` and is read from that file, never from the human-readable
stdout. devicectl cannot delete files in an app's container, so a job id whose folders already exist on the
device is refused with the fix (a new job id, or reinstalling the app) instead of being merged.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlharness.errors import TargetError, TargetUnavailable, ToolError
from mlharness.process import ProcessRunner
from mlharness.targets.base import (
    COMPANION_BUNDLE_ID,
    DOCUMENTS,
    Capability,
    JobStatus,
    Target,
    TargetInfo,
    inbox_path,
    outbox_path,
)

log = logging.getLogger(__name__)

_CONTAINER = ("--domain-type", "appDataContainer", "--domain-identifier")


@dataclass(frozen=True)
class CoreDevice:
    """One entry of `devicectl list devices`."""

    identifier: str  # CoreDevice's own UUID
    udid: str
    name: str
    os_version: str
    os_build: str
    product_type: str
    marketing_name: str
    platform: str
    paired: bool
    developer_mode: str
    ddi_available: bool
    tunnel_state: str

    def problem(self) -> str:
        """Why a job cannot run on this device now, with the fix; "" when it can."""
        if not self.paired:
            return "not paired: unlock it, tap Trust, or pair in Xcode › Devices and Simulators"
        if self.developer_mode not in ("enabled", ""):
            return "Developer Mode is off: Settings › Privacy & Security › Developer Mode, then restart"
        if self.tunnel_state == "unavailable":
            return "CoreDevice cannot reach it: connect it with a cable and unlock it"
        return ""


def parse_devices(payload: Mapping[str, Any]) -> list[CoreDevice]:
    """Parse the `--json-output` of `devicectl list devices`."""
    devices: list[CoreDevice] = []
    for entry in payload.get("result", {}).get("devices", []):
        hardware = entry.get("hardwareProperties", {})
        properties = entry.get("deviceProperties", {})
        connection = entry.get("connectionProperties", {})
        if hardware.get("reality", "physical") != "physical":
            continue
        devices.append(
            CoreDevice(
                identifier=entry.get("identifier", ""),
                udid=hardware.get("udid", ""),
                name=properties.get("name", ""),
                os_version=properties.get("osVersionNumber", ""),
                os_build=properties.get("osBuildUpdate", ""),
                product_type=hardware.get("productType", ""),
                marketing_name=hardware.get("marketingName", ""),
                platform=hardware.get("platform", ""),
                paired=connection.get("pairingState") == "paired",
                developer_mode=properties.get("developerModeStatus", ""),
                ddi_available=bool(properties.get("ddiServicesAvailable", False)),
                tunnel_state=connection.get("tunnelState", ""),
            )
        )
    return devices


def failure_message(payload: Mapping[str, Any]) -> str:
    """The human-readable error devicectl wrote into its JSON output ("" when there is none)."""
    error = payload.get("error")
    if not isinstance(error, Mapping):
        return ""
    description = error.get("userInfo", {}).get("NSLocalizedDescription", {})
    text = description.get("string", "") if isinstance(description, Mapping) else str(description)
    return f"{text} ({error.get('domain', '?')} {error.get('code', '?')})".strip()


class Devicectl:
    """`xcrun devicectl`, one method per command, each read from its `--json-output` file."""

    def __init__(self, runner: ProcessRunner, *, developer_dir: str | None = None, timeout: float = 120.0) -> None:
        self._runner = runner
        self._developer_dir = developer_dir
        self._timeout = timeout

    def devices(self) -> list[CoreDevice]:
        return parse_devices(self._run(["list", "devices"]))

    def install(self, device: str, app: Path) -> None:
        self._run(["device", "install", "app", "--device", device, str(app)], timeout=max(self._timeout, 600.0))

    def launch(self, device: str, bundle_id: str, arguments: Sequence[str], environment: Mapping[str, str]) -> int:
        payload = self._run(
            [
                "device",
                "process",
                "launch",
                "--device",
                device,
                "--terminate-existing",
                "--environment-variables",
                json.dumps(dict(environment)),
                bundle_id,
                *arguments,
            ]
        )
        pid = payload.get("result", {}).get("process", {}).get("processIdentifier")
        if not isinstance(pid, int):
            raise TargetError(
                "devicectl reported no process identifier for the launch",
                target=device,
                step="launch",
                fix="run the launch by hand with --json-output and check result.process",
            )
        return pid

    def running_pids(self, device: str) -> set[int]:
        payload = self._run(["device", "info", "processes", "--device", device])
        return {int(p["processIdentifier"]) for p in payload.get("result", {}).get("runningProcesses", [])}

    def terminate(self, device: str, pid: int) -> None:
        self._run(["device", "process", "terminate", "--device", device, "--pid", str(pid)])

    def files(self, device: str, bundle_id: str, subdirectory: str) -> list[str]:
        """Container-relative paths under `subdirectory` of the app's data container."""
        payload = self._run(
            ["device", "info", "files", "--device", device, *_CONTAINER, bundle_id, "--subdirectory", subdirectory]
        )
        return [str(f.get("relativePath", f.get("name", ""))) for f in payload.get("result", {}).get("files", [])]

    def copy_to(self, device: str, bundle_id: str, source: Path, destination: str) -> None:
        self._run(
            ["device", "copy", "to", "--device", device, *_CONTAINER, bundle_id, *_copy(str(source), destination)],
            timeout=max(self._timeout, 600.0),
        )

    def copy_from(self, device: str, bundle_id: str, source: str, destination: Path) -> None:
        self._run(
            ["device", "copy", "from", "--device", device, *_CONTAINER, bundle_id, *_copy(source, str(destination))],
            timeout=max(self._timeout, 600.0),
        )

    def _run(self, args: list[str], *, timeout: float | None = None) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="mlharness-devicectl-") as scratch:
            output = Path(scratch) / "output.json"
            argv = ["xcrun", "devicectl", *args, "--json-output", str(output)]
            env = {"DEVELOPER_DIR": self._developer_dir} if self._developer_dir else None
            try:
                self._runner.run(argv, timeout=timeout or self._timeout, env=env)
            except ToolError as exc:
                # devicectl explains its failures in the JSON file, not on stderr.
                message = failure_message(_read_json(output)) if output.is_file() else ""
                if message:
                    raise ToolError(exc.argv, exc.returncode, exc.stderr, what=message) from exc
                raise
            return _read_json(output)


def _copy(source: str, destination: str) -> list[str]:
    return ["--source", source, "--destination", destination]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TargetError(f"unreadable --json-output: {exc}", target="xcrun devicectl", step="parse output") from exc
    return value if isinstance(value, dict) else {}


class DevicectlTarget:
    """One device driven by devicectl. `udid` may be the device's UDID or its CoreDevice identifier."""

    def __init__(self, udid: str, devicectl: Devicectl, *, bundle_id: str = COMPANION_BUNDLE_ID) -> None:
        self._udid = udid
        self._devicectl = devicectl
        self._bundle_id = bundle_id
        self._device: CoreDevice | None = None
        self._pid: int | None = None

    def info(self) -> TargetInfo:
        device = self._describe()
        return TargetInfo(
            name=device.name,
            kind="devicectl",
            udid=device.udid,
            os_name=device.platform or "iOS",
            os_version=device.os_version,
            model=device.product_type,
            chip=None,  # devicectl reports no chip; the product type identifies it
            is_simulator=False,
            extra={"coredevice_identifier": device.identifier, "marketing_name": device.marketing_name},
        )

    def supports(self, feature: Capability) -> bool:
        return feature is Capability.REAL_HARDWARE

    @contextmanager
    def session(self) -> Iterator[Target]:
        # Nothing to open or close: every devicectl call stands alone. Readiness is checked on entry.
        problem = self._describe().problem()
        if problem:
            raise TargetUnavailable(f"device {self._describe().name} cannot run jobs: {problem}", where=self._udid)
        yield self

    def install(self, app: Path) -> None:
        self._devicectl.install(self._udid, app)

    def push_job(self, job_dir: Path, job_id: str) -> None:
        leftovers = [p for p in self._container_files() if _under(p, inbox_path(job_id), outbox_path(job_id))]
        if leftovers:
            raise TargetError(
                f"job {job_id} already has folders on the device ({leftovers[0]}) and devicectl cannot delete them",
                target=self._udid,
                step="push",
                fix="write the job with a new job id, or reinstall the companion app to empty its container",
            )
        self._devicectl.copy_to(self._udid, self._bundle_id, job_dir, inbox_path(job_id))

    def launch(self, job_id: str, *, arguments: Sequence[str], environment: Mapping[str, str]) -> int:
        self._pid = self._devicectl.launch(self._udid, self._bundle_id, arguments, environment)
        log.info("job %s: companion app running on %s as pid %d", job_id, self._udid, self._pid)
        return self._pid

    def poll(self, job_id: str) -> JobStatus:
        done = f"{outbox_path(job_id)}/DONE" in self._container_files()
        alive = self._pid is not None and self._pid in self._devicectl.running_pids(self._udid)
        return JobStatus(done=done, alive=alive)

    def read_partial_events(self, job_id: str) -> str:
        raise TargetError(
            f"devicectl cannot read job {job_id}'s events while the app writes them",
            target=self._udid,
            step="read events",
            fix="use the pymobiledevice3 `device` target for live events",
        )

    def pull_results(self, job_id: str, dest: Path) -> Path:
        local = dest / job_id
        with tempfile.TemporaryDirectory(prefix="mlharness-pull-", dir=dest) as scratch:
            self._devicectl.copy_from(self._udid, self._bundle_id, outbox_path(job_id), Path(scratch) / job_id)
            pulled = Path(scratch) / job_id
            # Public scripts that pull a folder read it back at <destination>/<folder name> (copied *into*);
            # unconfirmed on a Mac here, so a copy *to* the destination is accepted as well.
            if (pulled / job_id / "results.json").exists():
                pulled = pulled / job_id
            shutil.move(str(pulled), local)
        return local

    def collect_logs(self, since: datetime) -> str:
        log.debug("devicectl cannot stream os_log off the device; no log since %s", since.isoformat())
        return ""

    def cleanup(self, job_id: str) -> None:
        if self._pid is None:
            return
        try:
            if self._pid in self._devicectl.running_pids(self._udid):
                self._devicectl.terminate(self._udid, self._pid)
        finally:
            self._pid = None
            log.info("job %s: folders stay on the device (devicectl cannot delete them)", job_id)

    def _describe(self) -> CoreDevice:
        if self._device is None:
            found = [d for d in self._devicectl.devices() if self._udid in (d.udid, d.identifier)]
            if not found:
                raise TargetUnavailable(
                    f"devicectl lists no device {self._udid}",
                    where="xcrun devicectl list devices",
                    fix="connect and unlock the device, then pick its UDID from `mlharness targets`",
                )
            self._device = found[0]
        return self._device

    def _container_files(self) -> list[str]:
        return self._devicectl.files(self._udid, self._bundle_id, DOCUMENTS)


def _under(path: str, *folders: str) -> bool:
    return any(path == folder or path.startswith(f"{folder}/") for folder in folders)
