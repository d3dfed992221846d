"""This Mac, through `companion-macos`: the quickest real `MLUpdateTask` (no Simulator, no device).

`companion-macos JOB_DIR --out OUTBOX` (ios_app/Sources/companion-macos) runs a job bundle with the real Core ML
of the Mac and publishes the results bundle exactly as the app does (staging folder, rename, DONE last; the live
event log in `OUTBOX/.<job_id>.partial/events.jsonl`). `MacTarget` gives it the `Target` life cycle: the
"container" is a folder the session creates (and removes), install records the executable, launch starts it as a
child process, and poll reads its exit status and the DONE sentinel. `MacHost` is the argv layer for the facts
about the Mac (`sw_vers`, `sysctl`), tested against recorded output like `simctl`.

Exit codes of companion-macos: 0 results published (whatever the training status), 1 the job bundle was refused
(a `failed` results bundle naming the refusal is published too), 2 usage error or the results could not be
written (on a machine without Core ML it says so and exits 2).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from mlharness.errors import TargetError, TargetUnavailable, ToolError
from mlharness.process import ProcessRunner, SubprocessRunner
from mlharness.targets.base import (
    Capability,
    JobStatus,
    SessionCount,
    Target,
    TargetInfo,
    inbox_path,
    outbox_path,
    parse_version,
    partial_path,
    tail,
)
from mlharness.targets.files import copy_tree, read_events, remove_tree

log = logging.getLogger(__name__)

MAC_UDID = "local"  # there is one Mac: the host itself
EXECUTABLE = "companion-macos"
EXECUTABLE_ENV = "MLHARNESS_COMPANION_MACOS"  # where a user keeps a companion-macos built elsewhere
BUILD_COMMAND = "cd ios_app && swift build -c release --product companion-macos"
MINIMUM_MACOS = (13, 0)  # the runner uses MLModel.compileModel(at:) async (macOS 13)
EXIT_REFUSED = 1


def find_executable(repo: Path | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """companion-macos from $MLHARNESS_COMPANION_MACOS, PATH, or the repository's SwiftPM build (release first)."""
    env = os.environ if environ is None else environ
    if env.get(EXECUTABLE_ENV):
        return Path(env[EXECUTABLE_ENV])
    on_path = shutil.which(EXECUTABLE, path=env.get("PATH"))
    if on_path:
        return Path(on_path)
    root = repo or Path.cwd()
    for configuration in ("release", "debug"):
        built = root / "ios_app" / ".build" / configuration / EXECUTABLE
        if built.is_file():
            return built
    return None


@dataclass(frozen=True)
class MacFacts:
    """What `sw_vers` and `sysctl` say about this Mac."""

    os_version: str
    os_build: str
    model: str
    chip: str

    @property
    def supported(self) -> bool:
        return parse_version(self.os_version) >= MINIMUM_MACOS


class MacHost:
    """`sw_vers` and `sysctl`, one method per question; output parsed from their documented plain formats."""

    def __init__(self, runner: ProcessRunner, *, timeout: float = 30.0) -> None:
        self._runner = runner
        self._timeout = timeout

    def facts(self) -> MacFacts:
        return MacFacts(
            os_version=self._line("sw_vers", "-productVersion"),
            os_build=self._line("sw_vers", "-buildVersion"),
            model=self._line("sysctl", "-n", "hw.model"),
            chip=self._line("sysctl", "-n", "machdep.cpu.brand_string"),
        )

    def _line(self, *argv: str) -> str:
        text = self._runner.run(list(argv), timeout=self._timeout).stdout.strip()
        if not text or "\n" in text:
            raise TargetError(
                f"expected one line, got {text!r}",
                target=" ".join(argv),
                step="parse output",
                fix="run the same command in Terminal to see what it prints",
            )
        return text


class CompanionProcess(Protocol):
    """The running companion-macos: the narrow boundary tests replace with a fake process."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        ...

    def output(self) -> str:
        """Everything it printed so far (stdout and stderr)."""
        ...

    def stop(self) -> str:
        """Terminate it (kill it if it lingers) and return its output."""
        ...


Launcher = Callable[[Sequence[str]], CompanionProcess]


def start_companion(argv: Sequence[str]) -> CompanionProcess:
    """A real child process (argv list, no shell, stdin closed, output collected in a file)."""
    try:
        return SubprocessRunner().start(argv)
    except ToolError as exc:
        raise ToolError(
            exc.argv, None, exc.stderr, what=f"cannot start {argv[0]}", fix=f"build it: {BUILD_COMMAND}"
        ) from exc


class MacTarget:
    """This Mac. The session makes a private folder standing for the app container and removes it at the end;
    `root` (tests, or a user who wants to keep the folders) is used as given and never removed."""

    def __init__(
        self,
        host: MacHost,
        *,
        executable: Path | None = None,
        root: Path | None = None,
        launcher: Launcher = start_companion,
    ) -> None:
        self._host = host
        self._executable = executable
        self._given_root = root
        self._root: Path | None = root
        self._launcher = launcher
        self._process: CompanionProcess | None = None
        self._output = ""
        self._facts: MacFacts | None = None
        self._sessions = SessionCount()

    def info(self) -> TargetInfo:
        facts = self._describe()
        return TargetInfo(
            name=f"this Mac ({facts.model})",
            kind="mac",
            udid=MAC_UDID,
            os_name="macOS",
            os_version=facts.os_version,
            model=facts.model,
            chip=facts.chip,
            is_simulator=False,
            extra={"os_build": facts.os_build, "companion": str(self._executable or "")},
        )

    def supports(self, feature: Capability) -> bool:
        # The Mac's own Core ML and hardware: its figures are real, but a Mac's, not an iPhone's.
        return feature in {Capability.PARTIAL_EVENTS, Capability.DEVICE_LOGS, Capability.REAL_HARDWARE}

    @contextmanager
    def session(self) -> Iterator[Target]:
        with self._sessions.enter(self._open_session):
            yield self

    @contextmanager
    def _open_session(self) -> Iterator[None]:
        facts = self._describe()
        if not facts.supported:
            raise TargetUnavailable(
                f"macOS {facts.os_version} is older than {'.'.join(map(str, MINIMUM_MACOS))}",
                where="this Mac",
                fix="companion-macos needs macOS 13 or later (MLModel.compileModel(at:) async)",
            )
        made_here = self._given_root is None
        if made_here:
            self._root = Path(tempfile.mkdtemp(prefix="mlharness-mac-"))
        try:
            yield
        finally:
            self._stop()
            if made_here and self._root is not None:
                remove_tree(self._root)
                self._root = None

    def install(self, app: Path) -> None:
        """`app` is the companion-macos executable (`ios_app/.build/release/companion-macos`)."""
        if not app.is_file() or not os.access(app, os.X_OK):
            raise TargetError(
                f"{app} is not an executable companion-macos",
                target="mac",
                step="install",
                fix=f"build it: {BUILD_COMMAND}",
            )
        self._executable = app

    def push_job(self, job_dir: Path, job_id: str) -> None:
        root = self._container()
        for folder in (outbox_path(job_id), partial_path(job_id), inbox_path(job_id)):
            remove_tree(root / folder)
        (root / outbox_path(job_id)).parent.mkdir(parents=True, exist_ok=True)
        (root / inbox_path(job_id)).parent.mkdir(parents=True, exist_ok=True)
        copy_tree(job_dir, root / inbox_path(job_id), step="push")

    def launch(self, job_id: str, *, arguments: Sequence[str], environment: Mapping[str, str]) -> int:
        # companion-macos takes the job folder and the outbox; the app's `--job` and MLHARNESS_JOB name the same
        # job, which the folder's name already says.
        del arguments, environment
        if self._executable is None:
            raise TargetError(
                "companion-macos was not installed",
                target="mac",
                step="launch",
                fix=f"pass the executable as the app ({BUILD_COMMAND} builds it)",
            )
        root = self._container()
        self._stop()
        argv = [
            str(self._executable),
            str(root / inbox_path(job_id)),
            "--out",
            str((root / outbox_path(job_id)).parent),
        ]
        self._process = self._launcher(argv)
        log.info("job %s: companion-macos running as pid %d", job_id, self._process.pid)
        return self._process.pid

    def poll(self, job_id: str) -> JobStatus:
        done = (self._container() / outbox_path(job_id) / "DONE").is_file()
        if self._process is None:
            return JobStatus(done=done, alive=False)
        code = self._process.poll()
        if code is not None and code != 0 and not done:
            text = self._process.output()
            refused = code == EXIT_REFUSED
            raise TargetError(
                f"companion-macos exited with {code} before it wrote DONE: {tail(text, 5) or '(no output)'}",
                target="mac",
                step="running",
                fix="the job bundle was refused: rebuild it with mlupdate (the message names the rule)"
                if refused
                else f"see its output above; if Core ML is missing, run on macOS 13+ ({BUILD_COMMAND})",
            )
        return JobStatus(done=done, alive=code is None)

    def read_partial_events(self, job_id: str) -> str:
        path = self._container() / partial_path(job_id) / "events.jsonl"
        return read_events(path)

    def pull_results(self, job_id: str, dest: Path) -> Path:
        local = dest / job_id
        copy_tree(self._container() / outbox_path(job_id), local)
        return local

    def collect_logs(self, since: datetime) -> str:
        """What companion-macos printed (its progress lines carry no time stamps: the whole run's output)."""
        del since
        return self._process.output() if self._process is not None else self._output

    def cleanup(self, job_id: str) -> None:
        self._stop()
        if self._root is not None:
            for folder in (inbox_path(job_id), outbox_path(job_id), partial_path(job_id)):
                remove_tree(self._root / folder)

    def _describe(self) -> MacFacts:
        if self._facts is None:
            self._facts = self._host.facts()
        return self._facts

    def _container(self) -> Path:
        if self._root is None:
            raise TargetError("no session is open", target="mac", step="container", fix="use `with target.session():`")
        return self._root

    def _stop(self) -> None:
        if self._process is not None:
            self._output = self._process.stop()
            self._process = None
