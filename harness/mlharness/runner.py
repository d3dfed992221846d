"""The job life cycle on one target, as an explicit state machine.

    prepared -> installed -> pushed -> running -> finished -> pulled -> verified

Each transition runs under its own deadline and is logged, and so does every other call into the target: opening
and closing the session, describing the target, cleanup and log collection. A step that overran is given up on
(`mlharness.deadline`): it can no longer write into the output, because results are pulled into a staging folder
that is only swapped in once verified. Every step but the launch is idempotent (install
reinstalls, push replaces the inbox and clears the outbox, pull replaces the local copy, cleanup twice is
harmless). Any failure ends in `RunFailed` carrying the state reached and the diagnostics gathered on the way
(command, exit code, stderr, last events seen, device log excerpt); cleanup runs whatever happens. Only
`install` is retried; a launch is never repeated, because a second launch could train twice. A pulled bundle
counts only once `mlupdate.bundle.read_results` accepted it (DONE, job id, hashes): a partial pull is never
reported as a result.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlharness.deadline import MAX_JOB_SECONDS, run_with_deadline
from mlharness.errors import AppCrashed, ConfigError, HarnessError, JobTimeout, RunFailed, TargetError, ToolError
from mlharness.targets.base import Capability, Target, TargetInfo, job_arguments, job_environment, tail
from mlupdate import limits
from mlupdate.bundle import JobBundle, ResultsBundle, read_job, read_results
from mlupdate.bundle.schema import parse_json, validate
from mlupdate.contract import EVENTS, ProgressEvent
from mlupdate.errors import MlupdateError, SchemaError
from mlupdate.output_folder import check_destination, owned_output

log = logging.getLogger(__name__)


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
    """Seconds allowed per step. `job` None means: the job's own deadline × repeat, plus `job_grace`.

    `session` covers opening the target (booting a Simulator, connecting a device, a tunnel); `close` closing it;
    `info`, `cleanup` and `logs` the calls of the same names."""

    install: float = 300.0
    push: float = 300.0
    launch: float = 60.0
    job: float | None = None
    job_grace: float = 120.0
    poll: float = 60.0
    pull: float = 300.0
    poll_interval: float = 1.0
    session: float = 420.0
    close: float = 120.0
    info: float = 60.0
    cleanup: float = 120.0
    logs: float = 30.0


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
        """Report the complete lines of an events.jsonl we have not reported yet.

        A complete line (ended by `\\n`) that is not a progress event (other JSON, a list, a string, garbage) is
        device output gone wrong: it raises SchemaError, so the run fails with the lines seen so far in its
        diagnostics. The line still being written (no `\\n` yet) waits for the next read."""
        lines = [line for line in text.split("\n")[:-1] if line.strip()]
        for line in lines[self.lines_seen :]:
            self.lines_seen += 1
            where = f"live {EVENTS}: line {self.lines_seen}"
            try:
                event = ProgressEvent.from_json(validate(parse_json(line.encode(), where=where), "event", where=where))
            except SchemaError as exc:
                raise SchemaError(
                    f"the app's {where} is not a progress event: {exc.what}",
                    where=exc.where,
                    fix="the app (or whatever wrote its outbox) is not of this contract: see the device log",
                ) from exc
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
    job_deadline = _job_deadline(job, deadlines)
    run = _Run(target, job.job_id, progress or (lambda _: None))
    diagnostics: dict[str, Any] = {}
    try:
        with _session(target, deadlines):
            run.info = info = run_with_deadline(target.info, deadlines.info, "describe the target")
            try:
                results = _drive(run, job_dir, out_dir, app, deadlines, job_deadline, force)
                results_path = results.path
                since = time.monotonic()
                run.note_events(_read_text(results_path / EVENTS))
                run.reached(State.VERIFIED, since)
            except (MlupdateError, OSError) as exc:
                # Gathered before cleanup: cleanup stops the log capture and the app.
                diagnostics = _diagnose(run, exc, deadlines)
                raise
            finally:
                _cleanup(run, diagnostics, deadlines)
    except (MlupdateError, OSError) as exc:
        raise RunFailed(
            f"job {run.job_id} stopped after state '{run.state.value}': {_one_line(exc)}",
            state=run.state.value,
            diagnostics=diagnostics or _diagnose(run, exc, deadlines),
            where=run.name,
            fix=_fix_for(exc),
        ) from exc
    return RunResult(run.job_id, info, results_path, results, tuple(run.transitions))


def _job_deadline(job: JobBundle, deadlines: Deadlines) -> float:
    """Seconds to wait for DONE: the override, or the job's deadline x repeat plus the grace; at most a week."""
    seconds = deadlines.job
    if seconds is None:
        seconds = float(job.deadline_seconds) * job.repeat + deadlines.job_grace
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_JOB_SECONDS):
        raise ConfigError(
            f"the job may run for {seconds:g} s (deadline_seconds {job.deadline_seconds:g} x repeat {job.repeat}),"
            f" more than the {MAX_JOB_SECONDS:g} s a run may wait",
            where=f"{job.path / 'job.json'}: deadline_seconds",
            fix="write the job with a smaller deadline_seconds or repeat, or pass a shorter --deadline",
        )
    return seconds


def _close_late(session: AbstractContextManager[Target]) -> None:
    session.__exit__(None, None, None)


@contextmanager
def _session(target: Target, deadlines: Deadlines) -> Iterator[None]:
    """The target's session, opened and closed under deadlines. A session that opens only after its deadline has
    passed is closed again at once by the thread that opened it."""
    session = target.session()
    run_with_deadline(
        session.__enter__,
        deadlines.session,
        "open the target (boot, connect)",
        on_late=lambda _: _close_late(session),
    )
    try:
        yield
    finally:
        run_with_deadline(lambda: session.__exit__(None, None, None), deadlines.close, "close the target")


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
    run_with_deadline(lambda: target.push_job(job_dir, job_id), deadlines.push, "push the job bundle")
    run.reached(State.PUSHED, since)

    since = time.monotonic()
    pid = run_with_deadline(
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
        pulled = run_with_deadline(
            lambda: target.pull_results(job_id, output.staging), deadlines.pull, "pull the results"
        )
        run.reached(State.PULLED, since)
        results = read_results(pulled, job_id)
        output.publish(pulled)
    return replace(results, path=output.final)


def _install(target: Target, app: Path, seconds: float) -> None:
    for attempt in range(1, _INSTALL_ATTEMPTS + 1):
        try:
            run_with_deadline(lambda: target.install(app), seconds, "install the companion app")
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
        status = run_with_deadline(lambda: target.poll(job_id), deadlines.poll, "poll the job")
        if partial:
            run.note_events(
                run_with_deadline(lambda: target.read_partial_events(job_id), deadlines.poll, "read events")
            )
        if status.done:
            return
        if not status.alive:
            # DONE may have landed between the two checks of that poll: look once more before calling it a crash.
            if run_with_deadline(lambda: target.poll(job_id), deadlines.poll, "poll the job").done:
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


def _diagnose(run: _Run, exc: BaseException, deadlines: Deadlines) -> dict[str, Any]:
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
        text = run_with_deadline(lambda: run.target.collect_logs(run.started), deadlines.logs, "collect the device log")
        diagnostics["device_log"] = tail(text)
    except (HarnessError, OSError) as log_error:
        diagnostics["device_log"] = f"(could not collect the device log: {_one_line(log_error)})"
    return diagnostics


def _cleanup(run: _Run, diagnostics: dict[str, Any], deadlines: Deadlines) -> None:
    try:
        run_with_deadline(lambda: run.target.cleanup(run.job_id), deadlines.cleanup, "clean up the device")
    except (HarnessError, OSError) as exc:
        # Cleanup must not hide the failure that brought us here; it is reported next to it.
        log.warning("cleanup of job %s failed: %s", run.job_id, exc)
        diagnostics["cleanup_error"] = _one_line(exc)


def _info_dict(info: TargetInfo) -> dict[str, Any]:
    return {f.name: getattr(info, f.name) for f in fields(info)} | {"extra": dict(info.extra)}


def _read_text(path: Path) -> str:
    """A verified bundle's events.jsonl (the reader bounded and checked it)."""
    data = limits.read_bounded(path, limits.EVENTS_BYTES, error=SchemaError, what=EVENTS, fix="pull again")
    return data.decode("utf-8")


def _one_line(exc: BaseException) -> str:
    what = exc.what if isinstance(exc, MlupdateError) else str(exc)
    return what.splitlines()[0] if what else type(exc).__name__


def _fix_for(exc: BaseException) -> str:
    if isinstance(exc, MlupdateError) and exc.fix:
        return exc.fix
    return "see the diagnostics (command, stderr, device log) for the cause"
