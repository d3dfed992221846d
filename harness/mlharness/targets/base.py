"""What every target kind offers: a narrow, typed `Target` protocol and the value objects around it.

A target is one place the companion app can run: a Simulator (`simulator`), a real device through
pymobiledevice3 (`device`) or through `xcrun devicectl` (`devicectl`), this Mac through `companion-macos`
(`mac`), or the in-process `fake` used by tests. The runner drives any of them through the same eight
steps; `supports(feature)` says what a kind can do beyond them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from mlupdate.contract import DOCUMENTS as DOCUMENTS
from mlupdate.contract import JOB_ARGUMENT, JOB_ENVIRONMENT
from mlupdate.contract import inbox_path as inbox_path
from mlupdate.contract import outbox_path as outbox_path
from mlupdate.contract import partial_path as partial_path

TargetKind = Literal["simulator", "device", "devicectl", "mac", "fake"]

# The companion app (ios_app/): its bundle identifier is also the os_log subsystem it logs under.
COMPANION_BUNDLE_ID = "org.mlupdate.companion"
COMPANION_LOG_SUBSYSTEM = "org.mlupdate.companion"
# What `make app` / `make app-device` build (the Xcode product); both put it under ios_app/DerivedData.
COMPANION_APP_NAME = "MLHarnessCompanion.app"


def job_arguments(job_id: str) -> list[str]:
    """The command line the app expects (docs/contract.md)."""
    return [JOB_ARGUMENT, job_id]


def job_environment(job_id: str) -> dict[str, str]:
    """The environment the app expects (docs/contract.md)."""
    return {JOB_ENVIRONMENT: job_id}


class Capability(enum.Enum):
    """Optional capabilities a target kind may have."""

    PARTIAL_EVENTS = "partial_events"  # can read outbox/.<job>.partial/events.jsonl while the job runs
    DEVICE_LOGS = "device_logs"  # can capture the app's os_log lines
    MEMORY_LIMIT_WAIVER = "memory_limit_waiver"  # can lift the jetsam limit for large updates
    REAL_HARDWARE = "real_hardware"  # timings and memory figures are a device's, not the host's


@dataclass(frozen=True)
class TargetInfo:
    """Who the target is, for reports and for choosing matrix cells."""

    name: str
    kind: TargetKind
    udid: str
    os_name: str
    os_version: str
    model: str
    chip: str | None
    is_simulator: bool
    extra: Mapping[str, str] = field(default_factory=dict)
    host: str | None = None  # `host:port` of the tunneld serving a remote device; None: attached to this host


@dataclass(frozen=True)
class JobStatus:
    """One look at a running job: has the app written DONE, and is its process still alive?"""

    done: bool
    alive: bool


@dataclass(frozen=True)
class TargetCandidate:
    """A target discovery found, usable now or not; `reason` says why not and what fixes it."""

    name: str
    kind: TargetKind
    udid: str
    usable: bool
    reason: str
    runtime: str | None = None  # simulators: the simctl runtime identifier, e.g. ...SimRuntime.iOS-18-5
    devicetype: str | None = None  # simulators: the simctl device type identifier, e.g. ...SimDeviceType.iPhone-16
    host: str | None = None  # remote devices: `host:port` of the tunneld serving it; None: this host


class Target(Protocol):
    """The eight steps of a job on one target. Paths on the device are relative to the app's data container."""

    def info(self) -> TargetInfo:
        """Describe the target (name, kind, udid, OS, model, chip)."""
        ...

    def supports(self, feature: Capability) -> bool:
        """Whether this target has an optional capability."""
        ...

    def session(self) -> AbstractContextManager[Target]:
        """Boot/connect on entry; on exit stop log capture and undo what the session started."""
        ...

    def install(self, app: Path) -> None:
        """Install (or reinstall) the companion app from a built `.app` folder."""
        ...

    def push_job(self, job_dir: Path, job_id: str) -> None:
        """Copy the job bundle to `Documents/inbox/<job_id>`, removing any old `outbox/<job_id>` first."""
        ...

    def launch(self, job_id: str, *, arguments: Sequence[str], environment: Mapping[str, str]) -> int:
        """Start the app (terminating a running instance) with arguments and environment; return its pid."""
        ...

    def poll(self, job_id: str) -> JobStatus:
        """Whether DONE is present in `outbox/<job_id>` and whether the app process is alive."""
        ...

    def read_partial_events(self, job_id: str) -> str:
        """The app's in-progress `events.jsonl` ("" when absent); only if `supports(Capability.PARTIAL_EVENTS)`."""
        ...

    def pull_results(self, job_id: str, dest: Path) -> Path:
        """Copy `outbox/<job_id>` into the existing folder `dest` and return the local results folder. Links on
        the device are refused, never followed (`mlharness.targets.files.copy_tree` for host-folder targets)."""
        ...

    def collect_logs(self, since: datetime) -> str:
        """The app's log lines since `since` ("" when the target cannot capture logs)."""
        ...

    def cleanup(self, job_id: str) -> None:
        """Stop the app if it still runs and remove the job's folders on the device. Safe to call twice."""
        ...


class SessionCount:
    """Makes a target's session re-entrant: only the outermost `with` boots/connects and tears down.

    The pytest plugin holds a session for a whole test session and the runner opens one per job inside it;
    an inner exit must not close what the outer one still uses.
    """

    def __init__(self) -> None:
        self.depth = 0

    @contextmanager
    def enter(self, opening: Callable[[], AbstractContextManager[None]]) -> Iterator[None]:
        if self.depth:
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
            return
        with opening():
            self.depth = 1
            try:
                yield
            finally:
                self.depth = 0


def parse_version(text: str) -> tuple[int, ...]:
    """'17.4.1' -> (17, 4, 1); non-numeric parts end the version ('26.0 beta' -> (26, 0))."""
    parts: list[int] = []
    for piece in text.strip().split(" ")[0].split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def tail(text: str, lines: int = 40) -> str:
    """The last `lines` lines of a log, for diagnostics that must stay readable."""
    return "\n".join(text.splitlines()[-lines:])
