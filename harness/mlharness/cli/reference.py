"""`mlharness reference JOB_BUNDLE -o RESULTS`: train a job with the numpy reference, write a results bundle."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlharness.cli import EXIT_NO, EXIT_OK, add_force_option


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reference",
        help="run a job bundle through the numpy reference trainer",
        description=(
            "Trains the job's model as Core ML's MLUpdateTask would (calibrated semantics by default) and writes "
            "a results bundle in the contract layout, marked as produced by mlupdate-reference."
        ),
    )
    parser.add_argument("job", type=Path, metavar="JOB_BUNDLE", help="job bundle folder")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="RESULTS", help="parent folder of results")
    parser.add_argument("--semantics", type=Path, metavar="PROFILE.json", help="semantics profile (default: built-in)")
    add_force_option(parser, "RESULTS/<job_id>")
    parser.set_defaults(handler=run_reference_command)


def _total_epochs(job_path: Path) -> int:
    from mlupdate.bundle import read_job
    from mlupdate.models.params import resolve_parameters
    from mlupdate.models.spec import load_spec

    job = read_job(job_path)
    resolved = resolve_parameters(load_spec(job.model_path), job.parameters)
    return int(resolved.get("epochs", 1)) * job.repeat


def run_reference_command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from mlupdate.bundle import read_job, read_results
    from mlupdate.contract import EventKind, ProgressEvent, TaskStatus
    from mlupdate.reference.run import run_reference
    from mlupdate.reference.semantics import Semantics, load_profile

    semantics = load_profile(args.semantics) if args.semantics else Semantics()
    console = Console()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
    )
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as progress:
        bar = progress.add_task("epochs", total=_total_epochs(args.job), loss="-")

        def on_event(task: int, event: ProgressEvent) -> None:
            if event.event is EventKind.EPOCH_END:
                progress.update(bar, advance=1, loss=f"{event.loss:.6g}", description=f"task {task} epochs")

        path = run_reference(args.job, args.output, semantics=semantics, on_event=on_event, force=args.force)
    results = read_results(path, read_job(args.job).job_id)
    if results.status is not TaskStatus.SUCCEEDED:
        message = results.error.message if results.error else ""
        console.print(f"training {results.status}: {message}\nresults: {path}", markup=False, highlight=False)
        return EXIT_NO
    console.print(f"results: {path} (final loss {results.tasks[0].final_loss})", markup=False, highlight=False)
    return EXIT_OK
