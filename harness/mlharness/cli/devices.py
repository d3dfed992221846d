"""`mlharness doctor`, `mlharness targets` and `mlharness run`: the device bridge on the command line."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from mlharness.cli import EXIT_ERROR, EXIT_NO, EXIT_OK, add_force_option
from mlharness.deadline import MAX_JOB_SECONDS
from mlharness.errors import ConfigError
from mlharness.tunneld import TunneldHost, parse_tunneld_host
from mlupdate.contract import ProgressEvent, TaskStatus

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from mlharness.doctor import HostCheck
    from mlharness.errors import RunFailed
    from mlharness.runner import Progress, RunResult

_STYLE = {"ok": "green", "missing": "red", "info": "yellow"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = subparsers.add_parser("doctor", help="check this host for Xcode, Simulators, devices and the app")
    doctor.add_argument("--ios-app", type=Path, default=Path("ios_app"), help="the ios_app folder (default: ./ios_app)")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    _developer_dir(doctor)
    doctor.set_defaults(handler=_doctor)

    targets = subparsers.add_parser("targets", help="list Simulators and devices, and why unusable ones are")
    targets.add_argument("--json", action="store_true", help="print the targets as JSON")
    targets.add_argument(
        "--remote",
        metavar="HOST[:PORT]",
        action="append",
        default=[],
        type=_tunneld_host,
        help="also list the devices pymobiledevice3's tunneld serves on that host (repeat for several)",
    )
    _developer_dir(targets)
    targets.set_defaults(handler=_targets)

    run = subparsers.add_parser("run", help="run a job bundle on a target and pull its verified results")
    run.add_argument("job", type=Path, help="the job bundle folder (written by mlupdate)")
    run.add_argument("--target", required=True, help="UDID or name from `mlharness targets`")
    run.add_argument("--kind", choices=["simulator", "devicectl", "device"], help="for a device several kinds reach")
    run.add_argument(
        "--remote",
        metavar="HOST[:PORT]",
        type=_tunneld_host,
        help="the device is served by pymobiledevice3's tunneld on that host (iOS 17+; --target is its udid)",
    )
    run.add_argument("--app", type=Path, help="the companion .app to install first (default: already installed)")
    run.add_argument("-o", "--out", type=Path, required=True, help="folder the results bundle is pulled into")
    run.add_argument("--deadline", type=_seconds, help="seconds to wait for DONE (default: from the job)")
    add_force_option(run, "OUT/<job_id>")
    _developer_dir(run)
    run.set_defaults(handler=_run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_JOB_SECONDS):  # a run must end: no "inf", no "nan"
        raise argparse.ArgumentTypeError(
            f"expected a positive number of seconds up to {MAX_JOB_SECONDS:g} (a week), e.g. 600 (got {text!r})"
        )
    return value


def _tunneld_host(text: str) -> TunneldHost:
    try:
        return parse_tunneld_host(text, where="--remote")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(f"{exc.what} ({exc.fix})") from None


def _developer_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--developer-dir", help="pin this Xcode (like DEVELOPER_DIR) for every xcrun call")


def _doctor(args: argparse.Namespace) -> int:
    from rich.console import Console

    from mlharness.doctor import Checkup, run_checks, verdict
    from mlharness.targets import default_host

    checks = run_checks(default_host(args.developer_dir), Checkup(app_search_root=args.ios_app))
    if args.json:
        print(json.dumps([asdict(check) for check in checks], indent=2))
        return EXIT_OK
    console = Console(soft_wrap=True)
    for check in checks:
        _print_check(console, check)
    _say(console, f"\n{verdict(checks)}")
    return EXIT_OK


def _print_check(console: Console, check: HostCheck) -> None:
    from rich.text import Text

    status = (f"{check.status:>7}", _STYLE[check.status])
    _say(console, Text.assemble(status, " ", (check.name, "bold"), f": {check.found}"))
    if check.meaning:
        _say(console, f"          means: {check.meaning}")
    if check.fix:
        _say(console, f"          fix:   {check.fix}")


def _say(console: Console, text: str | Text) -> None:
    """Print as it is: tool output and device text are data, never Rich markup (`[/]` in a name crashed `run`)."""
    console.print(text, markup=False, highlight=False)


def _targets(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from mlharness.targets import default_host, discover

    found = discover(default_host(args.developer_dir), tunneld=args.remote)
    if args.json:
        payload = {"targets": [asdict(c) for c in found.candidates], "notes": list(found.notes)}
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    console = Console(soft_wrap=True)
    if found.candidates:
        table = Table("name", "kind", "udid", "where", "usable", "reason")
        for c in found.candidates:
            where = f"remote {c.host}" if c.host else "desk"
            cells = (c.name, c.kind, c.udid, where, "yes" if c.usable else "no", c.reason)
            table.add_row(*(Text(cell) for cell in cells))
        console.print(table)
    usable = sum(c.usable for c in found.candidates)
    _say(console, f"{usable} usable target(s).")
    for note in found.notes:
        _say(console, f"  {note}")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.text import Text

    from mlharness.errors import RunFailed
    from mlharness.runner import Deadlines, run_job
    from mlharness.targets import default_host, open_target

    if args.remote is not None and args.kind not in (None, "device"):
        raise ConfigError(
            f"--remote reaches pymobiledevice3 devices, not {args.kind}", where="--kind", fix="drop --kind"
        )
    target = open_target(args.target, kind=args.kind, host=default_host(args.developer_dir), remote=args.remote)
    deadlines = Deadlines(job=args.deadline)
    console = Console(stderr=True, soft_wrap=True)
    with console.status("preparing", spinner="dots") as status:

        def show(progress: Progress) -> None:
            status.update(Text(f"{progress.state.value}: {progress.message}"))
            if progress.event is not None:
                _say(console, _event_line(progress.event))

        try:
            result = run_job(
                target, args.job, args.out, app=args.app, deadlines=deadlines, progress=show, force=args.force
            )
        except RunFailed as failure:
            status.stop()
            return _report_failure(console, failure, args.out)
    return _report_result(result)


def _event_line(event: ProgressEvent) -> str:
    parts = [f"task {event.task}", str(event.event)]
    if event.epoch is not None:
        parts.append(f"epoch {event.epoch}")
    if event.mini_batch is not None:
        parts.append(f"batch {event.mini_batch}")
    if event.loss is not None:
        parts.append(f"loss {event.loss:.6g}")
    return "  ".join(parts)


def _report_result(result: RunResult) -> int:
    results = result.results
    print(
        f"{result.results_path}: job {result.job_id} on {result.target.name} ({result.target.kind}): {results.status}"
    )
    for task in results.tasks:
        print(
            f"  task {task.index}: {task.status}, epochs {task.epochs_completed}, "
            f"final loss {task.final_loss}, train {task.train_seconds} s"
        )
    if results.error is not None:
        print(f"  error ({results.error.phase}): {results.error.message}")
    return EXIT_OK if results.status is TaskStatus.SUCCEEDED else EXIT_NO


def _report_failure(console: Console, failure: RunFailed, out: Path) -> int:
    from mlupdate.output_folder import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    report = write_atomic(out / "run-failure.json", json.dumps(failure.to_dict(), indent=2, default=str).encode())
    _say(console, f"error: {failure.message}")
    diagnostics = failure.diagnostics
    if "command" in diagnostics:
        _say(console, f"  command:   {' '.join(diagnostics['command'])}")
        _say(console, f"  exit code: {diagnostics['exit_code']}")
    for event in diagnostics.get("last_events", [])[-3:]:
        _say(console, f"  last event: {_event_line(ProgressEvent.from_json(event))}")
    if diagnostics.get("device_log"):
        _say(console, "  device log (tail):")
        for line in str(diagnostics["device_log"]).splitlines()[-10:]:
            _say(console, f"    {line}")
    _say(console, f"  diagnostics: {report}")
    return EXIT_ERROR
