"""An in-process target whose every step can be made to fail or hang, for testing the runner without a device.

The "device" is a folder standing in for the app's data container (`<root>/Documents/inbox|outbox`). Launching
runs a `FakeApp` callable in place of the companion app; it writes a real results bundle with
`mlupdate.bundle.ResultsWriter`, so the runner's verification is exercised for real. `canned_app` writes a
bundle in which no training ran; `reference_app` trains with the numpy reference trainer (a dry run).
"""

from __future__ import annotations

import enum
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from mlharness.errors import TargetError
from mlharness.targets.base import (
    Capability,
    JobStatus,
    Target,
    TargetInfo,
    inbox_path,
    outbox_path,
    partial_path,
)
from mlharness.targets.files import copy_tree, read_events, remove_tree
from mlupdate import __version__
from mlupdate.bundle import ResultsWriter, read_job
from mlupdate.contract import (
    DONE,
    EVENTS,
    DeviceInfo,
    EventKind,
    Producer,
    ProducerName,
    ProgressEvent,
    TaskRecord,
    TaskStatus,
)

# A fake app: given the pushed job folder, the outbox folder and the job id, write `outbox/<job_id>` + DONE.
FakeApp = Callable[[Path, Path, str], None]

# A hung step is released by cleanup, or gives up after this long so a broken test cannot hang forever.
_HANG_LIMIT_SECONDS = 30.0


class Fault(enum.Enum):
    FAIL = "fail"  # the step raises TargetError
    HANG = "hang"  # the step blocks until cleanup releases it (cleanup and logs: until the hang limit)


class AppOutcome(enum.Enum):
    SUCCEEDS = "succeeds"  # writes its results bundle after `polls_to_finish` polls
    CRASHES = "crashes"  # exits after writing some events, before DONE
    RUNS_FOREVER = "runs_forever"  # stays alive, never writes DONE
    PARTIAL_PULL = "partial_pull"  # finishes, but the pull loses a file (a transfer cut short)
    TAMPERED = "tampered"  # finishes, but a result file changes after it was hashed


def canned_app(job_dir: Path, outbox: Path, job_id: str) -> None:
    """Write a valid results bundle in which nothing was trained: all timings null, zero epochs.

    The producer says `mlupdate-reference` version `canned (fake target, no training)`, so no report can take
    it for a device's or the reference trainer's result.
    """
    job = read_job(job_dir)
    repeat = job.repeat
    with ResultsWriter(outbox, job_id) as writer:
        for task in range(repeat):
            if EventKind.TRAINING_BEGIN in job.events:
                writer.add_events([ProgressEvent(EventKind.TRAINING_BEGIN, task=task)])
            writer.add_events([ProgressEvent(EventKind.COMPLETION, task=task)])
        writer.finish(
            status=TaskStatus.SUCCEEDED,
            error=None,
            device=FAKE_DEVICE,
            tasks=[TaskRecord(index, TaskStatus.SUCCEEDED) for index in range(repeat)],
            producer=Producer(ProducerName.REFERENCE, f"canned (fake target, no training; {__version__})"),
        )


def reference_app(job_dir: Path, outbox: Path, job_id: str) -> None:
    """Train with the numpy reference trainer in place of Core ML: a dry run whose results say `mlupdate-reference`."""
    from mlupdate.reference.run import write_reference_results  # heavy, and only this app needs it

    written = write_reference_results(job_dir, outbox)
    if written.name != job_id:
        raise TargetError(f"the reference wrote {written.name}, not {job_id}", target="fake", step="running")


FAKE_DEVICE = DeviceInfo(
    name="fake target",
    model="fake",
    os_name="none",
    os_version="0",
    os_build="none",
    is_simulator=False,
    chip=None,
    host="in-process fake",
)


class FakeTarget:
    """A `Target` over a host folder. `faults` maps step names (session, install, push, launch, poll, pull,
    cleanup) to a `Fault`; `install_failures` makes the first N installs fail and later ones succeed."""

    def __init__(
        self,
        root: Path,
        *,
        faults: Mapping[str, Fault] | None = None,
        outcome: AppOutcome = AppOutcome.SUCCEEDS,
        app: FakeApp = canned_app,
        polls_to_finish: int = 2,
        install_failures: int = 0,
        partial_events: bool = True,
    ) -> None:
        self.root = root
        self.faults = dict(faults or {})
        self.outcome = outcome
        self.app = app
        self.polls_to_finish = polls_to_finish
        self.install_failures = install_failures
        self.partial_events = partial_events
        self.calls: list[str] = []
        self.launched_with: list[tuple[list[str], dict[str, str]]] = []
        self._release = threading.Event()
        self._polls = 0
        self._running = False
        self._log: list[tuple[datetime, str]] = []

    # -- Target protocol -------------------------------------------------------------------------------------

    def info(self) -> TargetInfo:
        self._step("info")
        return TargetInfo(
            name="fake",
            kind="fake",
            udid="fake-0000",
            os_name="none",
            os_version="0",
            model="fake",
            chip=None,
            is_simulator=False,
            extra={"root": str(self.root)},
        )

    def supports(self, feature: Capability) -> bool:
        return feature in {Capability.DEVICE_LOGS} | ({Capability.PARTIAL_EVENTS} if self.partial_events else set())

    @contextmanager
    def session(self) -> Iterator[Target]:
        self._step("session")
        (self.root / "Documents").mkdir(parents=True, exist_ok=True)
        try:
            yield self
        finally:
            self.calls.append("session_end")
            self._release.set()

    def install(self, app: Path) -> None:
        self._step("install")
        if self.install_failures > 0:
            self.install_failures -= 1
            raise TargetError("installd was busy (simulated)", target="fake", step="install")
        self._say(f"installed {app.name}")

    def push_job(self, job_dir: Path, job_id: str) -> None:
        self._step("push")
        remove_tree(self.root / outbox_path(job_id))
        remove_tree(self.root / partial_path(job_id))  # as every real target does
        inbox = self.root / inbox_path(job_id)
        remove_tree(inbox)
        inbox.parent.mkdir(parents=True, exist_ok=True)
        copy_tree(job_dir, inbox, step="push")

    def launch(self, job_id: str, *, arguments: Sequence[str], environment: Mapping[str, str]) -> int:
        self._step("launch")
        self.launched_with.append((list(arguments), dict(environment)))
        self._running = True
        self._polls = 0
        # Like the app: events the job asked for are appended to the partial bundle as they happen.
        partial = self.root / partial_path(job_id)
        partial.mkdir(parents=True, exist_ok=True)
        begun = EventKind.TRAINING_BEGIN in read_job(self.root / inbox_path(job_id)).events
        line = json.dumps(ProgressEvent(EventKind.TRAINING_BEGIN).to_json()) + "\n"
        (partial / EVENTS).write_text(line if begun else "", "utf-8")
        self._say(f"launched with {' '.join(arguments)}")
        return 4242

    def poll(self, job_id: str) -> JobStatus:
        self._step("poll")
        self._polls += 1
        if self._running and self._polls >= self.polls_to_finish:
            self._finish(job_id)
        done = (self.root / outbox_path(job_id) / DONE).is_file()
        return JobStatus(done=done, alive=self._running)

    def read_partial_events(self, job_id: str) -> str:
        path = self.root / partial_path(job_id) / EVENTS
        return read_events(path)

    def pull_results(self, job_id: str, dest: Path) -> Path:
        self._step("pull")
        local = dest / job_id
        copy_tree(self.root / outbox_path(job_id), local)
        if self.outcome is AppOutcome.PARTIAL_PULL:
            (local / EVENTS).unlink()
        return local

    def collect_logs(self, since: datetime) -> str:
        self._hang_unreleased("logs")
        return "\n".join(f"{when.isoformat()} {text}" for when, text in self._log if when >= since)

    def cleanup(self, job_id: str) -> None:
        self.calls.append("cleanup")
        self._release.set()
        self._hang_unreleased("cleanup")
        if self.faults.get("cleanup") is Fault.FAIL:
            raise TargetError("could not remove the job folders (simulated)", target="fake", step="cleanup")
        self._running = False
        for folder in (inbox_path(job_id), outbox_path(job_id), partial_path(job_id)):
            remove_tree(self.root / folder)

    # -- simulation ------------------------------------------------------------------------------------------

    def _step(self, name: str) -> None:
        self.calls.append(name)
        fault = self.faults.get(name)
        if fault is Fault.FAIL:
            raise TargetError(f"{name} failed (simulated)", target="fake", step=name, fix="none: this is a test")
        if fault is Fault.HANG:
            self._release.wait(_HANG_LIMIT_SECONDS)

    def _hang_unreleased(self, name: str) -> None:
        """A hang nothing releases (these steps run after cleanup released everything else)."""
        if self.faults.get(name) is Fault.HANG:
            threading.Event().wait(_HANG_LIMIT_SECONDS)

    def say(self, text: str) -> None:
        """Add a line to the device log (tests: what a device might print)."""
        self._say(text)

    def _say(self, text: str) -> None:
        self._log.append((datetime.now(UTC), text))

    def _finish(self, job_id: str) -> None:
        if self.outcome is AppOutcome.RUNS_FOREVER:
            return
        self._running = False
        if self.outcome is AppOutcome.CRASHES:
            self._say("companion: EXC_BAD_ACCESS in espresso (simulated crash)")
            return
        outbox = self.root / "Documents" / "outbox"
        remove_tree(self.root / partial_path(job_id))
        self.app(self.root / inbox_path(job_id), outbox, job_id)
        if self.outcome is AppOutcome.TAMPERED:
            events = outbox / job_id / EVENTS
            events.write_text(events.read_text(encoding="utf-8") + "\n", encoding="utf-8")
