"""Real devices through Apple's `xcrun devicectl` (macOS with Xcode 15+), the official path.

Every command runs with `--json-output <file>` and is read from that file, never from the human-readable
stdout. devicectl cannot delete files in an app's container, so a job id whose folders already exist on the
device is refused with the fix (a new job id, or reinstalling the app) instead of being merged.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlharness.errors import TargetError, TargetUnavailable, ToolError
from mlharness.process import TOOL_OUTPUT_BYTES, ProcessRunner
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
from mlharness.targets.tool_json import ToolJson
from mlupdate import limits
from mlupdate.contract import RUN_ARGUMENT, RUN_ENVIRONMENT

log = logging.getLogger(__name__)

# The --json-output file gets the same bound as what a tool prints.
JSON_OUTPUT_BYTES = TOOL_OUTPUT_BYTES

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


def parse_devices(payload: Mapping[str, Any] | ToolJson) -> list[CoreDevice]:
    """Parse the `--json-output` of `devicectl list devices` (an unexpected shape is a TargetError naming it)."""
    document = payload if isinstance(payload, ToolJson) else ToolJson(payload, "xcrun devicectl list devices")
    devices: list[CoreDevice] = []
    for entry in document.get("result", {}).get("devices", []).list():
        hardware = entry.get("hardwareProperties", {})
        properties = entry.get("deviceProperties", {})
        connection = entry.get("connectionProperties", {})
        if hardware.get("reality", "physical").str() != "physical":
            continue
        devices.append(
            CoreDevice(
                identifier=entry.get("identifier", "").str(),
                udid=hardware.get("udid", "").str(),
                name=properties.get("name", "").str(),
                os_version=properties.get("osVersionNumber", "").str(),
                os_build=properties.get("osBuildUpdate", "").str(),
                product_type=hardware.get("productType", "").str(),
                marketing_name=hardware.get("marketingName", "").str(),
                platform=hardware.get("platform", "").str(),
                paired=connection.get("pairingState", "").str() == "paired",
                developer_mode=properties.get("developerModeStatus", "").str(),
                ddi_available=properties.get("ddiServicesAvailable", False).bool(),
                tunnel_state=connection.get("tunnelState", "").str(),
            )
        )
    return devices


def failure_message(payload: ToolJson) -> str:
    """The human-readable error devicectl wrote into its JSON output ("" when there is none or it is malformed:
    the failure is reported with the exit code and stderr then)."""
    error = payload.value.get("error") if isinstance(payload.value, dict) else None
    if not isinstance(error, Mapping):
        return ""
    user_info = error.get("userInfo")
    description = user_info.get("NSLocalizedDescription", {}) if isinstance(user_info, Mapping) else {}
    text = description.get("string", "") if isinstance(description, Mapping) else str(description)
    if not isinstance(text, str) or not text:
        return ""
    return f"{text} ({error.get('domain', '?')} {error.get('code', '?')})"


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
        return payload.get("result").get("process").get("processIdentifier").int()

    def running_pids(self, device: str) -> set[int]:
        payload = self._run(["device", "info", "processes", "--device", device])
        processes = payload.get("result").get("runningProcesses", []).list()
        return {process.get("processIdentifier").int() for process in processes}

    def terminate(self, device: str, pid: int) -> None:
        self._run(["device", "process", "terminate", "--device", device, "--pid", str(pid)])

    def files(self, device: str, bundle_id: str, subdirectory: str) -> list[str]:
        """Container-relative paths under `subdirectory` of the app's data container."""
        payload = self._run(
            ["device", "info", "files", "--device", device, *_CONTAINER, bundle_id, "--subdirectory", subdirectory]
        )
        entries = payload.get("result").get("files", []).list()
        return [entry.get("relativePath", entry.get("name", "").value).str() for entry in entries]

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

    def _run(self, args: list[str], *, timeout: float | None = None) -> ToolJson:
        with tempfile.TemporaryDirectory(prefix="mlharness-devicectl-") as scratch:
            output = Path(scratch) / "output.json"
            argv = ["xcrun", "devicectl", *args, "--json-output", str(output)]
            env = {"DEVELOPER_DIR": self._developer_dir} if self._developer_dir else None
            try:
                self._runner.run(argv, timeout=timeout or self._timeout, env=env)
            except ToolError as exc:
                # devicectl explains its failures in the JSON file, not on stderr.
                message = failure_message(_read_json(output, argv)) if output.is_file() else ""
                if message:
                    raise ToolError(exc.argv, exc.returncode, exc.stderr, what=message) from exc
                raise
            return _read_json(output, argv)


def _copy(source: str, destination: str) -> list[str]:
    return ["--source", source, "--destination", destination]


def _read_json(path: Path, argv: list[str]) -> ToolJson:
    """The `--json-output` of `argv`, named by its subcommand in any error (`xcrun devicectl device info files`).

    Bounded like the tool's printed output: it lists what the device holds and what the device says it is."""
    command = " ".join(arg for arg in argv[:5] if not arg.startswith("-"))

    def refuse(what: str, *, where: str, fix: str) -> TargetError:
        return TargetError(f"{what} ({where})", target=command, step="parse output", fix=fix)

    fix = "run the same command by hand: devicectl wrote a --json-output this harness will not read"
    try:
        data = limits.read_bounded(path, JSON_OUTPUT_BYTES, error=refuse, what="--json-output", fix=fix)
        return ToolJson.parse(data.decode("utf-8"), command)
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetError(f"unreadable --json-output: {exc}", target=command, step="parse output") from exc


class DevicectlTarget:
    """One device driven by devicectl. `udid` may be the device's UDID or its CoreDevice identifier."""

    def __init__(self, udid: str, devicectl: Devicectl, *, bundle_id: str = COMPANION_BUNDLE_ID) -> None:
        self._udid = udid
        self._devicectl = devicectl
        self._bundle_id = bundle_id
        self._device: CoreDevice | None = None
        self._pid: int | None = None
        self._runs: dict[str, str] = {}  # job id -> the run folder of its latest push

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
        # devicectl cannot delete files in the app's container, so every run gets a fresh folder
        # (Documents/runs/<run>/inbox|outbox, named to the app with --run): the same job can run again.
        run = self._runs[job_id] = f"run-{secrets.token_hex(6)}"
        self._devicectl.copy_to(self._udid, self._bundle_id, job_dir, inbox_path(job_id, run))

    def launch(self, job_id: str, *, arguments: Sequence[str], environment: Mapping[str, str]) -> int:
        run = self._run(job_id)
        arguments = [*arguments, RUN_ARGUMENT, run]
        environment = {**environment, RUN_ENVIRONMENT: run}
        self._pid = self._devicectl.launch(self._udid, self._bundle_id, arguments, environment)
        log.info("job %s: companion app running on %s as pid %d (run folder %s)", job_id, self._udid, self._pid, run)
        return self._pid

    def poll(self, job_id: str) -> JobStatus:
        run = self._run(job_id)
        done = f"{outbox_path(job_id, run)}/DONE" in self._container_files()
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
            source = outbox_path(job_id, self._run(job_id))
            self._devicectl.copy_from(self._udid, self._bundle_id, source, Path(scratch) / job_id)
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

    def _run(self, job_id: str) -> str:
        try:
            return self._runs[job_id]
        except KeyError:
            raise TargetError(
                f"job {job_id} was not pushed to this device", target=self._udid, step="run folder", fix="push it first"
            ) from None
