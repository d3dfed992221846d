"""iOS Simulators through `xcrun simctl` (macOS with Xcode).

`Simctl` is the argv layer: one method per simctl command, output parsed from its documented formats, known
error texts turned into errors that say how to fix them. `SimulatorTarget` runs a job on one Simulator with it:
the Simulator's file system is the host's, so the job is copied straight into the app's data container.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mlharness.errors import TargetError, TargetUnavailable, ToolError, ToolTimeout
from mlharness.process import Background, Completed, ProcessRunner
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
    partial_path,
)
from mlharness.targets.files import copy_tree, read_events, remove_tree
from mlharness.targets.tool_json import ToolJson

log = logging.getLogger(__name__)

# simctl's exit code for "not possible in the device's current state" (boot a booted device, shut down a
# shut-down one, install on a shut-down one).
EXIT_WRONG_STATE = 149

_RUNTIME_VERSION = re.compile(r"SimRuntime\.(?P<os>[A-Za-z]+)-(?P<version>[0-9-]+)$")
_LAUNCH_PID = re.compile(r":\s*(?P<pid>\d+)\s*$")
_UDID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_LOG_TIME = re.compile(r"^(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)")

# Known simctl error texts -> what to do about them.
_FIXES: tuple[tuple[str, str], ...] = (
    ("Unable to lookup in current state: Shutdown", "boot it first: xcrun simctl bootstatus {udid} -b"),
    ("Invalid device", "list the Simulators with `mlharness targets` and pass one of their UDIDs"),
    (
        "CoreSimulatorService connection became invalid",
        "CoreSimulatorService is from another Xcode: quit Simulator.app, run "
        "`sudo killall -9 com.apple.CoreSimulator.CoreSimulatorService`, and retry",
    ),
    ("unable to find utility", "install Xcode and select it: sudo xcode-select -s /Applications/Xcode.app"),
)


@dataclass(frozen=True)
class SimDevice:
    """One entry of `simctl list -j devices`; `runtime` is the dictionary key it was listed under."""

    udid: str
    name: str
    state: str
    runtime: str
    device_type: str
    available: bool
    availability_error: str

    @property
    def os_name(self) -> str:
        match = _RUNTIME_VERSION.search(self.runtime)
        return match["os"] if match else "iOS"

    @property
    def os_version(self) -> str:
        match = _RUNTIME_VERSION.search(self.runtime)
        return match["version"].replace("-", ".") if match else ""

    @property
    def model(self) -> str:
        return self.device_type.rsplit(".", 1)[-1]


def parse_devices(text: str) -> list[SimDevice]:
    """Parse `xcrun simctl list -j devices` output (an unexpected shape is a TargetError naming the field)."""
    devices: list[SimDevice] = []
    for runtime, entries in ToolJson.parse(text, "xcrun simctl list -j devices").get("devices", {}).items():
        for entry in entries.list():
            devices.append(
                SimDevice(
                    udid=entry.get("udid").str(),
                    name=entry.get("name").str(),
                    state=entry.get("state").str(),
                    runtime=runtime,
                    device_type=entry.get("deviceTypeIdentifier", "").str(),
                    available=entry.get("isAvailable", False).bool(),
                    availability_error=entry.get("availabilityError", "").str(),
                )
            )
    return devices


@dataclass(frozen=True)
class SimRuntime:
    """One entry of `simctl list -j runtimes`."""

    identifier: str
    name: str
    version: str
    available: bool


def parse_runtimes(text: str) -> list[SimRuntime]:
    """Parse `xcrun simctl list -j runtimes` output (an unexpected shape is a TargetError naming the field)."""
    runtimes = []
    for entry in ToolJson.parse(text, "xcrun simctl list -j runtimes").get("runtimes", []).list():
        identifier = entry.get("identifier").str()
        runtimes.append(
            SimRuntime(
                identifier=identifier,
                name=entry.get("name", identifier).str(),
                version=entry.get("version", "").str(),
                available=entry.get("isAvailable", False).bool(),
            )
        )
    return runtimes


def parse_launch_pid(stdout: str) -> int:
    """`simctl launch` prints `<bundle id>: <pid>`."""
    match = _LAUNCH_PID.search(stdout.strip())
    if match is None:
        raise TargetError(
            f"simctl launch printed no pid: {stdout.strip()!r}",
            target="simulator",
            step="launch",
            fix="run the same `xcrun simctl launch` by hand to see what it prints",
        )
    return int(match["pid"])


class Simctl:
    """`xcrun simctl`, one method per command. `developer_dir` pins the Xcode on multi-Xcode hosts."""

    def __init__(self, runner: ProcessRunner, *, developer_dir: str | None = None, timeout: float = 120.0) -> None:
        self._runner = runner
        self._developer_dir = developer_dir
        self._timeout = timeout

    def devices(self) -> list[SimDevice]:
        return parse_devices(self._run("list", "-j", "devices").stdout)

    def runtimes(self) -> list[SimRuntime]:
        return parse_runtimes(self._run("list", "-j", "runtimes").stdout)

    def create(self, name: str, device_type: str, runtime: str) -> str:
        """Create a Simulator; simctl prints only the new UDID."""
        return self._run("create", name, device_type, runtime).stdout.strip()

    def boot(self, udid: str, timeout: float) -> None:
        """Boot if needed and block until booted (`bootstatus -b` is idempotent)."""
        self._run("bootstatus", udid, "-b", timeout=timeout)

    def shutdown(self, udid: str) -> None:
        try:
            self._run("shutdown", udid)
        except ToolError as exc:
            if exc.returncode != EXIT_WRONG_STATE:  # already shut down is what we wanted
                raise

    def install(self, udid: str, app: Path) -> None:
        self._run("install", udid, str(app), timeout=max(self._timeout, 300.0))

    def data_container(self, udid: str, bundle_id: str) -> Path:
        return Path(self._run("get_app_container", udid, bundle_id, "data").stdout.strip())

    def launch(self, udid: str, bundle_id: str, arguments: Sequence[str], environment: Mapping[str, str]) -> int:
        # simctl hands SIMCTL_CHILD_<NAME> to the app as <NAME>.
        child_env = {f"SIMCTL_CHILD_{key}": value for key, value in environment.items()}
        completed = self._run("launch", "--terminate-running-process", udid, bundle_id, *arguments, env=child_env)
        return parse_launch_pid(completed.stdout)

    def terminate(self, udid: str, bundle_id: str) -> None:
        self._run("terminate", udid, bundle_id)

    def is_running(self, udid: str, pid: int) -> bool:
        """`kill -0` inside the Simulator: exit 0 while the process exists."""
        try:
            self._run("spawn", udid, "/bin/kill", "-0", str(pid))
        except ToolTimeout:
            raise
        except ToolError as exc:
            if exc.returncode == 1:
                return False
            raise
        return True

    def log_stream(self, udid: str, subsystem: str) -> Background:
        argv = [*self._xcrun(), "spawn", udid, "log", "stream", "--level", "debug", "--style", "compact"]
        return self._runner.start([*argv, "--predicate", f'subsystem == "{subsystem}"'], env=self._env({}))

    def _run(self, *args: str, timeout: float | None = None, env: Mapping[str, str] | None = None) -> Completed:
        argv = [*self._xcrun(), *args]
        try:
            return self._runner.run(argv, timeout=timeout or self._timeout, env=self._env(env or {}))
        except ToolTimeout:
            raise
        except ToolError as exc:
            raise _explained(exc) from exc

    def _xcrun(self) -> list[str]:
        return ["xcrun", "simctl"]

    def _env(self, extra: Mapping[str, str]) -> dict[str, str] | None:
        env = dict(extra)
        if self._developer_dir:
            env["DEVELOPER_DIR"] = self._developer_dir
        return env or None


def _explained(exc: ToolError) -> ToolError:
    """The same failure, with the fix for the known simctl error texts."""
    udid = next((arg for arg in exc.argv if _UDID.fullmatch(arg)), "<udid>")
    for text, fix in _FIXES:
        if text in exc.stderr:
            return ToolError(exc.argv, exc.returncode, exc.stderr, what=text, fix=fix.format(udid=udid))
    return exc


class SimulatorTarget:
    """One Simulator. Boots it for the session (and shuts it down again only if the session booted it)."""

    def __init__(
        self,
        udid: str,
        simctl: Simctl,
        *,
        bundle_id: str = COMPANION_BUNDLE_ID,
        boot_timeout: float = 180.0,
    ) -> None:
        self._udid = udid
        self._simctl = simctl
        self._bundle_id = bundle_id
        self._boot_timeout = boot_timeout
        self._device: SimDevice | None = None
        self._container: Path | None = None
        self._pid: int | None = None
        self._logs: Background | None = None
        self._log_text = ""
        self._sessions = SessionCount()

    def info(self) -> TargetInfo:
        device = self._describe()
        return TargetInfo(
            name=device.name,
            kind="simulator",
            udid=device.udid,
            os_name=device.os_name,
            os_version=device.os_version,
            model=device.model,
            chip=None,  # a Simulator runs on the host's CPU
            is_simulator=True,
            extra={"runtime": device.runtime, "device_type": device.device_type},
        )

    def supports(self, feature: Capability) -> bool:
        return feature in {Capability.PARTIAL_EVENTS, Capability.DEVICE_LOGS}

    @contextmanager
    def session(self) -> Iterator[Target]:
        with self._sessions.enter(self._open_session):
            yield self

    @contextmanager
    def _open_session(self) -> Iterator[None]:
        device = self._describe()
        if not device.available:
            raise TargetUnavailable(
                f"Simulator {device.name} is not available: {device.availability_error or 'unknown reason'}",
                where=device.udid,
                fix="install its runtime (xcodebuild -downloadPlatform iOS) or `xcrun simctl delete unavailable`",
            )
        booted_here = device.state != "Booted"
        if booted_here:
            self._boot()
        try:
            yield
        finally:
            self._stop_logs()
            if booted_here:
                self._simctl.shutdown(self._udid)

    def install(self, app: Path) -> None:
        self._simctl.install(self._udid, app)
        self._container = None  # the data container can move on reinstall

    def push_job(self, job_dir: Path, job_id: str) -> None:
        container = self._data_container()
        remove_tree(container / outbox_path(job_id))
        remove_tree(container / partial_path(job_id))
        inbox = container / inbox_path(job_id)
        remove_tree(inbox)
        inbox.parent.mkdir(parents=True, exist_ok=True)
        copy_tree(job_dir, inbox, step="push")

    def launch(self, job_id: str, *, arguments: Sequence[str], environment: Mapping[str, str]) -> int:
        if self._logs is None:
            self._logs = self._simctl.log_stream(self._udid, COMPANION_LOG_SUBSYSTEM)
        self._pid = self._simctl.launch(self._udid, self._bundle_id, arguments, environment)
        log.info("job %s: companion app running on %s as pid %d", job_id, self._udid, self._pid)
        return self._pid

    def poll(self, job_id: str) -> JobStatus:
        done = (self._data_container() / outbox_path(job_id) / "DONE").is_file()
        alive = self._pid is not None and self._simctl.is_running(self._udid, self._pid)
        return JobStatus(done=done, alive=alive)

    def read_partial_events(self, job_id: str) -> str:
        path = self._data_container() / partial_path(job_id) / "events.jsonl"
        return read_events(path)

    def pull_results(self, job_id: str, dest: Path) -> Path:
        local = dest / job_id
        copy_tree(self._data_container() / outbox_path(job_id), local)
        return local

    def collect_logs(self, since: datetime) -> str:
        text = self._logs.output() if self._logs is not None else self._log_text
        return lines_since(text, since)

    def cleanup(self, job_id: str) -> None:
        if self._pid is not None:
            try:
                self._simctl.terminate(self._udid, self._bundle_id)
            except ToolError as exc:
                log.debug("terminate after the job: %s", exc)  # usually: it already exited
            self._pid = None
        self._stop_logs()
        if self._container is not None:
            for folder in (inbox_path(job_id), outbox_path(job_id), partial_path(job_id)):
                remove_tree(self._container / folder)

    def _describe(self) -> SimDevice:
        if self._device is None or self._device.state != "Booted":
            found = [d for d in self._simctl.devices() if d.udid == self._udid]
            if not found:
                raise TargetUnavailable(
                    f"no Simulator with UDID {self._udid}",
                    where="xcrun simctl list devices",
                    fix="pick a UDID from `mlharness targets`, or create one: xcrun simctl create <name> <type>",
                )
            self._device = found[0]
        return self._device

    def _boot(self) -> None:
        try:
            self._simctl.boot(self._udid, self._boot_timeout)
        except ToolTimeout:
            # A wedged boot is the one failure a retry fixes often enough: shut down, then boot once more.
            log.warning("Simulator %s did not boot in %g s; retrying once", self._udid, self._boot_timeout)
            self._simctl.shutdown(self._udid)
            self._simctl.boot(self._udid, self._boot_timeout)
        self._device = None

    def _data_container(self) -> Path:
        if self._container is None:
            self._container = self._simctl.data_container(self._udid, self._bundle_id)
        return self._container

    def _stop_logs(self) -> None:
        if self._logs is not None:
            self._log_text = self._logs.stop()
            self._logs = None


def lines_since(text: str, since: datetime) -> str:
    """Lines of a compact-style `log stream` at or after `since` (continuation lines follow their entry)."""
    cutoff = since.astimezone().replace(tzinfo=None)  # log stream prints host-local wall-clock time
    kept: list[str] = []
    keeping = False
    for line in text.splitlines():
        match = _LOG_TIME.match(line)
        if match:
            keeping = datetime.fromisoformat(match["stamp"]) >= cutoff
        if keeping:
            kept.append(line)
    return "\n".join(kept)
