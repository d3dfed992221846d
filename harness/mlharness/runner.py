"""The job life cycle on one target, as an explicit state machine.

    prepared -> installed -> pushed -> running -> finished -> pulled -> verified

Each transition runs under its own deadline and is logged. Every step but the launch is idempotent (install
reinstalls, push replaces the inbox and clears the outbox, pull replaces the local copy, cleanup twice is
harmless). Any failure ends in `RunFailed` carrying the state reached and the diagnostics gathered on the way
(command, exit code, stderr, last events seen, device log excerpt); cleanup runs whatever happens. Only
`install` is retried; a launch is never repeated, because a second launch could train twice. A pulled bundle
counts only once `mlupdate.bundle.read_results` accepted it (DONE, job id, hashes): a partial pull is never
reported as a result.
"""

from __future__ import annotations

import enum
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from mlharness.errors import AppCrashed, HarnessError, JobTimeout, RunFailed, TargetError, ToolError
from mlharness.targets.base import Capability, Target, TargetInfo, job_arguments, job_environment, tail
from mlupdate.bundle import ResultsBundle, read_job, read_results
from mlupdate.bundle.schema import validate
from mlupdate.contract import EVENTS, ProgressEvent
from mlupdate.errors import MlupdateError, SchemaError
from mlupdate.output_folder import check_destination, owned_output

log = logging.getLogger(__name__)

T = TypeVar("T")

# Retries are allowed only for steps that cannot double-train: installing the app again is harmless.
_INSTALL_ATTEMPTS = 2
# Events kept for diagnostics when a run fails.
_EVENTS_KEPT = 20


class State(enum.Enum):
    PREPARED = "prepared"
    INSTALLED = "installed"
    PUSHED = "pushed"
    RUNNING = "running"
    FINISHED = "finished"
    PULLED = "pulled"
    VERIFIED = "verified"


@dataclass(frozen=True)
class Deadlines:
    """Seconds allowed per transition. `job` None means: the job's own deadline × repeat, plus `job_grace`."""

    install: float = 300.0
    push: float = 300.0
    launch: float = 60.0
    job: float | None = None
    job_grace: float = 120.0
    poll: float = 60.0
    pull: float = 300.0
    poll_interval: float = 1.0


@dataclass(frozen=True)
class Progress:
    """What the runner reports as it goes: a state change, or one progress event read from the device."""

    state: State
    message: str
    event: ProgressEvent | None = None


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class Transition:
    state: State
    seconds: float


@dataclass(frozen=True)
class RunResult:
    """A verified results bundle and how the run got there."""

    job_id: str
    target: TargetInfo
    results_path: Path
    results: ResultsBundle
    transitions: tuple[Transition, ...]


@dataclass
class _Run:
    """Mutable bookkeeping of one run; never leaves this module."""

    target: Target
    job_id: str
    progress: ProgressCallback
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    state: State = State.PREPARED
    transitions: list[Transition] = field(default_factory=list)
    events: list[ProgressEvent] = field(default_factory=list)
    lines_seen: int = 0
    info: TargetInfo | None = None

    @property
    def name(self) -> str:
        return self.info.name if self.info is not None else type(self.target).__name__

    def reached(self, state: State, since: float) -> None:
        self.state = state
        self.transitions.append(Transition(state, time.monotonic() - since))
        log.info("job %s on %s: %s", self.job_id, self.name, state.value)
        self.progress(Progress(state, state.value))

    def note_events(self, text: str) -> None:
        """Report the complete lines of an events.jsonl we have not reported yet."""
        lines = [line for line in text.split("\n")[:-1] if line.strip()]
        for line in lines[self.lines_seen :]:
            try:
                document = json.loads(line)
            except json.JSONDecodeError:
                # A line the app is still writing; it is complete on the next read.
                break
            self.lines_seen += 1
            try:
                event = ProgressEvent.from_json(validate(document, "event", where=f"{EVENTS}: line {self.lines_seen}"))
            except SchemaError as exc:
                # Verification refuses the bundle later; a live line that is off is only logged here.
                log.warning("job %s: ignoring a progress event line: %s", self.job_id, exc)
                continue
            self.events.append(event)
            self.progress(Progress(self.state, str(event.event), event))


def run_job(
    target: Target,
    job_dir: Path,
    out_dir: Path,
    *,
    app: Path | None = None,
    deadlines: Deadlines = Deadlines(),
    progress: ProgressCallback | None = None,
    force: bool = False,
) -> RunResult:
    """Run the job bundle at `job_dir` on `target` and return the verified results at `out_dir/<job_id>`.

    `app` is the companion `.app` to install first (None: it is already installed). Raises `RunFailed`.
    The results are pulled aside and swapped in only once verified, so a failed rerun keeps the earlier results;
    an existing `out_dir/<job_id>` is replaced only if an earlier run wrote it (or with `force`), which is
    checked before anything runs (OutputFolderError).
    """
    job = read_job(job_dir)
    check_destination(out_dir / job.job_id, command="run", force=force, inputs=[job.path])
    run = _Run(target, job.job_id, progress or (lambda _: None))
    job_deadline = deadlines.job
    if job_deadline is None:
        job_deadline = job.deadline_seconds * job.repeat + deadlines.job_grace
    diagnostics: dict[str, Any] = {}
    try:
        with target.session():
            run.info = info = target.info()
            try:
                results = _drive(run, job_dir, out_dir, app, deadlines, job_deadline, force)
                results_path = results.path
                since = time.monotonic()
                run.note_events(_read_text(results_path / EVENTS))
                run.reached(State.VERIFIED, since)
            except (MlupdateError, OSError) as exc:
                # Gathered before cleanup: cleanup stops the log capture and the app.
                diagnostics = _diagnose(run, exc)
                raise
            finally:
                _cleanup(run, diagnostics)
    except (MlupdateError, OSError) as exc:
        raise RunFailed(
            f"job {run.job_id} stopped after state '{run.state.value}': {_one_line(exc)}",
            state=run.state.value,
            diagnostics=diagnostics or _diagnose(run, exc),
            where=run.name,
            fix=_fix_for(exc),
        ) from exc
    return RunResult(run.job_id, info, results_path, results, tuple(run.transitions))


def _drive(
    run: _Run, job_dir: Path, out_dir: Path, app: Path | None, deadlines: Deadlines, job_deadline: float, force: bool
) -> ResultsBundle:
    target, job_id = run.target, run.job_id
    run.progress(Progress(State.PREPARED, f"job {job_id} on {run.name}"))
    since = time.monotonic()
    if app is not None:
        _install(target, app, deadlines.install)
    run.reached(State.INSTALLED, since)

    since = time.monotonic()
    _with_deadline(lambda: target.push_job(job_dir, job_id), deadlines.push, "push the job bundle")
    run.reached(State.PUSHED, since)

    since = time.monotonic()
    pid = _with_deadline(
        lambda: target.launch(job_id, arguments=job_arguments(job_id), environment=job_environment(job_id)),
        deadlines.launch,
        "launch the companion app",
    )
    run.progress(Progress(State.RUNNING, f"app running, pid {pid}"))
    run.reached(State.RUNNING, since)

    since = time.monotonic()
    _wait_for_done(run, deadlines, job_deadline)
    run.reached(State.FINISHED, since)

    since = time.monotonic()
    with owned_output(out_dir / job_id, command="run", force=force, inputs=[job_dir]) as output:
        pulled = _with_deadline(lambda: target.pull_results(job_id, output.staging), deadlines.pull, "pull the results")
        run.reached(State.PULLED, since)
        results = read_results(pulled, job_id)
        output.publish(pulled)
    return replace(results, path=output.final)


def _install(target: Target, app: Path, seconds: float) -> None:
    for attempt in range(1, _INSTALL_ATTEMPTS + 1):
        try:
            _with_deadline(lambda: target.install(app), seconds, "install the companion app")
        except (TargetError, ToolError) as exc:
            if attempt == _INSTALL_ATTEMPTS:
                raise
            log.warning("install failed (attempt %d of %d), retrying: %s", attempt, _INSTALL_ATTEMPTS, exc)
        else:
            return


def _wait_for_done(run: _Run, deadlines: Deadlines, job_deadline: float) -> None:
    target, job_id = run.target, run.job_id
    partial = target.supports(Capability.PARTIAL_EVENTS)
    give_up = time.monotonic() + job_deadline
    while True:
        status = _with_deadline(lambda: target.poll(job_id), deadlines.poll, "poll the job")
        if partial:
            run.note_events(_with_deadline(lambda: target.read_partial_events(job_id), deadlines.poll, "read events"))
        if status.done:
            return
        if not status.alive:
            # DONE may have landed between the two checks of that poll: look once more before calling it a crash.
            if _with_deadline(lambda: target.poll(job_id), deadlines.poll, "poll the job").done:
                return
            raise AppCrashed(
                "the companion app exited before it wrote DONE",
                target=run.name,
                step="running",
                fix="read the device log excerpt in the diagnostics; a crash report is in the device's Analytics data",
            )
        if time.monotonic() >= give_up:
            raise JobTimeout(
                f"no DONE after {job_deadline:g} s",
                where=f"{run.name} (job {job_id})",
                fix="raise the job's deadline_seconds, or check the device log excerpt for where the app stalled",
            )
        time.sleep(deadlines.poll_interval)


def _with_deadline(step: Callable[[], T], seconds: float, what: str) -> T:
    """Run one blocking target step, giving up after `seconds`.

    The step runs in a daemon thread: a hung tool call cannot be interrupted from here, but the runner moves on
    to diagnostics and cleanup, and cleanup ends what the step was waiting for.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def call() -> None:
        try:
            outcome.append(step())
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=call, name=f"mlharness: {what}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise JobTimeout(
            f"could not {what} within {seconds:g} s",
            where=what,
            fix="check that the target responds (mlharness doctor), then retry or raise the deadline",
        )
    if failure:
        raise failure[0]
    return outcome[0]


def _diagnose(run: _Run, exc: BaseException) -> dict[str, Any]:
    diagnostics: dict[str, Any] = {
        "state": run.state.value,
        "target": _info_dict(run.info) if run.info is not None else type(run.target).__name__,
        "error": exc.to_dict() if isinstance(exc, MlupdateError) else {"type": type(exc).__name__, "what": str(exc)},
        "transitions": [{"state": t.state.value, "seconds": round(t.seconds, 3)} for t in run.transitions],
        "last_events": [event.to_json() for event in run.events[-_EVENTS_KEPT:]],
    }
    if isinstance(exc, ToolError):
        diagnostics |= {"command": exc.argv, "exit_code": exc.returncode, "stderr": exc.stderr}
    try:
        diagnostics["device_log"] = tail(run.target.collect_logs(run.started))
    except (HarnessError, OSError) as log_error:
        diagnostics["device_log"] = f"(could not collect the device log: {_one_line(log_error)})"
    return diagnostics


def _cleanup(run: _Run, diagnostics: dict[str, Any]) -> None:
    try:
        run.target.cleanup(run.job_id)
    except (HarnessError, OSError) as exc:
        # Cleanup must not hide the failure that brought us here; it is reported next to it.
        log.warning("cleanup of job %s failed: %s", run.job_id, exc)
        diagnostics["cleanup_error"] = _one_line(exc)


def _info_dict(info: TargetInfo) -> dict[str, Any]:
    return {f.name: getattr(info, f.name) for f in fields(info)} | {"extra": dict(info.extra)}


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _one_line(exc: BaseException) -> str:
    what = exc.what if isinstance(exc, MlupdateError) else str(exc)
    return what.splitlines()[0] if what else type(exc).__name__


def _fix_for(exc: BaseException) -> str:
    if isinstance(exc, MlupdateError) and exc.fix:
        return exc.fix
    return "see the diagnostics (command, stderr, device log) for the cause"
