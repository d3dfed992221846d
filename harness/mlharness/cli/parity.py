"""`mlharness parity` (one results bundle against the reference; exit 1 when parity fails) and
`mlharness report` (several reports or results bundles side by side: the cross-device table)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlharness.cli import EXIT_NO, EXIT_OK, add_force_option

if TYPE_CHECKING:
    from mlupdate.parity.crossdevice import Row

# "error": a farm job that gave no trustworthy result (farms/report.py).
FAILED_RESULTS = ("fail", "failed", "cancelled", "error")


def register(subparsers: Any) -> None:
    parity = subparsers.add_parser(
        "parity", help="compare a results bundle with the reference trainer and write reports (exit 1 on failure)"
    )
    parity.add_argument(
        "results", type=Path, nargs="?", help="the results bundle folder (pulled from a device, or a dry run)"
    )
    parity.add_argument("--job", type=Path, required=True, help="the job bundle folder the results answer")
    parity.add_argument(
        "--model",
        type=Path,
        help="instead of RESULTS: the trained model any app wrote (.mlmodel, .mlpackage or .mlmodelc); judged on "
        "its weights alone, the checks without evidence are reported 'not recorded'",
    )
    parity.add_argument("-o", "--output", type=Path, help="report folder (default: out/parity/<job_id>)")
    parity.add_argument(
        "--ensemble",
        type=_ensemble_size,
        default=8,
        help="perturbed reference runs for long (trajectory-level) jobs (default 8, at least 3)",
    )
    parity.add_argument("--reference", type=Path, help="use this reference results bundle instead of running one")
    parity.add_argument(
        "--semantics", type=Path, help="calibration profile (JSON of knob values) for the reference to run with"
    )
    parity.add_argument(
        "--no-power",
        dest="power",
        action="store_false",
        help="skip the runs under known-wrong semantics that measure the check's power and name a failure's "
        "likely cause (default: run them)",
    )
    parity.add_argument("--xcode", help="Xcode version that built the app, recorded in the report's provenance")
    parity.add_argument("--json", action="store_true", help="print report.json instead of the summary")
    add_force_option(parity, "the report folder")
    parity.set_defaults(handler=run_parity_command)

    report = subparsers.add_parser(
        "report",
        help="put parity reports, results bundles and farm runs side by side, naming where each ran "
        "(the cross-device table)",
    )
    report.add_argument(
        "folders",
        type=Path,
        nargs="+",
        help="report folders (report.json), results bundles, or `mlharness devicefarm -o` folders (farm-report.json)",
    )
    report.add_argument("-o", "--output", type=Path, help="also write cross-device.md/.html/.json here")
    report.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_force_option(report, "the -o folder")
    report.set_defaults(handler=run_report_command)


def _ensemble_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 3:
        raise argparse.ArgumentTypeError(f"an ensemble needs at least 3 runs to measure its spread, got {value}")
    return value


def run_parity_command(args: argparse.Namespace) -> int:
    from mlupdate.bundle.job_reader import read_job_manifest
    from mlupdate.parity.markdown import render_markdown
    from mlupdate.parity.run import run_parity

    # Named from the manifest alone: run_parity reads and verifies the whole job once.
    output = args.output or Path("out") / "parity" / str(read_job_manifest(args.job)["job_id"])
    result = run_parity(
        args.results,
        args.job,
        output,
        model=args.model,
        ensemble=args.ensemble,
        reference=args.reference,
        xcode=args.xcode,
        semantics_profile=args.semantics,
        force=args.force,
        power=args.power,
    )
    if args.json:
        print(json.dumps(result.report.to_json(), indent=2))
    else:
        print(render_markdown(result.report))
        print(f"report: {result.reports.html}")
        print(f"json:   {result.reports.json}\njunit:  {result.reports.junit}")
    return EXIT_OK if result.verdict.passed else EXIT_NO


def _rows(folder: Path) -> list[Row]:
    """One row for a parity report or results bundle; one per job and device for a farm run's folder."""
    from mlharness.farms.report import farm_rows, is_farm_report
    from mlupdate.parity.crossdevice import load_row

    return farm_rows(folder) if is_farm_report(folder) else [load_row(folder)]


def _write_tables(folder: Path, final: Path, rows: list[Row]) -> None:
    """The tables, written into `folder`, link each report relative to `final`, where they end up."""
    from mlupdate.output_folder import write_atomic
    from mlupdate.parity.crossdevice import html_table, markdown_table, to_json

    write_atomic(folder / "cross-device.md", markdown_table(rows, relative_to=final).encode("utf-8"))
    write_atomic(folder / "cross-device.html", html_table(rows, relative_to=final).encode("utf-8"))
    write_atomic(folder / "cross-device.json", (json.dumps(to_json(rows), indent=2) + "\n").encode("utf-8"))


def run_report_command(args: argparse.Namespace) -> int:
    from mlupdate.output_folder import owned_output
    from mlupdate.parity.crossdevice import NOT_EVALUATED, markdown_table

    rows = [row for folder in args.folders for row in _rows(folder)]
    if args.output is not None:
        with owned_output(args.output, command="report", force=args.force, inputs=args.folders) as output:
            _write_tables(output.staging, args.output, rows)
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        print(markdown_table(rows), end="")
        unevaluated = sum(1 for row in rows if row.result == NOT_EVALUATED)
        if unevaluated:
            print(f"\n{unevaluated} results bundle(s) not evaluated: run `mlharness parity` on them for a verdict")
    return EXIT_NO if any(row.result in FAILED_RESULTS for row in rows) else EXIT_OK
